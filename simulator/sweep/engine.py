"""Sweep orchestration: plan, evaluate chunks on an executor, store them, write outputs.

:func:`plan_sweep` validates a spec against its evaluator (running it on a small probe
of grid points) and returns a :class:`SweepPlan`; :func:`run_sweep` evaluates every chunk,
stores each one atomically under ``OUT/chunks`` and writes the tables and plots;
:func:`evaluate_sweep` does the same in memory and returns the tidy table.

Each chunk goes through the same pure steps wherever it runs (:func:`compute_chunk`):
decode grid points → add the evaluator's default columns → drop rows failing a
``filter`` → evaluate → flag ``feasible`` from the ``constraints`` (and from the evaluator's
own ``feasible`` column, when it returns one: rows its model cannot run). The table is in grid
order and byte-identical whichever executor ran it, and whether or not it was resumed.

Examples
--------
>>> from simulator.sweep.spec import parse_spec
>>> spec = parse_spec({"name": "demo", "evaluator": "synthetic",
...                    "axes": {"units": [1, 2, 4, 64]},
...                    "objectives": ["latency", "energy"], "constraints": ["units < 64"]})
>>> table = evaluate_sweep(spec)
>>> table[["units", "feasible", "pareto"]].to_dict("list")
{'units': [1, 2, 4, 64], 'feasible': [True, True, True, False], 'pareto': [True, True, True, False]}
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.errors import SimulatorError, SpecError
from simulator.pareto import Objective
from simulator.sweep.digest import ChunkDigest, digest_chunk
from simulator.sweep.executors import AUTO_PROCESS_POINTS, DaskExecutor, make_executor, resolve_executor
from simulator.sweep.expand import (
    ChunkRange,
    Grid,
    add_constant_columns,
    build_grid,
    chunk_ranges,
    eval_mask,
)
from simulator.sweep.outputs import OutputReport, pareto_flags, write_outputs
from simulator.sweep.progress import ProgressBar
from simulator.sweep.registry import EvaluateFn, EvaluatorEntry, get_evaluator
from simulator.sweep.spec import (
    DEFAULT_CHUNK_SIZE,
    SweepSpec,
    check_axis_types,
    check_grid_size,
    find_spec,
    load_spec,
    spec_hash,
)
from simulator.sweep.store import ChunkStore, Manifest
from simulator.sweep.tables import concat_chunks

__all__ = [
    "ChunkJob",
    "SweepPlan",
    "SweepResult",
    "auto_chunk_size",
    "compute_and_digest_chunk",
    "compute_and_store_chunk",
    "compute_chunk",
    "evaluate_sweep",
    "pareto_flags",
    "plan_sweep",
    "run_sweep",
]

_PROBE_POINTS = 64
# pandas 3 copies on write, so a shallow copy already shields the frame from the evaluator.
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3


@dataclass(frozen=True)
class ChunkJob:
    """Everything a worker needs to evaluate chunks (picklable; sent once per task)."""

    grid: Grid
    evaluate: EvaluateFn
    evaluator: str
    defaults: Mapping[str, Any]
    filters: tuple[str, ...]
    constraints: tuple[str, ...]
    source: str
    objectives: tuple[Objective, ...] = ()
    pareto_by: tuple[str, ...] = ()
    n_chunks: int = 1
    store_dir: str | None = None


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: the spec, its evaluator, the lazy grid and the chunking."""

    spec: SweepSpec
    entry: EvaluatorEntry
    grid: Grid
    spec_hash: str
    n_chunks: int
    chunk_size: int

    @property
    def job(self) -> ChunkJob:
        """The picklable job sent to executors."""
        return ChunkJob(
            grid=self.grid,
            evaluate=self.entry.evaluate,
            evaluator=self.entry.name,
            defaults=dict(self.entry.defaults),
            filters=self.spec.filters,
            constraints=self.spec.constraints,
            source=self.spec.source,
            objectives=tuple(self.spec.objectives),
            pareto_by=tuple(self.spec.pareto_by),
            n_chunks=self.n_chunks,
        )

    def __str__(self) -> str:
        radices = " × ".join(str(r) for r in self.grid.radices)
        return (
            f"sweep {self.spec.name!r} with evaluator {self.entry.name!r}: {radices} = "
            f"{self.grid.size} grid points in {self.n_chunks} chunks of {self.chunk_size}"
        )


@dataclass(frozen=True)
class SweepResult:
    """What :func:`run_sweep` did and wrote."""

    plan: SweepPlan
    out_dir: Path
    report: OutputReport
    chunks_run: int
    chunks_skipped: int
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the ``einsim sweep --json`` document)."""
        spec = self.plan.spec
        return {
            "name": spec.name,
            "evaluator": spec.evaluator,
            "grid_points": self.plan.grid.size,
            "points": self.report.points,
            "feasible_points": self.report.feasible,
            "pareto_points": self.report.pareto,
            "objectives": [{"column": o.column, "sense": o.sense} for o in spec.objectives],
            "pareto_by": list(spec.pareto_by),
            "out_dir": str(self.out_dir),
            "files": [str(path) for path in self.report.files],
            "parquet": self.report.parquet,
            "chunks": self.plan.n_chunks,
            "chunks_run": self.chunks_run,
            "chunks_skipped": self.chunks_skipped,
            "elapsed_s": self.elapsed_s,
        }


def auto_chunk_size(points: int) -> int:
    """Grid points per chunk for a spec without ``chunk_size``.

    Equal chunks of at most :data:`~simulator.sweep.spec.DEFAULT_CHUNK_SIZE` points, and
    at least two from :data:`~simulator.sweep.executors.AUTO_PROCESS_POINTS` points, the
    size from which ``--executor auto`` takes a process pool: a single chunk would leave
    every worker but one idle (the default sweep's 18,144 grid points took 1.2 s in one
    chunk, 0.7 s in two on the 2-core VM). The size depends on the grid alone, so that a
    run resumes on any machine.

    >>> auto_chunk_size(108), auto_chunk_size(18_144), auto_chunk_size(200_000)
    (108, 9072, 50000)
    """
    chunks = max(-(-points // DEFAULT_CHUNK_SIZE), 2 if points >= AUTO_PROCESS_POINTS else 1)
    return max(1, -(-points // chunks))


def plan_sweep(spec: SweepSpec | str | Path, *, probe: bool = True,
               max_points: int | None = None) -> SweepPlan:
    """Validate a spec and build its plan.

    Parameters
    ----------
    spec : SweepSpec, str or Path
        A spec, a spec file or a built-in spec name.
    probe : bool, optional
        Evaluate a few grid points to check that filters, objectives, constraints and
        ``pareto_by`` name existing columns (default True).

    Returns
    -------
    SweepPlan

    Raises
    ------
    SpecError
        For a malformed spec, an unknown evaluator or a column no step produces.

    Examples
    --------
    >>> print(plan_sweep("synthetic"))
    sweep 'synthetic-demo' with evaluator 'synthetic': 2 × 6 × 3 × 3 = 108 grid points in 1 chunks of 108
    """
    if not isinstance(spec, SweepSpec):
        spec = load_spec(find_spec(spec))
    check_grid_size(spec, max_points)
    entry = get_evaluator(spec.evaluator)
    check_axis_types(spec, entry.defaults)
    grid = build_grid(spec)
    defaults = {name: value for name, value in entry.defaults.items() if name not in spec.axis_names}
    chunk_size = spec.chunk_size or auto_chunk_size(grid.size)
    plan = SweepPlan(
        spec=spec,
        entry=entry,
        grid=grid,
        spec_hash=spec_hash(spec, {"defaults": defaults}),
        n_chunks=-(-grid.size // chunk_size),
        chunk_size=chunk_size,
    )
    if probe:
        _probe(plan)
    return plan


def compute_chunk(job: ChunkJob, chunk: ChunkRange) -> pd.DataFrame:
    """Evaluate one chunk of the grid (runs in a worker for parallel executors).

    Parameters
    ----------
    job : ChunkJob
    chunk : ChunkRange

    Returns
    -------
    pandas.DataFrame
        ``point``, the parameter columns, the metric columns and ``feasible``, one row per
        grid point that passed the filters, in grid order.

    Raises
    ------
    SpecError
        If a filter or constraint cannot be evaluated.
    SimulatorError
        If the evaluator breaks its contract (rows added, dropped or reordered).
    """
    frame = job.grid.frame(np.arange(chunk.start, chunk.stop, dtype=np.int64))
    return _evaluate_frame(job, frame)


def compute_and_digest_chunk(job: ChunkJob, chunk: ChunkRange) -> tuple[pd.DataFrame, ChunkDigest]:
    """Evaluate one chunk and make its share of the outputs.

    That is its CSV text, its Pareto-front candidates and its report facts (see
    :mod:`simulator.sweep.digest`).
    """
    frame = compute_chunk(job, chunk)
    return frame, digest_chunk(frame, job.objectives, job.pareto_by, job.n_chunks)


def compute_and_store_chunk(job: ChunkJob, chunk: ChunkRange) -> int:
    """Evaluate and digest one chunk, store both under ``job.store_dir``; return the rows.

    Workers on the same machine store their chunks themselves, so that a table never
    travels back to the parent process.
    """
    frame, digest = compute_and_digest_chunk(job, chunk)
    ChunkStore(str(job.store_dir)).write_chunk(chunk.index, frame, digest)
    return len(frame)


def evaluate_sweep(
    spec: SweepSpec | SweepPlan | str | Path,
    *,
    executor: str = "auto",
    workers: int | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """Run a sweep in memory and return its tidy table (with ``feasible`` and ``pareto``).

    Parameters
    ----------
    spec : SweepSpec, SweepPlan, str or Path
    executor, workers, scheduler
        As for :func:`run_sweep`.

    Returns
    -------
    pandas.DataFrame
        One row per design point in grid order.

    Raises
    ------
    SpecError, SimulatorError
        As for :func:`run_sweep`.
    """
    plan = spec if isinstance(spec, SweepPlan) else plan_sweep(spec)
    frames: dict[int, pd.DataFrame] = {}
    chunks = chunk_ranges(plan.grid.size, plan.chunk_size)
    executor = resolve_executor(executor, plan.grid.size)
    with make_executor(executor, workers=workers, scheduler=scheduler) as runner:
        for result in runner.run(compute_chunk, plan.job, chunks):
            frames[result.chunk.index] = result.output
    nonempty = [frames[i] for i in sorted(frames) if len(frames[i])] or [frames.get(0)]
    table = concat_chunks([f for f in nonempty if f is not None])
    return table.assign(pareto=pareto_flags(table, plan.spec))


def run_sweep(
    spec: SweepSpec | SweepPlan | str | Path,
    out_dir: str | Path = "results",
    *,
    executor: str = "auto",
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool | None = None,
    plots: bool = True,
    max_points: int | None = None,
) -> SweepResult:
    """Run a sweep, storing each chunk atomically, then write tables and plots.

    Parameters
    ----------
    spec : SweepSpec, SweepPlan, or the path or built-in name of a spec file
    out_dir : str or Path, optional
    executor, workers, scheduler
        Where chunks run; see :func:`~simulator.sweep.executors.make_executor`.
    resume : bool, optional
        Keep the chunks finished by an earlier run of the same spec.
    progress, plots : bool, optional
        Progress bar on stderr (default: if it is a terminal); PNG plots (default True).
    max_points : int, optional
        Refuse grids larger than this (default: the spec's ``max_points``, else 10^8).

    Returns
    -------
    SweepResult

    Raises
    ------
    SimulatorError
        :class:`SpecError` for a bad spec (raised before anything is written) or for
        resuming another spec's output; else a bad executor choice or evaluator.
    """
    started = time.perf_counter()
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise SpecError(f"--out {out_dir}: is a file; expected a folder for the results")
    plan = spec if isinstance(spec, SweepPlan) else plan_sweep(spec, max_points=max_points)
    store = ChunkStore(out_dir)
    executor = resolve_executor(executor, plan.grid.size)
    with make_executor(executor, workers=workers, scheduler=scheduler) as runner:
        done = store.start(_manifest(plan), resume=resume)
        show = sys.stderr.isatty() if progress is None else progress
        _store_chunks(plan, runner, store, done, ProgressBar(plan.n_chunks, enabled=show, initial=len(done)),
                      warm="simulator.sweep.plots" if plots else None)
        report = write_outputs(plan.spec, store, _manifest(plan), plan.entry.plot_hooks, plots=plots,
                               runner=runner)
    return SweepResult(
        plan=plan,
        out_dir=Path(out_dir),
        report=report,
        chunks_run=plan.n_chunks - len(done),
        chunks_skipped=len(done),
        elapsed_s=time.perf_counter() - started,
    )


def _store_chunks(plan: SweepPlan, runner: Any, store: ChunkStore, done: set[int], bar: ProgressBar,
                  warm: str | None = None) -> None:
    """Evaluate the chunks not in ``done`` on ``runner`` and store each as it finishes.

    Local executors store chunks in the worker; dask workers may not share our disk, so
    their tables come back and are stored here. ``warm`` names a module that local
    workers import once the last chunk is handed out (the figures' plotting module).
    """
    todo = (c for c in chunk_ranges(plan.grid.size, plan.chunk_size) if c.index not in done)
    if isinstance(runner, DaskExecutor):
        for result in runner.run(compute_and_digest_chunk, plan.job, todo):
            store.write_chunk(result.chunk.index, *result.output)
            bar.advance(len(result.output[0]))
    else:
        job = replace(plan.job, store_dir=str(store.out_dir))
        if warm and hasattr(runner, "warm"):
            todo = _then(todo, lambda: runner.warm(warm))
        for result in runner.run(compute_and_store_chunk, job, todo):
            bar.advance(result.output)
    bar.close()


def _then(items: Iterable[Any], action: Callable[[], None]) -> Iterator[Any]:
    """Yield ``items``, then call ``action`` (when the consumer asks past the last one)."""
    yield from items
    action()


def _manifest(plan: SweepPlan) -> Manifest:
    """The manifest describing a plan."""
    return Manifest(
        spec_hash=plan.spec_hash,
        name=plan.spec.name,
        evaluator=plan.spec.evaluator,
        grid_points=plan.grid.size,
        chunk_size=plan.chunk_size,
        n_chunks=plan.n_chunks,
    )


def _evaluate_frame(job: ChunkJob, frame: pd.DataFrame) -> pd.DataFrame:
    """Defaults → filters → evaluator → feasibility, for any set of grid points."""
    frame = add_constant_columns(frame, job.defaults)
    if job.filters:
        frame = frame[eval_mask(frame, job.filters, job.source, "filters")]
        frame = frame.reset_index(drop=True)
    if len(frame) == 0:
        return frame.assign(feasible=np.zeros(0, dtype=bool))
    try:
        result = job.evaluate(frame.copy(deep=not _COPY_ON_WRITE))
    except SpecError as err:  # a value the evaluator refuses: name the spec it came from
        raise SpecError(f"{job.source}: {err}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        if ":" not in job.evaluator:
            raise  # a built-in evaluator's failure is a bug, not bad input
        raise SimulatorError(f"evaluator {job.evaluator!r} failed on a chunk of {len(frame)} rows "
                             f"({type(err).__name__}: {' '.join(str(err).split())}); expected "
                             "evaluate(chunk: DataFrame) -> DataFrame with metric columns") from None
    if not isinstance(result, pd.DataFrame) or len(result) != len(frame):
        raise SimulatorError(
            f"evaluator {job.evaluator!r} must return a DataFrame with the {len(frame)} rows "
            f"it was given, got {type(result).__name__} of length {len(result)}"
        )
    result = result.reset_index(drop=True)
    if "point" in result and not np.array_equal(result["point"].to_numpy(), frame["point"].to_numpy()):
        raise SimulatorError(f"evaluator {job.evaluator!r} reordered or replaced the rows it was given")
    added = [c for c in result.columns if c not in frame.columns and c not in ("feasible", "pareto")]
    # an evaluator may flag rows its model cannot run (a problem that does not fit in memory)
    own = result["feasible"].to_numpy(dtype=bool) if "feasible" in result.columns else True
    result = pd.concat([frame, result[added]], axis=1)
    feasible = eval_mask(result, job.constraints, job.source, "constraints") & own
    return result.assign(feasible=feasible)


def _probe(plan: SweepPlan) -> None:
    """Evaluate a few spread-out grid points and check every column the spec names."""
    size = plan.grid.size
    indices = np.unique(
        np.concatenate([np.arange(min(size, _PROBE_POINTS)), np.linspace(0, size - 1, _PROBE_POINTS)])
    ).astype(np.int64)
    job = plan.job
    frame = add_constant_columns(plan.grid.frame(indices), job.defaults)
    eval_mask(frame.head(0), job.filters, job.source, "filters")
    table = _evaluate_frame(job, frame)
    if len(table) == 0:
        return  # every probe point was filtered out; the chunks will check the columns
    spec = plan.spec
    for i, objective in enumerate(spec.objectives):
        _check_column(table, objective.column, spec, f"objectives[{i}].column", numeric=True)
    for i, column in enumerate(spec.pareto_by):
        _check_column(table, column, spec, f"pareto_by[{i}]", numeric=False)
    for i, column in enumerate(spec.show):
        _check_column(table, column, spec, f"show[{i}]", numeric=False)


def _check_column(table: pd.DataFrame, column: str, spec: SweepSpec, key: str, numeric: bool) -> None:
    """Raise a :class:`SpecError` if ``column`` is missing (or not numeric)."""
    if column not in table.columns:
        known = ", ".join(c for c in table.columns if c != "point")
        raise SpecError(f"{spec.source}: key '{key}': no column {column!r}; columns: {known}")
    if numeric and not pd.api.types.is_numeric_dtype(table[column]):
        raise SpecError(
            f"{spec.source}: key '{key}': column {column!r} is not numeric ({table[column].dtype})"
        )

"""Sweep outputs: ``points.csv``/``.parquet``, ``pareto.csv``/``.md``, ``summary.md``, PNGs.

:func:`write_outputs` works from the chunks' digests (:mod:`simulator.sweep.digest`),
which the workers made: their CSV text is already rendered, and only their Pareto-front
candidates are compared. It reads the digests twice, one at a time: first the candidates
(to flag the front), then the text (to stream ``points.csv``), so memory stays bounded by
the chunk size plus the candidates. Tables are written to temporary names and renamed
together at the end; files of an earlier run that this one does not produce (e.g. plots
of hardware no longer swept) are removed.

``points.csv`` has one row per design point in grid order: ``point`` (the grid index),
one column per parameter, one per metric, ``feasible`` and ``pareto``. Mapping and list
values are written as canonical JSON. Floats use the shortest text that reads back to
the same number, so tables are byte-identical across runs, executors and resumes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.errors import SpecError
from simulator.pareto import pareto_mask_grouped
from simulator.sweep.csvtext import csv_header, csv_text, to_output_frame
from simulator.sweep.digest import ChunkDigest, SweepDigest, digest_chunk, write_flagged
from simulator.sweep.figures import FigureJobs, figure_tasks
from simulator.sweep.registry import PlotHook
from simulator.sweep.report import (
    display_columns,
    pareto_markdown,
    summary_markdown,
)
from simulator.sweep.spec import SweepSpec
from simulator.sweep.store import ChunkStore, Manifest, atomic_path
from simulator.sweep.tables import concat_chunks
from simulator.sweep.winners import winners_table

__all__ = ["OutputReport", "pareto_flags", "to_output_frame", "write_outputs"]

_NO_PYARROW = "points.parquet not written: pyarrow is not installed (`pip install einsim[parquet]`)"


@dataclass(frozen=True)
class OutputReport:
    """Counts and files of a finished sweep."""

    points: int
    feasible: int
    pareto: int
    files: tuple[Path, ...]
    parquet: bool


def pareto_flags(table: pd.DataFrame, spec: SweepSpec) -> np.ndarray:
    """The ``pareto`` column: feasible points not dominated within their ``pareto_by`` group.

    Examples
    --------
    >>> from simulator.sweep.spec import parse_spec
    >>> spec = parse_spec({"name": "x", "evaluator": "e", "axes": {"a": [1]},
    ...                    "objectives": ["t", {"column": "q", "sense": "max"}]})
    >>> table = pd.DataFrame({"t": [1.0, 2.0, 0.5], "q": [1.0, 3.0, 9.0],
    ...                       "feasible": [True, True, False]})
    >>> pareto_flags(table, spec).tolist()
    [True, True, False]
    """
    if len(table) == 0:
        return np.zeros(0, dtype=bool)
    return pareto_mask_grouped(table, spec.objectives, spec.pareto_by, where="feasible")


def write_outputs(
    spec: SweepSpec,
    store: ChunkStore,
    manifest: Manifest,
    plot_hooks: Sequence[PlotHook] = (),
    *,
    plots: bool = True,
    runner: Any = None,
) -> OutputReport:
    """Write every output of a sweep whose chunks are all stored.

    Parameters
    ----------
    spec : SweepSpec
    store : ChunkStore
        Holds chunks ``0 .. manifest.n_chunks - 1``.
    manifest : Manifest
        The manifest of this run (rewritten with the list of outputs).
    plot_hooks : sequence of callable, optional
        ``hook(points, out_dir) -> list[Path]``; replace the generic roofline scatter.
    plots : bool, optional
        Draw the PNGs (default True).
    runner : executor, optional
        A parallel executor still open: its workers draw the figures meanwhile.

    Returns
    -------
    OutputReport
    """
    digests = _Digests(spec, store, manifest.n_chunks)
    flagged, pareto_rows, plot_rows = _first_pass(spec, digests)
    figures = None
    winners = winners_table(plot_rows, spec.objectives[0], spec.pareto_by) if spec.objectives else None
    if plots:
        tasks = figure_tasks(plot_rows, pareto_rows, spec.objectives, spec.pareto_by,
                             f"sweep {spec.name}", rooflines=not plot_hooks, winners=winners)
        figures = FigureJobs(tasks, runner, plot_hooks, plot_rows)
        figures.start()  # drawn by the workers while this process writes points.csv
    staging = _Staging(store.out_dir)
    try:
        digest = _stream_points(spec, digests, flagged, pareto_rows, staging)
        tables = staging.commit()
    finally:
        staging.discard()
    pngs = figures.finish(store.out_dir) if figures is not None else []
    summary = store.out_dir / "summary.md"
    files = tuple(sorted([*tables, summary, *pngs], key=lambda p: _file_order(p.name)))
    facts = digest.facts(manifest.grid_points, manifest.spec_hash, [p.name for p in files])
    facts = replace(facts, winners=winners, sampled=len(plot_rows) < digest.points)
    with atomic_path(summary) as tmp:
        tmp.write_text(summary_markdown(spec, facts), encoding="utf-8", newline="")
    _remove_stale(store, manifest, [p.name for p in files])
    return OutputReport(
        points=digest.points,
        feasible=digest.feasible,
        pareto=digest.pareto,
        files=files,
        parquet=digest.parquet_ok,
    )


class _Digests:
    """The chunk digests of a store, one at a time (made here for chunks stored without)."""

    def __init__(self, spec: SweepSpec, store: ChunkStore, n_chunks: int):
        self.spec = spec
        self.store = store
        self.n_chunks = n_chunks

    def __iter__(self) -> Iterator[tuple[int, ChunkDigest]]:
        for index in range(self.n_chunks):
            yield index, self.get(index)

    def get(self, index: int) -> ChunkDigest:
        """The digest of chunk ``index``."""
        digest = self.store.read_digest(index)
        if digest is None:
            frame = self.store.read_chunk(index)
            missing = [c for c in [*(o.column for o in self.spec.objectives), *self.spec.pareto_by]
                       if c not in frame.columns and len(frame)]
            if missing:
                raise SpecError(f"{self.spec.source}: the evaluator produced no column {missing[0]!r}")
            digest = digest_chunk(frame, self.spec.objectives, self.spec.pareto_by, self.n_chunks)
            self.store.write_digest(index, digest)
        return digest


def _first_pass(
    spec: SweepSpec, digests: _Digests
) -> tuple[dict[int, np.ndarray], pd.DataFrame, pd.DataFrame]:
    """The Pareto rows of each chunk (positions), all of them, and the plot rows.

    Only the chunks' candidates are compared, and only the chunks' samples are kept.
    """
    positions, parts, samples = {}, [], []
    for index, digest in digests:
        positions[index] = digest.candidate_rows
        parts.append(digest.candidates)
        samples.append((index, digest.sample_rows, digest.sample))
    candidates = concat_chunks([p for p in parts if len(p)])
    flagged = {index: np.zeros(0, dtype=np.int64) for index in positions}
    pareto = candidates
    if len(candidates):
        front = pareto_mask_grouped(candidates, spec.objectives, spec.pareto_by, where="feasible")
        start = 0
        for index, rows in positions.items():
            flagged[index] = rows[front[start : start + len(rows)]]
            start += len(rows)
        pareto = candidates[front].assign(pareto=True).reset_index(drop=True)
    sampled = [rows.assign(pareto=np.isin(at, flagged[index])) for index, at, rows in samples if len(rows)]
    plot_rows = concat_chunks([*sampled, pareto] if len(pareto) else sampled)
    if len(plot_rows):
        plot_rows = plot_rows.drop_duplicates("point").sort_values("point").reset_index(drop=True)
    return flagged, pareto, plot_rows


def _stream_points(
    spec: SweepSpec,
    digests: _Digests,
    flagged: dict[int, np.ndarray],
    pareto_rows: pd.DataFrame,
    staging: _Staging,
) -> SweepDigest:
    """Write points.csv (and .parquet) chunk by chunk; merge the digests for the reports."""
    digest = SweepDigest(spec.objectives, spec.pareto_by)
    digest.set_pareto(pareto_rows)
    sink = _ParquetSink(staging.path("points.parquet"))
    header: tuple[str, ...] = ()
    with open(staging.path("points.csv"), "wb") as handle:
        for index, chunk in digests:
            if not header:
                header = chunk.columns
                handle.write((csv_header(header) + "\n").encode("utf-8"))
            if chunk.rows == 0:
                continue
            write_flagged(handle, chunk, flagged[index])
            if sink.active:
                frame = digests.store.read_chunk(index)
                pareto = np.isin(np.arange(len(frame)), flagged[index])
                sink.append(to_output_frame(frame.assign(pareto=pareto)))
            digest.add(chunk)
        if not header:
            handle.write(b"point,feasible,pareto\n")
    if not sink.close():
        staging.drop("points.parquet")
        digest.notes.append(sink.note)
    digest.parquet_ok = sink.ok
    pareto = to_output_frame(digest.pareto_rows()) if digest.pareto else pd.DataFrame(columns=list(header))
    staging.write_text("pareto.csv", csv_text(pareto))
    columns = display_columns(spec, list(header), sorted(digest.varying))
    staging.write_text("pareto.md", pareto_markdown(spec, digest.pareto_rows(), columns))
    return digest


class _ParquetSink:
    """Stream chunks into a parquet file when pyarrow is importable; give up politely."""

    def __init__(self, path: Path):
        self.path = path
        self.note = _NO_PYARROW
        self.ok = False
        self._writer: Any = None
        try:
            import pyarrow  # noqa: F401
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            self._failed = True
        else:
            self._failed = False

    @property
    def active(self) -> bool:
        """Whether chunks are still wanted (pyarrow present, no error so far)."""
        return not self._failed

    def append(self, frame: pd.DataFrame) -> None:
        """Append one chunk (already converted by :func:`to_output_frame`)."""
        if self._failed:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table.cast(self._writer.schema))
        except (pa.ArrowException, ValueError, TypeError) as err:
            self._failed = True
            self.note = f"points.parquet not written: {' '.join(str(err).split())[:120]}"

    def close(self) -> bool:
        """Finish the file; True when it is complete."""
        if self._writer is not None:
            self._writer.close()
        self.ok = not self._failed and self._writer is not None
        if not self.ok and not self._failed:
            self.note = "points.parquet not written: the sweep has no points"
        return self.ok


class _Staging:
    """Output files written under temporary names, renamed together by :meth:`commit`."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._temps: dict[str, Path] = {}

    def path(self, name: str) -> Path:
        """The temporary path standing for ``OUT/name``."""
        return self._temps.setdefault(name, self.out_dir / f".{name}.tmp-{os.getpid()}")

    def write_text(self, name: str, text: str) -> None:
        """Write a text file to its temporary name."""
        self.path(name).write_text(text, encoding="utf-8", newline="")

    def drop(self, name: str) -> None:
        """Forget (and delete) a staged file."""
        self._temps.pop(name).unlink(missing_ok=True)

    def commit(self) -> list[Path]:
        """Move every staged file onto its final name."""
        final = []
        for name, tmp in self._temps.items():
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, self.out_dir / name)
            final.append(self.out_dir / name)
        self._temps.clear()
        return final

    def discard(self) -> None:
        """Delete staged files that were not committed."""
        for tmp in self._temps.values():
            tmp.unlink(missing_ok=True)
        self._temps.clear()


def _remove_stale(store: ChunkStore, manifest: Manifest, names: Iterable[str]) -> None:
    """Delete outputs of an earlier run that this run did not write; record the new list."""
    names = tuple(names)
    previous = store.read_manifest()
    for name in previous.outputs if previous is not None else ():
        if name not in names and "/" not in name and "\\" not in name and not name.startswith("."):
            (store.out_dir / name).unlink(missing_ok=True)
    store.write_manifest(replace(manifest, outputs=names))


def _file_order(name: str) -> tuple[int, str]:
    """Tables first (in a fixed order), then plots by name."""
    fixed = ("points.csv", "points.parquet", "pareto.csv", "pareto.md", "summary.md")
    return (fixed.index(name), name) if name in fixed else (len(fixed), name)

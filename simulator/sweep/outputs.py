"""Sweep outputs: ``points.csv``/``.parquet``, ``pareto.csv``/``.md``, ``summary.md``, PNGs.

:func:`write_outputs` reads the stored chunks twice, one at a time: first the objective,
group and ``feasible`` columns (to flag the Pareto front), then every row (to stream the
tables), so memory stays bounded by the chunk size plus the objective columns. Tables are
written to temporary names and renamed together at the end; files of an earlier run
that this one does not produce (e.g. plots of hardware no longer swept) are removed.

``points.csv`` has one row per design point in grid order: ``point`` (the grid index),
one column per parameter, one per metric, ``feasible`` and ``pareto``. Mapping and list
values are written as canonical JSON. Floats use the shortest text that reads back to
the same number, so tables are byte-identical across runs, executors and resumes.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.errors import SpecError
from simulator.grouping import group_keys
from simulator.pareto import pareto_mask_by_group, pareto_mask_grouped
from simulator.sweep.csvtext import csv_text
from simulator.sweep.registry import PlotHook
from simulator.sweep.report import (
    SummaryFacts,
    display_columns,
    pareto_markdown,
    summary_markdown,
)
from simulator.sweep.spec import SweepSpec
from simulator.sweep.store import ChunkStore, Manifest, atomic_path

__all__ = ["OutputReport", "pareto_flags", "to_output_frame", "write_outputs"]

# Rows handed to plots and plot hooks at most (all rows of smaller sweeps, else a sample).
_PLOT_ROWS = 50_000
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


def to_output_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace mapping/list cells by canonical JSON text (for CSV and parquet).

    Examples
    --------
    >>> to_output_frame(pd.DataFrame({"s": [{"b": 1, "a": [2]}, None]}))["s"].tolist()
    ['{"a":[2],"b":1}', None]
    """
    objects = [c for c in frame.columns if frame[c].dtype == object]
    if not objects:
        return frame
    return frame.assign(**{c: _json_column(frame[c]) for c in objects})


def write_outputs(
    spec: SweepSpec,
    store: ChunkStore,
    manifest: Manifest,
    plot_hooks: Sequence[PlotHook] = (),
    *,
    plots: bool = True,
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

    Returns
    -------
    OutputReport
    """
    flags = _streamed_flags(spec, store, manifest)
    staging = _Staging(store.out_dir)
    try:
        digest = _stream_points(spec, store, manifest.n_chunks, flags, staging)
        tables = staging.commit()
    finally:
        staging.discard()
    pngs = _draw_plots(spec, digest, store.out_dir, plot_hooks) if plots else []
    summary = store.out_dir / "summary.md"
    files = tuple(sorted([*tables, summary, *pngs], key=lambda p: _file_order(p.name)))
    facts = digest.facts(manifest, [p.name for p in files])
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


def _streamed_flags(spec: SweepSpec, store: ChunkStore, manifest: Manifest) -> np.ndarray:
    """The ``pareto`` flags of every stored row, reading one chunk at a time.

    Only the objective values, an integer group label and ``feasible`` are kept per row
    (33 bytes for three objectives), so 10⁷ points need about 330 MB.
    """
    columns = [o.column for o in spec.objectives]
    values = np.empty((manifest.grid_points, len(columns)))
    groups = np.empty(manifest.grid_points, dtype=np.int64)
    feasible = np.empty(manifest.grid_points, dtype=bool)
    coder = _GroupCoder(spec.pareto_by)
    filled = 0
    for index in range(manifest.n_chunks):
        frame = store.read_chunk(index)
        if len(frame) == 0:
            continue
        missing = [c for c in [*columns, *spec.pareto_by] if c not in frame.columns]
        if missing:
            raise SpecError(f"{spec.source}: the evaluator produced no column {missing[0]!r}")
        rows = slice(filled, filled + len(frame))
        values[rows] = frame[columns].to_numpy(dtype=float)
        groups[rows] = coder.encode(frame)
        feasible[rows] = frame["feasible"].to_numpy(dtype=bool)
        filled += len(frame)
    senses = [o.sense for o in spec.objectives]
    return pareto_mask_by_group(values[:filled], senses, groups[:filled], where=feasible[:filled])


class _GroupCoder:
    """Integer labels for the ``pareto_by`` value combinations, consistent across chunks."""

    def __init__(self, by: Sequence[str]):
        self.by = list(by)
        self._ids: dict[tuple[Any, ...], int] = {}

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The label of each row of ``frame``."""
        if not self.by:
            return np.zeros(len(frame), dtype=np.int64)
        local, keys = group_keys(frame, self.by)
        labels = [self._ids.setdefault(key, len(self._ids)) for key in keys]
        return np.asarray(labels, dtype=np.int64)[local]


def _stream_points(
    spec: SweepSpec, store: ChunkStore, n_chunks: int, flags: np.ndarray, staging: _Staging
) -> _Digest:
    """Write points.csv (and .parquet) chunk by chunk; digest rows for the reports."""
    digest = _Digest(spec, total=len(flags))
    sink = _ParquetSink(staging.path("points.parquet"))
    offset = 0
    header: list[str] | None = None
    with open(staging.path("points.csv"), "w", encoding="utf-8", newline="") as handle:
        for index in range(n_chunks):
            frame = store.read_chunk(index)
            header = header or [*frame.columns, "pareto"]
            if len(frame) == 0:
                continue
            frame = frame.assign(pareto=flags[offset : offset + len(frame)])
            output = to_output_frame(frame)
            handle.write(csv_text(output, header=offset == 0))
            sink.append(output)
            digest.add(frame, offset)
            offset += len(frame)
        if offset == 0:
            handle.write(",".join(header or ["point", "feasible", "pareto"]) + "\n")
    if not sink.close():
        staging.drop("points.parquet")
        digest.notes.append(sink.note)
    digest.parquet_ok = sink.ok
    pareto = to_output_frame(digest.pareto_rows()) if digest.pareto else pd.DataFrame(columns=header)
    staging.write_text("pareto.csv", csv_text(pareto))
    columns = display_columns(spec, list(header or []), sorted(digest.varying))
    staging.write_text("pareto.md", pareto_markdown(spec, digest.pareto_rows(), columns))
    return digest


def _draw_plots(
    spec: SweepSpec, digest: _Digest, out_dir: Path, plot_hooks: Sequence[PlotHook]
) -> list[Path]:
    """The Pareto-front PNG plus the hooks' plots (or the generic roofline scatter)."""
    # Imported here: workers evaluating chunks never pay for importing matplotlib.
    from simulator.sweep.plots import plot_pareto_front, plot_roofline_scatter

    out_dir.mkdir(parents=True, exist_ok=True)
    sample = digest.plot_rows()
    feasible = sample[sample["feasible"]] if "feasible" in sample else sample
    written = []
    front = plot_pareto_front(
        feasible, digest.pareto_rows(), spec.objectives, spec.pareto_by,
        out_dir / "pareto_front.png", title=f"sweep {spec.name}",
    )  # fmt: skip
    if front is not None:
        written.append(front)
    for hook in plot_hooks or (plot_roofline_scatter,):
        written += [Path(p) for p in hook(sample, out_dir)]
    return written


class _Digest:
    """Running facts about the streamed rows: counts, Pareto rows, best rows, samples."""

    def __init__(self, spec: SweepSpec, total: int):
        self.spec = spec
        self.points = 0
        self.feasible = 0
        self.stride = max(1, math.ceil(total / _PLOT_ROWS))
        self.varying: set[str] = set()
        self.notes: list[str] = []
        self.parquet_ok = False
        self._first: dict[str, Any] = {}
        self._pareto: list[pd.DataFrame] = []
        self._sample: list[pd.DataFrame] = []
        self._best: dict[str, pd.Series] = {}
        self._bounds: list[pd.Series] = []
        self._sorted: pd.DataFrame | None = None

    def add(self, frame: pd.DataFrame, offset: int) -> None:
        """Fold in one chunk (raw values, with ``feasible`` and ``pareto``)."""
        self.points += len(frame)
        self.feasible += int(frame["feasible"].sum())
        self._pareto.append(frame[frame["pareto"].to_numpy()])
        keep = (offset + np.arange(len(frame))) % self.stride == 0
        self._sample.append(frame[keep])
        self._track_varying(frame)
        self._track_best(frame)
        if {"hardware", "bound"} <= set(frame.columns):
            labels, keys = group_keys(frame, ["hardware", "bound"])
            counts = np.bincount(labels, minlength=len(keys))
            known = [i for i, key in enumerate(keys) if None not in key]  # skip missing values
            index = pd.MultiIndex.from_tuples([keys[i] for i in known], names=["hardware", "bound"])
            self._bounds.append(pd.Series(counts[known], index=index))

    @property
    def pareto(self) -> int:
        """Number of Pareto rows seen."""
        return sum(len(p) for p in self._pareto)

    def pareto_rows(self) -> pd.DataFrame:
        """The Pareto rows sorted by ``pareto_by`` then the first objective (best first)."""
        if self._sorted is None:
            self._sorted = self._sort_pareto(_concat(self._pareto))
        return self._sorted

    def _sort_pareto(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Sort Pareto rows by group, then best first objective, then grid order."""
        if len(rows) == 0:
            return rows
        first = self.spec.objectives[0]
        keys = [*self.spec.pareto_by, first.column]
        order = pd.DataFrame({k: _sortable(rows[k]) for k in keys}).sort_values(
            keys, ascending=[True] * len(self.spec.pareto_by) + [first.sense == "min"]
        )
        return rows.iloc[order.index.to_numpy()].reset_index(drop=True)

    def plot_rows(self) -> pd.DataFrame:
        """A sample of all rows plus every Pareto row, in grid order."""
        rows = _concat([*self._sample, *self._pareto])
        if len(rows) == 0:
            return rows
        return rows.drop_duplicates("point").sort_values("point").reset_index(drop=True)

    def facts(self, manifest: Manifest, files: Sequence[str]) -> SummaryFacts:
        """The :class:`SummaryFacts` for ``summary.md``."""
        bounds = None
        if self._bounds:
            counts = pd.concat(self._bounds).groupby(level=[0, 1]).sum()
            bounds = counts.unstack(fill_value=0).sort_index(axis=0).sort_index(axis=1)
            bounds.columns.name = None
        best = {o.column: self._best.get(o.column) for o in self.spec.objectives}
        return SummaryFacts(
            grid_points=manifest.grid_points, points=self.points, feasible=self.feasible,
            pareto=self.pareto, spec_hash=manifest.spec_hash,
            files=tuple(files), best=best, bound_counts=bounds, notes=tuple(self.notes),
        )  # fmt: skip

    def _track_varying(self, frame: pd.DataFrame) -> None:
        """Note the columns whose value is not the same in every row seen so far."""
        for column in frame.columns:
            if column in self.varying:
                continue
            values = _json_column(frame[column]) if frame[column].dtype == object else frame[column]
            first = self._first.setdefault(column, values.iloc[0])
            if not (values == first).all():
                self.varying.add(column)

    def _track_best(self, frame: pd.DataFrame) -> None:
        """Keep the first feasible row with the best value of each objective."""
        feasible = frame["feasible"].to_numpy(dtype=bool)
        for objective in self.spec.objectives:
            values = frame[objective.column].to_numpy(dtype=float)
            sign = 1.0 if objective.sense == "min" else -1.0
            score = np.where(feasible & ~np.isnan(values), sign * values, np.inf)
            if len(score) == 0 or not np.isfinite(score.min()):
                continue  # no feasible row with a finite value in this chunk
            row = frame.iloc[int(np.argmin(score))]
            current = self._best.get(objective.column)
            if current is None or sign * row[objective.column] < sign * current[objective.column]:
                self._best[objective.column] = row


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


def _json_cell(value: Any) -> Any:
    """Canonical JSON text for mapping/list cells; other values unchanged."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return value


def _json_column(column: pd.Series) -> pd.Series:
    """An object column with mapping/list cells replaced by JSON text (None kept)."""
    return pd.Series([_json_cell(v) for v in column], index=column.index, dtype=object)


def _sortable(column: pd.Series) -> pd.Series:
    """A column that sorts without errors (object columns compare as text).

    Categoricals sort by value, not in the order of their categories (the spec's order).
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    return _json_column(column).astype(str) if column.dtype == object else column


def _concat(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate non-empty frames (an empty frame if there are none)."""
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

r"""Chunk digests: what the outputs need from one evaluated chunk, made where it ran.

Writing a 10⁶-point sweep is mostly turning numbers into CSV text. So that this work
runs on the workers, not serially in the parent, the process that evaluates a chunk also
makes its :class:`ChunkDigest` (:func:`digest_chunk`):

* its lines of ``points.csv``, with the ``pareto`` cell written as ``False``, and the
  end offset of each line;
* its *candidates*: the rows that no row of the same chunk and ``pareto_by`` group
  dominates. A row dominated inside its chunk is dominated in the whole sweep, so the
  sweep's front is the front of the candidates (a few percent of the rows);
* the facts for the reports: counts, a plot sample, the best row per objective, the
  first value of each column and whether it varies, and the hardware × bound counts.

The parent (:class:`SweepDigest`) flags the front among all candidates, copies each
chunk's text while rewriting ``False`` to ``True`` on its front rows, and merges the
facts. Every step is deterministic, so the files do not depend on where chunks ran.

Examples
--------
>>> import pandas as pd
>>> from simulator.pareto import Objective
>>> frame = pd.DataFrame({"point": [0, 1, 2], "t": [1.0, 2.0, 0.5], "feasible": [True, True, False]})
>>> chunk = digest_chunk(frame, [Objective("t")], (), n_chunks=1)
>>> chunk.csv
b'0,1.0,True,False\n1,2.0,True,False\n2,0.5,False,False\n'
>>> chunk.candidate_rows.tolist(), chunk.feasible
([0], 2)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulator.grouping import group_keys
from simulator.pareto import Objective, pareto_mask_grouped
from simulator.sweep.csvtext import csv_lines, json_column, to_output_frame
from simulator.sweep.report import SummaryFacts

__all__ = ["PLOT_ROWS", "ChunkDigest", "SweepDigest", "digest_chunk", "write_flagged"]

#: Rows handed to plots and plot hooks at most (all rows of smaller sweeps, else a sample).
PLOT_ROWS = 50_000
# How a worker writes the pareto cell (the last one) of every line.
_UNFLAGGED = b"False\n"


@dataclass(frozen=True)
class ChunkDigest:
    r"""One chunk's share of the outputs (see the module docstring).

    Attributes
    ----------
    columns : tuple of str
        The chunk's columns plus ``pareto`` (the header of ``points.csv``).
    rows, feasible : int
        Number of rows and of feasible rows.
    csv : bytes
        The rows' lines of ``points.csv`` in UTF-8, each ending ``,False\n``.
    ends : numpy.ndarray of int64
        Offset in ``csv`` just past each line.
    candidates : pandas.DataFrame
        The rows non-dominated within the chunk (every column).
    candidate_rows, sample_rows : numpy.ndarray of int64
        Positions in the chunk of the candidates and of the plot sample.
    sample : pandas.DataFrame
        Evenly spaced rows for the plots.
    firsts : dict
        First value of each column (mappings and lists as JSON text).
    varying : frozenset of str
        Columns whose value is not the same in every row of the chunk.
    best : dict of str to pandas.Series
        Per objective, the first feasible row with the best value.
    bounds : pandas.Series or None
        Rows per (``hardware``, ``bound``), when the chunk has both columns.
    """

    columns: tuple[str, ...]
    rows: int
    feasible: int
    csv: bytes
    ends: np.ndarray
    candidates: pd.DataFrame
    candidate_rows: np.ndarray
    sample: pd.DataFrame
    sample_rows: np.ndarray
    firsts: dict[str, Any]
    varying: frozenset[str]
    best: dict[str, pd.Series]
    bounds: pd.Series | None


def digest_chunk(
    frame: pd.DataFrame, objectives: Sequence[Objective], pareto_by: Sequence[str], n_chunks: int
) -> ChunkDigest:
    """Render and summarise one evaluated chunk (runs in the worker that evaluated it).

    Parameters
    ----------
    frame : pandas.DataFrame
        The chunk's rows, with ``feasible``.
    objectives, pareto_by
        The spec's objectives and comparison-group columns.
    n_chunks : int
        Chunks in the sweep: each keeps about ``PLOT_ROWS / n_chunks`` sample rows.

    Returns
    -------
    ChunkDigest
    """
    lines = csv_lines(to_output_frame(frame.assign(pareto=False)))
    text = "\n".join(lines) + "\n" if lines else ""
    csv = text.encode("utf-8")
    if len(csv) != len(text):  # non-ASCII text: count each line's bytes
        lines = [line.encode("utf-8") for line in lines]
    ends = np.cumsum(np.fromiter(map(len, lines), dtype=np.int64, count=len(lines)) + 1)
    if len(frame):
        front = pareto_mask_grouped(frame, objectives, pareto_by, where="feasible")
    else:
        front = np.zeros(0, dtype=bool)
    step = max(1, math.ceil(len(frame) * n_chunks / PLOT_ROWS))
    sample_rows = np.arange(0, len(frame), step, dtype=np.int64)
    candidate_rows = np.flatnonzero(front).astype(np.int64)
    firsts, varying = _constants(frame)
    return ChunkDigest(
        columns=(*frame.columns, "pareto"),
        rows=len(frame),
        feasible=int(frame["feasible"].sum()) if len(frame) else 0,
        csv=csv,
        ends=ends,
        candidates=frame.iloc[candidate_rows].reset_index(drop=True),
        candidate_rows=candidate_rows,
        sample=frame.iloc[sample_rows].reset_index(drop=True),
        sample_rows=sample_rows,
        firsts=firsts,
        varying=varying,
        best=_best_rows(frame, objectives),
        bounds=_bound_counts(frame),
    )


def write_flagged(handle: Any, chunk: ChunkDigest, flagged: np.ndarray) -> None:
    r"""Write a chunk's lines to a binary file, with ``pareto`` True on the ``flagged`` rows.

    Examples
    --------
    >>> import io
    >>> frame = pd.DataFrame({"point": [0, 1], "feasible": [True, True]})
    >>> out = io.BytesIO()
    >>> write_flagged(out, digest_chunk(frame, [Objective("point")], (), 1), np.array([1]))
    >>> out.getvalue()
    b'0,True,False\n1,True,True\n'
    """
    text = memoryview(chunk.csv)
    start = 0
    for end in chunk.ends[np.sort(flagged)].tolist():
        handle.write(text[start : end - len(_UNFLAGGED)])
        handle.write(b"True\n")
        start = end
    handle.write(text[start:])


class SweepDigest:
    """The sweep's facts, merged from its chunk digests in grid order."""

    def __init__(self, objectives: Sequence[Objective], pareto_by: Sequence[str]):
        self.objectives = tuple(objectives)
        self.pareto_by = tuple(pareto_by)
        self.points = 0
        self.feasible = 0
        self.varying: set[str] = set()
        self.notes: list[str] = []
        self.parquet_ok = False
        self._firsts: dict[str, Any] = {}
        self._pareto = pd.DataFrame()
        self._best: dict[str, pd.Series] = {}
        self._bounds: list[pd.Series] = []

    def add(self, chunk: ChunkDigest) -> None:
        """Fold in one chunk's counts and report facts."""
        self.points += chunk.rows
        self.feasible += chunk.feasible
        for column, value in chunk.firsts.items():
            first = self._firsts.setdefault(column, value)
            if column in chunk.varying or not _same(first, value):
                self.varying.add(column)
        for column, row in chunk.best.items():
            current = self._best.get(column)
            sign = 1.0 if self._sense(column) == "min" else -1.0
            if current is None or sign * row[column] < sign * current[column]:
                self._best[column] = row
        if chunk.bounds is not None:
            self._bounds.append(chunk.bounds)

    def set_pareto(self, rows: pd.DataFrame) -> None:
        """The Pareto rows (with ``pareto``), sorted by group, best first objective, grid order."""
        self._pareto = _sort_pareto(rows, self.objectives[0], self.pareto_by)

    @property
    def pareto(self) -> int:
        """Number of Pareto rows."""
        return len(self._pareto)

    def pareto_rows(self) -> pd.DataFrame:
        """The sorted Pareto rows."""
        return self._pareto

    def facts(self, grid_points: int, spec_hash: str, files: Sequence[str]) -> SummaryFacts:
        """The :class:`~simulator.sweep.report.SummaryFacts` for ``summary.md``."""
        bounds = None
        if self._bounds:
            counts = pd.concat(self._bounds).groupby(level=[0, 1]).sum()
            bounds = counts.unstack(fill_value=0).sort_index(axis=0).sort_index(axis=1)
            bounds.columns.name = None
        best = {o.column: self._best.get(o.column) for o in self.objectives}
        return SummaryFacts(
            grid_points=grid_points, points=self.points, feasible=self.feasible,
            pareto=self.pareto, spec_hash=spec_hash, files=tuple(files), best=best,
            bound_counts=bounds, notes=tuple(self.notes),
        )  # fmt: skip

    def _sense(self, column: str) -> str:
        return next(o.sense for o in self.objectives if o.column == column)


def _constants(frame: pd.DataFrame) -> tuple[dict[str, Any], frozenset[str]]:
    """First value of each column and the columns that vary within the frame."""
    firsts: dict[str, Any] = {}
    varying = set()
    if not len(frame):
        return firsts, frozenset()
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object:
            values = json_column(values)
        firsts[column] = values.iloc[0]
        if not (values == firsts[column]).all():  # NaN never equals: such columns "vary"
            varying.add(column)
    return firsts, frozenset(varying)


def _same(a: Any, b: Any) -> bool:
    """Whether two first values are equal (NaN is never equal, as within a chunk)."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _best_rows(frame: pd.DataFrame, objectives: Sequence[Objective]) -> dict[str, pd.Series]:
    """Per objective, the first feasible row with the best finite value."""
    best: dict[str, pd.Series] = {}
    if not len(frame):
        return best
    feasible = frame["feasible"].to_numpy(dtype=bool)
    for objective in objectives:
        values = frame[objective.column].to_numpy(dtype=float)
        sign = 1.0 if objective.sense == "min" else -1.0
        score = np.where(feasible & ~np.isnan(values), sign * values, np.inf)
        if np.isfinite(score.min()):
            best[objective.column] = frame.iloc[int(np.argmin(score))]
    return best


def _bound_counts(frame: pd.DataFrame) -> pd.Series | None:
    """Rows per (hardware, bound) value pair, missing values left out."""
    if not {"hardware", "bound"} <= set(frame.columns) or not len(frame):
        return None
    labels, keys = group_keys(frame, ["hardware", "bound"])
    counts = np.bincount(labels, minlength=len(keys))
    known = [i for i, key in enumerate(keys) if None not in key]
    index = pd.MultiIndex.from_tuples([keys[i] for i in known], names=["hardware", "bound"])
    return pd.Series(counts[known], index=index)


def _sort_pareto(rows: pd.DataFrame, first: Objective, by: Sequence[str]) -> pd.DataFrame:
    """Sort Pareto rows by group, then best first objective, then grid order."""
    if len(rows) == 0:
        return rows
    keys = [*by, first.column]
    order = pd.DataFrame({k: _sortable(rows[k]) for k in keys}).sort_values(
        keys, ascending=[True] * len(by) + [first.sense == "min"], kind="stable"
    )
    return rows.iloc[order.index.to_numpy()].reset_index(drop=True)


def _sortable(column: pd.Series) -> pd.Series:
    """A column that sorts without errors (object columns compare as text).

    Categoricals sort by value, not in the order of their categories (the spec's order).
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    return json_column(column).astype(str) if column.dtype == object else column

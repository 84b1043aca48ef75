"""Lazy grid expansion: any slice of a sweep grid by mixed-radix index arithmetic.

The grid of a :class:`~simulator.sweep.spec.SweepSpec` is never materialised. Grid point
``i`` is decoded digit by digit (``digit_f = i // stride_f % radix_f``, one factor per
axis or ``zip`` group, the last factor varying fastest), so a chunk of a 10⁷- or
10¹²-point grid costs memory proportional to the chunk only.

Examples
--------
>>> from simulator.sweep.spec import parse_spec
>>> spec = parse_spec({"name": "x", "evaluator": "synthetic",
...                    "axes": {"hw": ["a", "b"], "flops": [1.0, 2.0], "units": [1, 2, 4]},
...                    "zip": [["hw", "flops"]], "objectives": ["latency"]})
>>> grid = build_grid(spec)
>>> grid.size, grid.radices
(6, (2, 3))
>>> grid.frame(np.array([0, 4])).to_dict("list")
{'point': [0, 4], 'hw': ['a', 'b'], 'flops': [1.0, 2.0], 'units': [1, 2]}
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from simulator.errors import SpecError
from simulator.sweep.spec import SweepSpec

__all__ = [
    "ChunkRange",
    "Grid",
    "add_constant_columns",
    "build_grid",
    "chunk_ranges",
    "eval_mask",
]

# Grids above this size cannot be indexed with int64 arithmetic safely.
_MAX_GRID = 1 << 62


class ChunkRange(NamedTuple):
    """Chunk ``index`` covers grid points ``start <= i < stop``."""

    index: int
    start: int
    stop: int


@dataclass(frozen=True)
class Grid:
    """The product of a spec's axes, addressable by grid index.

    Attributes
    ----------
    columns : tuple of str
        Axis names in spec order.
    values : tuple of numpy.ndarray
        The values of each column (typed when homogeneous, else ``object``).
    factors : tuple of int
        For each column, the index of its product factor (zipped axes share one).
    radices : tuple of int
        Number of values of each factor.
    """

    columns: tuple[str, ...]
    values: tuple[np.ndarray, ...]
    factors: tuple[int, ...]
    radices: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of grid points (before filters)."""
        return math.prod(self.radices)

    @property
    def strides(self) -> tuple[int, ...]:
        """Index stride of each factor (the last factor has stride 1)."""
        strides = [1] * len(self.radices)
        for f in range(len(self.radices) - 2, -1, -1):
            strides[f] = strides[f + 1] * self.radices[f + 1]
        return tuple(strides)

    def frame(self, indices: np.ndarray) -> pd.DataFrame:
        """The grid points with the given indices: a ``point`` column plus one per axis."""
        indices = np.asarray(indices, dtype=np.int64)
        digits = [(indices // stride) % radix for stride, radix in zip(self.strides, self.radices)]
        data: dict[str, Any] = {"point": indices}
        for name, values, factor in zip(self.columns, self.values, self.factors):
            data[name] = _take(values, digits[factor])
        return pd.DataFrame(data, copy=False)  # no consolidating copy: the arrays are fresh


def build_grid(spec: SweepSpec) -> Grid:
    """Build the lazy grid of a spec.

    Parameters
    ----------
    spec : SweepSpec

    Returns
    -------
    Grid

    Raises
    ------
    SpecError
        If the grid has more than 2**62 points.

    Examples
    --------
    >>> from simulator.sweep.spec import parse_spec
    >>> spec = parse_spec({"name": "x", "evaluator": "e", "axes": {"a": [1, 2], "b": [0.5]},
    ...                    "objectives": ["t"]})
    >>> build_grid(spec).frame(np.arange(2)).dtypes.tolist()
    [dtype('int64'), dtype('int64'), dtype('float64')]
    """
    factor_of: dict[str, int] = {}
    radices: list[int] = []
    group_of = {name: group for group in spec.zip_groups for name in group}
    for axis in spec.axes:
        group = group_of.get(axis.name, (axis.name,))
        leader = next((name for name in group if name in factor_of), None)
        if leader is None:
            factor_of[axis.name] = len(radices)
            radices.append(len(axis.values))
        else:
            factor_of[axis.name] = factor_of[leader]
    grid = Grid(
        columns=spec.axis_names,
        values=tuple(_column_array(axis.values) for axis in spec.axes),
        factors=tuple(factor_of[axis.name] for axis in spec.axes),
        radices=tuple(radices),
    )
    if grid.size >= _MAX_GRID:
        raise SpecError(f"{spec.source}: key 'axes': the grid has {grid.size} points, too many")
    return grid


def chunk_ranges(size: int, chunk_size: int) -> Iterator[ChunkRange]:
    """Yield the chunks of a grid of ``size`` points, lazily.

    Examples
    --------
    >>> [tuple(chunk) for chunk in chunk_ranges(5, 2)]
    [(0, 0, 2), (1, 2, 4), (2, 4, 5)]
    """
    for index, start in enumerate(range(0, size, chunk_size)):
        yield ChunkRange(index, start, min(start + chunk_size, size))


def add_constant_columns(frame: pd.DataFrame, constants: Mapping[str, Any]) -> pd.DataFrame:
    """Append the ``constants`` the frame lacks as constant columns (in mapping order).

    Examples
    --------
    >>> add_constant_columns(pd.DataFrame({"a": [1, 2]}), {"a": 0, "b": 1.5}).to_dict("list")
    {'a': [1, 2], 'b': [1.5, 1.5]}
    """
    missing = {name: value for name, value in constants.items() if name not in frame.columns}
    if not missing:
        return frame
    zeros = np.zeros(len(frame), dtype=np.int64)
    extra = {name: _take(_column_array([value]), zeros) for name, value in missing.items()}
    return pd.concat([frame, pd.DataFrame(extra, index=frame.index, copy=False)], axis=1)


def eval_mask(frame: pd.DataFrame, expressions: Sequence[str], source: str, key: str) -> np.ndarray:
    """AND of boolean ``DataFrame.eval`` expressions over a frame.

    Parameters
    ----------
    frame : pandas.DataFrame
    expressions : sequence of str
    source, key : str
        The spec file and key (``filters`` or ``constraints``) named in error messages.

    Returns
    -------
    numpy.ndarray of bool

    Raises
    ------
    SpecError
        If an expression fails or does not give one boolean per row.

    Examples
    --------
    >>> frame = pd.DataFrame({"q": [1, 2, 3], "kv": [2, 2, 2]})
    >>> eval_mask(frame, ["kv >= q", "q > 1"], "s.yaml", "filters").tolist()
    [False, True, False]
    >>> eval_mask(frame, ["kv >= nope"], "s.yaml", "filters")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: s.yaml: key 'filters[0]': cannot evaluate 'kv >= nope': name ...
    """
    mask = np.ones(len(frame), dtype=bool)
    for i, expression in enumerate(expressions):
        try:
            result = frame.eval(expression)
        except Exception as err:  # noqa: BLE001 - pandas raises many types; all are user errors
            message = " ".join(str(err).split()) or type(err).__name__
            raise SpecError(
                f"{source}: key '{key}[{i}]': cannot evaluate {expression!r}: {message}"
            ) from None
        values = np.asarray(result)
        if values.ndim == 0:
            values = np.full(len(frame), values.item())
        if values.shape != (len(frame),) or values.dtype != bool:
            raise SpecError(
                f"{source}: key '{key}[{i}]': {expression!r} does not give one true/false per row"
            )
        mask &= values
    return mask


def _take(values: np.ndarray, codes: np.ndarray) -> Any:
    """``values[codes]``; a pandas Categorical when the values are all strings.

    Text axes (hardware, model, mask, …) then travel as small integer codes: grouping,
    comparing and factorising them costs what it costs for integers, where a column of
    Python strings would be hashed row by row.
    """
    if values.dtype != object or not all(isinstance(v, str) for v in values):
        return values[codes]
    names = list(dict.fromkeys(values.tolist()))  # a zipped axis may repeat a value
    position = {name: i for i, name in enumerate(names)}
    remap = np.array([position[v] for v in values.tolist()], dtype=np.int64)
    return pd.Categorical.from_codes(remap[codes], categories=pd.Index(names, dtype=object))


def _column_array(values: Sequence[Any]) -> np.ndarray:
    """Values as a typed array when homogeneous (bool, int64, float64), else ``object``."""
    kinds = {type(value) for value in values}
    if kinds == {bool}:
        return np.array(values, dtype=bool)
    if kinds == {int} and all(-(2**63) <= v < 2**63 for v in values):
        return np.array(values, dtype=np.int64)
    if kinds and kinds <= {int, float}:
        return np.array(values, dtype=np.float64)
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return array

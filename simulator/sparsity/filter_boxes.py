"""The box path of the filter counter: three-valued interval arithmetic on tile boxes.

Any filter of the cascade language can be counted here, ``%`` on the key, mask tensors
and all. A *box* is a rectangle of (query, key) pairs for one combination of the other
variables, first one (Q tile x KV tile) block of the tile grid. Every integer
sub-expression of the filter gets bounds over the box that are never too tight
(:func:`int_bounds`), every comparison and ``and``/``or``/``not`` a three-valued truth
(:func:`truth`): a box is definitely all-false (never visited), definitely all-true
(visited and full) or unknown. Unknown boxes are cut into up to 4 x 4 sub-boxes and
re-evaluated, level after level, down to boxes of at most 256 pairs, whose pairs are then
enumerated with the elementwise evaluation (:func:`holds`), the same semantics as
``einsum.executor``. The count is exact; the
arithmetic only decides how much has to be enumerated.

The module also holds what both paths share: :class:`FilterData` (sizes and tensors,
read with the executor's rules), :class:`Grid` (the tiled problem) and
:class:`TileTotals` (per-Q-tile sums).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from einsum.model import (
    BoolOp,
    Compare,
    Filter,
    IntBinary,
    IntCall,
    IntConst,
    IntExpr,
    IntTensor,
    MaskRef,
    Not,
    Size,
    TensorRef,
    Var,
)
from einsum.sizes import eval_int

__all__ = ["FilterData", "Grid", "TileTotals", "count_boxes", "holds", "int_bounds", "truth"]

Bounds = tuple[Any, Any]  # inclusive (low, high), scalars or arrays of one shape

#: Boxes of at most this many pairs are enumerated instead of cut again.
_ENUMERATE_AREA = 256
#: Each cut splits a box into at most this many parts per side. 4 beats 16: block masks
#: and 2-D windows are decided a level or two down, at a sixteenth of the sub-boxes.
_CUTS = 4
#: Elements (boxes, sub-boxes or pairs) processed at once; bounds the memory.
_CHUNK = 1 << 20
#: Tile boxes evaluated at once.
_BOX_CHUNK = 1 << 16
#: Most tensor offsets enumerated to bound a tensor read over a box.
_MAX_OFFSETS = 4096
_BIG = np.iinfo(np.int64).max
_SMALL = np.iinfo(np.int64).min
_COMPARE = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
    "==": np.equal, "!=": np.not_equal,
}


# ----------------------------------------------------------------------------- shared data
def _gather(table: np.ndarray, indices: list[Any]) -> tuple[np.ndarray, Any]:
    """Read ``table`` at integer index arrays, clipped, with a mask of in-range reads."""
    valid: Any = True
    clipped = []
    for axis, raw in enumerate(indices):
        raw = np.asarray(raw)
        valid = valid & (raw >= 0) & (raw < table.shape[axis])
        clipped.append(np.clip(raw, 0, table.shape[axis] - 1))
    return table[tuple(clipped)], valid


class FilterData:
    """Sizes and tensor values a filter reads, with the executor's rules for reads.

    As in ``einsum.executor``: a tensor read as an integer (``W[h]``) reads 0 outside the
    tensor; a mask tensor keeps a pair where it is non-zero and in range.

    Parameters
    ----------
    sizes : mapping of str to int
        Every size symbol the filter uses.
    ints : mapping of str to numpy.ndarray
        Integer-valued tensors read inside comparisons.
    masks : mapping of str to numpy.ndarray
        Tensors used as masks (any numeric values).

    Examples
    --------
    >>> data = FilterData({"W": 2}, {"WH": np.array([1, 3])}, {})
    >>> ref = IntTensor(TensorRef("WH", (Var("h"),)))
    >>> data.value(ref, {"h": np.array([0, 1, 2])}).tolist()
    [1, 3, 0]
    """

    def __init__(self, sizes: Mapping[str, int], ints: Mapping[str, np.ndarray],
                 masks: Mapping[str, np.ndarray]):
        self.sizes = {name: np.int64(value) for name, value in sizes.items()}
        self.ints = {name: np.asarray(a, dtype=np.int64) for name, a in ints.items()}
        self.masks = {name: np.not_equal(a, 0).astype(np.int64) for name, a in masks.items()}

    def value(self, expr: IntExpr, env: Mapping[str, Any]) -> Any:
        """Evaluate an integer expression elementwise (numpy floor semantics)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return eval_int(expr, env, self.sizes, self._read_int)

    def _read_int(self, node: IntTensor, env: Mapping[str, Any]) -> np.ndarray:
        data, valid = _gather(self.ints[node.ref.name], self._indices(node.ref, env))
        return np.where(valid, data, 0)

    def read_mask(self, ref: TensorRef, env: Mapping[str, Any]) -> np.ndarray:
        """Whether the mask tensor keeps each point (non-zero and in range)."""
        data, valid = _gather(self.masks[ref.name], self._indices(ref, env))
        return (data != 0) & valid

    def _indices(self, ref: TensorRef, env: Mapping[str, Any]) -> list[Any]:
        return [self.value(index, env) for index in ref.indices]

    def int_range(self, ref: TensorRef, index_bounds: list[Bounds]) -> Bounds:
        """Bounds of an integer tensor read over boxes of index ranges."""
        return _table_range(self.ints[ref.name], index_bounds)

    def mask_range(self, ref: TensorRef, index_bounds: list[Bounds]) -> Bounds:
        """Bounds (0 or 1) of a mask tensor read over boxes of index ranges."""
        return _table_range(self.masks[ref.name], index_bounds)


def _table_range(table: np.ndarray, index_bounds: list[Bounds]) -> Bounds:
    """Min and max of ``table`` over boxes of index ranges; reads outside give 0.

    Offsets inside the boxes are enumerated when few enough (a clamped offset repeats the
    last index, which leaves a min/max unchanged); otherwise the whole table bounds them.
    """
    if not index_bounds:
        value = table[()]
        return value, value
    lows = np.broadcast_arrays(*(np.asarray(lo) for lo, _ in index_bounds))
    highs = np.broadcast_arrays(*(np.asarray(hi) for _, hi in index_bounds))
    outside = np.zeros(lows[0].shape, dtype=bool)
    nowhere = np.zeros(lows[0].shape, dtype=bool)
    first, last = [], []
    for extent, lo, hi in zip(table.shape, lows, highs):
        outside |= (lo < 0) | (hi >= extent)
        nowhere |= (hi < 0) | (lo >= extent)
        first.append(np.clip(lo, 0, extent - 1))
        last.append(np.clip(hi, 0, extent - 1))
    spans = [int((b - a).max(initial=0)) + 1 for a, b in zip(first, last)]
    offsets = math.prod(spans)
    if offsets <= _MAX_OFFSETS and offsets * outside.size <= 16 * _CHUNK:
        low = np.full(outside.shape, _BIG)
        high = np.full(outside.shape, _SMALL)
        for offset in itertools.product(*(range(s) for s in spans)):
            read = table[tuple(np.minimum(a + o, b) for a, o, b in zip(first, offset, last))]
            low, high = np.minimum(low, read), np.maximum(high, read)
    else:
        low = np.full(outside.shape, table.min())
        high = np.full(outside.shape, table.max())
    low = np.where(nowhere, 0, np.where(outside, np.minimum(low, 0), low))
    high = np.where(nowhere, 0, np.where(outside, np.maximum(high, 0), high))
    return low, high


@dataclass(frozen=True)
class Grid:
    """A tiled attention problem: queries x keys in tiles, for each instance.

    Attributes
    ----------
    query, key : str
        Names of the flat query and key variables.
    n_queries, n_keys, q_tile, kv_tile : int
        Lengths and tile sizes.
    other_names : tuple of str
        The other variables the filter uses.
    other_values : numpy.ndarray
        ``(instances, len(other_names))``: one row per combination of their values.
    """

    query: str
    key: str
    n_queries: int
    n_keys: int
    q_tile: int
    kv_tile: int
    other_names: tuple[str, ...] = ()
    other_values: np.ndarray = field(default_factory=lambda: np.zeros((1, 0), np.int64))

    @property
    def n_q_tiles(self) -> int:
        """``ceil(n_queries / q_tile)``."""
        return -(-self.n_queries // self.q_tile)

    @property
    def n_kv_tiles(self) -> int:
        """``ceil(n_keys / kv_tile)``."""
        return -(-self.n_keys // self.kv_tile)

    @property
    def instances(self) -> int:
        """Number of combinations of the other variables."""
        return int(self.other_values.shape[0])

    def others_env(self, instances: np.ndarray, ndim: int) -> dict[str, np.ndarray]:
        """The other variables' values for ``instances``, shaped to broadcast over ``ndim`` axes."""
        shape = (-1,) + (1,) * (ndim - 1)
        return {name: self.other_values[instances, i].reshape(shape)
                for i, name in enumerate(self.other_names)}


class TileTotals:
    """Per-Q-tile visited and full KV tiles summed over instances, the max, and pairs.

    Examples
    --------
    >>> totals = TileTotals(2)
    >>> totals.add(0, np.array([[2, 1]]), np.array([[1, 1]]), 10)
    >>> totals.visited.tolist(), totals.max_steps, totals.pairs
    ([2, 1], 2, 10)
    """

    def __init__(self, n_q_tiles: int):
        self.visited = np.zeros(n_q_tiles, dtype=np.int64)
        self.full = np.zeros(n_q_tiles, dtype=np.int64)
        self.max_steps = 0
        self.pairs = 0

    def add(self, first_tile: int, visited: np.ndarray, full: np.ndarray, pairs: int) -> None:
        """Add ``(instances, q tiles)`` counts of Q tiles ``first_tile, first_tile + 1, ...``."""
        stop = first_tile + visited.shape[1]
        self.visited[first_tile:stop] += visited.sum(axis=0)
        self.full[first_tile:stop] += full.sum(axis=0)
        self.max_steps = max(self.max_steps, int(visited.max(initial=0)))
        self.pairs += int(pairs)


# ----------------------------------------------------------------------------- elementwise
def holds(flt: Filter, env: Mapping[str, Any], data: FilterData) -> np.ndarray:
    """Evaluate a filter elementwise, as ``einsum.executor`` does.

    Examples
    --------
    >>> flt = Compare((Var("m"), Var("p")), ("<=",))
    >>> holds(flt, {"m": np.arange(3), "p": 1}, FilterData({}, {}, {})).tolist()
    [True, True, False]
    """
    if isinstance(flt, Compare):
        values = [data.value(o, env) for o in flt.operands]
        result: Any = np.asarray(True)
        for op, left, right in zip(flt.ops, values, values[1:]):
            result = result & _COMPARE[op](left, right)
        return result
    if isinstance(flt, BoolOp):
        combine = np.logical_and if flt.op == "and" else np.logical_or
        result = holds(flt.parts[0], env, data)
        for part in flt.parts[1:]:
            result = combine(result, holds(part, env, data))
        return result
    if isinstance(flt, Not):
        return ~holds(flt.part, env, data)
    if isinstance(flt, MaskRef):
        return data.read_mask(flt.ref, env)
    raise TypeError(f"not a filter: {flt!r}")


# ----------------------------------------------------------------------------- bounds
def _i64(value: Any) -> Any:
    return np.asarray(value, dtype=np.int64)


def _hull(lows: list[Any], highs: list[Any]) -> Bounds:
    """Smallest range holding every candidate (arrays and scalars broadcast)."""
    return functools.reduce(np.minimum, lows), functools.reduce(np.maximum, highs)


def _corners(func: Any, a: Bounds, b: Bounds) -> Bounds:
    values = [func(x, y) for x in a for y in b]
    return _hull(values, values)


def _floordiv(a: Bounds, b: Bounds) -> Bounds:
    """Floor division is monotone in each operand on each sign of the divisor: corners.

    The divisor's range is cut at zero (whose quotient numpy defines as 0), so the
    candidate divisors are its two ends and -1, 1 where they lie inside it.
    """
    lo_b, hi_b = b
    lows, highs = [], []
    for y in (lo_b, hi_b, -1, 1):
        ok = (y != 0) & (lo_b <= y) & (y <= hi_b)
        safe = np.where(ok, y, 1)
        for x in a:
            quotient = np.floor_divide(x, safe)
            lows.append(np.where(ok, quotient, _BIG))
            highs.append(np.where(ok, quotient, _SMALL))
    zero = (lo_b <= 0) & (0 <= hi_b)
    lows.append(np.where(zero, 0, _BIG))
    highs.append(np.where(zero, 0, _SMALL))
    return _hull(lows, highs)


def _mod(a: Bounds, b: Bounds) -> Bounds:
    """The divisor's full residue range, unless the operand stays inside one period."""
    (lo_a, hi_a), (lo_b, hi_b) = a, b
    low = np.where(lo_b > 0, 0, np.where(hi_b < 0, lo_b + 1, np.minimum(lo_b + 1, 0)))
    high = np.where(lo_b > 0, hi_b - 1, np.where(hi_b < 0, 0, np.maximum(hi_b - 1, 0)))
    safe = np.where(lo_b != 0, lo_b, 1)
    single = (lo_b == hi_b) & (lo_b != 0) & (lo_a // safe == hi_a // safe)
    return np.where(single, lo_a % safe, low), np.where(single, hi_a % safe, high)


def _abs(a: Bounds) -> Bounds:
    lo, hi = a
    low = np.where(lo >= 0, lo, np.where(hi <= 0, -hi, 0))
    return low, np.maximum(np.abs(lo), np.abs(hi))


def _min(a: Bounds, b: Bounds) -> Bounds:
    return np.minimum(a[0], b[0]), np.minimum(a[1], b[1])


def _max(a: Bounds, b: Bounds) -> Bounds:
    return np.maximum(a[0], b[0]), np.maximum(a[1], b[1])


_BINARY_BOUNDS = {
    "+": lambda a, b: (a[0] + b[0], a[1] + b[1]),
    "-": lambda a, b: (a[0] - b[1], a[1] - b[0]),
    "*": lambda a, b: _corners(np.multiply, a, b),
    "//": _floordiv,
    "%": _mod,
}
_CALL_BOUNDS = {
    "abs": _abs,
    "min": _min,
    "max": _max,
    "clamp": lambda x, lo, hi: _min(_max(x, lo), hi),
}


def int_bounds(expr: IntExpr, env: Mapping[str, Bounds], data: FilterData) -> Bounds:
    """Inclusive bounds of an integer expression when each variable lies in a range.

    Parameters
    ----------
    expr : IntExpr
    env : mapping of str to (low, high)
        Inclusive range of each variable (scalars or arrays, one entry per box).
    data : FilterData

    Returns
    -------
    (low, high)
        Bounds that hold for every point of each box (exact for ``+ - *`` by constants,
        ``min max abs clamp`` and single-period ``%``; never too tight).

    Examples
    --------
    >>> e = IntBinary("%", Var("m"), IntConst(8))
    >>> [b.tolist() for b in int_bounds(e, {"m": (np.array([3, 6]), np.array([5, 9]))},
    ...                                 FilterData({}, {}, {}))]
    [[3, 0], [5, 7]]
    """
    if isinstance(expr, IntConst):
        return _i64(expr.value), _i64(expr.value)
    if isinstance(expr, Var):
        return env[expr.name]
    if isinstance(expr, Size):
        return data.sizes[expr.name], data.sizes[expr.name]
    if isinstance(expr, IntBinary):
        left, right = int_bounds(expr.left, env, data), int_bounds(expr.right, env, data)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _BINARY_BOUNDS[expr.op](left, right)
    if isinstance(expr, IntCall):
        return _CALL_BOUNDS[expr.func](*(int_bounds(a, env, data) for a in expr.args))
    if isinstance(expr, IntTensor):
        return data.int_range(expr.ref, [int_bounds(i, env, data) for i in expr.ref.indices])
    raise TypeError(f"not an integer expression: {expr!r}")


def _compare(op: str, a: Bounds, b: Bounds) -> tuple[Any, Any]:
    """(may be true, may be false) of ``a op b`` over ranges."""
    (lo_a, hi_a), (lo_b, hi_b) = a, b
    if op == "<":
        return lo_a < hi_b, hi_a >= lo_b
    if op == "<=":
        return lo_a <= hi_b, hi_a > lo_b
    if op == ">":
        return hi_a > lo_b, lo_a <= hi_b
    if op == ">=":
        return hi_a >= lo_b, lo_a < hi_b
    overlap = (lo_a <= hi_b) & (lo_b <= hi_a)
    equal = (lo_a == hi_a) & (lo_b == hi_b) & (lo_a == lo_b)
    return (overlap, ~equal) if op == "==" else (~equal, overlap)


def truth(flt: Filter, env: Mapping[str, Bounds], data: FilterData) -> tuple[Any, Any]:
    """Three-valued truth of a filter over boxes: (may be true, may be false).

    Examples
    --------
    >>> flt = Compare((Var("m"), Var("p")), ("<=",))
    >>> env = {"m": (np.array([0, 4, 2]), np.array([1, 5, 6])), "p": (3, 3)}
    >>> [t.tolist() for t in truth(flt, env, FilterData({}, {}, {}))]
    [[True, False, True], [False, True, True]]
    """
    if isinstance(flt, Compare):
        values = [int_bounds(o, env, data) for o in flt.operands]
        may_true: Any = True
        may_false: Any = False
        for op, left, right in zip(flt.ops, values, values[1:]):
            t, f = _compare(op, left, right)
            may_true, may_false = may_true & t, may_false | f
        return may_true, may_false
    if isinstance(flt, BoolOp):
        parts = [truth(p, env, data) for p in flt.parts]
        may_true, may_false = parts[0]
        for t, f in parts[1:]:
            if flt.op == "and":
                may_true, may_false = may_true & t, may_false | f
            else:
                may_true, may_false = may_true | t, may_false & f
        return may_true, may_false
    if isinstance(flt, Not):
        may_true, may_false = truth(flt.part, env, data)
        return may_false, may_true
    if isinstance(flt, MaskRef):
        low, high = data.mask_range(flt.ref, [int_bounds(i, env, data) for i in flt.ref.indices])
        return high > 0, low == 0
    raise TypeError(f"not a filter: {flt!r}")


# ----------------------------------------------------------------------------- boxes
@dataclass(frozen=True)
class _Boxes:
    """Half-open rectangles ``[q0, q1) x [k0, k1)`` of real pairs, each for one instance."""

    instance: np.ndarray
    q0: np.ndarray
    q1: np.ndarray
    k0: np.ndarray
    k1: np.ndarray

    def take(self, index: Any) -> _Boxes:
        return _Boxes(*(getattr(self, f)[index] for f in ("instance", "q0", "q1", "k0", "k1")))

    @property
    def area(self) -> np.ndarray:
        return (self.q1 - self.q0) * (self.k1 - self.k0)


def _kept(flt: Filter, grid: Grid, data: FilterData, boxes: _Boxes) -> np.ndarray:
    """Exact kept pairs per box: decided boxes from bounds, the unknown ones refined."""
    env = {grid.query: (boxes.q0, boxes.q1 - 1), grid.key: (boxes.k0, boxes.k1 - 1)}
    env.update({name: (v, v) for name, v in grid.others_env(boxes.instance, 1).items()})
    may_true, may_false = truth(flt, env, data)
    may_true = np.broadcast_to(may_true, boxes.q0.shape)
    may_false = np.broadcast_to(may_false, boxes.q0.shape)
    kept = np.where(may_true & ~may_false, boxes.area, 0)
    unknown = np.flatnonzero(may_true & may_false)
    if unknown.size:
        kept[unknown] = _refine(flt, grid, data, boxes.take(unknown))
    return kept


def _refine(flt: Filter, grid: Grid, data: FilterData, boxes: _Boxes) -> np.ndarray:
    """Kept pairs of undecided boxes: enumerate small ones, cut and re-evaluate the rest."""
    height, width = boxes.q1 - boxes.q0, boxes.k1 - boxes.k0
    if int(height.max()) * int(width.max()) <= _ENUMERATE_AREA:
        return _enumerate(flt, grid, data, boxes)
    kept = np.zeros(boxes.q0.size, dtype=np.int64)
    step = max(1, _CHUNK // (_CUTS * _CUTS))
    for start in range(0, boxes.q0.size, step):
        part = slice(start, start + step)
        kept[part] = _cut(flt, grid, data, boxes.take(part))
    return kept


def _cut(flt: Filter, grid: Grid, data: FilterData, boxes: _Boxes) -> np.ndarray:
    """Cut each box into up to ``_CUTS x _CUTS`` sub-boxes; sum their kept pairs."""
    n = boxes.q0.size
    dq = (-(-(boxes.q1 - boxes.q0) // _CUTS))[:, None, None]
    dk = (-(-(boxes.k1 - boxes.k0) // _CUTS))[:, None, None]
    cut = np.arange(_CUTS)
    q0 = boxes.q0[:, None, None] + cut[None, :, None] * dq
    k0 = boxes.k0[:, None, None] + cut[None, None, :] * dk
    q1 = np.minimum(q0 + dq, boxes.q1[:, None, None])
    k1 = np.minimum(k0 + dk, boxes.k1[:, None, None])
    shape = (n, _CUTS, _CUTS)
    real = np.broadcast_to((q0 < q1) & (k0 < k1), shape)
    owner = np.broadcast_to(np.arange(n)[:, None, None], shape)[real]
    q0, q1, k0, k1 = (np.broadcast_to(a, shape)[real] for a in (q0, q1, k0, k1))
    kept = _kept(flt, grid, data, _Boxes(boxes.instance[owner], q0, q1, k0, k1))
    return np.bincount(owner, weights=kept, minlength=n).astype(np.int64)


def _enumerate(flt: Filter, grid: Grid, data: FilterData, boxes: _Boxes) -> np.ndarray:
    """Kept pairs per box by evaluating the filter on every pair (chunked)."""
    height = int((boxes.q1 - boxes.q0).max())
    width = int((boxes.k1 - boxes.k0).max())
    kept = np.zeros(boxes.q0.size, dtype=np.int64)
    step = max(1, _CHUNK // (height * width))
    for start in range(0, boxes.q0.size, step):
        part = boxes.take(slice(start, start + step))
        p = part.q0[:, None, None] + np.arange(height)[None, :, None]
        m = part.k0[:, None, None] + np.arange(width)[None, None, :]
        env = {grid.query: p, grid.key: m, **grid.others_env(part.instance, 3)}
        real = (p < part.q1[:, None, None]) & (m < part.k1[:, None, None])
        kept[start:start + step] = (holds(flt, env, data) & real).sum(axis=(1, 2))
    return kept


def count_boxes(flt: Filter, grid: Grid, data: FilterData) -> TileTotals:
    """Count visited and full tiles and kept pairs by evaluating boxes (exact).

    Parameters
    ----------
    flt : Filter
        The whole condition (a conjunction is one ``BoolOp("and", ...)``).
    grid : Grid
        The tiled problem and the instances.
    data : FilterData
        Sizes and tensors the filter reads.

    Returns
    -------
    TileTotals
        Per Q tile, summed over instances.

    Examples
    --------
    Dilation 2 on 8 x 8 pairs with 4 x 4 tiles: every tile is visited, none is full.

    >>> flt = Compare((IntBinary("%", Var("m"), IntConst(2)), IntBinary("%", Var("p"), IntConst(2))),
    ...               ("==",))
    >>> totals = count_boxes(flt, Grid("p", "m", 8, 8, 4, 4), FilterData({}, {}, {}))
    >>> totals.visited.tolist(), totals.full.tolist(), totals.pairs
    ([2, 2], [0, 0], 32)
    """
    totals = TileTotals(grid.n_q_tiles)
    n_kv = grid.n_kv_tiles
    step = max(1, min(grid.n_q_tiles, _BOX_CHUNK // n_kv))
    per_instance = max(1, _BOX_CHUNK // (n_kv * step))
    for first_instance in range(0, grid.instances, per_instance):
        instances = np.arange(first_instance, min(first_instance + per_instance, grid.instances))
        for first in range(0, grid.n_q_tiles, step):
            tiles = np.arange(first, min(first + step, grid.n_q_tiles))
            totals.add(first, *_tile_boxes(flt, grid, data, instances, tiles))
    return totals


def _tile_boxes(flt: Filter, grid: Grid, data: FilterData, instances: np.ndarray,
                tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Visited and full KV tiles ``(instances, q tiles)`` and kept pairs of a block of Q tiles."""
    n_kv = grid.n_kv_tiles
    instance, tile, kv = (a.ravel() for a in np.meshgrid(instances, tiles, np.arange(n_kv),
                                                         indexing="ij"))
    q0, k0 = tile * grid.q_tile, kv * grid.kv_tile
    boxes = _Boxes(instance, q0, np.minimum(q0 + grid.q_tile, grid.n_queries),
                   k0, np.minimum(k0 + grid.kv_tile, grid.n_keys))
    kept = _kept(flt, grid, data, boxes).reshape(instances.size, tiles.size, n_kv)
    area = boxes.area.reshape(kept.shape)
    return (kept > 0).sum(axis=2), (kept == area).sum(axis=2), int(kept.sum())

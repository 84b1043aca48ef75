"""Tile-level counts of a cascade's mask: its filter expressions, compiled.

The cascade is the only definition of the mask (DESIGN.md): causal ``m <= p``, windows
``p - W < m <= p``, sinks ``m < S``, strides and dilation with ``%``, blocks with ``//``,
per-head windows ``W[h]``, 2-D neighborhoods written on a flat index with ``//``, ``%``
and ``clamp``, mask tensors ``BM[p // PB, m // MB]``. :func:`count_filter_tiles` counts,
for a fused kernel that tiles queries x keys, the (Q tile, KV tile) steps it visits, the
partially masked ones and the exact kept pairs, as :func:`~simulator.sparsity.count_tiles`
does for GNA configurations, without building the query x key mask.

Two exact paths (both agree with enumeration of the element mask):

* ``"intervals"`` (:mod:`simulator.sparsity.filter_intervals`): filters that are, per
  query row, unions of key intervals with bounds computed from the row, sizes, the other
  variables and tensors. Linear time in the number of rows.
* ``"boxes"`` (:mod:`simulator.sparsity.filter_boxes`): anything else; interval
  arithmetic decides whole tile boxes, the undecided ones are refined and enumerated.

Conventions: a pair is *visited* iff its tile holds at least one kept real pair;
*partial* iff visited and some real pair of the tile is masked (padding past
``n_queries`` / ``n_keys`` never makes a tile partial).
"""

from __future__ import annotations

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
    IntExpr,
    IntTensor,
    MaskRef,
    Not,
    Size,
    filter_vars,
)
from simulator.errors import SpecError
from simulator.sparsity.filter_boxes import FilterData, Grid, TileTotals, count_boxes
from simulator.sparsity.filter_intervals import compile_intervals, count_intervals

__all__ = ["FILTER_METHODS", "FilterMask", "FilterTileCounts", "count_filter_tiles"]

#: Values of ``method``: pick the interval path where it applies, or force one.
FILTER_METHODS = ("auto", "intervals", "boxes")


def _is_count(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class FilterMask:
    """The filters of an attention Einsum and the roles of the variables they use.

    Parameters
    ----------
    filters : tuple of Filter
        All must hold for a (query, key) pair to be kept (``Einsum.filters``).
    query, key : str
        The variables that are the flat query index and the flat key index.
    others : tuple of (str, int)
        Every other variable the filters use, with its extent (e.g. ``(("h", 8),)``);
        counts are summed over all their combinations.

    Raises
    ------
    SpecError
        On a non-filter, an empty or repeated name, or an extent below 1.

    Examples
    --------
    >>> from einsum import parse
    >>> mask = FilterMask(parse("S[m,p] = Q[e,p]*K[e,m] : m <= p").einsums[0].filters, "p", "m")
    >>> str(mask)
    'm <= p (query p, key m)'
    """

    filters: tuple[Filter, ...]
    query: str
    key: str
    others: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        filters = (self.filters,) if isinstance(self.filters, Filter) else tuple(self.filters)
        bad = [f for f in filters if not isinstance(f, Filter)]
        if bad:
            raise SpecError(f"filters: expected einsum filter objects, got {bad[0]!r}")
        try:
            others = tuple(dict(self.others).items())
        except (TypeError, ValueError):
            raise SpecError(f"others: expected (name, extent) pairs, got {self.others!r}") from None
        names = [self.query, self.key] + [name for name, _ in others]
        if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
            raise SpecError(f"mask variables: expected distinct non-empty names, got {names}")
        for name, extent in others:
            if not _is_count(extent) or extent < 1:
                raise SpecError(f"others: extent of {name!r}: expected an integer >= 1, got {extent!r}")
        object.__setattr__(self, "filters", filters)
        object.__setattr__(self, "others", tuple((n, int(e)) for n, e in others))

    def __str__(self) -> str:
        text = " and ".join(str(f) for f in self.filters) or "dense"
        extra = "".join(f", {name} < {extent}" for name, extent in self.others)
        return f"{text} (query {self.query}, key {self.key}{extra})"


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=np.int64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class FilterTileCounts:
    """Visited and partially masked tiles of a filter mask, summed over instances.

    Attributes
    ----------
    n_q_tiles, n_kv_tiles : int
        ``ceil(n_queries / q_tile)`` and ``ceil(n_keys / kv_tile)`` (per instance).
    instances : int
        Combinations of the other variables (1 if none).
    steps : int
        Visited (Q tile, KV tile) pairs.
    partial : int
        Visited pairs with at least one masked real element.
    max_steps : int
        Most KV tiles one Q tile of one instance visits.
    pairs, dense_pairs : int
        Kept (query, key) pairs, and ``n_queries * n_keys * instances``.
    method : str
        ``"intervals"`` or ``"boxes"``: the path that counted.
    visited_per_q_tile, partial_per_q_tile : numpy.ndarray
        Per Q tile, summed over instances (read-only).
    """

    n_q_tiles: int
    n_kv_tiles: int
    instances: int
    steps: int
    partial: int
    max_steps: int
    pairs: int
    dense_pairs: int
    method: str
    visited_per_q_tile: np.ndarray = field(repr=False)
    partial_per_q_tile: np.ndarray = field(repr=False)

    @property
    def density(self) -> float:
        """Kept fraction of the pairs: ``pairs / dense_pairs``."""
        return self.pairs / self.dense_pairs

    @property
    def dense_steps(self) -> int:
        """Steps of dense attention with the same tiles."""
        return self.n_q_tiles * self.n_kv_tiles * self.instances

    def summary(self) -> dict[str, Any]:
        """Totals as a JSON-ready dict (the per-Q-tile arrays are left out).

        Examples
        --------
        >>> from einsum import parse
        >>> flt = parse("S[m,p] = Q[e,p]*K[e,m] : m <= p").einsums[0].filters
        >>> counts = count_filter_tiles(FilterMask(flt, "p", "m"), 256, 256, 128, 128, {})
        >>> counts.summary()["steps"], counts.summary()["method"]
        (3, 'intervals')
        """
        names = ("n_q_tiles", "n_kv_tiles", "instances", "steps", "partial", "max_steps",
                 "pairs", "dense_pairs", "dense_steps")
        return {**{n: int(getattr(self, n)) for n in names}, "density": self.density,
                "method": self.method}

    def __str__(self) -> str:
        lines = [
            f"tiles:            {self.n_q_tiles:,} Q x {self.n_kv_tiles:,} KV "
            f"x {self.instances:,} instance(s) ({self.method} path)",
            f"visited steps:    {self.steps:,} of {self.dense_steps:,} dense, "
            f"max {self.max_steps:,} per Q tile",
            f"partially masked: {self.partial:,}",
            f"kept pairs:       {self.pairs:,} of {self.dense_pairs:,} ({100 * self.density:.2f}%)",
        ]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- checking
def _int_parts(expr: IntExpr) -> list[Any]:
    """Sizes and tensor nodes inside an integer expression."""
    if isinstance(expr, Size):
        return [expr]
    if isinstance(expr, IntBinary):
        return _int_parts(expr.left) + _int_parts(expr.right)
    if isinstance(expr, IntCall):
        return [x for a in expr.args for x in _int_parts(a)]
    if isinstance(expr, IntTensor):
        return [expr] + [x for i in expr.ref.indices for x in _int_parts(i)]
    return []


def _filter_parts(flt: Filter) -> list[Any]:
    """Sizes, integer tensor nodes and mask references of a filter."""
    if isinstance(flt, Compare):
        return [x for o in flt.operands for x in _int_parts(o)]
    if isinstance(flt, BoolOp):
        return [x for p in flt.parts for x in _filter_parts(p)]
    if isinstance(flt, Not):
        return _filter_parts(flt.part)
    if isinstance(flt, MaskRef):
        return [flt] + [x for i in flt.ref.indices for x in _int_parts(i)]
    return []


def _check_counts(**values: object) -> None:
    for name, value in values.items():
        if not _is_count(value) or value < 1:  # type: ignore[operator]
            raise SpecError(f"{name}: expected an integer >= 1, got {value!r}")


def _check_vars(mask: FilterMask) -> None:
    known = [mask.query, mask.key] + [name for name, _ in mask.others]
    for var in sorted(frozenset().union(*(filter_vars(f) for f in mask.filters))):
        if var not in known:
            raise SpecError(f"filter variable {var!r} is unknown: expected the query {mask.query!r}, "
                            f"the key {mask.key!r} or one of the others ({', '.join(known[2:]) or 'none'})")


def _check_sizes(parts: list[Any], sizes: Mapping[str, int]) -> dict[str, int]:
    out = {}
    for name in sorted({p.name for p in parts if isinstance(p, Size)}):
        value = sizes.get(name)
        if value is None:
            raise SpecError(f"size {name} is used by the filters but not given: expected sizes[{name!r}]")
        if not _is_count(value):
            raise SpecError(f"size {name}: expected an integer, got {value!r}")
        out[name] = int(value)
    return out


def _check_tensor(name: str, ndim: int, tensors: Mapping[str, Any]) -> np.ndarray:
    if name not in tensors:
        raise SpecError(f"tensor {name} is read by the filters but not given: expected tensors[{name!r}]")
    array = np.asarray(tensors[name])
    if array.ndim != ndim or array.size == 0 or not np.issubdtype(array.dtype, np.number) \
            and array.dtype != bool:
        raise SpecError(f"tensor {name}: expected a non-empty numeric array with {ndim} dimension(s) "
                        f"as the filters index it, got shape {array.shape} of {array.dtype}")
    return array


def _check_tensors(parts: list[Any], tensors: Mapping[str, Any]) -> tuple[dict, dict]:
    ints: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    for part in parts:
        if isinstance(part, IntTensor):
            array = _check_tensor(part.ref.name, len(part.ref.indices), tensors)
            values = array.astype(float)
            if not np.all(np.isfinite(values)) or not np.array_equal(values, np.rint(values)):
                raise SpecError(f"tensor {part.ref.name}: expected integer values where the filters "
                                f"read it as an integer ({part}), got non-integers")
            ints[part.ref.name] = array
        elif isinstance(part, MaskRef):
            masks[part.ref.name] = _check_tensor(part.ref.name, len(part.ref.indices), tensors)
    return ints, masks


def _grid(mask: FilterMask, n_queries: int, n_keys: int, q_tile: int, kv_tile: int) -> tuple[Grid, int]:
    """The grid over the other variables the filters use, and the product of the unused ones."""
    used = frozenset().union(*(filter_vars(f) for f in mask.filters))
    names = tuple(name for name, _ in mask.others if name in used)
    extents = [extent for name, extent in mask.others if name in used]
    unused = math.prod(extent for name, extent in mask.others if name not in used)
    values = np.indices(extents).reshape(len(extents), -1).T if extents else np.zeros((1, 0))
    grid = Grid(mask.query, mask.key, n_queries, n_keys, q_tile, kv_tile, names,
                np.ascontiguousarray(values, dtype=np.int64))
    return grid, unused


def _result(totals: TileTotals, grid: Grid, factor: int, method: str) -> FilterTileCounts:
    visited, partial = totals.visited * factor, (totals.visited - totals.full) * factor
    instances = grid.instances * factor
    return FilterTileCounts(
        n_q_tiles=grid.n_q_tiles, n_kv_tiles=grid.n_kv_tiles, instances=instances,
        steps=int(visited.sum()), partial=int(partial.sum()), max_steps=totals.max_steps,
        pairs=totals.pairs * factor, dense_pairs=grid.n_queries * grid.n_keys * instances,
        method=method, visited_per_q_tile=_readonly(visited), partial_per_q_tile=_readonly(partial),
    )


def count_filter_tiles(mask: FilterMask, n_queries: int, n_keys: int, q_tile: int, kv_tile: int,
                       sizes: Mapping[str, int], tensors: Mapping[str, Any] | None = None, *,
                       method: str = "auto") -> FilterTileCounts:
    """Count visited and partially masked tiles of a filter mask, exactly.

    Parameters
    ----------
    mask : FilterMask
        The filters and the roles of their variables.
    n_queries, n_keys : int
        Ranges of the query and key variables (``P`` and ``M``).
    q_tile, kv_tile : int
        The kernel's tiles; the last tile of each may be partly padding.
    sizes : mapping of str to int
        Every size symbol the filters use (``W``, ``S``, ``M``, ``P``, ``M0``, ...).
    tensors : mapping of str to array_like, optional
        Tensors the filters read, indexed as the filters index them (``W[h]``,
        ``BM[p // PB, m // MB]``); reads outside a tensor give 0 (masked for a mask).
    method : {"auto", "intervals", "boxes"}
        ``"auto"`` takes the interval path wherever the filters are key intervals.

    Returns
    -------
    FilterTileCounts

    Raises
    ------
    SpecError
        On a variable the mask does not know, a missing size or tensor, a tensor of the
        wrong rank, non-integer values in a tensor read as an integer, a non-positive
        length or tile, or ``method="intervals"`` for filters that are not intervals.

    Examples
    --------
    Causal attention, 1024 tokens, 128 x 128 tiles (as ``count_tiles``):

    >>> from einsum import parse
    >>> def filters(text):
    ...     return parse(f"S[h,m,p] = Q[e,h,p]*K[e,m] : {text}").einsums[0].filters
    >>> counts = count_filter_tiles(FilterMask(filters("m <= p"), "p", "m"), 1024, 1024, 128, 128, {})
    >>> counts.visited_per_q_tile.tolist(), counts.partial, counts.density
    ([1, 2, 3, 4, 5, 6, 7, 8], 8, 0.50048828125)

    Per-head windows read from a tensor, and a dilated window (the box path):

    >>> mask = FilterMask(filters("p - W[h] < m <= p"), "p", "m", (("h", 2),))
    >>> count_filter_tiles(mask, 1024, 1024, 128, 128, {}, {"W": [128, 512]}).steps
    45
    >>> mask = FilterMask(filters("m % 2 == p % 2 and p - 256 < m <= p"), "p", "m")
    >>> c = count_filter_tiles(mask, 1024, 1024, 128, 128, {})
    >>> c.method, c.steps, c.partial
    ('boxes', 21, 21)
    """
    if not isinstance(mask, FilterMask):
        raise SpecError(f"mask: expected a FilterMask, got {type(mask).__name__}")
    if method not in FILTER_METHODS:
        raise SpecError(f"method: expected one of {', '.join(FILTER_METHODS)}, got {method!r}")
    _check_counts(n_queries=n_queries, n_keys=n_keys, q_tile=q_tile, kv_tile=kv_tile)
    _check_vars(mask)
    parts = [x for f in mask.filters for x in _filter_parts(f)]
    used_sizes = _check_sizes(parts, sizes)
    data = FilterData(used_sizes, *_check_tensors(parts, tensors or {}))
    grid, factor = _grid(mask, int(n_queries), int(n_keys), int(q_tile), int(kv_tile))
    families = None if method == "boxes" else compile_intervals(mask.filters, mask.key, used_sizes)
    if families is not None:
        return _result(count_intervals(families, grid, data), grid, factor, "intervals")
    if method == "intervals":
        raise SpecError(f"filters {' and '.join(map(str, mask.filters))}: not intervals of the key "
                        f"{mask.key!r}; expected method 'auto' or 'boxes'")
    return _result(count_boxes(BoolOp("and", mask.filters), grid, data), grid, factor, "boxes")

"""Exact Pareto (non-dominated) sets of design points, as pure functions.

A point *a* dominates a point *b* when *a* is at least as good as *b* in every objective
and strictly better in at least one ("good" is smaller for ``'min'`` and larger for
``'max'``). The non-dominated set keeps every point that nothing dominates; identical
points never dominate each other, so duplicates of a front point are all kept. Rows with a
NaN objective are never on the front and never dominate anything.

Algorithms (all exact, all numpy):

* one objective: the rows equal to the best value;
* two objectives: a sort-based sweep with a running minimum, O(n log n);
* three objectives: a bottom-up divide-and-conquer over the lexicographic order (one
  vectorised merge per level), O(n log² n) whatever the data;
* four or more: sort-filter-skyline in blocks, O(n · front) comparisons.

Before the last two, a handful of "pivot" points with small rank sums remove every point
they dominate, which on typical sweep data leaves a few percent of the rows.

Examples
--------
>>> import numpy as np
>>> values = np.array([[1.0, 5.0], [2.0, 2.0], [3.0, 3.0], [2.0, 2.0]])
>>> pareto_mask(values, ["min", "min"]).tolist()
[True, True, False, True]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.grouping import group_labels, stable_argsort

__all__ = [
    "Objective",
    "SENSES",
    "as_objectives",
    "pareto_mask",
    "pareto_mask_by_group",
    "pareto_mask_grouped",
]

#: The two optimisation senses an objective may have.
SENSES = ("min", "max")

# Points compared per block when filtering (bounds temporaries to ~16 MB of booleans).
_BLOCK = 2048
# Number of low-rank-sum points tried as pre-filter pivots.
_PIVOTS = 64
# Segments at least this long on average are accumulated one by one (else scanned).
_LOOP_SEGMENT = 256


@dataclass(frozen=True)
class Objective:
    """A metric column and whether smaller (``'min'``) or larger (``'max'``) is better.

    Examples
    --------
    >>> Objective("latency", "min")
    Objective(column='latency', sense='min')
    >>> Objective("latency", "fast")
    Traceback (most recent call last):
    ...
    ValueError: objective 'latency': sense must be 'min' or 'max', got 'fast'
    """

    column: str
    sense: str = "min"

    def __post_init__(self) -> None:
        if self.sense not in SENSES:
            raise ValueError(f"objective {self.column!r}: sense must be 'min' or 'max', got {self.sense!r}")


def as_objectives(objectives: Iterable[Objective | Mapping[str, str] | str]) -> tuple[Objective, ...]:
    """Normalise objectives given as :class:`Objective`, ``{column, sense}`` or a column name.

    Parameters
    ----------
    objectives : iterable
        Each item is an :class:`Objective`, a mapping with keys ``column`` and optional
        ``sense`` (default ``'min'``), or a bare column name (minimised).

    Returns
    -------
    tuple of Objective

    Raises
    ------
    ValueError
        If an item has another type, or a sense other than ``'min'``/``'max'``.

    Examples
    --------
    >>> as_objectives(["latency", {"column": "throughput", "sense": "max"}])
    (Objective(column='latency', sense='min'), Objective(column='throughput', sense='max'))
    """
    result = []
    for item in objectives:
        if isinstance(item, Objective):
            result.append(item)
        elif isinstance(item, str):
            result.append(Objective(item))
        elif isinstance(item, Mapping):
            result.append(Objective(str(item["column"]), str(item.get("sense", "min"))))
        else:
            raise ValueError(f"expected an Objective, a mapping or a column name, got {item!r}")
    return tuple(result)


def pareto_mask(values: np.ndarray, senses: Sequence[str]) -> np.ndarray:
    """Flag the non-dominated rows of an ``n × k`` array of objective values.

    Parameters
    ----------
    values : array_like, shape (n, k)
        One row per point, one column per objective (converted to float64).
    senses : sequence of {'min', 'max'}
        One sense per column.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        True for rows that no other row dominates. Identical rows share their fate; rows
        containing NaN are False.

    Raises
    ------
    ValueError
        If ``values`` is not two-dimensional, has no columns, or ``senses`` has the wrong
        length or an unknown sense.

    Examples
    --------
    >>> pareto_mask([[1, 9], [2, 8], [2, 9], [1, 9]], ["min", "min"]).tolist()
    [True, True, False, True]
    >>> pareto_mask([[1, 9], [2, 8], [2, 10]], ["min", "max"]).tolist()
    [True, False, True]
    >>> pareto_mask(np.empty((0, 3)), ["min"] * 3).tolist()
    []
    """
    arr = _to_minimisation(values, senses)
    mask = np.zeros(arr.shape[0], dtype=bool)
    rows = np.flatnonzero(~np.isnan(arr).any(axis=1))
    if rows.size:
        mask[rows] = _front_min(arr[rows])
    return mask


def pareto_mask_grouped(
    df: pd.DataFrame,
    objectives: Iterable[Objective | Mapping[str, str] | str],
    by: Sequence[str] = (),
    *,
    where: str | np.ndarray | None = None,
) -> np.ndarray:
    """Flag the non-dominated rows of a table separately within each group.

    Parameters
    ----------
    df : pandas.DataFrame
        The points; objective columns must be numeric.
    objectives : iterable of Objective, mapping or str
        The objectives (see :func:`as_objectives`).
    by : sequence of str, optional
        Columns whose value combinations define the comparison groups; points in
        different groups never dominate each other. Values that are mappings or lists
        are compared by their JSON text.
    where : str or array of bool, optional
        A boolean column name or mask; rows where it is False take no part in the
        comparison and are flagged False (e.g. infeasible points).

    Returns
    -------
    numpy.ndarray of bool, shape (len(df),)

    Examples
    --------
    >>> df = pd.DataFrame({"hw": ["a", "a", "b", "b"], "t": [1.0, 2.0, 3.0, 4.0],
    ...                    "e": [2.0, 1.0, 1.0, 1.0]})
    >>> pareto_mask_grouped(df, ["t", "e"], by=["hw"]).tolist()
    [True, True, True, False]
    >>> pareto_mask_grouped(df, ["t", "e"], by=["hw"], where=df["t"] > 1).tolist()
    [False, True, True, False]
    """
    objs = as_objectives(objectives)
    values = np.column_stack([df[o.column].to_numpy(dtype=float) for o in objs])
    if where is not None:
        where = np.asarray(df[where] if isinstance(where, str) else where, dtype=bool)
    groups = group_labels(df, by)
    return pareto_mask_by_group(values, [o.sense for o in objs], groups, where=where)


def pareto_mask_by_group(
    values: np.ndarray,
    senses: Sequence[str],
    groups: np.ndarray,
    *,
    where: np.ndarray | None = None,
) -> np.ndarray:
    """Like :func:`pareto_mask`, separately within each group of an integer label array.

    Parameters
    ----------
    values : array_like, shape (n, k)
    senses : sequence of {'min', 'max'}
    groups : array_like of int, shape (n,)
        Group label of each row; rows with different labels never dominate each other.
    where : array_like of bool, shape (n,), optional
        Rows where it is False take no part and are flagged False.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)

    Examples
    --------
    >>> pareto_mask_by_group([[1, 2], [2, 1], [3, 3], [3, 3]], ["min", "min"], [0, 0, 0, 1]).tolist()
    [True, True, False, True]
    """
    values = np.asarray(values, dtype=float)
    groups = np.asarray(groups)
    eligible = np.ones(len(values), dtype=bool) if where is None else np.asarray(where, dtype=bool)
    if values.ndim == 2 and values.shape[1] == 2 and len(values):
        return _two_objective_fronts(values, senses, groups, eligible)
    rows = np.flatnonzero(eligible)
    mask = np.zeros(len(values), dtype=bool)
    order = rows[np.argsort(groups[rows], kind="stable")]
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    for members in np.split(order, bounds) if order.size else ():
        mask[members] = pareto_mask(values[members], senses)
    return mask


def _two_objective_fronts(values: np.ndarray, senses: Sequence[str], groups: np.ndarray,
                          eligible: np.ndarray) -> np.ndarray:
    """All groups' fronts for k = 2 at once (no loop over groups, for many small groups).

    Sorted by (group, a), a point is dominated iff an earlier point of its group with a
    strictly smaller ``a`` has ``b`` no larger (a segmented running minimum of ``b``), or
    a point with the same ``a`` has a strictly smaller ``b``. NaN rows never make the
    front. Two sorts (``a``, then the group labels) replace a three-key ``lexsort``, which
    costs three times as much on 10⁶ rows.
    """
    mins = _to_minimisation(values, senses)
    first, second = mins[:, 0], mins[:, 1]
    usable = eligible & ~(np.isnan(first) | np.isnan(second))
    mask = np.zeros(len(values), dtype=bool)
    if usable.all():
        by_a = np.argsort(first)  # ties in a need no order: blocks handle them
    else:
        rows = np.flatnonzero(usable)
        by_a = rows[np.argsort(first[rows])]
    if not by_a.size:
        return mask
    order = by_a[stable_argsort(groups[by_a])]
    g, a, b = groups[order], first[order], second[order]
    new_group = np.r_[True, g[1:] != g[:-1]]
    new_block = new_group | np.r_[True, a[1:] != a[:-1]]  # blocks of equal (group, a)
    starts = np.flatnonzero(new_block)
    block = np.cumsum(new_block) - 1
    running = _segmented_cummin(b, np.flatnonzero(new_group))
    earlier = ~new_group[starts]  # the block has earlier blocks (smaller a) in its group
    before = running[np.maximum(starts - 1, 0)]  # their smallest b (no infinite sentinel)
    dominated = (np.minimum.reduceat(b, starts)[block] < b) | (earlier[block] & (before[block] <= b))
    mask[order[~dominated]] = True
    return mask


def _segmented_cummin(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Running minimum of ``values`` restarting at each index in ``starts`` (sorted, has 0).

    A Hillis-Steele scan: pass ``k`` folds in the value ``2**k`` places back when it lies
    in the same segment, so the passes number log2 of the longest segment. Long segments
    are instead accumulated one by one (a Python loop, cheap when they are few).
    """
    if len(starts) * _LOOP_SEGMENT <= len(values):  # long segments: one accumulate each
        out = np.empty_like(values)
        bounds = np.r_[starts, len(values)].tolist()
        for i, j in zip(bounds[:-1], bounds[1:]):
            np.minimum.accumulate(values[i:j], out=out[i:j])
        return out
    out = values.copy()
    segment_start = np.repeat(starts, np.diff(np.r_[starts, len(values)]))
    offset = np.arange(len(values)) - segment_start
    longest = int(offset.max()) + 1 if len(values) else 0
    step = 1
    while step < longest:
        previous = out.copy()
        np.minimum(previous[step:], previous[:-step], out=out[step:], where=offset[step:] >= step)
        step *= 2
    return out


def _to_minimisation(values: np.ndarray, senses: Sequence[str]) -> np.ndarray:
    """Validate the inputs and return a float copy in which every column is minimised."""
    arr = np.array(values, dtype=float, copy=True)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"values must be a 2-D array with at least one column, got {arr.shape}")
    senses = list(senses)
    if len(senses) != arr.shape[1]:
        raise ValueError(f"got {len(senses)} senses for {arr.shape[1]} objective columns")
    for col, sense in enumerate(senses):
        if sense not in SENSES:
            raise ValueError(f"sense {col} must be 'min' or 'max', got {sense!r}")
        if sense == "max":
            arr[:, col] = -arr[:, col]
    return arr + 0.0  # turn -0.0 into 0.0 so that ties are exact


def _front_min(arr: np.ndarray) -> np.ndarray:
    """Front mask of NaN-free points (all minimised): rank, deduplicate, dispatch on k.

    Dominance only depends on the order within each column, so the work is done on dense
    integer ranks, whose combined key also sorts the points lexicographically.
    """
    ranks = np.empty(arr.shape, dtype=np.int64)
    for col in range(arr.shape[1]):
        ranks[:, col] = np.unique(arr[:, col], return_inverse=True)[1].reshape(-1)
    key = ranks[:, 0].copy()
    for col in range(1, arr.shape[1]):
        base = int(ranks[:, col].max()) + 1
        if int(key.max()) >= np.iinfo(np.int64).max // base:
            key = np.unique(key, return_inverse=True)[1].reshape(-1).astype(np.int64)
        key = key * base + ranks[:, col]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    keep = _front_distinct_sorted(ranks[first])
    return keep[inverse.reshape(-1)]


def _front_distinct_sorted(points: np.ndarray) -> np.ndarray:
    """Front of distinct, lexicographically sorted rank rows: only predecessors dominate."""
    m, k = points.shape
    if k == 1 or m == 1:
        keep = np.zeros(m, dtype=bool)
        keep[0] = True
        return keep
    if k == 2:
        keep = np.ones(m, dtype=bool)
        keep[1:] = points[1:, 1] < np.minimum.accumulate(points[:-1, 1])
        return keep
    score = points.sum(axis=1)
    alive = _prefilter(points, score)
    keep = np.zeros(m, dtype=bool)
    if k == 3:
        keep[alive] = ~_dominated_3d(points[alive, 1], points[alive, 2])
    else:
        keep[alive] = _skyline(points[alive], score[alive])
    return keep


def _prefilter(points: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices (ascending) of the points not dominated by a few low-rank-sum pivots.

    Pivots are applied one after the other to the shrinking survivor set, so the cost is
    a few passes over the data (the first pivot usually removes most of it).
    """
    columns = [np.ascontiguousarray(points[:, c]) for c in range(points.shape[1])]
    alive = np.arange(len(points))
    for pivot in np.argsort(score, kind="stable")[:_PIVOTS]:
        position = np.searchsorted(alive, pivot)
        if position >= len(alive) or alive[position] != pivot:
            continue  # already removed: a point dominating it was a pivot before
        weakly = np.ones(len(alive), dtype=bool)
        for col in columns:
            weakly &= col[alive] >= col[pivot]
        weakly[position] = False  # points are distinct, so only the pivot equals itself
        alive = alive[~weakly]
    return alive


def _dominated_any(dominators: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Mark each of ``points`` dominated by some row of ``dominators`` (rows are distinct)."""
    result = np.zeros(len(points), dtype=bool)
    if len(dominators) == 0:
        return result
    step = max(1, (1 << 22) // (len(dominators) * points.shape[1]))
    for start in range(0, len(points), step):
        block = points[start : start + step]
        weakly = (dominators[:, None, :] <= block[None, :, :]).all(axis=2)
        strictly = (dominators[:, None, :] < block[None, :, :]).any(axis=2)
        result[start : start + step] = (weakly & strictly).any(axis=0)
    return result


def _dominated_3d(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Bottom-up divide and conquer over points already in lexicographic order.

    Point ``i`` is dominated iff some ``j < i`` has ``y[j] <= y[i]`` and ``z[j] <= z[i]``.
    At level ``L`` every segment of ``2**(L+1)`` positions is split into a left and a right
    half; a merge by ``y`` with a segmented running minimum of ``z`` over left points
    answers the query for all right points of all segments at once. Each pair ``j < i``
    is separated at exactly one level, so the union over levels is exact.
    """
    m = len(y)
    y = y.astype(np.int64)
    z = z.astype(np.int64)
    span = int(z.max()) + 1
    pos = np.arange(m, dtype=np.int64)
    dominated = np.zeros(m, dtype=bool)
    sentinel = np.iinfo(np.int64).max
    level = 0
    while (1 << level) < m:
        right = ((pos >> level) & 1).astype(bool)
        segment = pos >> (level + 1)
        order = np.argsort((segment * (int(y.max()) + 1) + y) * 2 + right, kind="stable")
        seg_o, right_o, z_o = segment[order], right[order], z[order]
        # Bands make later segments' keys smaller, so a running minimum never leaks
        # values from an earlier segment into a later one.
        band = (int(segment[-1]) + 1 - seg_o) * span
        running = np.minimum.accumulate(np.where(right_o, sentinel, band + z_o))
        dominated[order[right_o & (running <= band + z_o)]] = True
        level += 1
    return dominated


def _skyline(points: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Sort-filter-skyline: visit points by rank sum, keep those no kept point dominates."""
    order = np.argsort(score, kind="stable")
    keep = np.zeros(len(points), dtype=bool)
    front = points[:0]
    for start in range(0, len(order), _BLOCK):
        idx = order[start : start + _BLOCK]
        block = points[idx]
        idx = idx[~_dominated_any(front, block)]
        block = points[idx]
        survivors = ~_dominated_any(block, block)
        keep[idx[survivors]] = True
        front = np.concatenate([front, block[survivors]])
    return keep

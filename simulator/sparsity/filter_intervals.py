"""The interval path of the filter counter: filters solved for the key, counted per row.

:func:`compile_intervals` rewrites a filter as a disjunction of *families*, each a
conjunction of :class:`Bound` s ``lo <= expr < hi`` in which ``expr`` is either the key
variable or an expression without it (a row gate such as ``p < X``). Negations are pushed
into the comparisons, ``==`` and ``!=`` become ranges, and every comparison is solved for
the key where the key enters linearly (any non-zero integer coefficient, with exact
ceil/floor; ``m // M0 * M0 + m % M0``, a partitioned key, counts as ``m``), inside
``abs``, ``min``, ``max`` or ``clamp``, or under ``// B`` for a positive constant or size
``B``: ``abs(m - p) <= W`` becomes ``p - W <= m < p + W + 1``, ``m // B == p // B``
becomes ``p // B * B <= m < (p // B + 1) * B``. Anything else (``%`` of the key, the key
inside a tensor index, a product of the key with a variable, a mask tensor) is not an
interval and goes to the box path.

:func:`count_intervals` evaluates every family's bounds for all query rows at once (and
for every instance of the other variables), giving per row up to one key interval per
family, and counts from them:

* visited KV tiles of a Q tile = the union over its rows of the tiles each interval
  touches. Where a family's consecutive rows touch overlapping tile ranges (windows,
  causal, sinks, blocks: any bounds that move by less than a tile per row) the union is
  one range from the family's min and max over the tile, as ``_group_slots`` in
  ``tiles.py`` gets it from the first and last rows; otherwise the rows' ranges are merged
  exactly (a sort).
* full KV tiles = tiles covered by *every* real row of the Q tile, after merging each
  row's intervals (a tile can be covered only by two families together). With one run
  per row, or runs whose hulls over the tile stay apart, that is a min/max per run;
  otherwise coverage is counted exactly with sorted events.
* pairs = the merged interval lengths.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
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
    MaskRef,
    Not,
    Var,
    int_tensors,
    int_vars,
)
from einsum.sizes import eval_int
from simulator.sparsity.filter_boxes import FilterData, Grid, TileTotals

__all__ = ["Bound", "NotIntervalError", "compile_intervals", "count_intervals", "simplify"]

#: Most families (conjunctions) a filter may expand into before the box path takes it.
MAX_FAMILIES = 64
#: Row x family x instance elements evaluated at once; bounds the memory.
_CHUNK = 1 << 19
_OP_RANGES = {
    "<": ((None, 0),), "<=": ((None, 1),), ">": ((1, None),), ">=": ((0, None),),
    "==": ((0, 1),), "!=": ((None, 0), (1, None)),
}
_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


class NotIntervalError(Exception):
    """The filter has a condition that is not an interval of the key (internal)."""


@dataclass(frozen=True)
class Bound:
    """``lo <= expr < hi``; ``None`` leaves a side open.

    ``expr`` is the key variable (a key bound) or has no key in it (a row gate).
    """

    expr: IntExpr
    lo: IntExpr | None
    hi: IntExpr | None

    def __str__(self) -> str:
        lo = "" if self.lo is None else f"{self.lo} <= "
        hi = "" if self.hi is None else f" < {self.hi}"
        return f"{lo}{self.expr}{hi}"


Family = tuple[Bound, ...]


# ----------------------------------------------------------------------------- building
def _num(value: int) -> IntExpr:
    return IntConst(int(value))


def _add(a: IntExpr, b: IntExpr) -> IntExpr:
    if isinstance(a, IntConst) and isinstance(b, IntConst):
        return _num(a.value + b.value)
    if isinstance(b, IntConst) and b.value == 0:
        return a
    if isinstance(a, IntConst) and a.value == 0:
        return b
    return IntBinary("+", a, b)


def _sub(a: IntExpr, b: IntExpr) -> IntExpr:
    if isinstance(a, IntConst) and isinstance(b, IntConst):
        return _num(a.value - b.value)
    if isinstance(b, IntConst) and b.value == 0:
        return a
    return IntBinary("-", a, b)


def _scale(c: int, e: IntExpr) -> IntExpr:
    if isinstance(e, IntConst):
        return _num(c * e.value)
    if c == 1:
        return e
    return _sub(_num(0), e) if c == -1 else IntBinary("*", _num(c), e)


def _floor_div(x: IntExpr, c: int) -> IntExpr:
    if c == 1:
        return x
    return _num(x.value // c) if isinstance(x, IntConst) else IntBinary("//", x, _num(c))


def _ceil_div(x: IntExpr, c: int) -> IntExpr:
    """``ceil(x / c)`` for ``c > 0`` as ``-((-x) // c)``."""
    return x if c == 1 else _scale(-1, _floor_div(_scale(-1, x), c))


def _linear(expr: IntExpr, scale: int, out: dict[IntExpr | None, int]) -> None:
    """Add ``scale * expr`` to a linear form ``{term: coefficient}`` (None: the constant)."""
    if isinstance(expr, IntConst):
        out[None] = out.get(None, 0) + scale * expr.value
    elif isinstance(expr, IntBinary) and expr.op in "+-":
        _linear(expr.left, scale, out)
        _linear(expr.right, scale if expr.op == "+" else -scale, out)
    elif isinstance(expr, IntBinary) and expr.op == "*" and isinstance(expr.left, IntConst):
        _linear(expr.right, scale * expr.left.value, out)
    elif isinstance(expr, IntBinary) and expr.op == "*" and isinstance(expr.right, IntConst):
        _linear(expr.left, scale * expr.right.value, out)
    else:
        out[expr] = out.get(expr, 0) + scale


def simplify(expr: IntExpr | None) -> IntExpr | None:
    """Collect like terms of ``+ - *const`` (positive terms first, the constant last).

    Examples
    --------
    >>> str(simplify(IntBinary("-", IntConst(1), IntBinary("-", IntConst(0), Var("p")))))
    'p + 1'
    """
    if expr is None:
        return None
    form: dict[IntExpr | None, int] = {}
    _linear(expr, 1, form)
    terms = [(t, c) for t, c in form.items() if t is not None and c]
    out: IntExpr | None = None
    for term, c in sorted(terms, key=lambda tc: tc[1] < 0):
        piece = term if abs(c) == 1 else IntBinary("*", _num(abs(c)), term)
        if out is None:
            out = piece if c > 0 else IntBinary("-", _num(0), piece)
        else:
            out = IntBinary("+" if c > 0 else "-", out, piece)
    constant = form.get(None, 0)
    if out is None:
        return _num(constant)
    if constant:
        out = IntBinary("+" if constant > 0 else "-", out, _num(abs(constant)))
    return out


def _bound(expr: IntExpr, lo: IntExpr | None, hi: IntExpr | None) -> Bound:
    return Bound(expr, simplify(lo), simplify(hi))


def _opt(func: Any, *args: IntExpr | None) -> IntExpr | None:
    """``func(*args)``, or None when an argument is None (an open side stays open)."""
    return None if any(a is None for a in args) else func(*args)


# ----------------------------------------------------------------------------- compiler
class _Compiler:
    """Solve comparisons for ``key``; sizes give the value of static coefficients."""

    def __init__(self, key: str, sizes: Mapping[str, int]):
        self.key, self.sizes = key, sizes

    def dnf(self, flt: Filter, negate: bool = False) -> list[Family]:
        """Families whose union is ``flt`` (or ``not flt``)."""
        if isinstance(flt, Compare):
            pairs = list(zip(flt.operands, flt.ops, flt.operands[1:]))
            atoms = [self.atom(a, _NEGATED[op] if negate else op, b) for a, op, b in pairs]
            return _union(atoms) if negate else _product(atoms)
        if isinstance(flt, BoolOp):
            parts = [self.dnf(p, negate) for p in flt.parts]
            return _product(parts) if (flt.op == "and") != negate else _union(parts)
        if isinstance(flt, Not):
            return self.dnf(flt.part, not negate)
        if isinstance(flt, MaskRef):
            raise NotIntervalError(f"mask tensor {flt.ref}")
        raise TypeError(f"not a filter: {flt!r}")

    def atom(self, left: IntExpr, op: str, right: IntExpr) -> list[Family]:
        """``left op right`` as ``left - right`` in a range around 0."""
        diff = _sub(left, right)
        return _union([self.solve(diff, *(None if b is None else _num(b) for b in r))
                       for r in _OP_RANGES[op]])

    def solve(self, expr: IntExpr, lo: IntExpr | None, hi: IntExpr | None) -> list[Family]:
        """Families equivalent to ``lo <= expr < hi``."""
        if lo is None and hi is None:
            return [()]
        if self.key not in int_vars(expr):
            return [(_bound(simplify(expr), lo, hi),)]
        coef, terms, rest = self.split(expr)
        if not terms and coef:
            return [(_bound(Var(self.key), *_invert(coef, rest, lo, hi)),)]
        if not terms:  # the key cancelled out (m - m)
            return [(_bound(simplify(rest), lo, hi),)]
        if coef or len(terms) > 1:
            raise NotIntervalError(f"{expr} has the key in more than one term")
        (c, term), = terms
        return self.solve_term(term, *_invert(c, rest, lo, hi))

    def split(self, expr: IntExpr) -> tuple[int, list[tuple[int, IntExpr]], IntExpr]:
        """``expr = coef * key + sum(c * term) + rest`` with only ``terms`` non-linear."""
        if self.key not in int_vars(expr):
            return 0, [], expr
        if isinstance(expr, Var):
            return 1, [], _num(0)
        if isinstance(expr, IntBinary) and expr.op in "+-":
            sign = 1 if expr.op == "+" else -1
            c1, t1, r1 = self.split(expr.left)
            c2, t2, r2 = self.split(expr.right)
            terms = t1 + [(sign * c, t) for c, t in t2]
            return self.fold(c1 + sign * c2, terms, _add(r1, _scale(sign, r2)))
        if isinstance(expr, IntBinary) and expr.op == "*":
            factor, other = (expr.left, expr.right) if self.key in int_vars(expr.right) \
                else (expr.right, expr.left)
            c = self.static(factor, expr)
            coef, terms, rest = self.split(other)
            return c * coef, [(c * k, t) for k, t in terms], _scale(c, rest)
        return 0, [(1, expr)], _num(0)

    def fold(self, coef: int, terms: list[tuple[int, IntExpr]],
             rest: IntExpr) -> tuple[int, list[tuple[int, IntExpr]], IntExpr]:
        """Recombine ``c*B*(x // B) + c*(x % B)`` into ``c*x`` (floor semantics, ``B != 0``).

        A partitioned key ``m1*M0 + m0`` rewritten as ``m // M0 * M0 + m % M0`` is the key.
        """
        for i, (c_mod, mod) in enumerate(terms):
            for j, (c_div, div) in enumerate(terms):
                if not _quotient_and_remainder(div, mod):
                    continue
                divisor = self.static_or_none(div.right)
                if divisor and c_div == c_mod * divisor:
                    c, t, r = self.split(_scale(c_mod, mod.left))
                    kept = [term for k, term in enumerate(terms) if k not in (i, j)]
                    return self.fold(coef + c, kept + t, _add(rest, r))
        return coef, terms, rest

    def static_or_none(self, factor: IntExpr) -> int | None:
        """Value of a factor of constants and sizes, or None if it has variables or tensors."""
        try:
            return self.static(factor, factor)
        except NotIntervalError:
            return None

    def static(self, factor: IntExpr, context: IntExpr) -> int:
        """Value of a factor made of constants and sizes only."""
        if int_vars(factor) or int_tensors(factor):
            raise NotIntervalError(f"{context}: the key is multiplied by {factor}")
        return int(eval_int(factor, {}, self.sizes))

    def solve_term(self, term: IntExpr, lo: IntExpr | None, hi: IntExpr | None) -> list[Family]:
        """``lo <= term < hi`` for a non-linear term that contains the key."""
        if isinstance(term, IntBinary) and term.op == "//":
            divisor = self.static(term.right, term)
            if divisor <= 0:
                raise NotIntervalError(f"{term}: expected a positive divisor, got {divisor}")
            scale = functools.partial(_mul_const, divisor)
            return self.solve(term.left, _opt(scale, lo), _opt(scale, hi))
        if isinstance(term, IntCall) and term.func == "abs":
            return self.solve_abs(term.args[0], lo, hi)
        if isinstance(term, IntCall) and term.func == "clamp":
            x, low, high = term.args
            return self.solve_term(IntCall("min", (IntCall("max", (x, low)), high)), lo, hi)
        if isinstance(term, IntCall):
            return self.solve_min_max(term.func, *term.args, lo, hi)
        raise NotIntervalError(f"{term} is not an interval of the key")

    def solve_abs(self, arg: IntExpr, lo: IntExpr | None, hi: IntExpr | None) -> list[Family]:
        """``lo <= |arg| < hi``: ``arg`` in the range, or its mirror below zero."""
        if lo is None:
            return self.solve(arg, _sub(_num(1), hi), hi)
        upper = _opt(_sub, _num(1), hi)
        mirror = _opt(lambda a: IntCall("min", (a, _num(0))), _sub(_num(1), lo))
        return (self.solve(arg, IntCall("max", (lo, _num(0))), hi)
                + self.solve(arg, upper, mirror))

    def solve_min_max(self, func: str, a: IntExpr, b: IntExpr, lo: IntExpr | None,
                      hi: IntExpr | None) -> list[Family]:
        """``lo <= min(a, b) < hi`` (both above ``lo``, one below ``hi``), or max's dual."""
        if func == "max":  # max(a, b) = -min(-a, -b)
            neg_lo, neg_hi = _opt(_sub, _num(1), hi), _opt(_sub, _num(1), lo)
            return self.solve_min_max("min", _scale(-1, a), _scale(-1, b), neg_lo, neg_hi)
        if hi is None:
            return _product([self.solve(a, lo, None), self.solve(b, lo, None)])
        first = _product([self.solve(a, lo, hi), self.solve(b, lo, None)])
        return _union([first, _product([self.solve(a, lo, None), self.solve(b, lo, hi)])])


def _quotient_and_remainder(div: IntExpr, mod: IntExpr) -> bool:
    """True for ``x // B`` and ``x % B`` of the same ``x`` and ``B``."""
    return (isinstance(div, IntBinary) and div.op == "//" and isinstance(mod, IntBinary)
            and mod.op == "%" and (div.left, div.right) == (mod.left, mod.right))


def _mul_const(c: int, e: IntExpr) -> IntExpr:
    return _scale(c, e) if isinstance(e, IntConst) or c in (1, -1) else IntBinary("*", e, _num(c))


def _invert(c: int, rest: IntExpr, lo: IntExpr | None,
            hi: IntExpr | None) -> tuple[IntExpr | None, IntExpr | None]:
    """Range of ``x`` with ``lo <= c*x + rest < hi`` for an integer ``x``, ``c != 0``."""
    if c > 0:
        return (_opt(lambda v: _ceil_div(_sub(v, rest), c), lo),
                _opt(lambda v: _ceil_div(_sub(v, rest), c), hi))
    step = -c
    return (_opt(lambda v: _add(_floor_div(_sub(rest, v), step), _num(1)), hi),
            _opt(lambda v: _add(_floor_div(_sub(rest, v), step), _num(1)), lo))


def _union(parts: list[list[Family]]) -> list[Family]:
    out = [family for part in parts for family in part]
    if len(out) > MAX_FAMILIES:
        raise NotIntervalError(f"more than {MAX_FAMILIES} interval families")
    return out


def _product(parts: list[list[Family]]) -> list[Family]:
    out: list[Family] = [()]
    for part in parts:
        out = [a + b for a in out for b in part]
        if len(out) > MAX_FAMILIES:
            raise NotIntervalError(f"more than {MAX_FAMILIES} interval families")
    return out


@functools.lru_cache(maxsize=256)
def _compile(filters: tuple[Filter, ...], key: str,
             sizes: tuple[tuple[str, int], ...]) -> tuple[Family, ...] | None:
    try:
        return tuple(_Compiler(key, dict(sizes)).dnf(BoolOp("and", filters)))
    except NotIntervalError:
        return None


def compile_intervals(filters: tuple[Filter, ...], key: str,
                      sizes: Mapping[str, int]) -> tuple[Family, ...] | None:
    """Rewrite a conjunction of filters as families of key intervals and row gates.

    Parameters
    ----------
    filters : tuple of Filter
        All must hold.
    key : str
        The key variable to solve for.
    sizes : mapping of str to int
        Values of the sizes that appear as coefficients or divisors of the key.

    Returns
    -------
    tuple of tuple of Bound, or None
        A pair is kept iff all bounds of at least one family hold; None when some
        condition is not an interval of the key (the box path counts those).

    Examples
    --------
    >>> from einsum import parse
    >>> flt = parse("S[m,p] = Q[e,p]*K[e,m] : m < S or p - W < m <= p").einsums[0].filters
    >>> [[str(b) for b in family] for family in compile_intervals(flt, "m", {})]
    [['m < S'], ['p - W + 1 <= m', 'm < p + 1']]
    >>> flt = parse("S[m,p] = Q[e,p]*K[e,m] : m % D == p % D").einsums[0].filters
    >>> compile_intervals(flt, "m", {"D": 4}) is None
    True
    """
    return _compile(tuple(filters), key, tuple(sorted((k, int(v)) for k, v in sizes.items())))


# ----------------------------------------------------------------------------- rows
def _family_rows(family: Family, grid: Grid, env: dict[str, Any], data: FilterData,
                 cache: dict[IntExpr, Any]) -> tuple[Any, Any]:
    """Key interval ``[lo, hi)`` of every row (clipped; empty rows get ``lo = hi = n_keys``)."""
    def value(expr: IntExpr) -> Any:
        if expr not in cache:
            cache[expr] = data.value(expr, env)
        return cache[expr]

    lo: Any = 0
    hi: Any = grid.n_keys
    keep: Any = True
    for bound in family:
        if bound.expr == Var(grid.key):
            lo = lo if bound.lo is None else np.maximum(lo, value(bound.lo))
            hi = hi if bound.hi is None else np.minimum(hi, value(bound.hi))
            continue
        x = value(bound.expr)
        keep = keep if bound.lo is None else keep & (x >= value(bound.lo))
        keep = keep if bound.hi is None else keep & (x < value(bound.hi))
    lo, hi = np.clip(lo, 0, grid.n_keys), np.clip(hi, 0, grid.n_keys)
    empty = ~np.asarray(keep) | (lo >= hi)
    return np.where(empty, grid.n_keys, lo), np.where(empty, grid.n_keys, hi)


def _measure(group: np.ndarray, starts: np.ndarray, ends: np.ndarray, need: np.ndarray,
             span: int) -> np.ndarray:
    """Per group, the length covered by at least ``need[group]`` of the ranges ``[start, end)``.

    ``need >= 1``; positions lie in ``[0, span)``. Sorted events, cumulative coverage.
    """
    key = np.concatenate([group * (span + 1) + starts, group * (span + 1) + ends])
    delta = np.concatenate([np.ones(starts.size, np.int64), -np.ones(ends.size, np.int64)])
    order = np.argsort(key, kind="stable")
    key, delta = key[order], delta[order]
    owner = key[:-1] // (span + 1)
    covered = np.cumsum(delta)[:-1] >= need[owner]
    length = np.diff(key)
    return np.bincount(owner[covered], weights=length[covered], minlength=need.size).astype(np.int64)


def _previous(valid: np.ndarray) -> np.ndarray:
    """Index along the last axis of the previous valid row (-1 if none)."""
    index = np.where(valid, np.arange(valid.shape[-1]), -1)
    before = np.maximum.accumulate(index, axis=-1)
    return np.concatenate([np.full(before.shape[:-1] + (1,), -1), before[..., :-1]], axis=-1)


def _visited(lo: np.ndarray, hi: np.ndarray, real: np.ndarray, tk: int, n_kv: int) -> np.ndarray:
    """KV tiles touched per group; arrays are ``(families, groups, rows)``."""
    rows = (lo < hi) & real
    t_lo, t_hi = lo // tk, -(-hi // tk)
    before = _previous(rows)
    safe = np.maximum(before, 0)
    p_lo = np.take_along_axis(t_lo, safe, axis=-1)
    p_hi = np.take_along_axis(t_hi, safe, axis=-1)
    broken = rows & (before >= 0) & ((t_lo > p_hi) | (p_lo > t_hi))
    chain = ~broken.any(axis=-1)
    any_row = rows.any(axis=-1)
    hull_lo = np.where(rows, t_lo, n_kv).min(axis=-1)
    hull_hi = np.where(rows, t_hi, 0).max(axis=-1)
    if lo.shape[0] == 1 and chain.all():
        return np.where(any_row[0], hull_hi[0] - hull_lo[0], 0)
    n_groups = lo.shape[1]
    group = np.broadcast_to(np.arange(n_groups)[:, None], lo.shape[1:])
    hulls = chain & any_row
    each = rows & ~chain[..., None]
    starts = np.concatenate([hull_lo[hulls], t_lo[each]])
    ends = np.concatenate([hull_hi[hulls], t_hi[each]])
    owner = np.concatenate([np.broadcast_to(np.arange(n_groups), hulls.shape)[hulls],
                            np.broadcast_to(group, lo.shape)[each]])
    return _measure(owner, starts, ends, np.ones(n_groups, np.int64), n_kv)


def _merge(lo: np.ndarray, hi: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the union of its family intervals as sorted disjoint runs (axis 0)."""
    if lo.shape[0] == 1:
        return lo, hi
    order = np.argsort(lo, axis=0)
    lo, hi = np.take_along_axis(lo, order, axis=0), np.take_along_axis(hi, order, axis=0)
    reach = np.maximum.accumulate(hi, axis=0)
    opens = np.concatenate([np.ones_like(lo[:1], bool), lo[1:] > reach[:-1]])
    closes = np.concatenate([opens[1:], np.ones_like(lo[:1], bool)])
    starts = np.sort(np.where(opens, lo, n_keys), axis=0)
    ends = np.sort(np.where(closes, reach, n_keys), axis=0)
    return starts, ends


def _full(starts: np.ndarray, ends: np.ndarray, real: np.ndarray, tk: int, n_keys: int,
          n_kv: int) -> np.ndarray:
    """KV tiles every real row of the group covers; arrays are ``(runs, groups, rows)``."""
    f_lo = -(-starts // tk)
    f_hi = np.where(ends >= n_keys, n_kv, ends // tk)
    valid = (starts < ends) & (f_lo < f_hi) & real
    every = (valid | ~real).all(axis=-1)
    common = np.where(real, f_hi, n_kv).min(axis=-1) - np.where(real, f_lo, 0).max(axis=-1)
    fast = np.where(every, np.maximum(common, 0), 0).sum(axis=0)
    if starts.shape[0] == 1:
        return fast
    first = np.where(valid, f_lo, n_kv).min(axis=-1)
    last = np.maximum.accumulate(np.where(valid, f_hi, 0).max(axis=-1), axis=0)
    apart = (first[1:] >= last[:-1]).all(axis=0)
    if apart.all():
        return fast
    # Runs of different rows interleave: count coverage by every real row exactly.
    slow = np.flatnonzero(~apart)
    pick = valid[:, slow]
    owner = np.broadcast_to(np.arange(slow.size)[None, :, None], pick.shape)[pick]
    need = real[slow].sum(axis=-1)
    fast[slow] = _measure(owner, f_lo[:, slow][pick], f_hi[:, slow][pick], need, n_kv)
    return fast


def _count_chunk(families: tuple[Family, ...], grid: Grid, data: FilterData,
                 instances: np.ndarray, first_tile: int, n_tiles: int) -> tuple[Any, Any, int]:
    """Visited and full tiles ``(instances, q tiles)`` and pairs for a block of Q tiles."""
    tq = grid.q_tile
    rows = first_tile * tq + np.arange(n_tiles * tq)
    env = {grid.query: rows[None, :], **grid.others_env(instances, 2)}
    cache: dict[IntExpr, Any] = {}
    shape = (instances.size, n_tiles * tq)
    bounds = [_family_rows(f, grid, env, data, cache) for f in families]
    lo = np.stack([np.broadcast_to(b[0], shape) for b in bounds])
    hi = np.stack([np.broadcast_to(b[1], shape) for b in bounds])
    grouped = (len(families), instances.size * n_tiles, tq)
    lo, hi = lo.reshape(grouped), hi.reshape(grouped)
    real = np.broadcast_to((rows < grid.n_queries).reshape(n_tiles, tq),
                           (instances.size, n_tiles, tq)).reshape(grouped[1:])
    visited = _visited(lo, hi, real, grid.kv_tile, grid.n_kv_tiles)
    starts, ends = _merge(lo, hi, grid.n_keys)
    full = _full(starts, ends, real, grid.kv_tile, grid.n_keys, grid.n_kv_tiles)
    pairs = int(((ends - starts) * real).sum())
    out = (instances.size, n_tiles)
    return visited.reshape(out), full.reshape(out), pairs


def count_intervals(families: tuple[Family, ...], grid: Grid, data: FilterData) -> TileTotals:
    """Count visited and full tiles and kept pairs from per-row key intervals (exact).

    Parameters
    ----------
    families : tuple of tuple of Bound
        From :func:`compile_intervals`.
    grid : Grid
        The tiled problem and the instances.
    data : FilterData
        Sizes and tensors the bounds read.

    Returns
    -------
    TileTotals
        Per Q tile, summed over instances.

    Examples
    --------
    Causal attention on 1024 tokens with 128 x 128 tiles:

    >>> from einsum import parse
    >>> flt = parse("S[m,p] = Q[e,p]*K[e,m] : m <= p").einsums[0].filters
    >>> totals = count_intervals(compile_intervals(flt, "m", {}), Grid("p", "m", 1024, 1024, 128, 128),
    ...                          FilterData({}, {}, {}))
    >>> totals.visited.tolist(), int((totals.visited - totals.full).sum()), totals.pairs
    ([1, 2, 3, 4, 5, 6, 7, 8], 8, 524800)
    """
    totals = TileTotals(grid.n_q_tiles)
    per_tile = max(1, len(families)) * grid.q_tile
    step = max(1, min(grid.n_q_tiles, _CHUNK // per_tile))
    per_instance = max(1, _CHUNK // (per_tile * step))
    for first in range(0, grid.instances, per_instance):
        instances = np.arange(first, min(first + per_instance, grid.instances))
        for tile in range(0, grid.n_q_tiles, step):
            n_tiles = min(step, grid.n_q_tiles - tile)
            totals.add(tile, *_count_chunk(families, grid, data, instances, tile, n_tiles))
    return totals

"""Op counts per Einsum and op kind, as symbolic expressions in rank sizes and densities.

Counting rules (one "op" per iteration-space point, the Timeloop/FuseMax convention):

* each map operator in the right-hand side costs one op of its kind per point:
  ``*`` → ``mul``, ``/`` → ``div``, ``+``/``-`` → ``add``, ``max``/``min`` → ``max``,
  a unary function → its own kind (``exp``, ``log``, ``sigmoid``, …; ``relu`` →
  ``max``; ``softplus`` → ``exp + log + add``); ``exp(a - b)`` (sub-then-exp) → one
  ``exp`` and one ``add``; ``pow(a, b)`` → ``exp + mul`` (+ ``log`` unless ``a`` is a
  constant); a comparison → ``cmp``, ``where`` → ``select``;
* sub-expressions made only of constants (``1/sqrt(E)``) are folded: no ops; a rank
  variable used as a value (``m - p``) is an index the loop counters give, so it costs
  nothing until arithmetic combines it with data;
* a reduction costs one op per point (``add`` for +, ``max`` for max/min), except
  that a product reduced by + is a multiply-accumulate: one ``mac`` replaces the
  ``mul`` and the ``add`` (so ``QK[m,p] = Q[e,p] * K[e,m]`` is ``E*M*P`` macs);
* a plain copy or reshape (``BK[e,m1,m0] = K[e, m1*M0+m0]``) costs nothing;
* a filtered Einsum, or one that reads a filtered tensor through an intersecting
  operator, runs on a fraction of its points: the count is multiplied by a density
  symbol ``rho_<Einsum>`` (see :func:`filter_density` for exact values).

Partitioned ranks count tile-granular work: ``M1*M0`` points cover ``M`` rounded up
to whole chunks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from einsum.errors import ShapeError
from einsum.graph import cascade_graph, forward_order
from einsum.model import (
    Binary,
    Call,
    Cascade,
    Comparison,
    Einsum,
    Expr,
    Filter,
    IndexValue,
    Logic,
    TensorRef,
    Var,
    Where,
    expr_children,
    expr_refs,
    expr_vars,
    filter_vars,
    rename_filter,
)
from einsum.sizes import resolve_sizes
from einsum.symbolic import Poly

__all__ = ["EinsumOps", "Density", "OpCounts", "op_counts", "filter_density", "OP_KINDS"]

#: Op kinds in display order (others, e.g. ``sigmoid``, follow alphabetically).
OP_KINDS = ("mac", "mul", "add", "max", "div", "exp")
_UNARY_KINDS = {"relu": ("max",), "abs": ("max",), "neg": (), "softplus": ("exp", "log", "add")}
_BINARY_KIND = {"*": "mul", "/": "div", "+": "add", "-": "add", "max": "max", "min": "max"}


class Density(NamedTuple):
    """A density symbol: the fraction of points of ``vars`` that pass ``filters``."""

    symbol: str
    filters: tuple[Filter, ...]
    vars: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.symbol} = fraction of ({', '.join(self.vars)}) with " + " and ".join(
            str(f) for f in self.filters)


class EinsumOps(NamedTuple):
    """Op counts of one Einsum: iteration points and ops per kind (symbolic)."""

    label: str
    points: Poly
    ops: tuple[tuple[str, Poly], ...]

    def op(self, kind: str) -> Poly:
        """Count of one kind (zero if absent)."""
        return dict(self.ops).get(kind, Poly())


@dataclass(frozen=True)
class OpCounts:
    """Symbolic op counts of a cascade; see :func:`op_counts`."""

    cascade: str
    per_einsum: tuple[EinsumOps, ...]
    densities: tuple[Density, ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        """Op kinds present, in display order."""
        found = {k for e in self.per_einsum for k, _ in e.ops}
        return tuple(k for k in OP_KINDS if k in found) + tuple(sorted(found - set(OP_KINDS)))

    def total(self, kind: str) -> Poly:
        """Total count of one kind over all Einsums."""
        out = Poly()
        for einsum in self.per_einsum:
            out = out + einsum.op(kind)
        return out

    def totals(self) -> dict[str, Poly]:
        """Total count per kind."""
        return {kind: self.total(kind) for kind in self.kinds}

    def evaluate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Evaluate the totals per kind on sizes and densities (numbers or arrays)."""
        return {kind: poly.evaluate(values) for kind, poly in self.totals().items()}

    def __str__(self) -> str:
        lines = [f"op counts of {self.cascade} (per iteration point; rho_* are filter densities)"]
        for einsum in self.per_einsum:
            ops = ", ".join(f"{k}: {p}" for k, p in einsum.ops) or "no compute (copy/reshape)"
            lines.append(f"  {einsum.label:<10} {ops}")
        lines += [f"  {d}" for d in self.densities]
        return "\n".join(lines)


@lru_cache(maxsize=256)
def op_counts(cascade: Cascade) -> OpCounts:
    """Count the ops of every Einsum of a cascade, symbolically.

    Examples
    --------
    >>> from einsum import load
    >>> counts = op_counts(load("attention-3pass"))
    >>> {kind: str(count) for kind, count in counts.totals().items()}
    {'mac': 'E*M*P + F*M*P', 'add': '2*M*P', 'max': 'M*P', 'div': 'M*P', 'exp': 'M*P'}
    >>> counts.evaluate({"E": 64, "F": 64, "M": 1024, "P": 1024})["exp"]
    1048576.0
    """
    order = forward_order(cascade_graph(cascade))
    support: dict[str, frozenset[Filter]] = {}
    symbols: dict[frozenset[Filter], Density] = {}
    results = {}
    for label in order:
        einsum = cascade.einsum(label)
        work = _expr_support(einsum.expr, support, cascade) | frozenset(einsum.filters)
        points = Poly.product([cascade.rank_of(v) for v in einsum.iteration_vars])
        if work:
            density = symbols.setdefault(work, Density(
                f"rho_{_symbol_name(label)}", tuple(sorted(work, key=str)),
                tuple(sorted(frozenset().union(*(filter_vars(f) for f in work))))))
            points = points * Poly.symbol(density.symbol)
        out_vars = {v.name for v in einsum.output.indices if isinstance(v, Var)}
        support[einsum.name] = frozenset(f for f in work if filter_vars(f) <= out_vars)
        ops = tuple((kind, points * count) for kind, count in _ops_per_point(einsum).items())
        results[label] = EinsumOps(label, points, ops)
    per_einsum = tuple(results[e.label] for e in cascade.einsums)
    return OpCounts(cascade.name, per_einsum, tuple(symbols.values()))


def _symbol_name(label: str) -> str:
    return label.replace("@", "_")


# ----------------------------------------------------------------------------- ops per point
def _ops_per_point(einsum: Einsum) -> dict[str, float]:
    counts: dict[str, float] = {}
    _count(einsum.expr, counts)
    if einsum.reduced_vars:
        if einsum.reduce_op == "+" and _is_product(einsum.expr) and counts.get("mul"):
            counts["mul"] -= 1
            counts["mac"] = counts.get("mac", 0) + 1
        else:
            kind = "add" if einsum.reduce_op == "+" else "max"
            counts[kind] = counts.get(kind, 0) + 1
    return {k: v for k, v in sorted(counts.items(), key=lambda kv: _kind_order(kv[0])) if v}


def _kind_order(kind: str) -> tuple[int, str]:
    return (OP_KINDS.index(kind) if kind in OP_KINDS else len(OP_KINDS), kind)


def _is_product(expr: Expr) -> bool:
    return isinstance(expr, Binary) and expr.op == "*" and bool(expr_refs(expr))


def _varies(expr: Expr) -> bool:
    """True unless the expression is a constant (no tensor, no rank variable as a value)."""
    return bool(expr_refs(expr)) or bool(expr_vars(expr))


def _add(counts: dict[str, float], kind: str, amount: float = 1) -> None:
    counts[kind] = counts.get(kind, 0) + amount


def _count(expr: Expr, counts: dict[str, float]) -> None:
    if not _varies(expr) or isinstance(expr, IndexValue):
        return  # constants fold; index values come from the loop counters
    if isinstance(expr, Binary) and expr.op == "pow":
        # a^b = exp(b * ln a): ln a folds when the base is a constant (a decay factor)
        _add(counts, "exp")
        _add(counts, "mul")
        if _varies(expr.left):
            _add(counts, "log")
    elif isinstance(expr, Binary):
        _add(counts, _BINARY_KIND[expr.op])
    elif isinstance(expr, Call):
        if expr.is_sub_exp:
            _add(counts, "exp")
            _add(counts, "add")
            _count(expr.arg.left, counts)  # type: ignore[attr-defined]
            _count(expr.arg.right, counts)  # type: ignore[attr-defined]
            return
        for kind in _UNARY_KINDS.get(expr.func, (expr.func,)):
            _add(counts, kind)
    elif isinstance(expr, Comparison):
        _add(counts, "cmp", len(expr.ops))
    elif isinstance(expr, Logic):
        _add(counts, "cmp", max(len(expr.parts) - 1, 1))
    elif isinstance(expr, Where):
        _add(counts, "select")
    for child in expr_children(expr):
        _count(child, counts)


# ----------------------------------------------------------------------------- sparsity
def _expr_support(expr: Expr, support: dict[str, frozenset[Filter]],
                  cascade: Cascade) -> frozenset[Filter]:
    """Filters restricting where an expression is non-empty (∩ merges add, ∪ merges keep common)."""
    if isinstance(expr, TensorRef):
        return _renamed_support(expr, support, cascade)
    if isinstance(expr, Call):
        if expr.is_sub_exp:
            return (_expr_support(expr.arg.left, support, cascade)  # type: ignore[attr-defined]
                    | _expr_support(expr.arg.right, support, cascade))  # type: ignore[attr-defined]
        return _expr_support(expr.arg, support, cascade)
    if isinstance(expr, Binary):
        left = _expr_support(expr.left, support, cascade)
        right = _expr_support(expr.right, support, cascade)
        if expr.op in ("*", "/", "pow"):
            return left | right
        return left & right if expr_refs(expr.left) and expr_refs(expr.right) else frozenset()
    if isinstance(expr, Where):
        cond = _expr_support(expr.cond, support, cascade)
        return cond | (_expr_support(expr.then, support, cascade)
                       & _expr_support(expr.other, support, cascade))
    if isinstance(expr, (Comparison, Logic)):
        return frozenset().union(*(_expr_support(c, support, cascade) for c in expr_children(expr)))
    return frozenset()


def _renamed_support(ref: TensorRef, support: dict[str, frozenset[Filter]],
                     cascade: Cascade) -> frozenset[Filter]:
    """A tensor's filters in the consumer's variable names (dropped if not expressible)."""
    filters = support.get(ref.name, frozenset())
    if not filters:
        return filters
    producer = next(e for e in cascade.einsums if e.name == ref.name)
    mapping = {}
    for written, read in zip(producer.output.indices, ref.indices):
        if isinstance(written, Var):
            if not isinstance(read, Var):
                return frozenset()
            mapping[written.name] = read.name
    return frozenset(rename_filter(f, mapping) for f in filters if filter_vars(f) <= set(mapping))


def filter_density(cascade: Cascade, symbol: str, sizes: Mapping[str, int],
                   inputs: Mapping[str, np.ndarray] | None = None, chunk: int = 1 << 22) -> float:
    """Exact value of a density symbol by enumerating its variables' points.

    Cost is proportional to the product of the variables' sizes (chunked, so memory
    stays bounded); the tile-level counter in ``simulator.sparsity`` is the fast path
    for large shapes.

    Examples
    --------
    >>> from einsum import load
    >>> c = load("attention-1pass-causal")
    >>> filter_density(c, "rho_BQK", {"M": 64, "P": 64, "M0": 16, "E": 8, "F": 8})
    0.5078125
    """
    from einsum.executor import _filter, _Store

    density = next((d for d in op_counts(cascade).densities if d.symbol == symbol), None)
    if density is None:
        raise ShapeError(f"cascade {cascade.name} has no density symbol {symbol!r}")
    resolved = resolve_sizes(cascade, sizes)
    store = _Store(cascade, resolved)
    store.data.update({k: np.asarray(v, dtype=float) for k, v in (inputs or {}).items()})
    extents = [int(resolved[cascade.rank_of(v)]) for v in density.vars]
    total = int(np.prod(extents))
    kept = 0
    for start in range(0, total, chunk):
        flat = np.arange(start, min(total, start + chunk))
        env = dict(zip(density.vars, np.unravel_index(flat, extents)))
        mask = np.ones(flat.shape, dtype=bool)
        for flt in density.filters:
            mask &= np.broadcast_to(_filter(store, flt, env), flat.shape)
        kept += int(mask.sum())
    return kept / total

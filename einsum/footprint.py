"""Live footprint: the minimum data a fused execution must hold, per query.

For each pass (level of :func:`~einsum.passes.pass_analysis`) the live set is

* every tensor *without* the pass rank that the pass's Einsums read or write (the
  query row, running max/denominator/numerator, accumulators) — an iterative rank's
  position counts once, since only its current value is live; plus
* every tensor *with* the pass rank that is accessed in or before this pass and read
  again in a later one: its whole fiber must survive the barrier (FuseMax §III-B),
  on chip or spilled.

The footprint is the maximum over passes. Sizes are per instance of the ``per`` ranks
(default: the query rank ``P`` and the batch/head ranks ``B``, ``H``, ``HK``, ``G``),
so a 3-pass cascade holds ``M + …`` elements per query and a 1-pass one ``E + F + 2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from einsum.graph import cascade_graph, forward_order
from einsum.model import Cascade, Einsum, TensorRef, expr_refs
from einsum.passes import pass_analysis
from einsum.roles import rank_roles
from einsum.semantics import classify_index
from einsum.sizes import resolve_sizes
from einsum.symbolic import Poly, SymMax

__all__ = ["Footprint", "live_footprint", "footprint_value", "default_per"]

def default_per(cascade: Cascade) -> tuple[str, ...]:
    """Ranks a footprint is given per: the query rank (with its partitions), batch and heads.

    Read from the rank roles (:func:`einsum.roles.rank_roles`), not from names.

    Examples
    --------
    >>> from einsum import load
    >>> default_per(load("attention-1pass-gqa"))
    ('P', 'B', 'HK', 'G')
    """
    roles = rank_roles(cascade)
    query = sorted(roles.query_family - roles.key_family, key=lambda r: r != roles.query)
    return tuple(query) + roles.instance


@dataclass(frozen=True)
class Footprint:
    """The result of :func:`live_footprint`.

    Attributes
    ----------
    expr : SymMax
        Live elements per ``per`` instance, the maximum over passes.
    per_pass : tuple of Poly
        Live elements during each pass.
    held : tuple of tuple of str
        For each barrier between passes, the tensors whose rank fiber crosses it.
    reread : Poly
        Elements of pass-rank fibers read again in a later pass (the extra traffic
        per instance if they do not stay on chip).
    spilled : Poly
        Elements of produced pass-rank fibers that must be written out if they spill.
    """

    cascade: str
    rank: str
    per: tuple[str, ...]
    expr: SymMax
    per_pass: tuple[Poly, ...]
    held: tuple[tuple[str, ...], ...]
    reread: Poly
    spilled: Poly

    def evaluate(self, sizes: Mapping[str, Any]) -> Any:
        """Numeric value (numbers or numpy arrays of sizes)."""
        return self.expr.evaluate(sizes)

    def __str__(self) -> str:
        lines = [f"live footprint of {self.cascade} over {self.rank}, per "
                 f"{'×'.join(self.per) or 'cascade'}: {self.expr}"]
        for number, poly in enumerate(self.per_pass, start=1):
            lines.append(f"  pass {number}: {poly}")
        for number, tensors in enumerate(self.held, start=1):
            if tensors:
                lines.append(f"  held across barrier {number}: {', '.join(tensors)}")
        return "\n".join(lines)


@lru_cache(maxsize=256)
def live_footprint(cascade: Cascade, rank: str | None = None,
                   per: tuple[str, ...] | None = None) -> Footprint:
    """Minimum live elements of a fused execution, per query.

    Parameters
    ----------
    cascade : Cascade
    rank : str, optional
        The pass rank (default as :func:`~einsum.passes.pass_analysis`).
    per : tuple of str, optional
        Ranks the footprint is given per (default :func:`default_per`: queries, batch
        and heads, by role).

    Examples
    --------
    >>> from einsum import load
    >>> str(live_footprint(load("attention-3pass")).expr)
    'max(E + M + 1, F + 1)'
    >>> str(live_footprint(load("attention-1pass")).expr)
    'E + F + 2'
    """
    report = pass_analysis(cascade, rank)
    per = default_per(cascade) if per is None else tuple(r.upper() for r in per)
    graph = cascade_graph(cascade, report.rank)
    levels = dict(report.levels)
    accesses = _accesses(cascade, graph, levels)
    top = max(report.passes, 1)
    per_pass, held = [], []
    reread, spilled = Poly(), Poly()
    for level in range(1, top + 1):
        live = Poly()
        crossing = []
        for tensor, seen in accesses.items():
            fiber = _fiber(cascade, tensor, per)
            if not _has_rank(cascade, tensor, report.rank):
                live = live + (fiber if level in seen else Poly())
            elif min(seen) <= level < max(seen):
                live, crossing = live + fiber, crossing + [tensor]
        per_pass.append(live)
        if level < top:
            held.append(tuple(crossing))
    for tensor, seen in accesses.items():
        if _has_rank(cascade, tensor, report.rank) and len(seen) > 1:
            fiber = _fiber(cascade, tensor, per)
            reread = reread + fiber * (len(seen) - 1)
            spilled = spilled + (fiber if tensor in cascade.produced else Poly())
    return Footprint(cascade.name, report.rank, per, SymMax.of(per_pass), tuple(per_pass),
                     tuple(held), reread, spilled)


def _accesses(cascade: Cascade, graph: Any, levels: dict[str, int]) -> dict[str, set[int]]:
    """Levels at which R-traversing Einsums read or write each tensor.

    Work before or after the traversal (``AV = RNV/RD``) is not live during it; mask
    tensors stream along the rank like K; and a pure copy (``BK = K[e, m1*M0+m0]``) is
    an alias, so its output counts as accessed only where it is read.
    """
    seen: dict[str, set[int]] = {}
    for label in forward_order(graph):
        node = graph.nodes[label]
        if not node["traverses"]:
            continue
        einsum = node["einsum"]
        touched = [ref.name for ref in expr_refs(einsum.expr)]
        if not _is_copy(einsum):
            touched.append(einsum.name)
        for tensor in touched:
            seen.setdefault(tensor, set()).add(levels[label])
    return seen


def _is_copy(einsum: Einsum) -> bool:
    return isinstance(einsum.expr, TensorRef) and not einsum.reduced_vars and not einsum.filters


def _iter_slots(cascade: Cascade, tensor: str) -> set[int]:
    """Positions an iterative rank indexes (``RM[m1+1, p]``): only one value is live."""
    return _all_iter_slots(cascade).get(tensor, set())


@lru_cache(maxsize=64)
def _all_iter_slots(cascade: Cascade) -> dict[str, set[int]]:
    """Tensor -> its iterative positions, built in one scan (one scan per tensor was quadratic)."""
    iterative = frozenset(cascade.iterative_vars)
    slots: dict[str, set[int]] = {}
    for e in cascade.einsums:
        found = slots.setdefault(e.name, set())
        found.update(pos for pos, index in enumerate(e.output.indices)
                     if classify_index(index, iterative).offset != 0)
    return slots


def _has_rank(cascade: Cascade, tensor: str, rank: str) -> bool:
    slots = _iter_slots(cascade, tensor)
    family = cascade.family(rank)
    return any(r in family for pos, r in enumerate(cascade.ranks_of(tensor)) if pos not in slots)


def _fiber(cascade: Cascade, tensor: str, per: tuple[str, ...]) -> Poly:
    slots = _iter_slots(cascade, tensor)
    ranks = [r for pos, r in enumerate(cascade.ranks_of(tensor)) if pos not in slots and r not in per]
    return Poly.product(ranks)


def footprint_value(cascade: Cascade, sizes: Mapping[str, Any], rank: str | None = None) -> Any:
    """Evaluate the footprint on concrete sizes (partitions derived).

    Examples
    --------
    >>> from einsum import load
    >>> float(footprint_value(load("attention-3pass"), {"M": 4096, "E": 128, "F": 128}))
    4225.0
    """
    return live_footprint(cascade, rank).evaluate(resolve_sizes(cascade, sizes))


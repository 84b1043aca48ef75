"""Pass analysis: how many times a cascade must traverse a rank's fibers.

Implements the algorithm of reference/fusemax.md §3.5, itself a mechanisation of the
FuseMax paper's definition (§III-A): a *complete* dependency — the producer reduced the
pass rank R away entirely — into an Einsum that traverses R again, and re-reads a fiber
derived from one already read, forces a new pass. Levels are assigned in topological
order; the number of passes is the largest level of an R-traversing Einsum. Because the
analysis sees only the cascade, it is a lower bound for every mapping and binding.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import networkx as nx

from einsum.errors import EinsumError
from einsum.graph import cascade_graph, forward_order, reads_of
from einsum.model import Cascade
from einsum.roles import rank_roles

__all__ = ["Barrier", "PassReport", "pass_analysis"]


class Barrier(NamedTuple):
    """A complete-reduction edge that forces a new pass: ``source`` → ``target`` via ``tensor``."""

    source: str
    target: str
    tensor: str

    def as_dict(self) -> dict[str, str]:
        """The JSON form ``{from, to, tensor}``."""
        return {"from": self.source, "to": self.target, "tensor": self.tensor}


@dataclass(frozen=True)
class PassReport:
    """The result of :func:`pass_analysis`.

    Attributes
    ----------
    cascade : str
        The cascade's name.
    rank : str
        The pass rank (upper case, e.g. ``M``).
    passes : int
        Lower bound on the passes over the rank's fibers (0 if no Einsum traverses it).
    groups : tuple of tuple of str
        Einsum labels per level, in order; Einsums of one group can be fused.
    barriers : tuple of Barrier
        The complete edges that start each extra pass.
    levels : tuple of (str, int)
        Level of every Einsum.
    traversing : tuple of str
        Labels of the Einsums whose iteration space contains the rank.
    """

    cascade: str
    rank: str
    passes: int
    groups: tuple[tuple[str, ...], ...]
    barriers: tuple[Barrier, ...]
    levels: tuple[tuple[str, int], ...]
    traversing: tuple[str, ...]

    def level(self, label: str) -> int:
        """The level (pass number) of one Einsum."""
        return dict(self.levels)[label]

    def __str__(self) -> str:
        lines = [f"{self.cascade}: {self.passes} pass(es) over {self.rank}"]
        for number, group in enumerate(self.groups, start=1):
            lines.append(f"  pass {number}: {', '.join(group)}")
        for barrier in self.barriers:
            lines.append(f"  barrier: {barrier.source} -> {barrier.target} via {barrier.tensor} "
                         f"(complete reduction over {self.rank})")
        return "\n".join(lines)


@lru_cache(maxsize=512)
def pass_analysis(cascade: Cascade, rank: str | None = None) -> PassReport:
    """Count the passes a cascade makes over ``rank`` and find its fusible groups.

    Parameters
    ----------
    cascade : Cascade
    rank : str, optional
        The pass rank, any case; default the cascade's ``# rank:`` header, else the key
        rank inferred from the cascade's structure (:func:`einsum.roles.rank_roles`).

    Returns
    -------
    PassReport

    Examples
    --------
    >>> from einsum import load
    >>> [pass_analysis(load(n)).passes for n in ("attention-3pass", "attention-1pass")]
    [3, 1]
    >>> [b.tensor for b in pass_analysis(load("attention-3pass")).barriers]
    ['GM', 'SD']
    """
    rank = (rank or rank_roles(cascade).key or "").upper()
    _check_rank(cascade, rank)
    graph = cascade_graph(cascade, rank)
    roots = _tensor_roots(cascade, graph, rank)
    levels: dict[str, int] = {}
    barriers: list[Barrier] = []
    for label in forward_order(graph):
        level, binding = _level(graph, label, levels, roots)
        levels[label] = level
        barriers += [Barrier(u, label, t) for u, t, lvl in binding if lvl == level]
    traversing = tuple(n for n in graph.nodes if graph.nodes[n]["traverses"])
    passes = max((levels[n] for n in traversing), default=0)
    return PassReport(cascade.name, rank, passes, _groups(graph, levels), tuple(barriers),
                      tuple(levels.items()), traversing)


def _check_rank(cascade: Cascade, rank: str) -> None:
    """A pass rank the cascade lacks would report 0 passes over it: refuse it instead."""
    known = {r for _, ranks in cascade.tensor_ranks for r in ranks} | {r for _, r in cascade.var_ranks}
    known.discard("?")
    if rank and rank not in known:
        raise EinsumError(f"{cascade.source}: rank {rank!r} is not a rank of cascade "
                          f"{cascade.name!r}; expected one of {', '.join(sorted(known))}")


def _level(graph: nx.DiGraph, label: str, levels: dict[str, int],
           roots: dict[str, frozenset[str]]) -> tuple[int, list[tuple[str, str, int]]]:
    """Level of one Einsum and the complete edges that raised it."""
    traversing = graph.nodes[label]["traverses"]
    level, raised = 1, []
    fresh = _fresh_roots(graph, label, roots)
    for producer, _, data in graph.in_edges(label, data=True):
        if not data["forward"]:
            continue
        candidate = levels[producer]
        if data["kind"] == "complete" and traversing and fresh & _read_roots(graph, producer, roots):
            candidate += 1
            raised.append((producer, data["tensor"], candidate))
        level = max(level, candidate)
    return level, raised


def _fresh_roots(graph: nx.DiGraph, label: str, roots: dict[str, frozenset[str]]) -> frozenset[str]:
    """Roots of what an Einsum reads other than through complete edges."""
    complete = {d["tensor"] for _, _, d in graph.in_edges(label, data=True)
                if d["kind"] == "complete"}
    einsum = graph.nodes[label]["einsum"]
    out: frozenset[str] = frozenset()
    for ref in reads_of(einsum):
        if ref.name not in complete:
            out |= roots.get(ref.name, frozenset())
    return out


def _read_roots(graph: nx.DiGraph, label: str, roots: dict[str, frozenset[str]]) -> frozenset[str]:
    """Roots read by the traversing Einsums up to and including ``label``."""
    out: frozenset[str] = frozenset()
    for node in nx.ancestors(graph, label) | {label}:
        if graph.nodes[node]["traverses"]:
            out |= frozenset().union(*(roots.get(r.name, frozenset())
                                       for r in reads_of(graph.nodes[node]["einsum"])))
    return out


def _tensor_roots(cascade: Cascade, graph: nx.DiGraph, rank: str) -> dict[str, frozenset[str]]:
    """For each tensor, the raw inputs carrying the pass rank that it derives from."""
    roots: dict[str, frozenset[str]] = {}
    family = cascade.family(rank)
    for name in cascade.inputs:
        has_rank = any(r in family for r in cascade.ranks_of(name))
        roots[name] = frozenset((name,)) if has_rank else frozenset()
    for label in forward_order(graph):
        einsum = graph.nodes[label]["einsum"]
        derived = frozenset().union(*(roots.get(r.name, frozenset()) for r in reads_of(einsum)))
        roots[einsum.name] = roots.get(einsum.name, frozenset()) | derived
    return roots


def _groups(graph: nx.DiGraph, levels: dict[str, int]) -> tuple[tuple[str, ...], ...]:
    order = forward_order(graph)
    top = max(levels.values(), default=1)
    return tuple(tuple(n for n in order if levels[n] == lvl) for lvl in range(1, top + 1))

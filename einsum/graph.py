"""The dependency graph of a cascade, as a :class:`networkx.DiGraph`.

One node per Einsum (keyed by its label; the :class:`~einsum.model.Einsum` is the
``einsum`` node attribute) and one edge per producer → consumer pair, with attributes

``tensor``
    the tensor that flows;
``kind``
    how the consumer sees the pass rank R (default ``M``): ``pointwise`` (same
    coordinate), ``prefix`` (other coordinates at or before, e.g. a filter or an offset),
    ``iterative`` (an iterative rank's previous or initial value) or ``complete`` (the
    producer reduced R away entirely, so every coordinate of R must be seen first);
``forward``
    the consumer reads a value produced earlier in the same iteration or before it;
``loop_carried``
    the consumer reads the previous iteration's value (``RM[m1]`` of ``RM[m1+1] = …``).

Loop-carried edges close cycles through iterative ranks; they are excluded from
topological ordering and from the acyclicity check.
"""

from __future__ import annotations

from functools import lru_cache

import networkx as nx

from einsum.errors import ParseError
from einsum.model import (
    Cascade,
    Einsum,
    IntConst,
    TensorRef,
    einsum_reads,
    int_vars,
)
from einsum.semantics import classify_index

__all__ = ["cascade_graph", "check_acyclic", "forward_order", "rank_family", "traverses",
           "reads_of"]


def rank_family(cascade: Cascade, rank: str) -> frozenset[str]:
    """Return the rank variables that range over ``rank`` or one of its partitions.

    The partitions come from index arithmetic (``K[e, m1*M0+m0]``), not from names.

    Examples
    --------
    >>> from einsum import load
    >>> sorted(rank_family(load("attention-1pass"), "m"))
    ['m0', 'm1']
    """
    family = cascade.family(rank.upper())
    variables = {v for e in cascade.einsums for v in e.iteration_vars}
    return frozenset(v for v in variables if cascade.rank_of(v) in family)


def traverses(einsum: Einsum, family: frozenset[str]) -> bool:
    """True if the Einsum's iteration space contains a variable of the rank family."""
    return any(v in family for v in einsum.iteration_vars)


def reads_of(einsum: Einsum) -> tuple[TensorRef, ...]:
    """Every tensor reference an Einsum reads (operands, index tensors and filter tensors)."""
    return einsum_reads(einsum)


def _iter_position(cascade: Cascade, producer: Einsum) -> tuple[int, str, int] | None:
    """Position, variable and offset of the iterative index of a producer's output."""
    iterative = frozenset(cascade.iterative_vars)
    found = []
    for pos, index in enumerate(producer.output.indices):
        info = classify_index(index, iterative)
        if info.kind == "iter":
            found.append((pos, info.var or "", info.offset))
    # the recurrence's own slot (T[i, j+1]) is the one written ahead, not an enclosing i
    ahead = [f for f in found if f[2] != 0]
    return (ahead or found or [None])[0]


def _iterative_slot(cascade: Cascade, tensor: str) -> int | None:
    """The position of a tensor that an iterative rank indexes, if any."""
    return _iterative_slots(cascade).get(tensor)


@lru_cache(maxsize=256)
def _iterative_slots(cascade: Cascade) -> dict[str, int]:
    slots: dict[str, int] = {}
    for einsum in cascade.einsums:
        found = _iter_position(cascade, einsum)
        if found and found[2] != 0:
            slots.setdefault(einsum.name, found[0])
    return slots


def _read_flags(cascade: Cascade, producer: Einsum, ref: TensorRef) -> tuple[bool, bool, str]:
    """(forward, loop_carried, iterative-read kind) of one reference to a producer's output."""
    slot = _iterative_slot(cascade, producer.name)
    if slot is None:
        return True, False, ""
    iterative = frozenset(cascade.iterative_vars)
    read = classify_index(ref.indices[slot], iterative)
    written = classify_index(producer.output.indices[slot], iterative)
    if written.kind != "iter":  # an initialisation feeds the first iteration
        return True, False, "iterative"
    if read.kind == "const":
        return True, False, "final"
    if read.kind == "iter" and read.offset < written.offset:
        return False, True, "iterative"
    return True, False, "iterative"


def _can_feed(cascade: Cascade, producer: Einsum, ref: TensorRef) -> bool:
    """False when an initialisation writes a coordinate the reference never reads.

    ``RM[0,p] = -inf`` feeds ``RM[m1,p]`` (at m1 = 0) but never ``RM[m1+1,p]``.
    """
    slot = _iterative_slot(cascade, producer.name)
    if slot is None:
        return True
    iterative = frozenset(cascade.iterative_vars)
    written = producer.output.indices[slot]
    read = classify_index(ref.indices[slot], iterative)
    if classify_index(written, iterative).kind != "const" or read.kind != "iter":
        return True
    if not isinstance(written, IntConst):
        return True
    return written.value - read.offset >= 0


@lru_cache(maxsize=256)
def _raw_edges(cascade: Cascade) -> list[tuple[str, str, dict]]:
    producers: dict[str, list[Einsum]] = {}
    for einsum in cascade.einsums:
        producers.setdefault(einsum.name, []).append(einsum)
    edges: dict[tuple[str, str], dict] = {}
    for consumer in cascade.einsums:
        for ref in reads_of(consumer):
            for producer in producers.get(ref.name, ()):
                if not _can_feed(cascade, producer, ref):
                    continue
                forward, carried, how = _read_flags(cascade, producer, ref)
                data = edges.setdefault((producer.label, consumer.label), {
                    "tensor": ref.name, "forward": False, "loop_carried": False, "reads": []})
                data["forward"] |= forward
                data["loop_carried"] |= carried
                data["reads"].append((ref, how))
    return [(u, v, d) for (u, v), d in edges.items()]


def check_acyclic(cascade: Cascade) -> None:
    r"""Raise :class:`ParseError` if the forward dependencies contain a cycle.

    Examples
    --------
    >>> from einsum import parse
    >>> parse("A[m] = B[m] * C[m]\nB[m] = A[m]")
    Traceback (most recent call last):
    ...
    einsum.errors.ParseError: <string>:1:1: dependency cycle A (line 1) -> B (line 2) -> A; ...
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(e.label for e in cascade.einsums)
    graph.add_edges_from((u, v) for u, v, d in _raw_edges(cascade) if d["forward"])
    if nx.is_directed_acyclic_graph(graph):
        return
    cycle = nx.find_cycle(graph)
    lines = {e.label: e.line for e in cascade.einsums}
    path = " -> ".join(f"{u} (line {lines[u]})" for u, _ in cycle) + f" -> {cycle[0][0]}"
    raise ParseError(f"dependency cycle {path}; expected a DAG (recursion needs an iterative rank "
                     f"such as X[m1+1] = f(X[m1]))", cascade.source, lines[cycle[0][0]], 1)


def cascade_graph(cascade: Cascade, rank: str | None = None) -> nx.DiGraph:
    """Build the dependency graph of a cascade, edges classified for the pass rank.

    Parameters
    ----------
    cascade : Cascade
    rank : str, optional
        The rank passes are counted over, any case (default: the key rank that
        :func:`einsum.roles.rank_roles` infers, ``M`` in the FuseMax convention).

    Returns
    -------
    networkx.DiGraph
        Treat it as read-only: it is cached per ``(cascade, rank)``.

    Examples
    --------
    >>> from einsum import load
    >>> g = cascade_graph(load("attention-3pass"))
    >>> g.edges["GM", "SN"]["kind"], g.edges["QK", "SN"]["kind"]
    ('complete', 'pointwise')
    """
    if rank is None:
        from einsum.roles import rank_roles

        rank = rank_roles(cascade).key or ""
    return _cascade_graph(cascade, rank.upper())


@lru_cache(maxsize=256)
def _cascade_graph(cascade: Cascade, rank: str) -> nx.DiGraph:
    family = rank_family(cascade, rank)
    graph = nx.DiGraph(rank=rank)
    for einsum in cascade.einsums:
        graph.add_node(einsum.label, einsum=einsum, line=einsum.line,
                       traverses=traverses(einsum, family))
    for u, v, data in _raw_edges(cascade):
        graph.add_edge(u, v, tensor=data["tensor"], forward=data["forward"],
                       loop_carried=data["loop_carried"], kind="", reads=tuple(data["reads"]))
    graph.graph["order"] = _topological(graph)
    for label in forward_order(graph):
        for u, _, data in graph.in_edges(label, data=True):
            data["kind"] = _edge_kind(graph, u, label, data, family, cascade)
    return graph


def forward_order(graph: nx.DiGraph) -> list[str]:
    """Topological order of the Einsums, ignoring loop-carried-only edges."""
    return list(graph.graph.get("order") or _topological(graph))


def _topological(graph: nx.DiGraph) -> list[str]:
    forward = nx.DiGraph()
    forward.add_nodes_from(graph.nodes)
    forward.add_edges_from((u, v) for u, v, d in graph.edges(data=True) if d["forward"])
    order = {label: pos for pos, label in enumerate(graph.nodes)}
    return list(nx.lexicographical_topological_sort(forward, key=order.__getitem__))


def _edge_kind(graph: nx.DiGraph, producer: str, consumer: str, data: dict,
               family: frozenset[str], cascade: Cascade) -> str:
    hows = {how for _, how in data["reads"]}
    if "final" in hows:
        slot = _iterative_slot(cascade, data["tensor"])
        var = _iter_position(cascade, graph.nodes[producer]["einsum"])
        in_family = var is not None and var[1] in family
        return "complete" if in_family and slot is not None else "pointwise"
    if "iterative" in hows:
        return "iterative"
    return _standard_kind(graph, producer, data, family)


def _standard_kind(graph: nx.DiGraph, producer: str, data: dict, family: frozenset[str]) -> str:
    einsum: Einsum = graph.nodes[producer]["einsum"]
    out_vars = {v for i in einsum.output.indices for v in int_vars(i)}
    if not out_vars & family:
        if graph.nodes[producer]["traverses"]:
            return "complete"
        incoming = graph.in_edges(producer, data=True)
        if any(d["kind"] == "complete" and d["forward"] for _, _, d in incoming):
            return "complete"
        return "pointwise"
    same = all(ref.indices == einsum.output.indices for ref, _ in data["reads"])
    return "pointwise" if same else "prefix"

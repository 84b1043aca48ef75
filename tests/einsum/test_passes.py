"""Pass analysis details: barriers, fusible groups, edge kinds, rank choice."""

import networkx as nx
import pytest

import einsum
from einsum.graph import cascade_graph, forward_order

# (cascade, barriers as (from, to, tensor), groups) — worked by hand from fusemax.md §3.5.
BARRIER_TABLE = [
    ("attention-3pass", [("GM", "SN", "GM"), ("SD", "A", "SD")],
     [["QK", "GM"], ["SN", "SD"], ["A", "AV"]]),
    ("attention-2pass-deferred", [("GM", "SN", "GM")],
     [["QK", "GM"], ["SN", "SD", "SNV", "AV"]]),
    ("attention-2pass-partitioned", [("GM", "PRM", "GM")],
     [["BK", "BV", "BQK", "LM", "SLN", "SLD", "GM"], ["PRM", "SD", "SN", "SNV", "AV"]]),
    ("cascade1", [("Y", "Z", "Y")], [["Y"], ["Z"]]),
    ("decode-splitk", [("GM", "W", "GM")], None),
]


@pytest.mark.parametrize("name, barriers, groups", BARRIER_TABLE)
def test_barriers_and_groups(name, barriers, groups):
    report = einsum.pass_analysis(einsum.load(name))
    assert [tuple(b) for b in report.barriers] == barriers
    if groups is not None:
        assert [list(g) for g in report.groups] == groups
    assert report.passes == len(report.groups)


def test_one_pass_cascade5_edges():
    graph = cascade_graph(einsum.load("attention-1pass"))
    kinds = {(u, v): d["kind"] for u, v, d in graph.edges(data=True)}
    assert kinds[("BQK", "LM")] == "pointwise"
    assert kinds[("RM", "SLN")] == "iterative"         # reads RM[m1+1]: same iteration
    assert graph.edges["RM", "PRM"]["loop_carried"]     # reads RM[m1]: previous iteration
    assert kinds[("RNV", "AV")] == "complete"          # the final value RNV[M1]
    assert not graph.nodes["AV"]["traverses"]           # so no extra pass
    assert nx.is_directed_acyclic_graph(
        nx.DiGraph([(u, v) for u, v, d in graph.edges(data=True) if d["forward"]]))


def test_local_reduction_is_not_complete():
    """LM reduces M0 only (fusemax.md §3.5 step 2)."""
    graph = cascade_graph(einsum.load("attention-2pass-partitioned"))
    assert graph.edges["LM", "SLN"]["kind"] == "pointwise"
    assert graph.edges["GM", "PRM"]["kind"] == "complete"


def test_passes_over_another_rank():
    cascade = einsum.load("attention-3pass")
    over_e = einsum.pass_analysis(cascade, "e")
    assert over_e.rank == "E" and over_e.passes == 1
    with pytest.raises(einsum.EinsumError, match="rank 'K' is not a rank of cascade"):
        einsum.pass_analysis(cascade, "k")   # the cascade has no rank K: an error, not 0 passes


def test_complete_edge_without_reread_is_not_a_pass():
    """Z traverses k again but reads only a fresh tensor: no fiber is revisited."""
    fresh = einsum.parse("Y = A[k] * B[k]\nZ[k] = Y * C[k]")
    assert einsum.pass_analysis(fresh, "k").passes == 1
    reread = einsum.parse("Y = A[k] * B[k]\nZ[k] = Y * A[k]")
    assert einsum.pass_analysis(reread, "k").passes == 2


def test_forward_order_is_topological():
    cascade = einsum.load("attention-1pass")
    graph = cascade_graph(cascade)
    order = forward_order(graph)
    position = {label: i for i, label in enumerate(order)}
    for u, v, d in graph.edges(data=True):
        if d["forward"]:
            assert position[u] < position[v]


def test_report_prints():
    text = str(einsum.pass_analysis(einsum.load("attention-3pass")))
    assert "3 pass(es) over M" in text and "barrier: GM -> SN" in text

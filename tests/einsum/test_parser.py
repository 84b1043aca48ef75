"""Parsing: the DESIGN.md cascade verbatim, paper notation, and every error class."""

import pytest

import einsum
from einsum import ParseError
from einsum.model import (
    BoolOp,
    Compare,
    Comparison,
    IndexValue,
    IntTensor,
    Logic,
    MaskRef,
    Num,
    Where,
    int_tensors,
)

DESIGN_3PASS = """
QK[m,p]  = Q[e,p] * K[e,m]
GM[p]    = QK[m,p] :: max(m)          # non-default reduction over m
SN[m,p]  = exp(QK[m,p] - GM[p])
SD[p]    = SN[m,p]                    # ranks missing on the left are summed
A[m,p]   = SN[m,p] / SD[p]
AV[f,p]  = A[m,p] * V[f,m]
"""


def test_design_cascade_parses_exactly_as_written():
    cascade = einsum.parse(DESIGN_3PASS)
    assert [e.label for e in cascade.einsums] == ["QK", "GM", "SN", "SD", "A", "AV"]
    gm = cascade.einsum("GM")
    assert gm.reduce_op == "max" and gm.reduced_vars == ("m",)
    assert cascade.einsum("SD").reduce_op == "+" and cascade.einsum("SD").reduced_vars == ("m",)
    assert cascade.einsum("SN").expr.is_sub_exp
    assert cascade.inputs == ("Q", "K", "V") and cascade.outputs == ("AV",)
    assert cascade.ranks_of("K") == ("E", "M")
    assert einsum.pass_analysis(cascade).passes == 3


def test_paper_unicode_notation():
    text = "QK[m,p] = Q[e,p] × K[e,m]\nGM[p] = QK[m,p] :: ∨m max(∪)\nSN[m,p] = e^(QK[m,p] − GM[p])"
    cascade = einsum.parse(text)
    assert cascade.einsum("GM").reduce_op == "max"
    assert cascade.einsum("SN").expr.is_sub_exp


def test_partition_iteration_and_stop():
    cascade = einsum.load("attention-1pass")
    assert cascade.iterative_vars == ("m1",)
    assert cascade.ranks_of("K") == ("E", "M") and cascade.ranks_of("BK") == ("E", "M1", "M0")
    assert [e.label for e in cascade.einsums if e.label.endswith("@init")] == [
        "RM@init", "RD@init", "RNV@init"]
    assert str(cascade.stops[0]) == "⋄ : m1 >= M1"


def test_stop_binds_variable_to_rank():
    cascade = einsum.load("cascade3")
    assert cascade.rank_of("i") == "K" and cascade.ranks_of("A") == ("K",)


def test_filters_trailing_and_in_brackets():
    causal = einsum.parse("S[m,p] = Q[e,p] * K[e,m] : m <= p")
    assert isinstance(causal.einsums[0].filters[0], Compare)
    prefix = einsum.parse("S[i] = A[k : k <= i] * B[i]")
    assert str(prefix.einsums[0].filters[0]) == "k <= i"
    window = einsum.parse("S[m,p] = Q[e,p]*K[e,m] : p - W < m <= p and not (m == 3)")
    assert isinstance(window.einsums[0].filters[0], BoolOp)
    block = einsum.load("attention-1pass-block")
    assert isinstance(block.einsum("BQK").filters[0], MaskRef)


def test_scalar_constants_and_unary_functions():
    cascade = einsum.parse("S[m,p] = (1/sqrt(E)) * Q[e,p] * K[e,m]\nG[m,p] = sigmoid(S[m,p])")
    assert str(cascade.einsum("S").expr).startswith("1 / sqrt(E)")
    assert cascade.einsum("G").expr.func == "sigmoid"


def test_declared_sizes_and_metadata():
    cascade = einsum.parse("# title: demo\n# passes: 1\nranks: M=8, E=2\nY[m] = A[e,m]")
    assert dict(cascade.declared_sizes) == {"M": 8, "E": 2}
    assert cascade.meta("title") == "demo" and cascade.meta("passes") == "1"


# Each bad input -> ParseError at the right line and column, with what was expected.
BAD_INPUTS = [
    ("QK[m,p] = Q[e,p] * K[e,m]\nGM[p] = QK[m,p :: max(m)", 2, 16, "expected ']'"),
    ("QK[m,p] = Q[e,p] $ K[e,m]", 1, 18, "unexpected character"),
    ("QK[m,p] = Q[e,p] * K[e,m] extra", 1, 27, "expected end of statement"),
    ("Y[m] = foo(A[m])", 1, 8, "unknown function 'foo'"),
    ("inputs: A[m]\nY[m] = A[m] * B[m]", 2, 15, "unknown tensor 'B'"),
    ("Y[m] = A[m] * x", 1, 15, "unknown name 'x'"),
    ("Y[m] = A[e,m]\nZ[m] = A[m]", 2, 8, "has 1 indices here but 2"),
    ("Y[m] = A[e,m]\nZ[m] = A[f,m]", 2, 8, "indexed by rank F here but by rank E"),
    ("ranks: M=8\nranks: M=16\nY = A[m]", 2, 1, "inconsistent sizes"),
    ("ranks: M=64 M0=16 M1=8\nB[m1,m0] = A[m1*M0+m0]", 1, 1, "inconsistent with M=64"),
    ("A[m] = B[m] * C[m]\nB[m] = A[m]", 1, 1, "dependency cycle"),
    ("R[0] = 0\nR[i+1] = R[i] + A[i]", 2, 1, "has no stopping condition"),
    ("Y[p] = A[m,p] :: max(k)", 1, 1, "reduction names k"),
    ("Y[m] = A[m] :: max(m)", 1, 1, "ranks reduced (on the right, missing on the left) are none"),
    ("Y[m] = A[m] :: max", 1, 1, "no rank is reduced"),
    ("Y[m] = A[m] : k < 3", 1, 1, "not a rank of this Einsum"),
    ("Y[m] = A[m]\nY[m] = B[m]", 2, 1, "defined twice"),
    ("Y[m] = A[m] : m // 2 < 1 / 2", 1, 26, "use '//'"),
    ("⋄ : k >= K\nY = A[k]", 1, 1, "which no left-hand side iterates"),
    ("# only comments", 1, 1, "no Einsum found"),
]


@pytest.mark.parametrize("text, line, column, fragment", BAD_INPUTS)
def test_bad_input_is_located(text, line, column, fragment):
    with pytest.raises(ParseError) as info:
        einsum.parse(text, source="bad.cas")
    err = info.value
    assert (err.line, err.column) == (line, column), str(err)
    assert fragment in str(err) and str(err).startswith(f"bad.cas:{line}:{column}:")
    assert "\n" not in str(err)


def test_unknown_builtin_lists_the_known_ones():
    with pytest.raises(einsum.EinsumError, match="attention-1pass"):
        einsum.load("no-such-cascade")


# ----------------------------------------------------------------------------- newer syntax
def test_rank_variables_as_values_fold_into_one_index_value():
    cascade = einsum.parse("inputs: QK[m,p], SLOPE[h]\n"
                           "S[h,m,p] = QK[m,p] - SLOPE[h] * (p + M - P - m)")
    bias = cascade.einsum("S").expr.right
    assert isinstance(bias.right, IndexValue)
    assert str(bias.right.expr) == "p + M - P - m"


def test_where_comparisons_logic_pow_and_softplus():
    cascade = einsum.parse("inputs: A[m,p], L\n"
                           "Y[m,p] = where(A[m,p] > 0, pow(L, m - p), A[m,p] ^ 2)\n"
                           "Z[m,p] = (m >= p and not (A[m,p] < 1)) * softplus(A[m,p])")
    where = cascade.einsum("Y").expr
    assert isinstance(where, Where) and isinstance(where.cond, Comparison)
    assert where.then.op == "pow" and isinstance(where.then.right, IndexValue)
    assert where.other.op == "pow" and where.other.right == Num(2.0)
    logic, soft = cascade.einsum("Z").expr.left, cascade.einsum("Z").expr.right
    assert isinstance(logic, Logic) and logic.op == "and" and soft.func == "softplus"


def test_tensors_inside_filters_and_indices():
    cascade = einsum.parse("inputs: QK[m,p], W[h], K[e,m], IDX[p]\n"
                           "S[h,m,p] = QK[m,p] : p + M - P - W[h] < m <= p + M - P\n"
                           "G[e,p] = K[e, IDX[p]]")
    window = cascade.einsum("S").filters[0]
    assert isinstance(window, Compare) and window.ops == ("<", "<=")
    assert [t.name for t in int_tensors(window.operands[0])] == ["W"]
    gather = cascade.einsum("G").expr
    assert isinstance(gather.indices[1], IntTensor) and gather.indices[1].ref.name == "IDX"
    assert set(cascade.inputs) == {"QK", "W", "K", "IDX"}


def test_size_expressions_resolve_through_resolve_sizes():
    cascade = einsum.parse("ranks: I=M0 J=I, N=2*M0\nBK[e,m1,m0] = K[e, m1*M0+m0]\n"
                           "X[i,j] = A[i] * B[j]\nY[n] = C[n]")
    sizes = einsum.resolve_sizes(cascade, {"M": 20, "M0": 8, "E": 1})
    assert (sizes["I"], sizes["J"], sizes["N"], sizes["M1"]) == (8, 8, 16, 3)


def test_partitions_from_index_arithmetic():
    cascade = einsum.parse("BK[e,s,m1,m0] = K[e, s*MS + m1*M0 + m0]")
    (partition,) = cascade.partitions
    assert partition.root == "M" and partition.parts == ("S", "M1", "M0")
    sizes = einsum.resolve_sizes(cascade, {"M": 50, "S": 4, "M0": 8, "E": 1})
    assert (sizes["M1"], sizes["MS"]) == (2, 16)  # ceil(50 / (4*8)), then M1*M0

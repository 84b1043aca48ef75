"""The executor against direct numpy: iterative ranks, reductions over a whole iterative
rank, several iterative ranks, and the value constructs (index values, where, comparisons,
pow, softplus, tensors in filters and indices).

Each case is a wrong answer that nothing else reports: the library checks compare whole
attention outputs, where a reduction that saw only the last iteration can hide.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import einsum

# ----------------------------------------------------------------------------- reductions
ITERATED_REDUCTIONS = """
inputs: B[k,p], C[p]
X[0,p]   = C[p]
A[k,p]   = X[k,p] + B[k,p]
X[k+1,p] = A[k,p] * 0.5
G[p]     = A[k,p] :: max(k)      # over every iteration, after the loop
S[p]     = A[k,p]                # summed over every iteration
⋄ : k >= K
"""


def _iterated(b, c):
    """A[k] = X[k] + B[k], X[k+1] = A[k] / 2, by hand."""
    x, rows = c.copy(), []
    for k in range(b.shape[0]):
        rows.append(x + b[k])
        x = rows[-1] * 0.5
    return np.array(rows), x


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 12), p=st.integers(1, 5), seed=st.integers(0, 99))
def test_reduction_over_an_iterative_rank_sees_every_iteration(k, p, seed):
    rng = np.random.default_rng(seed)
    b, c = rng.standard_normal((k, p)), rng.standard_normal(p)
    out = einsum.evaluate(einsum.parse(ITERATED_REDUCTIONS), {"B": b, "C": c})
    a, last = _iterated(b, c)
    np.testing.assert_allclose(out["A"], a, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["X"][k], last, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["G"], a.max(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["S"], a.sum(axis=0), rtol=0, atol=1e-12)


# The 1-pass cascade plus a MoBA-style gate: every key block is scored by the query and
# its mean-pooled keys inside the online-softmax loop over m1; GT takes the best block.
_GATE = """
KM[e,m1]      = (1/M0) * BK[e,m1,m0]             # mean-pooled block keys
G[m1,p]       = Q[e,p] * KM[e,m1]                # block gate scores, inside the m1 loop
GT[p]         = G[m1,p] :: max(m1)               # best gate over every block
OUT[f,p]      = AV[f,p] * GT[p]
"""


def _numpy_attention(q, k, v, keep=None):
    scores = q.T @ k
    if keep is not None:
        scores = np.where(keep, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (weights / weights.sum(axis=1, keepdims=True)) @ v.T  # [p, f]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gated_block_selection_inside_the_online_softmax(seed):
    cascade = einsum.parse(einsum.library.library_path("attention-1pass").read_text() + _GATE)
    rng = np.random.default_rng(seed)
    e, f, blocks, chunk, p = 4, 3, 6, 8, 5
    q = rng.standard_normal((e, p)) * 3
    k, v = rng.standard_normal((e, blocks * chunk)), rng.standard_normal((f, blocks * chunk))
    out = einsum.evaluate(cascade, {"Q": q, "K": k, "V": v}, {"M0": chunk})
    gates = q.T @ k.reshape(e, blocks, chunk).mean(axis=2)  # [p, m1]
    np.testing.assert_allclose(out["G"], gates.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["GT"], gates.max(axis=1), rtol=0, atol=1e-12)
    expected = _numpy_attention(q, k, v) * gates.max(axis=1)[:, None]
    np.testing.assert_allclose(out["OUT"], expected.T, rtol=0, atol=1e-12)


SELECTED_BLOCK = """
inputs: Q[e,p], K[e,m], V[f,m]
BK[e,m1,m0]   = K[e, m1*M0+m0]
BV[f,m1,m0]   = V[f, m1*M0+m0]
KM[e,m1]      = (1/M0) * BK[e,m1,m0]
G[m1,p]       = Q[e,p] * KM[e,m1]
GT[p]         = G[m1,p] :: max(m1)
SEL[m1,p]     = G[m1,p] >= GT[p]                 # top-1 block per query (1 or 0)
BQK[m1,m0,p]  = Q[e,p] * BK[e,m1,m0]  : SEL[m1,p]
MX[p]         = BQK[m1,m0,p] :: max(m1, m0)
SN[m1,m0,p]   = exp(BQK[m1,m0,p] - MX[p])
SD[p]         = SN[m1,m0,p]
SNV[f,p]      = SN[m1,m0,p] * BV[f,m1,m0]
AV[f,p]       = SNV[f,p] / SD[p]
"""


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gated_block_selection_as_a_mask(seed):
    """The gate picks one block per query; attention runs over that block only."""
    rng = np.random.default_rng(seed)
    e, f, blocks, chunk, p = 4, 3, 5, 4, 6
    q = rng.standard_normal((e, p))
    k, v = rng.standard_normal((e, blocks * chunk)), rng.standard_normal((f, blocks * chunk))
    out = einsum.evaluate(einsum.parse(SELECTED_BLOCK), {"Q": q, "K": k, "V": v}, {"M0": chunk})
    best = (q.T @ k.reshape(e, blocks, chunk).mean(axis=2)).argmax(axis=1)  # [p]
    keep = (np.arange(blocks * chunk)[None, :] // chunk) == best[:, None]
    np.testing.assert_allclose(out["AV"], _numpy_attention(q, k, v, keep).T, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- two iterative ranks
SEQUENTIAL = """
inputs: A[p], B[i,p], C[p], D[j,p]
X[0,p]   = A[p]
X[i+1,p] = 0.5 * X[i,p] + B[i,p]
Y[0,p]   = C[p]
Y[j+1,p] = max(Y[j,p], D[j,p]) * 0.9
Z[p]     = X[I,p] * Y[J,p]
⋄ : i >= I
⋄ : j >= J
"""

# The inner recurrence's rank comes first in T's index list; see
# test_inner_recurrence_indexed_after_the_outer_one for the other order.
NESTED = """
inputs: A[p], B[i,j,p]
S[0,p]     = A[p]
T[0,i,p]   = S[i,p]                        # inner init from the outer state
T[j+1,i,p] = 0.5 * T[j,i,p] + B[i,j,p]
S[i+1,p]   = T[J,i,p] * T[J,i,p] - 1
⋄ : i >= I
⋄ : j >= J
"""


@pytest.mark.parametrize("sizes", [(1, 1), (3, 5), (6, 2)])
def test_sequential_recurrences(sizes):
    n_i, n_j = sizes
    rng = np.random.default_rng(n_i * 10 + n_j)
    a, b, c, d = (rng.standard_normal(s) for s in (3, (n_i, 3), 3, (n_j, 3)))
    out = einsum.evaluate(einsum.parse(SEQUENTIAL), {"A": a, "B": b, "C": c, "D": d})
    x, y = a.copy(), c.copy()
    for i in range(n_i):
        x = 0.5 * x + b[i]
    for j in range(n_j):
        y = np.maximum(y, d[j]) * 0.9
    np.testing.assert_allclose(out["Z"], x * y, rtol=0, atol=1e-12)


@pytest.mark.parametrize("sizes", [(1, 1), (3, 4), (2, 6)])
def test_nested_recurrences(sizes):
    n_i, n_j = sizes
    rng = np.random.default_rng(n_i * 10 + n_j)
    a, b = rng.standard_normal(2), rng.standard_normal((n_i, n_j, 2)) * 0.5
    out = einsum.evaluate(einsum.parse(NESTED), {"A": a, "B": b})
    s = a.copy()
    for i in range(n_i):
        t = s.copy()
        for j in range(n_j):
            t = 0.5 * t + b[i, j]
        s = t * t - 1
    np.testing.assert_allclose(out["S"][n_i], s, rtol=0, atol=1e-12)


@pytest.mark.parametrize("sizes", [(1, 1), (3, 4)])
def test_inner_recurrence_indexed_after_the_outer_one(sizes):
    """T[i, j+1] = f(T[i, j]): the recurrence slot is the one written ahead (j+1), not i."""
    text = (NESTED.replace("T[0,i,p]", "T[i,0,p]").replace("T[j+1,i,p]", "T[i,j+1,p]")
            .replace("T[j,i,p]", "T[i,j,p]").replace("T[J,i,p]", "T[i,J,p]"))
    n_i, n_j = sizes
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal(2), rng.standard_normal((n_i, n_j, 2)) * 0.5
    out = einsum.evaluate(einsum.parse(text), {"A": a, "B": b})
    reference = einsum.evaluate(einsum.parse(NESTED), {"A": a, "B": b})
    np.testing.assert_allclose(out["S"], reference["S"], rtol=0, atol=1e-12)


def test_reduction_that_an_iteration_reads_is_an_error():
    cascade = einsum.parse("""
inputs: B[k,p], C[p]
A[k,p]   = B[k,p] * 2
G[p]     = A[k,p] :: max(k)
X[0,p]   = C[p]
X[k+1,p] = X[k,p] + G[p] * A[k,p]
⋄ : k >= K
""")
    with pytest.raises(einsum.ShapeError) as info:
        einsum.evaluate(cascade, {"B": np.ones((3, 2)), "C": np.ones(2)})
    message = str(info.value)
    assert "\n" not in message
    assert "Einsum G (line 4)" in message and "'k'" in message


# ----------------------------------------------------------------------------- values
_P, _M, _H, _E = 5, 7, 3, 2


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {"A": rng.standard_normal((_M, _P)), "B": rng.standard_normal((_M, _P)),
            "LAMBDA": np.asarray(0.7), "W": rng.integers(1, 5, _H).astype(float),
            "K": rng.standard_normal((_E, _M)),
            "IDX": np.array([0, 6, 3, 3, 7], dtype=float)}  # 7 is past the end of M


_m = np.arange(_M)[:, None]
_p = np.arange(_P)[None, :]

# (Einsum, expected from the inputs); every input is declared so that unused ones are fine.
VALUE_CASES = [
    ("Y[m,p] = A[m,p] * (m - p)", lambda x: x["A"] * (_m - _p)),
    ("Y[m,p] = A[m,p] - 0.25 * (p + M - P - m)", lambda x: x["A"] - 0.25 * (_p + _M - _P - _m)),
    ("Y[m,p] = where(A[m,p] > B[m,p], A[m,p], B[m,p] * 2)",
     lambda x: np.where(x["A"] > x["B"], x["A"], 2 * x["B"])),
    ("Y[m,p] = (m >= p) * A[m,p] + (A[m,p] < 0)",
     lambda x: (_m >= _p) * x["A"] + (x["A"] < 0)),
    ("Y[m,p] = (A[m,p] > 0 and not (m == p)) or p < 1",
     lambda x: (((x["A"] > 0) & (_m != _p)) | (_p < 1)).astype(float)),
    ("Y[m,p] = pow(LAMBDA, m - p) + A[m,p] ^ 2",
     lambda x: 0.7 ** (_m - _p).astype(float) + x["A"] ** 2),
    ("Y[m,p] = softplus(3 * A[m,p])", lambda x: np.log1p(np.exp(3 * x["A"]))),
    ("Y[h,m,p] = A[m,p] : p - W[h] < m <= p",
     lambda x: np.where((_p - x["W"][:, None, None] < _m) & (_m <= _p), x["A"], 0.0)),
    ("Y[e,p] = K[e, IDX[p]]",
     lambda x: np.where(x["IDX"] < _M, x["K"][:, np.minimum(x["IDX"], _M - 1).astype(int)], 0.0)),
]


@pytest.mark.parametrize("line, expected", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_value_constructs_against_numpy(line, expected):
    cascade = einsum.parse("inputs: A[m,p], B[m,p], LAMBDA, W[h], K[e,m], IDX[p]\n" + line)
    inputs = _inputs()
    out = einsum.evaluate(cascade, inputs, {"M": _M, "P": _P})
    np.testing.assert_allclose(out["Y"], expected(inputs), rtol=1e-12, atol=1e-12)


def test_gather_past_the_end_is_empty():
    """``K[e, IDX[p]]`` with an index past M is an empty point, not a wrapped read."""
    cascade = einsum.parse("inputs: K[e,m], IDX[p]\nY[e,p] = K[e, IDX[p]]\nZ[p] = Y[e,p] :: max(e)"
                           "\nC[p] = (Z[p] == Z[p])")
    inputs = _inputs()
    out = einsum.evaluate(cascade, {"K": inputs["K"], "IDX": inputs["IDX"]})
    np.testing.assert_array_equal(out["C"], [1, 1, 1, 1, 0])  # the last query read nothing


def test_tensor_window_in_a_filter_matches_a_loop():
    """A per-head window read inside the filter, against explicit loops."""
    cascade = einsum.parse("inputs: A[m,p], W[h]\nY[h,p] = A[m,p] : p - W[h] < m <= p")
    inputs = _inputs(3)
    out = einsum.evaluate(cascade, {"A": inputs["A"], "W": inputs["W"]})
    expected = np.zeros((_H, _P))
    for h in range(_H):
        for p in range(_P):
            for m in range(_M):
                if p - inputs["W"][h] < m <= p:
                    expected[h, p] += inputs["A"][m, p]
    np.testing.assert_allclose(out["Y"], expected, rtol=0, atol=1e-12)

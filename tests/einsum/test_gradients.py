"""Backward-pass cascades: the executor's dQ, dK, dV against finite differences of a direct
numpy attention forward written here (independently of einsum.gradients), and the passes the
algorithms need over the keys and over the queries."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import einsum
from einsum.parallel import parallel_analysis

BACKWARD = ("attention-backward-fa2", "attention-backward-3pass", "attention-backward-unfused")

# Truth: FA2 backward (Dao 2023 Alg. 2) is one sweep over keys and queries; without the saved
# log-sum-exp the softmax's max and sum passes come back (FuseMax Cascade 4); PyTorch's
# softmax backward reduces rowsum(A * dP) over the keys before dS re-reads dP.
PASSES = {  # cascade: (passes over keys, passes over queries)
    "attention-backward-fa2": (1, 1),
    "attention-backward-3pass": (3, 1),
    "attention-backward-unfused": (2, 1),
}


def _forward(q, k, v):
    """O[f,p] = V softmax_m(K^T Q): the plain textbook definition, no shift tricks."""
    w = np.exp(k.T @ q)                   # [m, p]
    return v @ (w / w.sum(axis=0))        # [f, p]


def _finite_differences(q, k, v, d_out, step=1e-6):
    """Central differences of loss = sum(dO * O) with respect to Q, K and V."""
    grads = {}
    for name, x in (("Q", q), ("K", k), ("V", v)):
        grad = np.zeros_like(x)
        for index in np.ndindex(*x.shape):
            args = {"Q": q.copy(), "K": k.copy(), "V": v.copy()}
            args[name][index] += step
            up = np.sum(d_out * _forward(args["Q"], args["K"], args["V"]))
            args[name][index] -= 2 * step
            down = np.sum(d_out * _forward(args["Q"], args["K"], args["V"]))
            grad[index] = (up - down) / (2 * step)
        grads[f"D{name}"] = grad
    return grads


def _run(name, sizes, seed):
    cascade = einsum.load(name)
    resolved = einsum.resolve_sizes(cascade, sizes)
    inputs = einsum.random_inputs(cascade, resolved, seed)  # O, L, A derived from Q, K, V
    outputs = einsum.evaluate(cascade, inputs, resolved)
    expected = _finite_differences(inputs["Q"], inputs["K"], inputs["V"], inputs["DO"])
    return outputs, expected, inputs


@pytest.mark.parametrize("name", BACKWARD)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradients_equal_finite_differences(name, seed):
    outputs, expected, _ = _run(name, {"E": 3, "F": 2, "M": 6, "P": 5}, seed)
    for tensor in ("DQ", "DK", "DV"):
        assert np.abs(expected[tensor]).max() > 0.01  # not vacuous
        np.testing.assert_allclose(outputs[tensor], expected[tensor], rtol=1e-6, atol=1e-8)


@settings(max_examples=15, deadline=None)
@given(e=st.integers(1, 4), f=st.integers(1, 4), m=st.integers(1, 7), p=st.integers(1, 6),
       seed=st.integers(0, 99))
def test_fa2_backward_on_random_shapes(e, f, m, p, seed):
    outputs, expected, _ = _run("attention-backward-fa2", {"E": e, "F": f, "M": m, "P": p}, seed)
    for tensor in ("DQ", "DK", "DV"):
        np.testing.assert_allclose(outputs[tensor], expected[tensor], rtol=1e-6, atol=1e-8)


def test_saved_state_is_the_forward():
    """The derived O and L are the forward's output and log-sum-exp (not random tensors)."""
    _, _, inputs = _run("attention-backward-fa2", {"E": 3, "F": 2, "M": 6, "P": 5}, 0)
    q, k, v = inputs["Q"], inputs["K"], inputs["V"]
    np.testing.assert_allclose(inputs["O"], _forward(q, k, v), atol=1e-12)
    np.testing.assert_allclose(inputs["L"], np.log(np.exp(k.T @ q).sum(axis=0)), atol=1e-12)


def test_d_term_is_rowsum_of_a_times_dp():
    """FA's D = rowsum(dO * O) equals the unfused softmax backward's rowsum(A * dP)."""
    sizes = {"E": 3, "F": 2, "M": 6, "P": 5}
    fa2, _, inputs = _run("attention-backward-fa2", sizes, 3)
    w = np.exp(inputs["K"].T @ inputs["Q"])
    same = {**inputs, "A": w / w.sum(axis=0)}                  # A[m,p] of the same forward
    cascade = einsum.load("attention-backward-unfused")
    unfused = einsum.evaluate(cascade, {t: same[t] for t in cascade.inputs}, sizes)
    assert np.abs(fa2["D"]).max() > 0.01
    np.testing.assert_allclose(fa2["D"], unfused["D"], atol=1e-12)


@pytest.mark.parametrize("name", BACKWARD)
def test_passes_over_keys_and_queries(name):
    report = parallel_analysis(einsum.load(name))
    assert (report.split("m").passes.passes, report.split("p").passes.passes) == PASSES[name]
    assert int(einsum.load(name).meta("query-passes")) == PASSES[name][1]


@pytest.mark.parametrize("name", BACKWARD)
def test_key_split_accumulates_only_dq(name):
    """FA2 parallelises over key blocks: dK, dV stay in the CTA, dQ needs an atomic."""
    report = parallel_analysis(einsum.load(name))
    assert [t for t, _ in report.split("m").accumulated] == ["DQ"]
    assert set(report.split("m").local) == {"DK", "DV"}
    assert {t for t, _ in report.split("p").accumulated} == {"DK", "DV"}
    sizes = {"E": 128, "F": 128, "M": 4096, "P": 4096}
    assert report.split("m").accumulated_elements(sizes) < report.split("p").accumulated_elements(sizes)


def test_backward_macs_are_two_and_a_half_forwards():
    """The FA convention's backward = 2.5 x forward FLOPs is the cascades' own count (E = F)."""
    sizes = {"E": 64, "F": 64, "M": 512, "P": 512}
    forward = einsum.op_counts(einsum.load("attention-3pass")).evaluate(sizes)["mac"]
    backward = einsum.op_counts(einsum.load("attention-backward-fa2")).evaluate(sizes)["mac"]
    assert backward == pytest.approx(2.5 * forward, rel=1e-3)   # + F*P for D, 0.05%

"""Every built-in cascade: pass counts against the FuseMax classification, and the
executor against the direct definition of the variant."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import einsum
from einsum.check import check_cascade

# Truth: FuseMax Table I / §IV-E (3-pass: PyTorch, FLAT; 2-pass: TileFlow; 1-pass:
# FlashAttention(-2)) and §III (Cascades 1/2/3 -> 2/1/1).
PAPER_PASSES = {
    "cascade1": 2,
    "cascade2": 1,
    "cascade3": 1,
    "attention-3pass": 3,             # PyTorch, FLAT
    "attention-2pass-deferred": 2,    # §IV-D deferral merges passes 2 and 3
    "attention-2pass-partitioned": 2,  # TileFlow, Choi et al.
    "attention-1pass": 1,             # FlashAttention-2, FuseMax (Cascade 5)
    "attention-1pass-causal": 1,
    "attention-1pass-window": 1,
    "attention-1pass-gqa": 1,
    "attention-1pass-block": 1,
    "decode-splitk": 2,               # split summaries are re-read by the merge
    "linear-attention": 1,
}


def test_every_builtin_is_classified():
    assert set(einsum.library_names()) == set(PAPER_PASSES)


@pytest.mark.parametrize("name", sorted(PAPER_PASSES))
def test_pass_count_matches_paper(name):
    cascade = einsum.load(name)
    assert einsum.pass_analysis(cascade).passes == PAPER_PASSES[name]
    assert int(cascade.meta("passes")) == PAPER_PASSES[name]  # the header says the same


@pytest.mark.parametrize("name", sorted(PAPER_PASSES))
def test_header_names_source_and_reference(name):
    cascade = einsum.load(name)
    assert cascade.meta("source") and cascade.meta("title") and cascade.meta("reference")


@pytest.mark.parametrize("name", sorted(PAPER_PASSES))
@pytest.mark.parametrize("seed", [0, 1])
def test_executor_equals_direct_definition(name, seed):
    result = check_cascade(einsum.load(name), seed=seed)
    assert result.max_abs_value > 0.01  # the comparison is not vacuous
    assert result.max_abs_error < 1e-9


PARTITIONED = ["attention-1pass", "attention-2pass-partitioned", "attention-1pass-causal",
               "attention-1pass-window", "decode-splitk"]


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(PARTITIONED), m=st.integers(1, 40), chunk=st.integers(1, 17),
       p=st.integers(1, 9), e=st.integers(1, 5), f=st.integers(1, 5), seed=st.integers(0, 99))
def test_partitioned_cascades_on_ragged_shapes(name, m, chunk, p, e, f, seed):
    """Chunks that do not divide M leave padded points empty; results stay exact."""
    sizes = {"M": m, "M0": chunk, "P": p, "E": e, "F": f, "W": max(1, m // 3)}
    if name in ("attention-1pass-causal", "attention-1pass-window"):
        sizes["P"] = min(p, m)  # every query must see at least one key
    result = check_cascade(einsum.load(name), sizes, seed)
    assert result.max_abs_error < 1e-9


def test_gqa_shares_kv_heads():
    """Each of the G query heads of a group uses the same K/V head."""
    cascade = einsum.load("attention-1pass-gqa")
    sizes = {"B": 1, "HK": 2, "G": 2, "E": 3, "F": 3, "M": 8, "P": 4, "M0": 4}
    inputs = einsum.random_inputs(cascade, einsum.resolve_sizes(cascade, sizes), seed=3)
    inputs["Q"][:, :, 1] = inputs["Q"][:, :, 0]  # identical queries in one group
    out = einsum.evaluate(cascade, inputs, sizes)["AV"]
    np.testing.assert_allclose(out[:, :, 0], out[:, :, 1])
    assert not np.allclose(out[:, 0], out[:, 1])  # different KV heads differ

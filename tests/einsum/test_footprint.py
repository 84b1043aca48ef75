"""Live footprint: M fibers for multi-pass cascades, M-independent state for 1-pass."""

import pytest

import einsum

MULTI_PASS = ["attention-3pass", "attention-2pass-deferred", "attention-2pass-partitioned"]
ONE_PASS = ["attention-1pass", "attention-1pass-causal", "attention-1pass-window",
            "attention-1pass-gqa", "attention-1pass-block", "linear-attention"]


@pytest.mark.parametrize("name", MULTI_PASS)
def test_multi_pass_holds_an_m_fiber(name):
    footprint = einsum.live_footprint(einsum.load(name))
    small = footprint.evaluate({"E": 64, "F": 64, "M": 1024, "M0": 64, "M1": 16})
    large = footprint.evaluate({"E": 64, "F": 64, "M": 4096, "M0": 64, "M1": 64})
    assert large - small >= 4096 - 1024   # grows at least linearly in M
    assert footprint.reread.symbols & {"M", "M1"}


@pytest.mark.parametrize("name", ONE_PASS)
def test_one_pass_state_is_m_independent(name):
    footprint = einsum.live_footprint(einsum.load(name))
    assert not footprint.expr.symbols & {"M", "M1"}
    assert not footprint.reread


def test_cascade5_state_is_fusemax_per_query_state():
    """fusemax.md §4.5: per query the Q row, RM, RD and RNV: E + 1 + 1 + F words."""
    assert str(einsum.live_footprint(einsum.load("attention-1pass")).expr) == "E + F + 2"


def test_three_pass_holds_qk_then_sn():
    footprint = einsum.live_footprint(einsum.load("attention-3pass"))
    assert footprint.held == (("QK",), ("SN",))
    assert str(footprint.reread) == "2*M"


def test_splitk_holds_split_summaries():
    footprint = einsum.live_footprint(einsum.load("decode-splitk"))
    assert set(footprint.held[0]) == {"LO", "LSE"}
    assert str(footprint.reread) == "F*M1 + M1"

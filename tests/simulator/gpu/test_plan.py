"""Kernel plans are golden-tested: which Einsums go to which kernel, what crosses DRAM."""

from __future__ import annotations

import pytest

import einsum
from simulator.errors import SpecError
from simulator.gpu.plan import plan_cascade

PLANS = [
    ("attention-1pass", "fused", [("fused", "traversal")], None),
    ("attention-3pass", "fused", [("pass-1", "traversal"), ("pass-2", "traversal"),
                                  ("pass-3", "traversal")], "fused"),
    ("attention-3pass", "unfused", [("gemm-QK", "gemm"), ("elementwise-2", "elementwise"),
                                    ("gemm-AV", "gemm")], None),
    ("attention-2pass-deferred", "fused", [("pass-1", "traversal"), ("pass-2", "traversal")],
     "fused"),
    ("decode-splitk", "fused", [("split-kv", "traversal"), ("merge", "merge")], None),
]


@pytest.mark.parametrize("name, fusion, kernels, held_kernel", PLANS)
def test_plan_golden(name, fusion, kernels, held_kernel):
    plan = plan_cascade(einsum.load(name), fusion)
    assert [(k.name, k.kind) for k in plan.spilled] == kernels
    assert (plan.fused.name if plan.fused else None) == held_kernel


def test_unfused_moves_scores_through_dram():
    plan = plan_cascade(einsum.load("attention-3pass"), "unfused")
    writes = {m.name for k in plan.spilled for m in k.moves if m.write}
    reads = {m.name for k in plan.spilled for m in k.moves if not m.write}
    assert writes == {"QK", "A", "AV"} and reads == {"Q", "K", "QK", "A", "V"}
    assert str(plan.held_elements) == "M"


def test_fused_one_pass_streams_k_and_v_only():
    kernel = plan_cascade(einsum.load("attention-1pass"), "fused").spilled[0]
    streamed = sorted(m.name for m in kernel.moves if m.streamed)
    assert streamed == ["K", "V"]
    assert [m.name for m in kernel.moves if m.write] == ["AV"]
    step = dict(kernel.step)
    assert str(step["tensor"]) == "2*E*M0*M1*P + 2*F*M0*M1*P"
    # RNV = SLNV + SPNV is absorbed by the MMA accumulator: no F*M0 add per element
    assert "F*M0" not in str(step["fp32"])


def test_split_moves_global_max_to_merge():
    plan = plan_cascade(einsum.load("decode-splitk"), "fused")
    assert "GM" in plan.spilled[1].labels and "GM" not in plan.spilled[0].labels
    assert plan.split


def test_unfused_rejects_iterative_cascades():
    with pytest.raises(SpecError, match="iterative rank"):
        plan_cascade(einsum.load("attention-1pass"), "unfused")

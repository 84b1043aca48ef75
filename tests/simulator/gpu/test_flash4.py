"""The Blackwell profile: tcgen05 structure, exp emulation, and `--kernel auto` on B200."""

from __future__ import annotations

import pytest

from simulator.errors import SpecError
from simulator.gpu import load_profile, predict
from simulator.gpu.profiles import auto_profile
from simulator.hardware import load_gpu
from simulator.workload import AttentionProblem

B200 = load_gpu("b200")
FLASH4 = load_profile("flash4")
PROBLEM = AttentionProblem(batch=1, heads=16, kv_heads=16, seq_q=8192, seq_kv=8192,
                           head_dim_qk=128, dtype="bf16")


def test_blackwell_gets_flash4_and_flash3_needs_hopper():
    assert auto_profile(B200) == "flash4" and auto_profile(load_gpu("gb200")) == "flash4"
    with pytest.raises(SpecError, match="needs hopper instructions"):
        predict(B200, "attention-1pass", PROBLEM, profile="flash3")
    with pytest.raises(SpecError, match="needs blackwell instructions"):
        predict(load_gpu("h100"), "attention-1pass", PROBLEM, profile="flash4")


def test_exp_emulation_moves_exactly_its_fraction_to_the_fma_pipes():
    """MUFU work scales by (1 - f); the FP32 pipe gains f x exps x ops per emulated exp."""
    none = FLASH4.with_values({"kernel.exp_emulated_fraction": 0.0})
    plain = predict(B200, "attention-1pass", PROBLEM, profile=none)
    emulated = predict(B200, "attention-1pass", PROBLEM, profile=FLASH4)
    fraction, ops = FLASH4.number("kernel.exp_emulated_fraction"), FLASH4.number("kernel.exp_emulation_ops")
    exp_time = plain.resource_times_s["exp"]
    assert emulated.resource_times_s["exp"] == pytest.approx((1 - fraction) * exp_time, rel=1e-9)
    # exp rate 16/clk/SM vs FP32 128 lanes/clk/SM at the same efficiency: one exp = 1/8 lane-op time
    extra_fp32 = emulated.resource_times_s["fp32"] - plain.resource_times_s["fp32"]
    assert extra_fp32 == pytest.approx(fraction * exp_time * ops * 16 / 128, rel=1e-9)
    assert emulated.time_s < plain.time_s    # d128 on B200 is exp-heavy: emulation pays


def test_mma_issued_by_its_own_warp_overlaps_the_softmax():
    """flash4's serial set is the softmax warps' pipes only: the tensor time is not added."""
    pred = predict(B200, "attention-1pass", PROBLEM, profile=FLASH4)
    t = pred.resource_times_s
    softmax = max(t["exp"], t["fp32"]) + min(t["exp"], t["fp32"]) / FLASH4.streams
    assert pred.time_s >= max(t["tensor"], softmax)
    assert pred.time_s < t["tensor"] + softmax

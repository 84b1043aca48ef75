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


@pytest.mark.parametrize("paired", [False, True])
def test_exp_emulation_moves_exactly_its_fraction_to_the_fma_pipes(paired):
    """MUFU work scales by (1 - f); the FP32 pipe gains f x exps x ops per emulated exp. f is
    the profile's 12.5% for one CTA and the d128 rule's 18.75% for FA4's 2-CTA mode
    (kernels.md sec. 4: freq 16/start 1 and 10/1)."""
    base = FLASH4 if paired else FLASH4.with_tile_rules(cta_pair="")
    fraction = 0.1875 if paired else FLASH4.number("kernel.exp_emulated_fraction")
    none = base.with_tile_rules(pair_exp_emulated=0.0) if paired else base
    none = none.with_values({"kernel.exp_emulated_fraction": 0.0})
    plain = predict(B200, "attention-1pass", PROBLEM, profile=none)
    emulated = predict(B200, "attention-1pass", PROBLEM, profile=base)
    ops = FLASH4.number("kernel.exp_emulation_ops")
    exp_time = plain.resource_times_s["exp"]
    assert emulated.resource_times_s["exp"] == pytest.approx((1 - fraction) * exp_time, rel=1e-9)
    # exp rate 16/clk/SM vs FP32 128 lanes/clk/SM at the same efficiency: one exp = 1/8 lane-op time
    extra_fp32 = emulated.resource_times_s["fp32"] - plain.resource_times_s["fp32"]
    assert extra_fp32 == pytest.approx(fraction * exp_time * ops * 16 / 128, rel=1e-9)
    assert emulated.time_s < plain.time_s    # d128 on B200 is exp-heavy: emulation pays


def test_the_conditional_rescale_drops_the_per_step_o_rescale_for_16_bit_inputs():
    """FA4 rescales O only when the max grows by more than 8 (16-bit; FP8's threshold is 0):
    the FP32 pipe loses one multiply per output element and step, q_tile x dv x steps."""
    always = _with_flag(FLASH4, "kernel.conditional_rescale", False)
    for dtype, saves in (("bf16", True), ("fp8", False)):
        problem = AttentionProblem(**{**PROBLEM.__dict__, "dtype": dtype})
        skipped = predict(B200, "attention-1pass", problem, profile=FLASH4)
        paid = predict(B200, "attention-1pass", problem, profile=always)
        saved = paid.resource_times_s["fp32"] - skipped.resource_times_s["fp32"]
        if not saves:
            assert saved == 0
            continue
        # every (query, key tile) pair once: 16 heads x 8192 queries x 64 key tiles x 128 dv
        multiplies = 16 * 8192 * (8192 // 128) * 128
        rate = FLASH4.efficiency["fp32"] * B200.fp32_flops / 2
        assert saved == pytest.approx(multiplies / rate, rel=1e-9)


def _with_flag(profile, key, value):
    """The same profile with one flag changed."""
    import dataclasses
    from types import MappingProxyType

    return dataclasses.replace(profile, flags=MappingProxyType({**profile.flags, key: value}))


def test_mma_issued_by_its_own_warp_overlaps_the_softmax():
    """flash4's serial set is the softmax warps' pipes only: the tensor time is not added."""
    pred = predict(B200, "attention-1pass", PROBLEM, profile=FLASH4)
    t = pred.resource_times_s
    softmax = max(t["exp"], t["fp32"]) + min(t["exp"], t["fp32"]) / FLASH4.streams
    assert pred.time_s >= max(t["tensor"], softmax)
    assert pred.time_s < t["tensor"] + softmax


def test_a_2cta_pair_halves_each_sms_kv_tile_and_its_reads():
    """d256 (always paired, kernels.md sec. 4): a full 128-key tile fits where one CTA alone
    would shrink it to 80 keys, and each SM writes and reads half of every K/V tile."""
    problem = AttentionProblem(batch=1, heads=8, kv_heads=8, seq_q=16384, seq_kv=16384,
                               head_dim_qk=256, dtype="bf16")
    paired = predict(B200, "attention-1pass", problem, profile=FLASH4)
    alone = predict(B200, "attention-1pass", problem, profile=FLASH4.with_tile_rules(cta_pair=""))
    assert (paired.extra["kv_tile"], alone.extra["kv_tile"]) == (128, 80)
    # the same MMAs, but for the last 80-key tile's padding (16384 keys = 204.8 tiles of 80)
    padded = 205 * 80 / 16384
    assert alone.resource_times_s["tensor"] == pytest.approx(padded * paired.resource_times_s["tensor"],
                                                            rel=1e-9)
    assert paired.resource_times_s["smem"] < 0.6 * alone.resource_times_s["smem"]
    assert paired.time_s < alone.time_s


def test_d128_pairs_only_unmasked_problems_of_more_than_one_query_tile():
    causal = AttentionProblem(**{**PROBLEM.__dict__, "causal": True})
    short = AttentionProblem(**{**PROBLEM.__dict__, "seq_q": 256, "seq_kv": 256})
    for problem, pairs in ((PROBLEM, True), (causal, False), (short, False)):
        smem = predict(B200, "attention-1pass", problem, profile=FLASH4).resource_times_s["smem"]
        unpaired = FLASH4.with_tile_rules(cta_pair="")
        alone = predict(B200, "attention-1pass", problem, profile=unpaired).resource_times_s["smem"]
        assert (smem < alone) == pairs


def test_a_bad_cta_pair_is_a_one_line_error(tmp_path):
    text = FLASH4.path and open(FLASH4.path, encoding="utf-8").read()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("cta_pair: always", "cta_pair: sometimes"), encoding="utf-8")
    with pytest.raises(SpecError, match=r"cta_pair.*'always' or 'dense'"):
        load_profile(str(bad))

"""The GPU model's invariants over >= 10^4 random configurations each (vectorised).

Hypothesis draws the seed and the GPU; numpy draws 2,500 problems per example, and four
examples per property cover 10^4 configurations. Each configuration is priced with the
GPU's auto profile (FA2 on Ampere/Ada, FA3 on Hopper, FA4-style on Blackwell).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.gpu import load_profile, predict_batch
from simulator.gpu.kernels import masking_overhead_bound
from simulator.gpu.profiles import auto_profile
from simulator.hardware import load_gpu

N = 2_500
SETTINGS = settings(max_examples=4, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
GPUS = st.sampled_from(["a100", "l40s", "h100", "h200", "b200"])
SEEDS = st.integers(0, 2**32 - 1)


def _sizes(seed: int, causal: bool | None = None) -> dict:
    rng = np.random.default_rng(seed)
    kv, group = rng.choice([1, 2, 8, 32], N), rng.choice([1, 4, 8], N)
    seq = rng.integers(1, 16_384, N)
    return dict(batch=rng.integers(1, 9, N), heads=kv * group, kv_heads=kv, seq_q=seq, seq_kv=seq,
                head_dim=rng.choice([64, 96, 128, 192, 256], N),
                causal=rng.random(N) < 0.5 if causal is None else causal)


@SETTINGS
@given(SEEDS, GPUS)
def test_time_is_positive_and_finite(seed, gpu):
    for cascade in ("attention-1pass", "attention-3pass"):
        time = predict_batch(gpu, cascade, **_sizes(seed), detail=False).time_s
        assert np.all(np.isfinite(time)) and np.all(time > 0)


@SETTINGS
@given(SEEDS, GPUS, st.floats(1.1, 4.0))
def test_more_dram_bandwidth_is_never_slower(seed, gpu, factor):
    spec = load_gpu(gpu)
    faster = dataclasses.replace(spec, dram_bytes_per_s=spec.dram_bytes_per_s * factor)
    sizes = _sizes(seed)
    base = predict_batch(spec, "attention-1pass", **sizes, detail=False).time_s
    assert np.all(predict_batch(faster, "attention-1pass", **sizes, detail=False).time_s <= base * (1 + 1e-9))


def _even_specialised(gpu: str) -> bool:
    return load_profile(auto_profile(load_gpu(gpu))).flag("kernel.even_specialised")


@SETTINGS
@given(SEEDS, GPUS, st.integers(1, 4096))
def test_a_longer_dense_sequence_is_never_faster(seed, gpu, extra):
    """FA2 (flash2, auto on Ampere/Ada) is compiled for sequences that fill its tiles
    (``Is_even_MN``) and masks one more key tile per query tile otherwise, so 1,024 tokens
    may beat 1,023 (the next test bounds by how much); lengths alike modulo 128, which every
    FA2 tile divides, keep the order."""
    if _even_specialised(gpu):
        extra = 128 * -(-extra // 128)
    sizes = _sizes(seed, causal=False)
    longer = {**sizes, "seq_q": sizes["seq_q"] + extra, "seq_kv": sizes["seq_kv"] + extra}
    base = predict_batch(gpu, "attention-1pass", **sizes, detail=False).time_s
    assert np.all(predict_batch(gpu, "attention-1pass", **longer, detail=False).time_s >= base * (1 - 1e-9))


@SETTINGS
@given(SEEDS, st.sampled_from(["a100", "l40s"]), st.integers(1, 4096))
def test_an_even_length_saves_at_most_the_masked_edge(seed, gpu, extra):
    sizes = _sizes(seed, causal=False)
    longer = {**sizes, "seq_q": sizes["seq_q"] + extra, "seq_kv": sizes["seq_kv"] + extra}
    base = predict_batch(gpu, "attention-1pass", **sizes, detail=False).time_s
    cost = masking_overhead_bound(load_profile(auto_profile(load_gpu(gpu))))
    assert _even_specialised(gpu)
    assert np.all(predict_batch(gpu, "attention-1pass", **longer, detail=False).time_s >= base / (1 + cost))


@SETTINGS
@given(SEEDS, GPUS)
def test_causal_never_more_work_or_flops_than_dense(seed, gpu):
    """FA4 (flash4, auto on Blackwell) emulates 18.75% of its exps on the FMA pipes in its
    2-CTA dense kernel and 12.5% in the causal one (kernels.md sec. 4), so a causal call
    that visits about as many tiles may put more of its exps on the MUFU: the exps are
    compared where they are all counted on the MUFU, with the emulation off."""
    profile = _unemulated(load_profile(auto_profile(load_gpu(gpu))))
    dense = predict_batch(gpu, "attention-1pass", **_sizes(seed, causal=False), detail=False, profile=profile)
    causal = predict_batch(gpu, "attention-1pass", **_sizes(seed, causal=True), detail=False, profile=profile)
    assert np.all(causal.flops <= dense.flops)
    work = ("tensor", "exp", "fp32")
    assert all(np.all(causal.resource_times_s[r] <= dense.resource_times_s[r] * (1 + 1e-9)) for r in work)


def _unemulated(profile):
    """The profile with every exp on the MUFU (no FA4 exp2 emulation)."""
    return profile.with_tile_rules(pair_exp_emulated=-1.0).with_values({"kernel.exp_emulated_fraction": 0.0})


@SETTINGS
@given(SEEDS, GPUS, st.integers(1, 8192))
def test_a_sliding_window_never_more_flops_than_causal(seed, gpu, window):
    """Sliding-window attention is causal with a window: at most causal's (and dense's) FLOPs."""
    sizes = _sizes(seed, causal=True)
    causal = predict_batch(gpu, "attention-1pass", **sizes, detail=False)
    sizes.pop("causal")
    local = predict_batch(gpu, "attention-1pass-window", **sizes, sizes={"W": window}, detail=False)
    assert np.all(local.flops <= causal.flops * (1 + 1e-12))

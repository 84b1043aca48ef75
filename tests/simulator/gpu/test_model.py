"""The GPU model: hand-computable cases, invariants (hypothesis) and vectorised == scalar."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import einsum
from simulator.errors import SpecError
from simulator.gpu import load_profile, predict, predict_batch
from simulator.gpu.sparse import dense_counts, mask_counts
from simulator.hardware import load_gpu
from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
from simulator.workload import AttentionProblem

H100 = load_gpu("h100")
IDEAL = {"efficiency.tensor": 1.0, "efficiency.exp": 1.0, "efficiency.fp32": 1.0,
         "efficiency.smem": 1.0, "efficiency.dram": 1.0, "overheads.cta_cycles": 0.0,
         "overheads.launch_s": 0.0, "memory.dram_latency_s": 0.0}
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _problem(**kw):
    base = dict(batch=1, heads=16, seq_q=2048, seq_kv=2048, head_dim_qk=128)
    base.update(kw)
    base.setdefault("kv_heads", base["heads"])
    return AttentionProblem(**base)


def test_memory_only_kernel_time_is_bytes_over_bandwidth(tmp_path):
    """An element-wise cascade moves X in and Y out once: time = bytes / DRAM bandwidth."""
    cascade = einsum.parse("inputs: X[e,p]\nY[e,p] = X[e,p] + X[e,p]\n", "double")
    profile = load_profile("unfused").with_values({**{k: v for k, v in IDEAL.items()
                                                      if not k.startswith("memory")},
                                                   "overheads.input_copies": 0.0})
    problem = _problem(batch=2, heads=8, seq_q=4096, seq_kv=4096, head_dim_qk=64)
    pred = predict(H100, cascade, problem, profile=profile)
    moved = 2 * 2 * 8 * 4096 * 64 * 2          # read X + write Y, 2 bytes each
    assert pred.dram_bytes == moved
    assert pred.time_s == pytest.approx(moved / 3.35e12, rel=1e-12)
    assert pred.bound == "dram" and pred.passes == 0   # no key rank: no pass over M


def test_full_waves_tensor_bound_time_is_flops_over_peak():
    """Ideal pipelined profile, 264 CTAs = 2 full waves: time = tensor FLOP / peak."""
    profile = load_profile("flash3").with_values({**IDEAL, "overlap.streams": 1e9})
    problem = _problem(heads=33, seq_q=1024, seq_kv=1024)   # 33 heads x 8 query tiles
    pred = predict(H100, "attention-1pass", problem, profile=profile, tiles=(128, 128))
    assert pred.kernels[0].ctas == 264 and pred.kernels[0].waves == 2
    # + the epilogue of each wave: AV = RNV / RD, F x 128 divisions on 128 FP32 lanes
    epilogue = 2 * 128 * 128 / (128 * 1.83e9)
    # + the bytes no compute covers: the first wave's 132 CTAs load their Q tile and (once
    # per head: 8 CTAs a head, 17 heads in the wave) the first K and V tiles before any MMA,
    # and the last wave's 132 CTAs store O after the last one; 2-byte elements, d = 128
    edge = (132 * 128 * 128 * 2 * 2 + 17 * 128 * 128 * 2 * 2) / 3.35e12
    peak = 132 * 4096 * 1.83e9                  # 989.4 TFLOP/s
    assert pred.time_s == pytest.approx(4 * 33 * 1024**2 * 128 / peak + epilogue + edge, rel=1e-9)
    assert pred.bound == "tensor"


def test_serial_streams_add_pipe_times():
    """streams = 1 adds tensor, exp and FP32 times; with streams = 2 (ping-pong) the busiest
    pipe runs back to back and half of the others' time stays exposed."""
    ideal = load_profile("flash3").with_values(IDEAL)
    serial = ideal.with_values({"overlap.streams": 1.0})
    problem = _problem(heads=33, seq_q=1024, seq_kv=1024, head_dim_qk=64, head_dim_v=64)
    one = predict(H100, "attention-1pass", problem, profile=serial, tiles=(128, 128))
    two = predict(H100, "attention-1pass", problem, profile=ideal, tiles=(128, 128))
    pipes = sum(one.resource_times_s[r] for r in ("tensor", "exp", "fp32"))
    # + the first wave's loads and last wave's stores (132 CTAs' Q and O tiles, the first K
    # and V tiles of the wave's 17 heads; d = 64, 2-byte elements) at the DRAM bandwidth
    edge = (132 + 17) * 128 * 64 * 2 * 2 / 3.35e12
    assert one.time_s == pytest.approx(pipes + edge, rel=1e-9)
    epilogue = 2 * 64 * 128 / (128 * 1.83e9)   # per wave, F x 128 divisions, not overlapped
    main = [one.resource_times_s["tensor"], one.resource_times_s["exp"],
            one.resource_times_s["fp32"] - epilogue]
    expected = max(main) + (sum(main) - max(main)) / 2 + epilogue + edge
    assert two.time_s == pytest.approx(expected, rel=1e-9)
    assert two.time_s < one.time_s


def test_prediction_record_fields():
    pred = predict("h100", "attention-1pass", _problem(causal=True))
    # --causal chose the causal variant; FLOPs are its contractions' exact unmasked pairs
    assert pred.cascade == "attention-1pass+causal"
    assert pred.flops == 2 * (128 + 128) * 16 * (2048 * 2049 // 2)
    assert set(pred.resource_times_s) == {"tensor", "exp", "fp32", "smem", "dram", "launch"}
    assert pred.tflops_per_s == pytest.approx(pred.flops / pred.time_s / 1e12)
    assert 0 < pred.utilization["tensor"] <= 1
    assert pred.kernels[0].tile == (128, 128) and pred.buffer_bytes > 0


def test_hold_or_spill_multi_pass():
    short = predict("h100", "attention-3pass", _problem(seq_q=512, seq_kv=512))
    long = predict("h100", "attention-3pass", _problem(seq_q=16384, seq_kv=16384))
    assert not short.spilled and [k.name for k in short.kernels] == ["fused"]
    assert short.buffer_bytes <= H100.smem_bytes_per_cta
    assert long.spilled and [k.name for k in long.kernels] == ["pass-1", "pass-2", "pass-3"]
    one_pass = predict("h100", "attention-1pass", _problem(seq_q=16384, seq_kv=16384))
    assert long.dram_bytes > 10 * one_pass.dram_bytes


def test_unfused_standard_attention_is_memory_bound():
    pred = predict("h100", "attention-3pass", _problem(), profile="unfused")
    assert pred.bound == "dram" and pred.spilled
    assert [k.name for k in pred.kernels] == ["input-copies", "gemm-QK", "elementwise-2", "gemm-AV"]


def test_decode_split_k_beats_one_cta_per_head():
    problem = _problem(batch=1, heads=32, kv_heads=8, seq_q=1, seq_kv=65536)
    plain = predict("h100", "attention-1pass", problem)
    split = predict("h100", "decode-splitk", problem)
    assert split.time_s < plain.time_s / 2
    assert split.extra["splits"] > 1 and [k.name for k in split.kernels] == ["split-kv", "merge"]
    assert split.bound == "dram"
    # memory-bound: within 2x of the KV cache read at peak bandwidth
    assert split.time_s < 2 * problem.kv_cache_bytes / 3.35e12


def test_quantised_kv_reads_fewer_bytes_and_adds_dequant_work():
    fp16 = predict("h100", "decode-splitk", _problem(heads=32, kv_heads=8, seq_q=1, seq_kv=32768))
    int4 = predict("h100", "decode-splitk", _problem(heads=32, kv_heads=8, seq_q=1, seq_kv=32768,
                                                      kv_dtype="int4"))
    assert int4.dram_bytes < fp16.dram_bytes / 3
    assert int4.resource_times_s["fp32"] > fp16.resource_times_s["fp32"]


def test_dtype_missing_on_gpu_is_a_spec_error():
    with pytest.raises(SpecError, match="no dense fp8"):
        predict("a100", "attention-1pass", _problem(dtype="fp8"))


def test_unknown_profile_and_cascade():
    with pytest.raises(SpecError, match="unknown kernel profile"):
        predict("h100", "attention-1pass", _problem(), profile="nope")
    with pytest.raises(SpecError, match="iterative"):
        predict("h100", "attention-1pass", _problem(), profile="unfused")


# --------------------------------------------------------------------------- properties

shapes = st.fixed_dictionaries({
    "batch": st.integers(1, 8), "kv_heads": st.sampled_from([1, 2, 8]),
    "group": st.sampled_from([1, 4]), "seq_q": st.integers(1, 9000),
    "extra_kv": st.integers(0, 9000), "head_dim_qk": st.sampled_from([64, 96, 128, 256]),
    "causal": st.booleans(),
})
profiles = st.sampled_from(["flash3", "flash2"])


def _from(d):
    return AttentionProblem(batch=d["batch"], heads=d["kv_heads"] * d["group"],
                            kv_heads=d["kv_heads"], seq_q=d["seq_q"],
                            seq_kv=d["seq_q"] + d["extra_kv"], head_dim_qk=d["head_dim_qk"],
                            causal=d["causal"])


@SETTINGS
@given(shapes, profiles, st.floats(1.1, 4.0))
def test_more_dram_bandwidth_is_never_slower(d, profile, factor):
    faster = dataclasses.replace(H100, dram_bytes_per_s=H100.dram_bytes_per_s * factor)
    base = predict(H100, "attention-1pass", _from(d), profile=profile)
    assert predict(faster, "attention-1pass", _from(d), profile=profile).time_s <= base.time_s


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes, st.sampled_from([("attention-1pass", "flash3"), ("attention-1pass", "flash2"),
                                ("attention-3pass", "flash3"), ("attention-3pass", "unfused")]),
       st.integers(1, 64))
def test_more_sms_are_never_slower(d, pair, extra):
    """Not asserted for split-K: like FlashAttention's heuristic it takes every SM it gets,
    and the extra partial outputs can cost more than the split saves (a real effect)."""
    cascade, profile = pair
    bigger = dataclasses.replace(H100, sm_count=H100.sm_count + extra)
    base = predict(H100, cascade, _from(d), profile=profile)
    assert predict(bigger, cascade, _from(d), profile=profile).time_s <= base.time_s * (1 + 1e-9)


def test_more_sms_vectorised_sweep():
    """The same property over 20k random shapes at once (no split-K cascades)."""
    rng = np.random.default_rng(3)
    n = 20_000
    kv, group = rng.choice([1, 2, 8], n), rng.choice([1, 4], n)
    seq_q = rng.integers(1, 20000, n)
    sizes = dict(batch=rng.integers(1, 9, n), heads=kv * group, kv_heads=kv, seq_q=seq_q,
                 seq_kv=seq_q + rng.integers(0, 20000, n), head_dim=rng.choice([64, 128, 256], n),
                 causal=rng.random(n) < 0.5)
    for extra in (1, 16, 64):
        bigger = dataclasses.replace(H100, sm_count=H100.sm_count + extra)
        for cascade in ("attention-1pass", "attention-3pass"):
            base = predict_batch(H100, cascade, **sizes).time_s
            assert np.all(predict_batch(bigger, cascade, **sizes).time_s <= base * (1 + 1e-9))


@SETTINGS
@given(shapes, st.sampled_from(["attention-1pass", "attention-3pass", "decode-splitk"]))
def test_counts_are_non_negative_and_finite(d, cascade):
    pred = predict("h100", cascade, _from(d))
    assert np.isfinite(pred.time_s) and pred.time_s > 0 and pred.flops > 0
    assert all(v >= 0 for v in pred.resource_times_s.values())
    assert all(0 <= v <= 1 + 1e-9 for v in pred.utilization.values())
    assert pred.dram_bytes > 0 and pred.time_s >= max(pred.resource_times_s.values()) * (1 - 1e-9)


@SETTINGS
@given(shapes)
def test_causal_costs_at_most_the_masking_of_every_dense_tile(d):
    """Skipping tiles never costs more than masking every dense tile would."""
    dense = predict("h100", "attention-1pass", _from({**d, "causal": False}))
    causal = predict("h100", "attention-1pass", _from({**d, "causal": True}))
    extra = load_profile("flash3").number("overheads.masked_tile_cost")
    assert causal.time_s <= dense.time_s * (1 + extra) * (1 + 1e-9)


@pytest.mark.parametrize("seq", [1024, 4096, 16384])
def test_causal_self_attention_is_faster_than_dense(seq):
    problem = _problem(batch=max(16384 // seq, 1), seq_q=seq, seq_kv=seq)
    dense = predict("h100", "attention-1pass", problem)
    causal = predict("h100", "attention-1pass", dataclasses.replace(problem, causal=True))
    assert causal.time_s < 0.8 * dense.time_s


@settings(max_examples=15, deadline=None)
@given(st.sampled_from([(1024, 128, 1), (4096, 256, 1), (2048, 512, 64), (4096, 1024, 256)]),
       st.sampled_from([(128, 128), (64, 64), (128, 64)]))
def test_block_sparse_masks_never_exceed_dense_time(mask, tiles):
    length, window, stride = mask
    counts = count_tiles(SparsityConfig((length,), window=window, stride=stride), TileConfig(*tiles))
    problem = _problem(heads=24, seq_q=length, seq_kv=length)
    sparse = predict("h100", "attention-1pass", problem, masks=mask_counts(counts))
    dense = predict("h100", "attention-1pass", problem, masks=dense_counts(counts))
    assert sparse.time_s <= dense.time_s * (1 + 1e-9)


def test_time_grows_with_visited_and_partial_tiles():
    problem = _problem(heads=24, seq_q=8192, seq_kv=8192)
    counts = count_tiles(SparsityConfig((8192,), window=1024), TileConfig(128, 128))
    base = mask_counts(counts)
    more_partial = dataclasses.replace(base, steps=base.steps._replace(partial=base.steps.partial * 2))
    times = [predict("h100", "attention-1pass", problem, masks=m).time_s for m in (base, more_partial)]
    assert times[1] > times[0]


@settings(max_examples=10, deadline=None)
@given(st.lists(shapes, min_size=2, max_size=6), st.sampled_from(
    ["attention-1pass", "attention-3pass", "decode-splitk"]), profiles)
def test_vectorised_equals_scalar(rows, cascade, profile):
    problems = [_from(d) for d in rows]
    batch = predict_batch("h100", cascade, profile=profile,
                          batch=[p.batch for p in problems], heads=[p.heads for p in problems],
                          kv_heads=[p.kv_heads for p in problems],
                          seq_q=[p.seq_q for p in problems], seq_kv=[p.seq_kv for p in problems],
                          head_dim=[p.head_dim_qk for p in problems],
                          causal=[p.causal for p in problems])
    for i, problem in enumerate(problems):
        one = predict("h100", cascade, problem, profile=profile)
        assert batch.time_s[i] == pytest.approx(one.time_s, rel=1e-12)
        assert batch.bound[i] == one.bound and bool(batch.spilled[i]) == one.spilled
        assert batch.dram_bytes[i] == pytest.approx(one.dram_bytes, rel=1e-12)


def test_other_gpus_carry_over():
    problem = _problem(batch=4, seq_q=8192, seq_kv=8192)
    tflops = {hw: predict(hw, "attention-1pass", problem).tflops_per_s
              for hw in ("a100", "l40s", "h100", "b200")}
    assert tflops["a100"] < tflops["h100"] < tflops["b200"]
    for hw, value in tflops.items():
        assert value < load_gpu(hw).tensor_flops("fp16") / 1e12


def test_profiles_dir_has_only_profiles():
    folder = Path(load_profile("flash3").path).parent
    assert sorted(p.stem for p in folder.glob("*.yaml")) == sorted(
        ["amd-fmha", "cutlass-fmha", "flash2", "flash3", "flash4", "natten", "natten-sm100", "unfused"])


def test_sweep_evaluator_matches_predict():
    import pandas as pd

    from simulator.gpu.vectorized import GPU_DEFAULTS, GPU_METRICS, evaluate_gpu

    chunk = pd.DataFrame({"hardware": ["h100", "a100", "h100"], "seq_q": [1024, 2048, 1],
                          "seq_kv": [0, 0, 8192], "cascade": ["attention-1pass"] * 2
                          + ["decode-splitk"], "kv_heads": [0, 0, 8], "causal": [True, False,
                                                                                   False]})
    for name, value in GPU_DEFAULTS.items():
        chunk[name] = chunk.get(name, value)
    out = evaluate_gpu(chunk)
    assert set(GPU_METRICS) <= set(out.columns) and len(out) == 3
    one = predict("h100", "decode-splitk", _problem(heads=32, kv_heads=8, seq_q=1, seq_kv=8192))
    assert out["time_s"].iloc[2] == pytest.approx(one.time_s, rel=1e-12)
    assert out["bound"].iloc[2] == one.bound and bool(out["spilled"].iloc[2]) is True


def test_vectorised_throughput_guard():
    """A loose guard on the benchmark figure (benchmarks/bench_gpu.py quotes the real one)."""
    import time

    n = 200_000
    rng = np.random.default_rng(1)
    seq = 2 ** rng.integers(9, 17, n)
    start = time.perf_counter()
    predict_batch("h100", "attention-1pass", batch=1, heads=32, seq_q=seq, seq_kv=seq,
                  head_dim=128)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("hw, cascade, profile", [
    ("h100", "attention-1pass", "flash3"), ("a100", "attention-3pass", "unfused"),
    ("l40s", "attention-1pass", "flash2"), ("b200", "decode-splitk", "flash4"),
])
@pytest.mark.parametrize("causal", [False, True])
def test_sizes_of_different_shapes_broadcast_like_flat_problems(hw, cascade, profile, causal):
    """A (batch) column against a (length) row is priced exactly as the flattened grid,
    and every result has one value per problem."""
    batch = np.array([1, 3, 16, 64])
    seq = np.array([256, 1000, 8192, 65536])
    seq_q = np.ones_like(seq) if cascade == "decode-splitk" else seq
    flat_b, flat_s = (a.ravel() for a in np.meshgrid(batch, seq, indexing="ij"))
    flat_q = np.ones_like(flat_s) if cascade == "decode-splitk" else flat_s
    common = dict(profile=profile, heads=32, kv_heads=8, head_dim=128, causal=causal)
    flat = predict_batch(hw, cascade, batch=flat_b, seq_q=flat_q, seq_kv=flat_s, **common)
    grid = predict_batch(hw, cascade, batch=batch[:, None], seq_q=seq_q[None, :],
                         seq_kv=seq[None, :], **common)
    for name in ("time_s", "flops", "dram_bytes", "buffer_bytes", "spilled", "bound"):
        assert np.shape(getattr(grid, name)) == (4, 4)
        assert getattr(grid, name).ravel().tolist() == getattr(flat, name).tolist()
    assert all(np.shape(v) == (4, 4) for v in grid.extra.values())
    assert all(np.shape(k.time_s) == (4, 4) for k in grid.kernels)

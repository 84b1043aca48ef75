"""PyTorch-style unfused attention: a mask saves no work and adds its own element-wise kernel.

Truth from the kernel's source (flash-attention benchmarks attention_pytorch): the causal
mask is added to the full P x M score matrix, then the softmax runs over all of it.
"""

import numpy as np
import pytest

from simulator.gpu import predict
from simulator.workload import AttentionProblem


def _problem(causal, seq=2048, batch=2, heads=8, head_dim=64):
    return AttentionProblem(batch=batch, heads=heads, kv_heads=heads, seq_q=seq, seq_kv=seq,
                            head_dim_qk=head_dim, causal=causal)


def test_causal_unfused_is_dense_plus_one_mask_pass():
    dense = predict("h100", "attention-3pass", _problem(False), profile="unfused")
    causal = predict("h100", "attention-3pass", _problem(True), profile="unfused")
    names = [k.name for k in causal.kernels]
    assert names == ["input-copies", "gemm-QK", "mask", "elementwise-2", "gemm-AV"]
    mask = next(k for k in causal.kernels if k.name == "mask")
    # read + write the fp16 scores of 16 instances, read the broadcast 2048 x 2048 mask once
    assert float(mask.dram_bytes) == (2 * 2 * 8 + 1) * 2048 * 2048 * 2
    assert float(causal.time_s) == pytest.approx(float(dense.time_s) + float(mask.time_s))
    # the useful FLOPs still follow the FlashAttention convention (causal ~ half)
    assert float(causal.flops) / float(dense.flops) == pytest.approx(0.5, rel=1e-3)


def test_fused_causal_still_saves_work():
    dense = predict("h100", "attention-1pass", _problem(False, seq=8192), profile="flash3")
    causal = predict("h100", "attention-1pass", _problem(True, seq=8192), profile="flash3")
    assert float(causal.time_s) < 0.6 * float(dense.time_s)


@pytest.mark.parametrize("seq", [512, 1024, 4096])
def test_unfused_causal_never_faster_than_dense(seq):
    times = [float(predict("a100", "attention-3pass", _problem(c, seq=seq), profile="unfused").time_s)
             for c in (False, True)]
    assert np.greater(times[1], times[0])


def test_fa2_d256_on_hopper_is_slower_per_flop_than_d128():
    """kernels.md sec. 1: FA2 at d256 runs 64x64 tiles with 4 warps on H100 (128x64, 8 warps on
    A100), one CTA per SM by registers: throughput stops rising with the head dim."""
    def tflops(hw, head_dim):
        problem = AttentionProblem(batch=2, heads=2048 // head_dim, kv_heads=2048 // head_dim, seq_q=8192,
                                   seq_kv=8192, head_dim_qk=head_dim)
        return float(predict(hw, "attention-1pass", problem, profile="flash2").tflops_per_s)

    assert tflops("h100", 256) < tflops("h100", 128)
    from simulator.gpu import load_profile

    rules = load_profile("flash2").tile_rules("Ampere")
    assert (rules[-1].q, rules[-1].kv, rules[-1].threads) == (128, 64, 256)


def test_the_transposed_k_copy_streams_at_its_own_rate():
    """attention_pytorch copies q, k and v once; k's copy transposes it ('b s h d -> (b h) d s')
    and runs at ``memory.transpose_copy_fraction`` of the DRAM peak, the others at the
    profile's DRAM efficiency. Truth: the bytes and rates written out by hand."""
    from simulator.gpu import load_profile
    from simulator.hardware import load_gpu
    problem = _problem(False, seq=1024, batch=2, heads=8, head_dim=64)
    pred = predict("h100", "attention-3pass", problem, profile="unfused")
    copies = next(k for k in pred.kernels if k.name == "input-copies")
    gpu, profile = load_gpu("h100"), load_profile("unfused")
    one = 2 * 2 * 8 * 1024 * 64 * 2                       # read + write one fp16 input
    peak = gpu.dram_bytes_per_s
    expected = 2 * one / (profile.efficiency["dram"] * peak) + \
        one / (profile.number("memory.transpose_copy_fraction") * peak) + \
        3 * profile.number("overheads.launch_s")
    assert float(copies.dram_bytes) == 3 * one
    assert float(copies.time_s) == pytest.approx(expected, rel=1e-9)
    plain = load_profile("unfused").with_values({"overheads.transposed_copies": 0.0})
    untransposed = predict("h100", "attention-3pass", problem, profile=plain)
    contiguous = next(k for k in untransposed.kernels if k.name == "input-copies")
    assert float(contiguous.time_s) < float(copies.time_s)

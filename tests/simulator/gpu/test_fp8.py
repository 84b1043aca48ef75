"""FA3 FP8: its own tiles, the in-kernel V transpose and the P layout ops (kernels.md sec. 3)."""

from __future__ import annotations

import math

import pytest

from simulator.gpu import load_profile, predict
from simulator.hardware import load_gpu
from simulator.workload import AttentionProblem

H100 = load_gpu("h100")
FLASH3 = load_profile("flash3")


def _problem(dtype: str, seq: int = 4224, head_dim: int = 128) -> AttentionProblem:
    return AttentionProblem(batch=2, heads=16, kv_heads=16, seq_q=seq, seq_kv=seq,
                            head_dim_qk=head_dim, dtype=dtype)


@pytest.mark.parametrize("head_dim, tile", [(64, (192, 160)), (128, (128, 224)), (256, (128, 128))])
def test_fp8_takes_the_fp8_tiles_of_hopper_tile_size(head_dim, tile):
    pred = predict(H100, "attention-1pass", _problem("fp8", head_dim=head_dim), profile=FLASH3)
    assert (pred.extra["q_tile"], pred.extra["kv_tile"]) == tile
    fp16 = predict(H100, "attention-1pass", _problem("fp16", head_dim=head_dim), profile=FLASH3)
    assert (fp16.extra["q_tile"], fp16.extra["kv_tile"]) == FLASH3.tile_for(head_dim, "hopper")


def test_v_transpose_and_p_layout_add_exactly_their_work():
    """Extra shared-memory bytes = passes x V tile bytes per visited step; extra FP32 ops =
    ops per score x q_tile x kv_tile per step (steps counted here by brute force)."""
    problem = _problem("fp8")
    base = FLASH3.with_values({"kernel.fp8_v_transpose_passes": 0.0, "kernel.fp8_p_layout_ops": 0.0})
    plain = predict(H100, "attention-1pass", problem, profile=base)
    full = predict(H100, "attention-1pass", problem, profile=FLASH3)
    q_tile, kv_tile = full.extra["q_tile"], full.extra["kv_tile"]
    steps = sum(1 for _ in range(math.ceil(problem.seq_q / q_tile))
                for _ in range(math.ceil(problem.seq_kv / kv_tile))) * problem.batch * problem.heads
    rates = H100.sm_count * H100.smem_bytes_per_clk_per_sm * H100.tensor_clock_hz   # B/s, eff. 1
    extra_smem = full.resource_times_s["smem"] - plain.resource_times_s["smem"]
    v_tile_bytes = kv_tile * problem.head_dim_qk * 1
    assert extra_smem * rates == pytest.approx(2 * v_tile_bytes * steps, rel=1e-9)
    assert full.time_s > plain.time_s


def test_fp16_pays_no_fp8_work():
    problem = _problem("fp16")
    off = FLASH3.with_values({"kernel.fp8_v_transpose_passes": 0.0, "kernel.fp8_p_layout_ops": 0.0})
    assert predict(H100, "attention-1pass", problem, profile=off).time_s == \
        predict(H100, "attention-1pass", problem, profile=FLASH3).time_s

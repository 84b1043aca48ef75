"""Masks never make a fused kernel absurdly slower than dense.

The documented cost of masking is at most ``masking_overhead_bound`` of a step per partially
masked tile (``overheads.masked_tile_cost`` per step, gna.md sec. 4.5: 1.25-1.5x on H100,
plus ``overheads.masked_element_cost`` per score element); a masked kernel visits at most
the dense kernel's tiles, so its time stays within ``1 + masking_overhead_bound`` of the
dense time.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

import einsum
from simulator.gpu import load_profile, predict
from simulator.gpu.kernels import masking_overhead_bound
from simulator.gpu.masks import window_symbol
from simulator.workload import AttentionProblem

WINDOWED = einsum.with_mask(einsum.load("attention-1pass"), "window")
W = window_symbol(WINDOWED)


@settings(max_examples=60, deadline=None)
@given(hw=st.sampled_from(["a100", "l40s", "h100", "b200"]), seq=st.integers(16, 6000),
       head_dim=st.sampled_from([64, 128, 256]), batch=st.integers(1, 8),
       heads=st.sampled_from([1, 4, 16, 32]), window_share=st.floats(0.0, 1.5))
def test_masked_time_within_the_masking_overhead_of_dense(hw, seq, head_dim, batch, heads, window_share):
    problem = AttentionProblem(batch=batch, heads=heads, kv_heads=heads, seq_q=seq, seq_kv=seq,
                               head_dim_qk=head_dim)
    dense = predict(hw, "attention-1pass", problem)
    bound = (1 + masking_overhead_bound(load_profile(dense.profile))) * float(dense.time_s)
    causal = predict(hw, "attention-1pass", AttentionProblem(**{**problem.__dict__, "causal": True}))
    window = predict(hw, WINDOWED, problem, sizes={W: max(1, round(window_share * seq))})
    assert float(causal.time_s) <= bound
    assert float(window.time_s) <= bound
    assert float(causal.flops) <= float(dense.flops) and float(window.flops) <= float(dense.flops)

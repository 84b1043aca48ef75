"""FA2's mask costs per score element, not per step (flash2 ``overheads.masked_element_cost``).

FA2's ``apply_mask`` compares and selects every score of a masked tile in the warps that
then run the softmax, so a masked step's extra time follows the tile's scores (the exp
pipe's time on them), while the step's GEMMs grow with the head dim: relative to the kernel,
masking weighs most at small head dims. Problems that mask no tile do not see the number.
"""

import pytest

from simulator.gpu import load_profile, predict
from simulator.gpu.kernels import masked_step_time, masking_overhead_bound
from simulator.workload import AttentionProblem

FLASH2 = load_profile("flash2")
UNMASKED_COST = FLASH2.with_values({"overheads.masked_element_cost": 0.0})


def _extra(head_dim, causal=True, seq=1024):
    problem = AttentionProblem(batch=4, heads=2048 // head_dim, kv_heads=2048 // head_dim, seq_q=seq,
                               seq_kv=seq, head_dim_qk=head_dim, causal=causal)
    costed = float(predict("h100", "attention-1pass", problem, profile=FLASH2).time_s)
    free = float(predict("h100", "attention-1pass", problem, profile=UNMASKED_COST).time_s)
    return costed / free - 1


def test_masking_weighs_less_as_the_head_dim_grows():
    extra = [_extra(d) for d in (64, 128, 256)]
    assert extra[0] > extra[1] > extra[2] > 0


@pytest.mark.parametrize("head_dim", [64, 128, 256])
def test_a_problem_that_masks_no_tile_does_not_pay_it(head_dim):
    assert _extra(head_dim, causal=False) == pytest.approx(0.0, abs=1e-12)


def test_the_step_cost_is_the_scores_exp_time_times_the_number():
    cost = FLASH2.number("overheads.masked_element_cost")
    assert float(masked_step_time(FLASH2, 5.0, 2.0)) == pytest.approx(cost * 2.0)
    assert masking_overhead_bound(FLASH2) == pytest.approx(cost)

"""NATTEN FNA: every visited tile is fine-masked unless the mask is perfectly block-sparse (gna.md 2.4)."""

import dataclasses
from types import MappingProxyType

import pytest

from simulator.errors import SpecError
from simulator.gpu import load_profile, mask_counts, predict
from simulator.hardware import load_gpu
from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
from simulator.workload import AttentionProblem

# Hopper FNA (CUTLASS ex. 88, FA3-like) and Blackwell FNA (CUTLASS ex. 77, tcgen05)
KERNELS = [("natten", "h100"), ("natten-sm100", "b200")]


def _times(name, hw, stride):
    natten = load_profile(name)
    # the same kernel with the default rule: only partly masked tiles pay the masking cost
    lenient = dataclasses.replace(
        natten, flags=MappingProxyType({**natten.flags, "kernel.mask_every_tile": False}))
    config = SparsityConfig((32768,), window=(2048,), stride=stride)
    q_tile, kv_tile = natten.tile_for(128, load_gpu(hw).architecture)
    masks = mask_counts(count_tiles(config, TileConfig(q_tile, kv_tile, "static")))
    problem = AttentionProblem(batch=1, heads=24, kv_heads=24, seq_q=32768, seq_kv=32768, head_dim_qk=128,
                               dtype="bf16")
    return masks, [float(predict(hw, "attention-1pass", problem, profile=p, masks=masks).time_s)
                   for p in (natten, lenient)]


@pytest.mark.parametrize("name, hw", KERNELS)
def test_a_partly_masked_problem_masks_every_tile(name, hw):
    masks, (natten, lenient) = _times(name, hw, (1,))
    assert 0 < masks.steps.partial < masks.steps.steps
    cost = load_profile(name).number("overheads.masked_tile_cost")
    assert lenient < natten <= (1 + cost) * lenient


@pytest.mark.parametrize("name, hw", KERNELS)
def test_a_perfectly_block_sparse_problem_pays_no_masking(name, hw):
    # gna.md 2.4: 1-D w=2048 with stride 256 is fully block-sparse for 128-key tiles
    masks, (natten, lenient) = _times(name, hw, (256,))
    assert masks.steps.partial == 0
    assert natten == lenient
    assert load_profile(name).flag("kernel.mask_every_tile")
    assert not load_profile("flash3").flag("kernel.mask_every_tile")


def test_each_natten_kernel_runs_only_on_its_architecture():
    problem = AttentionProblem(batch=1, heads=8, kv_heads=8, seq_q=4096, seq_kv=4096, head_dim_qk=128)
    with pytest.raises(SpecError, match="natten-sm100"):
        predict("b200", "attention-1pass", problem, profile="natten")
    with pytest.raises(SpecError, match="needs blackwell"):
        predict("h100", "attention-1pass", problem, profile="natten-sm100")


def test_the_blackwell_kernel_uses_natten_tiles_and_no_exp_emulation():
    profile = load_profile("natten-sm100")
    assert profile.tile_for(128, "Blackwell") == (256, 128)
    assert profile.number("kernel.exp_emulated_fraction") == 0
    assert load_profile("flash4").number("kernel.exp_emulated_fraction") > 0

"""NATTEN FNA: every visited tile is fine-masked unless the mask is perfectly block-sparse (gna.md 2.4)."""

import dataclasses
from types import MappingProxyType

from simulator.gpu import load_profile, mask_counts, predict
from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
from simulator.workload import AttentionProblem

NATTEN = load_profile("natten")
# the same kernel with the default rule: only partly masked tiles pay the masking cost
LENIENT = dataclasses.replace(
    NATTEN, flags=MappingProxyType({**NATTEN.flags, "kernel.mask_every_tile": False}))


def _times(stride):
    config = SparsityConfig((32768,), window=(2048,), stride=stride)
    q_tile, kv_tile = NATTEN.tile_for(128, "Hopper")
    masks = mask_counts(count_tiles(config, TileConfig(q_tile, kv_tile, "static")))
    problem = AttentionProblem(batch=1, heads=24, kv_heads=24, seq_q=32768, seq_kv=32768, head_dim_qk=128,
                               dtype="bf16")
    return masks, [float(predict("h100", "attention-1pass", problem, profile=p, masks=masks).time_s)
                   for p in (NATTEN, LENIENT)]


def test_a_partly_masked_problem_masks_every_tile():
    masks, (natten, lenient) = _times((1,))
    assert 0 < masks.steps.partial < masks.steps.steps
    cost = NATTEN.number("overheads.masked_tile_cost")
    assert lenient < natten <= (1 + cost) * lenient


def test_a_perfectly_block_sparse_problem_pays_no_masking():
    # gna.md 2.4: 1-D w=2048 with stride 256 is fully block-sparse for 128-key tiles
    masks, (natten, lenient) = _times((256,))
    assert masks.steps.partial == 0
    assert natten == lenient
    assert NATTEN.flag("kernel.mask_every_tile") and not load_profile("flash3").flag("kernel.mask_every_tile")

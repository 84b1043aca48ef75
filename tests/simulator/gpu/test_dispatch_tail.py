"""The grid-order dispatch tail (kernels._dispatch_tail) against a greedy-dispatch simulation.

The simulation hands out CTAs in grid order (query tile fastest, as FlashAttention-2's grid
(ceil(Sq/M), b, h)) to whichever of ``slots`` slots frees first, each CTA taking as many time
units as it visits key tiles under a bottom-right causal mask. It is written apart from the
model: no closed form, only a heap of slot finish times.
"""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from simulator.gpu.kernels import _dispatch_tail
from simulator.gpu.tiling import StepCounts, ceil_div


def causal_works(heads: int, seq_q: int, seq_kv: int, q_tile: int, kv_tile: int) -> list[int]:
    """Key tiles each CTA visits, in grid order (query tiles of one head, then the next head)."""
    offset = seq_kv - seq_q
    per_head = [ceil_div(min(seq_kv, offset + (m + 1) * q_tile), kv_tile)
                for m in range(ceil_div(seq_q, q_tile))]
    return per_head * heads


def greedy_makespan(works: list[int], slots: int) -> float:
    """Finish time of the last CTA when each goes to the first free slot, in order."""
    free = [0.0] * slots
    for work in works:
        heapq.heappush(free, heapq.heappop(free) + work)
    return max(free)


GRIDS = [  # (instances, seq_q, seq_kv, q_tile, kv_tile, slots)
    (512, 1024, 1024, 128, 64, 216),     # A100 rows: B16 H32 1k causal, 2 CTAs x 108 SMs
    (128, 1024, 4096, 128, 64, 216),     # B4 H32 1k x 4k
    (32, 4096, 4096, 128, 64, 216),      # B1 H32 4k
    (256, 640, 640, 128, 128, 264),      # the Qwen trace's grid on H100 (2 x 132)
    (64, 8192, 8192, 128, 64, 264),
    (16, 16384, 16384, 128, 64, 264),
]


@pytest.mark.parametrize("grid", GRIDS)
def test_closed_form_tracks_greedy_dispatch(grid):
    instances, seq_q, seq_kv, q_tile, kv_tile, slots = grid
    works = causal_works(instances, seq_q, seq_kv, q_tile, kv_tile)
    q_tiles = ceil_div(seq_q, q_tile)
    steps = StepCounts(steps=sum(works[:q_tiles]), partial=0, max_steps=max(works), q_tiles=q_tiles,
                       kv_tiles=ceil_div(seq_kv, kv_tile))
    ctas = len(works)
    mean = steps.steps / q_tiles
    model = ceil_div(ctas, slots) * mean + float(_dispatch_tail(steps, q_tiles, ctas, slots))
    simulated = greedy_makespan(works, slots)
    assert model == pytest.approx(simulated, rel=0.08)
    # and the tail is what makes it so: the wave count alone misses the simulation by more
    assert abs(ceil_div(ctas, slots) * mean - simulated) > abs(model - simulated)


def test_equal_ctas_have_no_extra_tail():
    steps = StepCounts(steps=np.array([64.0, 8.0]), partial=0, max_steps=np.array([8.0, 1.0]),
                       q_tiles=np.array([8, 8]), kv_tiles=np.array([8, 1]))
    assert np.all(_dispatch_tail(steps, steps.q_tiles, 1000, 216) == 0)


def test_a_grid_within_one_wave_has_no_tail():
    steps = StepCounts(steps=528, partial=32, max_steps=32, q_tiles=32, kv_tiles=32)
    assert float(_dispatch_tail(steps, 32, 200, 216)) == 0.0

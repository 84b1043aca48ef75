"""Tiling arithmetic against brute force and against the independent sparsity counter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.gpu.tiling import (
    causal_steps,
    clipped_floor_sum,
    dense_steps,
    fit_kv_tile,
    floor_sum,
    l2_miss_fraction,
    occupancy,
    split_count,
)
from simulator.sparsity import SparsityConfig, TileConfig, count_tiles


@given(st.integers(0, 60), st.integers(1, 60), st.integers(0, 60), st.integers(0, 200))
def test_floor_sum_matches_brute_force(n, m, a, b):
    assert floor_sum(n, m, a, b) == sum((a * i + b) // m for i in range(n))


@given(st.integers(0, 40), st.integers(1, 40), st.integers(-400, 100), st.integers(1, 40),
       st.integers(0, 1), st.integers(0, 30))
def test_clipped_floor_sum_matches_brute_force(n, a, b, m, c, top):
    expected = sum(min(max((a * i + b) // m + c, 0), top) for i in range(n))
    assert clipped_floor_sum(n, a, b, m, c, top) == expected


def test_floor_sum_vectorised():
    n, m, a, b = (np.array(v) for v in ([0, 5, 7], [3, 4, 5], [2, 3, 9], [1, 0, 4]))
    expected = [sum((a[k] * i + b[k]) // m[k] for i in range(n[k])) for k in range(3)]
    assert floor_sum(n, m, a, b).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 600), st.data(), st.sampled_from([16, 64, 128, 192]),
       st.sampled_from([16, 32, 80, 128]))
def test_causal_steps_match_sparsity_tile_counter(keys, data, q_tile, kv_tile):
    rows = data.draw(st.integers(1, keys))
    counts = count_tiles(SparsityConfig((keys,), causal=True, seq_q=rows), TileConfig(q_tile, kv_tile))
    mine = causal_steps(rows, keys, q_tile, kv_tile)
    assert (mine.steps, mine.partial, mine.max_steps, mine.q_tiles) == (
        counts.total_visited, counts.total_partial, counts.max_visited, counts.n_q_tiles)


def test_causal_steps_vectorised_equals_scalar():
    rows, keys = np.array([1, 100, 1024, 3000]), np.array([4096, 100, 2048, 3000])
    vector = causal_steps(rows, keys, 128, 64)
    for i in range(4):
        scalar = causal_steps(int(rows[i]), int(keys[i]), 128, 64)
        assert tuple(int(v[i]) for v in vector[:5]) == tuple(scalar[:5])


def test_dense_steps():
    assert tuple(dense_steps(1000, 300, 128, 64)[:5]) == (8 * 5, 0, 5, 8, 5)


def test_fit_kv_tile_and_occupancy():
    # L40S (99 KiB per CTA): FA3 d128 tiles shrink the key tile to 64
    kv, smem = fit_kv_tile(128, 128, 101376, 2, 2, 2, 128, 128)
    assert (int(kv), int(smem)) == (64, 98304)
    assert occupancy(98304, 233472, 232448, 384 * 168, 65536, 32) == 1
    assert occupancy(49152, 233472, 232448, 128 * 128, 65536, 32) == 4
    assert occupancy(300000, 233472, 232448, 128, 65536, 32) == 0


def test_split_count_fills_one_wave():
    assert split_count(32, 132, 1000, 128, 0.8) == 4     # 128 CTAs: one wave, no tail
    assert split_count(4, 132, 10, 128, 0.8) == 10      # at most one split per key tile
    assert split_count(200, 132, 1000, 128, 0.8) == 1   # grid already fills the GPU


@pytest.mark.parametrize("working, expected", [(1e6, 0.0), (50e6, 0.5), (100e6, 0.75)])
def test_l2_miss_fraction(working, expected):
    assert l2_miss_fraction(working, 50e6, 0.5) == pytest.approx(expected)


def _fa2_masked_steps(rows, keys, q_tile, kv_tile, causal):
    """FA2's forward loop written out (flash_fwd_kernel.h, compute_attn_1rowblock)."""
    even = rows % q_tile == 0 and keys % kv_tile == 0
    masked = 0
    for m_block in range(-(-rows // q_tile)):
        n_block_max = -(-keys // kv_tile)
        if causal:
            n_block_max = min(n_block_max, -(-((m_block + 1) * q_tile + keys - rows) // kv_tile))
        if n_block_max <= 0:
            continue  # the kernel writes zeros and returns
        n_masking_steps = (1 if not causal else
                           -(-q_tile // kv_tile) if even else -(-q_tile // kv_tile) + 1)
        if causal or not even:  # Need_masking: a dense even problem masks nothing
            masked += min(n_masking_steps, n_block_max)
    return masked


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 700), st.data(), st.sampled_from([64, 128]), st.sampled_from([32, 64, 128]),
       st.booleans())
def test_even_specialised_partial_matches_fa2_loop(keys, data, q_tile, kv_tile, causal):
    from simulator.gpu.masks import even_specialised_partial

    rows = data.draw(st.integers(1, keys))
    mine = even_specialised_partial(rows, keys, q_tile, kv_tile, keys - rows if causal else None)
    assert mine == _fa2_masked_steps(rows, keys, q_tile, kv_tile, causal)
    if causal:  # FA2 masks at least the tiles the causal mask cuts
        assert mine >= causal_steps(rows, keys, q_tile, kv_tile).partial

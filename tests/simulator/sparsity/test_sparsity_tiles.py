"""Tile counts against brute-force enumeration of the element mask.

The oracle below never uses the interval arithmetic of ``simulator.sparsity.tiles``: it
builds the full boolean mask with ``gna_mask``, assigns every token to its tile and
counts (query tile, key tile) blocks with at least one / only unmasked pairs.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.errors import SpecError
from simulator.sparsity import (
    SparsityConfig,
    TileConfig,
    count_tiles,
    default_tiles,
    gna_mask,
    visited_kv_tiles,
)

# --- brute-force oracle -------------------------------------------------------------


def _slot_ids(coords: np.ndarray, layout, dilation, tile) -> np.ndarray:
    """Token -> tile id for token-permuted tiling: tiles inside each dilation group."""
    slots, n_slots = [], []
    for x, extent, d, t in zip(coords, layout, dilation, tile):
        lengths = [len(range(g, extent, d)) for g in range(d)]
        base = np.cumsum([0] + [-(-n // t) for n in lengths])
        slots.append(base[x % d] + (x // d) // t)
        n_slots.append(int(base[-1]))
    return np.ravel_multi_index(tuple(slots), tuple(n_slots))


def _block_stats(mask, q_ids, k_ids):
    """Per Q tile: visited blocks, partial blocks; and the real pairs inside visited blocks."""
    n_qt, n_kt = q_ids.max() + 1, k_ids.max() + 1
    q_hot = np.eye(n_qt)[q_ids]
    k_hot = np.eye(n_kt)[k_ids]
    unmasked = q_hot.T @ mask.astype(float) @ k_hot
    real = np.outer(q_hot.sum(0), k_hot.sum(0))
    visited = unmasked > 0
    partial = visited & (unmasked < real)
    return visited.sum(1), partial.sum(1), int(real[visited].sum())


def _dynamic_stats(mask, q_ids, region_of, tile):
    """Dynamic KV tiling: per Q tile, tiles anchored at the first needed key."""
    visited, partial, pairs = [], [], 0
    for t in range(q_ids.max() + 1):
        rows = mask[q_ids == t]
        keys, tile_ids = region_of(rows.any(0), tile)
        unmasked = np.bincount(tile_ids, weights=rows[:, keys].sum(0))
        size = np.bincount(tile_ids) * rows.shape[0]
        hit = unmasked > 0
        visited.append(hit.sum())
        partial.append((hit & (unmasked < size)).sum())
        pairs += int(size[hit].sum())
    return np.array(visited), np.array(partial), pairs


def _multi_region(coords, dilation):
    """Dynamic region of a multi-dimensional Q tile: the needed keys' bounding box per group."""

    def region(needed, tile):
        group = coords[:, needed][:, 0] % np.array(dilation)
        local = coords // np.array(dilation)[:, None]
        lo = local[:, needed].min(1)
        hi = local[:, needed].max(1) + 1
        inside = np.all(
            (coords % np.array(dilation)[:, None] == group[:, None])
            & (local >= lo[:, None])
            & (local < hi[:, None]),
            axis=0,
        )
        keys = np.flatnonzero(inside)
        rel = (local[:, keys] - lo[:, None]) // np.array(tile)[:, None]
        dims = tuple(-(-(hi - lo) // np.array(tile)))
        return keys, np.ravel_multi_index(tuple(rel), dims)

    return region


def _flat_region(needed, tile):
    """Dynamic region of a flattened Q tile: [first needed key, last needed key]."""
    keys = np.arange(np.flatnonzero(needed)[0], np.flatnonzero(needed)[-1] + 1)
    return keys, (keys - keys[0]) // tile[0]


def brute_force(config: SparsityConfig, tiles: TileConfig):
    """Visited per Q tile, partial per Q tile and pairs in visited tiles, by enumeration."""
    mask = gna_mask(config)
    q_layout = (config.seq_q,) + config.layout[1:]
    q_coords = np.indices(q_layout).reshape(config.ndim, -1)
    k_coords = np.indices(config.layout).reshape(config.ndim, -1)
    if len(tiles.q_tile) != config.ndim:  # flattened
        q_ids = np.arange(config.n_queries) // tiles.q_tile[0]
        k_ids = np.arange(config.n_keys) // tiles.kv_tile[0]
        region = _flat_region
    else:
        q_ids = _slot_ids(q_coords, q_layout, config.dilation, tiles.q_tile)
        k_ids = _slot_ids(k_coords, config.layout, config.dilation, tiles.kv_tile)
        region = _multi_region(k_coords, config.dilation)
    if tiles.dynamic:
        return _dynamic_stats(mask, q_ids, region, tiles.kv_tile)
    return _block_stats(mask, q_ids, k_ids)


def brute_force_sets(config: SparsityConfig, tiles: TileConfig):
    """Static visited KV tile ids of each Q tile, by enumeration."""
    mask = gna_mask(config)
    coords = np.indices(config.layout).reshape(config.ndim, -1)
    if len(tiles.q_tile) != config.ndim:
        q_ids = np.arange(config.n_keys) // tiles.q_tile[0]
        k_ids = np.arange(config.n_keys) // tiles.kv_tile[0]
    else:
        q_ids = _slot_ids(coords, config.layout, config.dilation, tiles.q_tile)
        k_ids = _slot_ids(coords, config.layout, config.dilation, tiles.kv_tile)
    return [np.unique(k_ids[mask[q_ids == t].any(0)]) for t in range(q_ids.max() + 1)]


# --- strategies ---------------------------------------------------------------------

_MAX_EXTENT = {1: 40, 2: 13, 3: 6}


@st.composite
def sparsity_configs(draw, ndim=None):
    ndim = ndim or draw(st.integers(1, 3))
    layout, window, stride, dilation, causal = [], [], [], [], []
    for _ in range(ndim):
        x = draw(st.integers(1, _MAX_EXTENT[ndim]))
        d = draw(st.integers(1, min(3, x)))
        w = draw(st.integers(1, x // d))
        s = draw(st.sampled_from(sorted({1, w, max(1, w // 2), draw(st.integers(1, w))})))
        layout.append(x)
        window.append(w)
        stride.append(s)
        dilation.append(d)
        causal.append(draw(st.booleans()))
    return SparsityConfig(tuple(layout), tuple(window), tuple(stride), tuple(dilation), tuple(causal))


@st.composite
def tile_configs(draw, ndim, flattened=False):
    kv_tiling = draw(st.sampled_from(["static", "dynamic"]))
    if flattened:
        return TileConfig(draw(st.integers(1, 24)), draw(st.integers(1, 24)), kv_tiling)
    q = tuple(draw(st.integers(1, 6)) for _ in range(ndim))
    kv = tuple(draw(st.integers(1, 6)) for _ in range(ndim))
    return TileConfig(q, kv, kv_tiling)


@st.composite
def problems(draw):
    config = draw(sparsity_configs())
    flattened = config.ndim > 1 and draw(st.booleans())
    return config, draw(tile_configs(config.ndim, flattened))


_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_matches_brute_force(config, tiles):
    counts = count_tiles(config, tiles)
    visited, partial, pairs = brute_force(config, tiles)
    assert counts.visited_per_q_tile.tolist() == visited.tolist()
    assert counts.partial_per_q_tile.tolist() == partial.tolist()
    assert counts.visited_pairs == pairs
    assert counts.unmasked_pairs == int(gna_mask(config).sum())
    assert counts.n_q_tiles == visited.size


# --- brute-force comparisons --------------------------------------------------------


@_SETTINGS
@given(problems())
def test_counts_match_brute_force(problem):
    _assert_matches_brute_force(*problem)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 60),
    st.data(),
    st.integers(1, 9),
    st.integers(1, 9),
    st.sampled_from(["static", "dynamic"]),
)
def test_llm_causal_with_kv_cache_matches_brute_force(seq_kv, data, tq, tk, kv_tiling):
    seq_q = data.draw(st.integers(1, seq_kv))
    window = data.draw(st.integers(1, seq_kv))
    stride = data.draw(st.integers(1, window))
    config = SparsityConfig(seq_kv, window, stride, causal=True, seq_q=seq_q)
    _assert_matches_brute_force(config, TileConfig(tq, tk, kv_tiling))


CASES = [  # (id, config, tiles): hand-picked corners, each checked against brute force
    ("1d-na-odd", SparsityConfig(23, 7), TileConfig(4, 3)),
    ("1d-even-window", SparsityConfig(20, 6, 3), TileConfig(5, 4, "dynamic")),
    ("1d-blocked-dilated", SparsityConfig.blocked(31, 5, dilation=3), TileConfig(2, 2)),
    ("2d-causal-one-dim", SparsityConfig((9, 11), (4, 5), (2, 1), causal=(True, False)),
     TileConfig((2, 4), (3, 2))),
    ("2d-flat", SparsityConfig((7, 13), (3, 5), (1, 5), (2, 2)), TileConfig(10, 7)),
    ("2d-flat-dynamic", SparsityConfig((6, 10), (5, 3), (5, 2)), TileConfig(8, 6, "dynamic")),
    ("3d-dilated", SparsityConfig((6, 7, 8), (2, 3, 4), (1, 3, 2), (2, 2, 2)),
     TileConfig((2, 2, 4), (1, 4, 2))),
    ("3d-flat-causal", SparsityConfig((4, 5, 6), (2, 3, 3), causal=(True, False, True)),
     TileConfig(9, 5)),
    ("dense-2d", SparsityConfig.dense((5, 9)), TileConfig((2, 4), (4, 4))),
    ("tile-larger-than-layout", SparsityConfig(5, 3), TileConfig(16, 16)),
]


@pytest.mark.parametrize("config, tiles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_case_table_matches_brute_force(config, tiles):
    _assert_matches_brute_force(config, tiles)


@settings(max_examples=120, deadline=None)
@given(problems(), st.data())
def test_visited_kv_tile_sets_match_brute_force(problem, data):
    config, tiles = problem
    tiles = TileConfig(tiles.q_tile, tiles.kv_tile, "static")
    expected = brute_force_sets(config, tiles)
    q_tile = data.draw(st.integers(0, len(expected) - 1))
    assert visited_kv_tiles(config, tiles, q_tile).tolist() == expected[q_tile].tolist()


# --- closed forms (attention_variants.md §4) ----------------------------------------


@pytest.mark.parametrize("n, tile", [(1024, 128), (32768, 128), (1000, 64), (7, 2)])
def test_causal_square_tiles_closed_form(n, tile):
    counts = count_tiles(SparsityConfig.causal_1d(n), TileConfig(tile, tile))
    nb = -(-n // tile)
    assert counts.total_visited == nb * (nb + 1) // 2
    # every diagonal tile is partial, except a last 1x1 tile (padding is not masking)
    assert counts.total_partial == nb - (n % tile == 1)
    assert counts.unmasked_pairs == n * (n + 1) // 2


@pytest.mark.parametrize(
    "seq_kv, seq_q, bq, bkv", [(32768, 4096, 128, 128), (4096, 1, 64, 128), (1000, 333, 64, 32)]
)
def test_kv_cache_tiles_per_q_tile_formula(seq_kv, seq_q, bq, bkv):
    counts = count_tiles(SparsityConfig.causal_1d(seq_kv, seq_q), TileConfig(bq, bkv))
    n_kv = -(-seq_kv // bkv)
    expected = [
        min(n_kv, -(-(min((j + 1) * bq, seq_q) + seq_kv - seq_q) // bkv))
        for j in range(-(-seq_q // bq))
    ]
    assert counts.visited_per_q_tile.tolist() == expected
    assert counts.unmasked_pairs == seq_q * seq_kv - seq_q * (seq_q - 1) // 2


# --- invariants ---------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(problems())
def test_sparse_work_never_exceeds_dense(problem):
    config, tiles = problem
    counts = count_tiles(config, tiles)
    assert (counts.visited_per_q_tile >= 1).all()
    assert (counts.partial_per_q_tile >= 0).all()
    assert (counts.partial_per_q_tile <= counts.visited_per_q_tile).all()
    assert counts.max_visited <= counts.n_kv_tiles
    assert counts.unmasked_pairs <= counts.visited_pairs <= counts.dense_pairs
    if all(d == 1 for d in config.dilation):
        assert counts.n_q_tiles == counts.dense_q_tiles
        assert counts.total_visited <= counts.dense_tiles


def test_dilation_can_split_q_tiles_beyond_dense():
    # 10 dilation groups of one token each: 10 Q tiles against 2 dense ones.
    counts = count_tiles(SparsityConfig(10, 1, dilation=10), TileConfig(8, 8))
    assert (counts.n_q_tiles, counts.dense_q_tiles) == (10, 2)
    assert counts.total_visited == 10 > counts.dense_tiles == 4


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 12), st.integers(1, 40), st.data())
def test_flattened_rows_equal_multi_dimensional_rows(rows, width, data):
    # One-row tiles of a 2-D layout are the same tiles in both tilings.
    window = (data.draw(st.integers(1, rows)), data.draw(st.integers(1, width)))
    stride = (data.draw(st.integers(1, window[0])), data.draw(st.integers(1, window[1])))
    causal = (data.draw(st.booleans()), data.draw(st.booleans()))
    config = SparsityConfig((rows, width), window, stride, causal=causal)
    kv_tiling = data.draw(st.sampled_from(["static", "dynamic"]))
    multi = count_tiles(config, TileConfig((1, width), (1, width), kv_tiling))
    flat = count_tiles(config, TileConfig(width, width, kv_tiling))
    assert multi.visited_per_q_tile.tolist() == flat.visited_per_q_tile.tolist()
    assert multi.partial_per_q_tile.tolist() == flat.partial_per_q_tile.tolist()


def test_dense_is_one_block_per_pair():
    counts = count_tiles(SparsityConfig.dense((30, 48, 80)), default_tiles(3))
    assert counts.total_visited == counts.dense_tiles
    assert counts.total_partial == 0


# --- real layouts: fast and exact ---------------------------------------------------

REAL = [
    (SparsityConfig((30, 48, 80), (18, 24, 24)), TileConfig((8, 4, 8), (4, 4, 8))),
    (SparsityConfig((30, 48, 80), (18, 24, 24), (16, 8, 8)), TileConfig(256, 128)),
    (SparsityConfig((256, 256), 80), TileConfig(256, 128, "dynamic")),
    (SparsityConfig.sliding_window_1d(1 << 20, 4096), TileConfig(128, 128)),
]


@pytest.mark.parametrize("config, tiles", REAL)
def test_real_layouts_are_fast(config, tiles):
    start = time.perf_counter()
    counts = count_tiles(config, tiles)
    assert time.perf_counter() - start < 3.0
    assert counts.n_q_tiles == math.prod(
        -(-x // t) for x, t in zip((config.n_keys,) if counts.flattened else config.layout,
                                   tiles.q_tile)
    )


# --- config objects and report ------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"q_tile": 0, "kv_tile": 8}, "q_tile: expected 1 to 3 integers >= 1"),
        ({"q_tile": (8, 8), "kv_tile": 8}, "kv_tile: expected the rank of q_tile"),
        ({"q_tile": 8, "kv_tile": 8, "kv_tiling": "halo"}, "kv_tiling: expected 'static'"),
        ({"q_tile": (1, 2, 3, 4), "kv_tile": 8}, "q_tile: expected 1 to 3 integers"),
    ],
)
def test_tile_config_validation(kwargs, message):
    with pytest.raises(SpecError, match=message):
        TileConfig(**kwargs)


def test_tile_rank_must_match_layout():
    with pytest.raises(SpecError, match="q_tile: expected rank 1 .* or the layout rank 3"):
        count_tiles(SparsityConfig((8, 8, 8)), TileConfig((4, 4), (4, 4)))


def test_visited_kv_tiles_rejects_dynamic_and_bad_index():
    config = SparsityConfig(64, 8)
    with pytest.raises(SpecError, match="static"):
        visited_kv_tiles(config, TileConfig(16, 16, "dynamic"), 0)
    with pytest.raises(SpecError, match=r"q_tile: expected an index in \[0, 4\)"):
        visited_kv_tiles(config, TileConfig(16, 16), 4)


def test_counts_are_immutable_and_reported():
    counts = count_tiles(SparsityConfig.causal_1d(1024), TileConfig(128, 128))
    with pytest.raises(ValueError):
        counts.visited_per_q_tile[0] = 5
    text = str(counts)
    assert "visited tiles:        36 of 64 dense" in text
    assert "partially masked:     8" in text
    assert "(1-D" not in text and "multi-dimensional tiling" in text

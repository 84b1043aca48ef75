"""Speedup bounds, against the worked numbers of reference/gna.md."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.errors import SimulatorError, SpecError
from simulator.sparsity import (
    SparsityConfig,
    TileConfig,
    block_sparse,
    count_tiles,
    flop_bound,
    kernel_block_sparse,
    predicted_speedup_hook,
    speedup_bounds,
    tile_bound,
    tile_bound_total,
)

FLUX, HUNYUAN, COSMOS = (256, 256), (30, 48, 80), (16, 44, 80)
BW_2D = TileConfig((16, 16), (16, 8))  # Blackwell FNA default tiles, gna.md §3
BW_3D = TileConfig((8, 4, 8), (4, 4, 8))

# gna.md §1: FLOP-wise bound N / prod(w) and sparsity of the paper's use cases.
FLOP_CASES = [
    (FLUX, 80, 10.24, 90.2),
    (HUNYUAN, (18, 24, 24), 11.11, 91.0),
    (COSMOS, (16, 24, 16), 9.17, 89.1),
    (COSMOS, (16, 32, 48), 2.29, 56.4),
    (HUNYUAN, (30, 40, 40), 2.40, 58.3),
    (32768, 2048, 16.0, 93.75),
]


@pytest.mark.parametrize("layout, window, bound, sparsity", FLOP_CASES)
def test_flop_bounds_of_the_paper(layout, window, bound, sparsity):
    config = SparsityConfig(layout, window)
    counts = count_tiles(config, TileConfig(config.ndim * (8,), config.ndim * (8,)))
    assert flop_bound(counts) == pytest.approx(bound, abs=0.005)
    assert 100 * (1 - counts.unmasked_pairs / counts.dense_pairs) == pytest.approx(
        sparsity, abs=0.1
    )


# gna.md §1 "worked examples that are perfectly block-sparse": tile bound = FLOP bound.
BLOCK_SPARSE_CASES = [
    ("flux", SparsityConfig(FLUX, 80, 16), BW_2D, 10.24),
    ("hunyuan", SparsityConfig(HUNYUAN, (18, 24, 24), (16, 8, 8)),
     TileConfig((4, 8, 8), (2, 8, 8)), 11.11),
    ("cosmos-16x24x16", SparsityConfig(COSMOS, (16, 24, 16), (1, 8, 16)), BW_3D, 9.17),
    ("cosmos-16x32x48", SparsityConfig(COSMOS, (16, 32, 48), (1, 8, 16)), BW_3D, 2.29),
    ("1d-blackwell", SparsityConfig(32768, 2048, 256), TileConfig(256, 128), 16.0),
    ("1d-hopper", SparsityConfig(32768, 2048, 256), TileConfig(128, 128), 16.0),
]


@pytest.mark.parametrize(
    "config, tiles, bound", [c[1:] for c in BLOCK_SPARSE_CASES], ids=[c[0] for c in BLOCK_SPARSE_CASES]
)
def test_perfectly_block_sparse_examples(config, tiles, bound):
    bounds = speedup_bounds(count_tiles(config, tiles))
    assert bounds.block_sparse
    assert kernel_block_sparse(config, tiles)
    assert bounds.tile_bound == pytest.approx(bound, abs=0.005)
    assert bounds.tile_bound == pytest.approx(bounds.flop_bound, rel=1e-3)


@pytest.mark.parametrize("tiles", [TileConfig(256, 128), TileConfig(128, 128)])
def test_stride_256_is_the_minimum_block_sparse_stride_for_w2048(tiles):
    # [N-prof] via gna.md §1: "stride=256 is the minimum stride that results in a fully
    # block-sparse mask, for both Hopper and Blackwell tile sizes".
    sparse = [
        s for s in range(1, 257) if block_sparse(count_tiles(SparsityConfig(32768, 2048, s), tiles))
    ]
    assert sparse == [256]
    assert not kernel_block_sparse(SparsityConfig(32768, 2048, 128), tiles)


# gna.md §1-§2.2: tile-wise bounds that are not block-sparse (paper's max rule).
TILE_CASES = [
    ("hunyuan-wsa", SparsityConfig.blocked(HUNYUAN, (18, 24, 24)), BW_3D, 6.67),
    ("hunyuan-wsa-4x8x8", SparsityConfig.blocked(HUNYUAN, (18, 24, 24)),
     TileConfig((4, 8, 8), (2, 8, 8)), 6.67),
    ("flux-na", SparsityConfig(FLUX, 80), BW_2D, 6.10),
    ("flux-na-flat", SparsityConfig(FLUX, 80), TileConfig(256, 128), 3.20),
    ("flux-gna-flat", SparsityConfig(FLUX, 80, 16), TileConfig(256, 128), 3.20),
    ("hunyuan-na-flat", SparsityConfig(HUNYUAN, (18, 24, 24)), TileConfig(256, 128), 2.94),
    ("cosmos-na-flat", SparsityConfig(COSMOS, (16, 24, 16)), TileConfig(256, 128), 1.00),
]


@pytest.mark.parametrize(
    "config, tiles, bound", [c[1:] for c in TILE_CASES], ids=[c[0] for c in TILE_CASES]
)
def test_tile_bounds_of_the_paper(config, tiles, bound):
    counts = count_tiles(config, tiles)
    assert tile_bound(counts) == pytest.approx(bound, abs=0.005)
    assert not block_sparse(counts)


def test_flux_flat_tiles_visit_160_of_512():
    counts = count_tiles(SparsityConfig(FLUX, 80), TileConfig(256, 128))
    assert (counts.n_kv_tiles, counts.max_visited) == (512, 160)


def test_hunyuan_strided_flat_sampled_vs_exact():
    # gna.md §2.2 quotes 3.33x from every 5th Q tile; the exact worst Q tile gives 2.5x.
    counts = count_tiles(SparsityConfig(HUNYUAN, (18, 24, 24), (16, 8, 8)), TileConfig(256, 128))
    assert counts.n_kv_tiles / counts.visited_per_q_tile[::5].max() == pytest.approx(3.33, abs=0.005)
    assert tile_bound(counts) == pytest.approx(2.5)


def test_causal_max_rule_is_degenerate_and_total_is_not():
    # gna.md §2.2: "pure 1-D causal gives 1.0x by max, 1.98x by total".
    counts = count_tiles(SparsityConfig.causal_1d(16384), TileConfig(128, 128))
    assert tile_bound(counts) == 1.0
    assert tile_bound_total(counts) == pytest.approx(1.98, abs=0.005)
    assert flop_bound(counts) == pytest.approx(2.0, abs=0.001)


# --- properties ---------------------------------------------------------------------


@st.composite
def gna_problems(draw, causal=True, divides=False):
    ndim = draw(st.integers(1, 3))
    layout, window, stride, dilation, flags, q_tile, kv_tile = [], [], [], [], [], [], []
    for _ in range(ndim):
        tk = draw(st.integers(1, 4))
        tq = tk * draw(st.integers(1, 3))
        x = tq * draw(st.integers(1, 4)) if divides else draw(st.integers(1, 24 // ndim))
        d = 1 if divides else draw(st.integers(1, min(2, x)))
        w = draw(st.integers(1, x // d))
        layout.append(x)
        window.append(w)
        stride.append(draw(st.integers(1, w)))
        dilation.append(d)
        flags.append(causal and draw(st.booleans()))
        q_tile.append(tq)
        kv_tile.append(tk)
    config = SparsityConfig(tuple(layout), tuple(window), tuple(stride), tuple(dilation), tuple(flags))
    kv_tiling = draw(st.sampled_from(["static", "dynamic"]))
    return config, TileConfig(tuple(q_tile), tuple(kv_tile), kv_tiling)


@st.composite
def kernel_aligned_problems(draw):
    """Non-causal problems with T_KV | T_Q, T_KV | w and T_Q | s, where the kernel rule bites."""
    ndim = draw(st.integers(1, 3))
    layout, window, stride, dilation, q_tile, kv_tile = [], [], [], [], [], []
    for _ in range(ndim):
        tk = draw(st.integers(1, 4))
        tq = tk * draw(st.integers(1, 2))
        w = tk * draw(st.integers(1, 12 // tk))
        d = draw(st.integers(1, 2))
        layout.append(d * w + draw(st.integers(0, 16)))
        window.append(w)
        stride.append(draw(st.sampled_from([tq * k for k in range(1, w // tq + 1)] or [1])))
        dilation.append(d)
        q_tile.append(tq)
        kv_tile.append(tk)
    config = SparsityConfig(tuple(layout), tuple(window), tuple(stride), tuple(dilation))
    return config, TileConfig(tuple(q_tile), tuple(kv_tile))


@settings(max_examples=200, deadline=None)
@given(st.one_of(kernel_aligned_problems(), gna_problems(causal=False)))
def test_kernel_predicate_implies_block_sparse(problem):
    config, tiles = problem
    tiles = TileConfig(tiles.q_tile, tiles.kv_tile, "static")
    if kernel_block_sparse(config, tiles):
        assert block_sparse(count_tiles(config, tiles))


def test_kernel_predicate_needs_stride_multiple_of_kv_tile():
    # gna.md's transcription of is_fully_block_sparse_int is not sufficient when
    # T_KV does not divide the stride (never the case for Blackwell's 1-D 256/128).
    config, tiles = SparsityConfig(27, 6, 3), TileConfig(3, 2)
    assert kernel_block_sparse(config, tiles)
    assert not block_sparse(count_tiles(config, tiles))


@settings(max_examples=200, deadline=None)
@given(gna_problems(causal=False), st.data())
def test_paper_rule_for_dynamic_tiling_implies_block_sparse(problem, data):
    # gna.md §1: with dynamic KV tiling, T_KV | w and T_Q | s suffice.
    config, tiles = problem
    window = tuple(t * data.draw(st.integers(1, 3)) for t in tiles.kv_tile)
    if any(w * d > x for w, d, x in zip(window, config.dilation, config.layout)):
        return
    stride = tuple(min(w // t * t, t * data.draw(st.integers(1, 3))) for w, t in zip(window, tiles.q_tile))
    if any(s < 1 for s in stride):
        return
    config = SparsityConfig(config.layout, window, stride, config.dilation)
    tiles = TileConfig(tiles.q_tile, tiles.kv_tile, "dynamic")
    assert block_sparse(count_tiles(config, tiles))


@settings(max_examples=150, deadline=None)
@given(gna_problems())
def test_block_sparse_iff_visited_pairs_are_all_unmasked(problem):
    counts = count_tiles(*problem)
    assert block_sparse(counts) == (counts.visited_pairs == counts.unmasked_pairs)
    assert tile_bound(counts) >= 1.0
    assert flop_bound(counts) >= 1.0


@settings(max_examples=120, deadline=None)
@given(gna_problems(divides=True))
def test_block_sparse_reaches_the_flop_bound_when_tiles_divide_the_layout(problem):
    config, tiles = problem
    bounds = speedup_bounds(count_tiles(config, tiles))
    assert bounds.tile_bound_total <= bounds.flop_bound * (1 + 1e-12)
    if bounds.block_sparse and not tiles.dynamic:  # dynamic tiles are clipped, not whole
        assert bounds.tile_bound_total == pytest.approx(bounds.flop_bound)


def test_kernel_predicate_rejects_causal_and_flattened():
    assert not kernel_block_sparse(SparsityConfig.causal_1d(1024), TileConfig(1, 1))
    with pytest.raises(SpecError, match="rank-2 tiles"):
        kernel_block_sparse(SparsityConfig((16, 16), 4), TileConfig(8, 8))


def test_bounds_as_dict_and_report():
    bounds = speedup_bounds(count_tiles(SparsityConfig.causal_1d(1024), TileConfig(128, 128)))
    assert bounds.as_dict() == {
        "flop_bound": pytest.approx(2 * 1024 / 1025),
        "tile_bound": 1.0,
        "tile_bound_total": pytest.approx(64 / 36),
        "block_sparse": False,
    }
    assert "perfectly block-sparse:              no" in str(bounds)


def test_hook_calls_the_gpu_model(monkeypatch):
    import types

    calls = []
    fake = types.ModuleType("simulator.gpu")
    fake.predict_sparse_speedup = lambda hw, counts: calls.append((hw, counts)) or 3.5
    monkeypatch.setitem(__import__("sys").modules, "simulator.gpu", fake)
    counts = count_tiles(SparsityConfig.causal_1d(256), TileConfig(64, 64))
    assert predicted_speedup_hook("b200", counts) == 3.5
    assert calls == [("b200", counts)]
    del fake.predict_sparse_speedup
    with pytest.raises(SimulatorError, match="no predict_sparse_speedup"):
        predicted_speedup_hook("b200", counts)


def test_hook_without_gpu_model(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "simulator.gpu", None)
    counts = count_tiles(SparsityConfig.causal_1d(256), TileConfig(64, 64))
    with pytest.raises(SimulatorError, match="needs the GPU model"):
        predicted_speedup_hook("b200", counts)

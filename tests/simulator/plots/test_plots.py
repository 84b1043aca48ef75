"""simulator.plots: the data behind each picture, checked against independent computations."""

from __future__ import annotations

import numpy as np
import pytest

import einsum
from simulator.gpu import predict
from simulator.plots._base import png_bytes
from simulator.plots.cascade import footprint_frame, graph_figure, graph_layout
from simulator.plots.explorer import explorer_figure, explorer_roofline, explorer_widgets
from simulator.plots.regimes import bound_grid, regime_figure
from simulator.plots.sparsity import bounds_frame, tile_slice_2d, tile_states
from simulator.roofline import roofline
from simulator.sparsity import SparsityConfig, TileConfig, count_tiles, gna_mask, speedup_bounds
from simulator.workload import AttentionProblem

MASKS = [
    SparsityConfig.causal_1d(700),
    SparsityConfig.sliding_window_1d(512, 100),
    SparsityConfig.sliding_window_1d(1000, 257),
    SparsityConfig.dense(300),
]
TILES = [(64, 64), (128, 32), (50, 70)]


@pytest.mark.parametrize("config", MASKS, ids=str)
@pytest.mark.parametrize("tiles", TILES, ids=str)
def test_tile_states_agree_with_the_tile_counter(config, tiles):
    states = tile_states(config, *tiles)
    counts = count_tiles(config, TileConfig(*tiles))
    assert int((states > 0).sum()) == counts.total_visited
    assert int((states == 1).sum()) == counts.total_partial


def test_tile_slice_2d_by_brute_force():
    config = SparsityConfig.neighborhood((16, 16), 5)
    mask = gna_mask(config).reshape(16, 16, 16, 16)
    states = tile_slice_2d(config, (4, 4), (4, 8), (1, 2))
    for i in range(4):
        for j in range(2):
            block = mask[4:8, 8:12, 4 * i : 4 * i + 4, 8 * j : 8 * j + 8]
            expected = 0 if not block.any() else 2 if block.all() else 1
            assert states[i, j] == expected
    counts = count_tiles(config, TileConfig((4, 4), (4, 8)))
    assert (states > 0).sum() == counts.visited_per_q_tile[1 * 4 + 2]


def test_bounds_frame_equals_the_bound_functions():
    frame = bounds_frame(4096, [256, 1024], [(64, 64), (128, 128)])
    for row in frame.itertuples(index=False):
        q, kv = map(int, row.tiles.split("x"))
        b = speedup_bounds(count_tiles(SparsityConfig.sliding_window_1d(4096, row.window), TileConfig(q, kv)))
        assert (row.flop_bound, row.tile_bound, row.tile_bound_total) == (
            b.flop_bound, b.tile_bound, b.tile_bound_total)


def test_graph_layout_puts_every_producer_left_of_its_consumers():
    for name in ("attention-3pass", "attention-1pass", "decode-splitk"):
        graph = einsum.cascade_graph(einsum.load(name))
        layout = graph_layout(graph)
        for u, v, data in graph.edges(data=True):
            if not data["loop_carried"]:
                assert layout[u][0] < layout[v][0]
        assert png_bytes(graph_figure(name))[:4] == b"\x89PNG"


def test_footprint_frame_equals_footprint_value():
    frame = footprint_frame(["attention-3pass", "attention-1pass"], [1024, 8192], {"E": 64, "F": 64}, 2.0)
    for row in frame.itertuples(index=False):
        c = einsum.load(row.cascade)
        sizes = {"E": 64, "F": 64, "M": row.seq_len}
        assert row.elements_per_query == float(einsum.footprint_value(c, sizes))
        assert row.bytes_per_query == 2 * row.elements_per_query
    three = frame[frame["cascade"] == "attention-3pass"]["elements_per_query"]
    one = frame[frame["cascade"] == "attention-1pass"]["elements_per_query"]
    assert three.is_monotonic_increasing and one.nunique() == 1


def test_bound_grid_is_the_gpu_model():
    base = AttentionProblem(batch=1, heads=8, kv_heads=8, seq_q=2048, seq_kv=2048, head_dim_qk=128)
    grid = bound_grid(["h100", "a100"], "attention-1pass", base, "head_dim", [64, 128])
    for row in grid.itertuples(index=False):
        p = AttentionProblem(batch=1, heads=8, kv_heads=8, seq_q=2048, seq_kv=2048,
                             head_dim_qk=row.head_dim, head_dim_v=row.head_dim)
        pred = predict(row.hardware, "attention-1pass", p)
        assert (row.bound, row.time_s) == (pred.bound, pred.time_s)
    assert png_bytes(regime_figure(grid, "head_dim"))[:4] == b"\x89PNG"


def test_explorer_default_is_the_roofline_of_its_problem():
    rf = explorer_roofline(seq_len=1024, heads=8, kv_heads=8)
    p = AttentionProblem(batch=1, heads=8, kv_heads=8, seq_q=1024, seq_kv=1024, head_dim_qk=128)
    assert rf.prediction.time_s == roofline("h100-sxm5", "attention-1pass", p).prediction.time_s
    assert png_bytes(explorer_figure(seq_len=1024, mask="causal"))[:4] == b"\x89PNG"


def test_explorer_widgets_without_ipywidgets(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_widgets(name, *args, **kwargs):
        if name == "ipywidgets":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_widgets)
    assert explorer_widgets() is None


@pytest.mark.parametrize("hw", ["a100", "l40s", "h100", "b200"])
@pytest.mark.parametrize("head_dim", [64, 128, 256])
def test_binding_ceiling_is_the_lowest_compute_ceiling_drawn(hw, head_dim):
    p = AttentionProblem(batch=2, heads=16, kv_heads=16, seq_q=8192, seq_kv=8192, head_dim_qk=head_dim)
    rf = roofline(hw, "attention-1pass", p)
    flat = {c.resource: c.value for c in rf.ceilings if c.kind == "flat"}
    if rf.prediction.bound in flat:
        assert min(flat, key=flat.get) == rf.prediction.bound
    assert rf.prediction.tflops_per_s * 1e12 <= min(flat.values()) * (1 + 1e-9)
    assert np.isfinite(list(flat.values())).all()


def test_explorer_widgets_redraw_on_every_change():
    widgets = pytest.importorskip("ipywidgets")
    shown = []
    box = explorer_widgets(display=shown.append)
    assert isinstance(box, widgets.HBox) and len(shown) == 1  # the default view, drawn at once
    controls = {c.description: c for c in box.children[0].children}
    controls["gpu"].value = "b200"
    controls["seq_len"].value = 1024
    assert len(shown) == 3
    assert "b200" in shown[-1].axes[0].get_title() and "P=1024" in shown[-1].axes[0].get_title()

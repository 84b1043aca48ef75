"""SparsityConfig validation and the element-level GNA mask."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.errors import SpecError
from simulator.sparsity import (
    SparsityConfig,
    dilation_group_lengths,
    gna_mask,
    pair_count,
    window_bounds,
)

BAD_CONFIGS = [  # (kwargs, start of the one-line message)
    ({"layout": (30, 48), "window": (31, 8)}, "window: expected window <= layout extent"),
    ({"layout": 16, "window": 4, "stride": 5}, "stride: expected 1 <= stride <= window"),
    ({"layout": 16, "window": 4, "stride": 0}, "stride: expected integers >= 1"),
    ({"layout": 16, "window": 6, "dilation": 3}, "dilation: expected dilation * window <= layout"),
    ({"layout": (4, 4, 4, 4)}, "layout: expected 1 to 3 dimensions"),
    ({"layout": (8, 8), "window": (2, 2, 2)}, "window: expected 2 value(s)"),
    ({"layout": (8, 0)}, "layout: expected integers >= 1"),
    ({"layout": 8, "window": 2.5}, "window: expected an int or 1 int(s), got 2.5"),
    ({"layout": 8, "window": (2.5,)}, "window: expected integers, got 2.5"),
    ({"layout": (8, 8), "causal": (True,)}, "causal: expected 2 bool(s)"),
    ({"layout": 8, "causal": True, "seq_q": 9}, "seq_q: expected 1 <= seq_q <= seq_kv = 8"),
    ({"layout": 8, "seq_q": 4}, "seq_q: seq_q != seq_kv is supported only for 1-D causal"),
    ({"layout": 8, "window": 2, "dilation": 2, "causal": True, "seq_q": 4}, "seq_q: seq_q !="),
]


@pytest.mark.parametrize("kwargs, message", BAD_CONFIGS)
def test_bad_configs_raise_one_line_spec_errors(kwargs, message):
    with pytest.raises(SpecError) as info:
        SparsityConfig(**kwargs)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_scalars_broadcast_and_helpers():
    cfg = SparsityConfig((30, 48, 80), window=8, causal=(True, False, False))
    assert cfg.window == (8, 8, 8) and cfg.stride == (1, 1, 1) and cfg.dilation == (1, 1, 1)
    assert SparsityConfig.dense((4, 5)).window == (4, 5)
    assert SparsityConfig.causal_1d(100).causal == (True,)
    swa = SparsityConfig.sliding_window_1d(32768, 4096, seq_q=1)
    assert (swa.window, swa.seq_q, swa.query_offset, swa.n_queries) == ((4096,), 1, 32767, 1)
    assert SparsityConfig.blocked((30, 48, 80), (18, 24, 24)).stride == (18, 24, 24)
    assert SparsityConfig.neighborhood(64, 7, dilation=3).stride == (1,)
    assert str(SparsityConfig((6, 8), 3, causal=(True, False))) == (
        "layout 6x8, window 3x3, stride 1x1, dilation 1x1, causal 1x0"
    )


def test_config_is_frozen_and_hashable():
    cfg = SparsityConfig((8, 8), 3)
    with pytest.raises(AttributeError):
        cfg.window = (2, 2)  # type: ignore[misc]
    assert cfg == SparsityConfig((8, 8), (3, 3)) and hash(cfg) == hash(SparsityConfig((8, 8), 3))


@st.composite
def configs(draw):
    ndim = draw(st.integers(1, 3))
    layout, window, stride, dilation, causal = [], [], [], [], []
    for _ in range(ndim):
        x = draw(st.integers(1, {1: 50, 2: 12, 3: 6}[ndim]))
        d = draw(st.integers(1, min(4, x)))
        w = draw(st.integers(1, x // d))
        layout.append(x)
        window.append(w)
        stride.append(draw(st.integers(1, w)))
        dilation.append(d)
        causal.append(draw(st.booleans()))
    return SparsityConfig(tuple(layout), tuple(window), tuple(stride), tuple(dilation), tuple(causal))


@settings(max_examples=200, deadline=None)
@given(configs())
def test_pair_count_matches_mask(config):
    mask = gna_mask(config)
    assert mask.shape == (config.n_queries, config.n_keys)
    assert pair_count(config) == int(mask.sum())
    assert mask.any(axis=1).all()  # every query sees at least one key


@settings(max_examples=200, deadline=None)
@given(configs())
def test_non_causal_queries_see_exactly_prod_window_keys(config):
    config = SparsityConfig(config.layout, config.window, config.stride, config.dilation)
    row_sums = gna_mask(config).sum(axis=1)
    assert (row_sums == math.prod(config.window)).all()
    assert pair_count(config) == config.n_keys * math.prod(config.window)


@settings(max_examples=150, deadline=None)
@given(configs())
def test_window_bounds_agree_with_the_centre_clamp_formulation(config):
    # tiles.py relies on window_bounds; gna_mask uses attention_variants.md §9b's form.
    for dim in range(config.ndim):
        one_dim = SparsityConfig(
            config.layout[dim], config.window[dim], config.stride[dim], 1, config.causal[dim]
        )
        mask = gna_mask(one_dim)
        x = np.arange(config.layout[dim])
        start, end = window_bounds(
            x, config.layout[dim], config.window[dim], config.stride[dim], config.causal[dim]
        )
        expected = (x[None, :] >= start[:, None]) & (x[None, :] < end[:, None])
        assert (mask == expected).all()
        assert (np.diff(start) >= 0).all() and (np.diff(end) >= 0).all()  # monotone


@pytest.mark.parametrize("n", [1, 2, 7, 64, 32768])
def test_causal_pairs_are_n_n_plus_1_over_2(n):
    assert pair_count(SparsityConfig.causal_1d(n)) == n * (n + 1) // 2
    if n <= 64:
        assert int(gna_mask(SparsityConfig.causal_1d(n)).sum()) == n * (n + 1) // 2


@pytest.mark.parametrize("n, w", [(32768, 4096), (100, 7), (10, 10), (9, 1)])
def test_sliding_window_pairs(n, w):
    assert pair_count(SparsityConfig.sliding_window_1d(n, w)) == w * n - w * (w - 1) // 2


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 80), st.data())
def test_kv_cache_queries_are_aligned_to_the_end(seq_kv, data):
    seq_q = data.draw(st.integers(1, seq_kv))
    mask = gna_mask(SparsityConfig.causal_1d(seq_kv, seq_q))
    p, m = np.indices(mask.shape)
    assert (mask == (m <= p + seq_kv - seq_q)).all()
    assert pair_count(SparsityConfig.causal_1d(seq_kv, seq_q)) == (
        seq_q * seq_kv - seq_q * (seq_q - 1) // 2
    )


def test_gna_mask_refuses_large_layouts():
    with pytest.raises(SpecError, match="gna_mask: layout 30x48x80 needs"):
        gna_mask(SparsityConfig((30, 48, 80), 8))


def test_dilation_groups_cover_the_extent():
    for extent in range(1, 30):
        for d in range(1, extent + 1):
            lengths = dilation_group_lengths(extent, d)
            assert lengths.sum() == extent
            assert lengths.tolist() == [len(range(g, extent, d)) for g in range(d)]

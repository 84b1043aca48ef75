"""Filter-mask tile counts against brute-force enumeration of the element mask.

The oracle never uses the counter's interval or box arithmetic: it evaluates the filters
on the full (query, key) meshgrid with the cascade executor (``einsum.executor._filter``),
sums the mask over every (Q tile, KV tile) block and counts blocks with at least one /
only kept real pairs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import einsum
from einsum.executor import _filter, _Store
from simulator.errors import SpecError
from simulator.sparsity import (
    FilterMask,
    SparsityConfig,
    TileConfig,
    count_filter_tiles,
    count_tiles,
)


def filters_of(text: str) -> tuple:
    return einsum.parse(f"S[h,m,p] = Q[e,h,p] * K[e,m] : {text}").einsums[0].filters


# --- brute-force oracle -------------------------------------------------------------


def _kept_blocks(keep: np.ndarray, tq: int, tk: int) -> tuple[np.ndarray, np.ndarray]:
    """Kept and real pairs per (Q tile, KV tile) block."""
    n_q, n_k = keep.shape
    q_edges, k_edges = np.arange(0, n_q, tq), np.arange(0, n_k, tk)
    kept = np.add.reduceat(np.add.reduceat(keep.astype(np.int64), q_edges, 0), k_edges, 1)
    rows = np.diff(np.append(q_edges, n_q))
    cols = np.diff(np.append(k_edges, n_k))
    return kept, np.outer(rows, cols)


def brute_force(mask: FilterMask, n_q: int, n_k: int, tq: int, tk: int, sizes: dict,
                tensors: dict | None = None) -> dict:
    store = _Store(None, dict(sizes))
    store.data.update({k: np.asarray(v, dtype=float) for k, v in (tensors or {}).items()})
    names = [name for name, _ in mask.others]
    visited = np.zeros(-(-n_q // tq), dtype=np.int64)
    partial = np.zeros_like(visited)
    pairs, max_steps = 0, 0
    for combo in itertools.product(*(range(e) for _, e in mask.others)):
        env = {mask.query: np.arange(n_q)[:, None], mask.key: np.arange(n_k)[None, :],
               **dict(zip(names, combo))}
        keep = np.ones((n_q, n_k), dtype=bool)
        with np.errstate(divide="ignore", invalid="ignore"):  # x // 0 is 0, as in numpy
            for flt in mask.filters:
                keep &= np.broadcast_to(_filter(store, flt, env), keep.shape)
        kept, real = _kept_blocks(keep, tq, tk)
        visited += (kept > 0).sum(1)
        partial += ((kept > 0) & (kept < real)).sum(1)
        max_steps = max(max_steps, int((kept > 0).sum(1).max()))
        pairs += int(keep.sum())
    return {"steps": int(visited.sum()), "partial": int(partial.sum()), "max_steps": max_steps,
            "pairs": pairs, "visited": visited.tolist(), "partial_per": partial.tolist()}


def observed(counts) -> dict:
    return {"steps": counts.steps, "partial": counts.partial, "max_steps": counts.max_steps,
            "pairs": counts.pairs, "visited": counts.visited_per_q_tile.tolist(),
            "partial_per": counts.partial_per_q_tile.tolist()}


# --- named cases --------------------------------------------------------------------

_LENGTHS = ((64, 64), (50, 70), (70, 45), (1, 33))
_TILES = ((16, 16), (8, 16), (7, 5), (1, 3), (64, 64), (5, 1))
_NA2D = ("abs(m // X - clamp(p // X, KY // 2, Y - 1 - KY // 2)) <= KY // 2 and "
         "abs(m % X - clamp(p % X, KX // 2, X - 1 - KX // 2)) <= KX // 2")
_RNG = np.random.default_rng(7)
_BLOCK_MASK = _RNG.integers(0, 2, size=(8, 8))
_ROW_LIMIT = _RNG.integers(-5, 80, size=64)  # shorter than some query lengths: reads 0 there

#: name -> (filter text, sizes, others, tensors, lengths or None for _LENGTHS, path)
CASES = {
    "causal_offset": ("m <= p + M - P", {}, (), None, None, "intervals"),
    "window": ("p - W < m <= p", {"W": 9}, (), None, None, "intervals"),
    "sinks_window": ("m < S or p - W < m <= p", {"S": 3, "W": 8}, (), None, None, "intervals"),
    "half_keys": ("2*m < M", {}, (), None, None, "intervals"),
    "block_diagonal": ("m // B == p // B", {"B": 6}, (), None, None, "intervals"),
    "dilation_window": ("m % D == p % D and p - W < m <= p", {"D": 3, "W": 20}, (), None, None,
                        "boxes"),
    "per_head_window": ("p - W[h] < m <= p", {}, (("h", 4),), {"W": [1, 5, 17, 40]}, None,
                        "intervals"),
    "block_mask": ("BM[p // PB, m // MB]", {"PB": 8, "MB": 8}, (), {"BM": _BLOCK_MASK}, None,
                   "boxes"),
    "na_2d": (_NA2D, {"X": 8, "Y": 6, "KX": 3, "KY": 5}, (), None, ((48, 48),), "boxes"),
    "na_2d_rows_only": (_NA2D.split(" and ")[0], {"X": 8, "Y": 6, "KY": 3}, (), None, ((48, 48),),
                        "intervals"),
    "not_window": ("not (p - W < m <= p)", {"W": 5}, (), None, None, "intervals"),
    "decode": ("m <= p + M - P", {}, (), None, ((1, 100), (1, 1)), "intervals"),
    "symmetric_abs": ("abs(m - p) <= W", {"W": 4}, (), None, None, "intervals"),
    "not_diagonal": ("m != p", {}, (), None, None, "intervals"),
    "shifted_block": ("(m + 2) // B <= p // B", {"B": 5}, (), None, None, "intervals"),
    "row_gate": ("p < X and m <= p", {"X": 20}, (), None, None, "intervals"),
    "clamped": ("m <= clamp(p, X, Y) and max(m, 3) <= p", {"X": 4, "Y": 30}, (), None, None,
                "intervals"),
    "head_offset": ("m <= p - h and m >= h", {}, (("h", 3), ("b", 2)), None, None, "intervals"),
    "stride": ("m % D == 0 or m < S", {"D": 4, "S": 2}, (), None, None, "boxes"),
    # consecutive rows jump by more than a small tile: the union needs the exact merge
    "row_tensor_limit": ("m < L[p] and m >= L[p] - 20", {}, (), {"L": _ROW_LIMIT}, None,
                         "intervals"),
    "head_beyond_tensor": ("p - W[h] < m <= p", {}, (("h", 4),), {"W": [3, 30, 9]}, None,
                           "intervals"),
    "head_blocks": ("m // B[h] == p // B[h]", {}, (("h", 3),), {"B": [1, 3, 8]}, None, "boxes"),
    "zero_divisor": ("m // Z == p // Z and m <= p", {"Z": 0}, (), None, None, "boxes"),
    "negative_divisor": ("m % Z == p % Z or m // Z > p // Z", {"Z": -3}, (), None, None, "boxes"),
    "key_in_clamp": ("clamp(m, X, Y) >= p - 3", {"X": 5, "Y": 40}, (), None, None, "intervals"),
    "key_cancels": ("m - m + p < X", {"X": 30}, (), None, None, "intervals"),
    "two_key_terms": ("m // 2 + m // 3 <= p", {}, (), None, None, "boxes"),
    "many_families": (" and ".join(f"m != {i}" for i in range(0, 14, 2)), {}, (), None, None,
                      "boxes"),
    "scalar_tensor": ("m <= p + T[] and not (M < P and m > T[])", {}, (), {"T": np.array(-3)},
                      None, "intervals"),
    "partitioned_key": ("m // M0 * M0 + m % M0 <= p + M - P and 2*(m % M0) + m // M0 >= 0",
                        {"M0": 8}, (), None, None, "boxes"),
    "partitioned_causal": ("m // M0 * M0 + m % M0 <= p + M - P and m // M0 <= p // M0",
                           {"M0": 8}, (), None, None, "intervals"),
    "strided_rows": ("3*p <= m < 3*p + 2 or m == 70 - 2*p", {}, (), None, None, "intervals"),
}


def _case_inputs(name: str, n_q: int, n_k: int):
    text, sizes, others, tensors, _, _ = CASES[name]
    mask = FilterMask(filters_of(text), "p", "m", others)
    return mask, {"M": n_k, "P": n_q, **sizes}, tensors


def _case_grid():
    for name, case in CASES.items():
        for (n_q, n_k), (tq, tk) in itertools.product(case[4] or _LENGTHS, _TILES):
            yield pytest.param(name, n_q, n_k, tq, tk, id=f"{name}-{n_q}x{n_k}-{tq}x{tk}")


@pytest.mark.parametrize("name,n_q,n_k,tq,tk", list(_case_grid()))
def test_named_case_matches_brute_force(name, n_q, n_k, tq, tk):
    mask, sizes, tensors = _case_inputs(name, n_q, n_k)
    expected = brute_force(mask, n_q, n_k, tq, tk, sizes, tensors)
    auto = count_filter_tiles(mask, n_q, n_k, tq, tk, sizes, tensors)
    boxes = count_filter_tiles(mask, n_q, n_k, tq, tk, sizes, tensors, method="boxes")
    assert auto.method == CASES[name][5]
    assert observed(auto) == expected
    assert observed(boxes) == expected


@pytest.mark.parametrize("name", list(CASES))
def test_case_totals_and_invariants(name):
    n_q, n_k = (CASES[name][4] or _LENGTHS)[0]
    mask, sizes, tensors = _case_inputs(name, n_q, n_k)
    counts = count_filter_tiles(mask, n_q, n_k, 8, 16, sizes, tensors)
    instances = math.prod(e for _, e in mask.others)
    assert counts.instances == instances
    assert counts.n_q_tiles == -(-n_q // 8) and counts.n_kv_tiles == -(-n_k // 16)
    assert counts.dense_pairs == n_q * n_k * instances
    assert 0 <= counts.pairs <= counts.dense_pairs
    assert 0 <= counts.partial <= counts.steps <= counts.dense_steps
    assert counts.max_steps <= counts.n_kv_tiles
    assert counts.density == counts.pairs / counts.dense_pairs
    assert not counts.visited_per_q_tile.flags.writeable


@pytest.mark.parametrize("tq,tk", [(80, 80), (7, 5), (100, 1)])
def test_elementwise_mask_tensor(tq, tk):
    # a tile of 80 x 80 reads 6400 entries: the tensor's global range bounds it
    mask = FilterMask(filters_of("E[p, m] and m <= p"), "p", "m")
    tensors = {"E": np.random.default_rng(3).integers(0, 2, size=(100, 90))}
    expected = brute_force(mask, 100, 90, tq, tk, {}, tensors)
    assert observed(count_filter_tiles(mask, 100, 90, tq, tk, {}, tensors)) == expected


def test_decode_counts():
    mask = FilterMask(filters_of("m <= p + M - P"), "p", "m")
    counts = count_filter_tiles(mask, 1, 1000, 128, 128, {"M": 1000, "P": 1})
    assert (counts.steps, counts.partial, counts.pairs) == (8, 0, 1000)


# --- agreement with the GNA counter -------------------------------------------------

_GNA = [(4096, 4096, 128, 128), (4096, 1000, 128, 64), (3000, 3000, 100, 128),
        (5000, 77, 64, 16)]


@pytest.mark.parametrize("n_k,n_q,tq,tk", _GNA)
@pytest.mark.parametrize("window", [None, 1, 300, 1024])
def test_matches_gna_counter(n_k, n_q, tq, tk, window):
    if window is None:
        config = SparsityConfig.causal_1d(n_k, seq_q=n_q)
        text = "m <= p + M - P"
    else:
        config = SparsityConfig.sliding_window_1d(n_k, window, seq_q=n_q)
        text = "p + M - P - W < m <= p + M - P"
    gna = count_tiles(config, TileConfig(tq, tk))
    mask = FilterMask(filters_of(text), "p", "m")
    ours = count_filter_tiles(mask, n_q, n_k, tq, tk, {"M": n_k, "P": n_q, "W": window or 0})
    assert ours.visited_per_q_tile.tolist() == gna.visited_per_q_tile.tolist()
    assert ours.partial_per_q_tile.tolist() == gna.partial_per_q_tile.tolist()
    assert (ours.steps, ours.partial, ours.max_steps, ours.pairs) == (
        gna.total_visited, gna.total_partial, gna.max_visited, gna.unmasked_pairs)


# --- random filters -----------------------------------------------------------------

_OPS = ("<", "<=", ">", ">=", "==", "!=")
_offset = st.integers(-10, 10)
_small = st.integers(1, 12)


def _signed(a: int) -> str:
    return f"+ {a}" if a >= 0 else f"- {-a}"


_INTERVAL_ATOMS = [
    st.builds(lambda op, a: f"m {op} p {_signed(a)}", st.sampled_from(_OPS), _offset),
    st.builds(lambda w: f"p - {w} < m <= p", _small),
    st.builds(lambda s: f"m < {s}", _small),
    st.builds(lambda b: f"m // {b} == p // {b}", _small),
    st.builds(lambda a: f"abs(m - p) <= {a}", st.integers(0, 8)),
    st.builds(lambda c, op, a: f"{c}*m {op} p {_signed(a)}",
              st.integers(-3, 3).filter(bool), st.sampled_from(_OPS), _offset),
    st.builds(lambda op, x: f"p {op} {x}", st.sampled_from(_OPS), st.integers(0, 40)),
    st.builds(lambda a, b: f"(m {_signed(a)}) // {b} <= p // {b}", _offset, _small),
    st.builds(lambda x, y: f"m <= clamp(p, {x}, {x + y})", st.integers(0, 20), st.integers(0, 20)),
    st.builds(lambda a, w: f"min(m - p, {a}) >= -{w}", _offset, _small),
    st.builds(lambda op, c, a: f"m {op} {c}*p {_signed(a)}", st.sampled_from(_OPS),
              st.integers(-4, 4), _offset),
]
_BOX_ATOMS = [
    st.builds(lambda d: f"m % {d} == p % {d}", _small),
    st.builds(lambda d, r: f"m % {d} == {r}", _small, st.integers(0, 4)),
    st.builds(lambda d, w: f"(m - p) % {d} < {w}", _small, _small),
]


def _combine(parts: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.builds(lambda a, b: f"({a}) and ({b})", parts, parts),
        st.builds(lambda a, b: f"({a}) or ({b})", parts, parts),
        st.builds(lambda a: f"not ({a})", parts),
    )


def _filters(atoms: list) -> st.SearchStrategy:
    return st.recursive(st.one_of(*atoms), _combine, max_leaves=4)


_shape = st.tuples(st.integers(1, 64), st.integers(1, 64), st.integers(1, 16), st.integers(1, 16))
_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(text=_filters(_INTERVAL_ATOMS), shape=_shape)
def test_random_interval_filters_match_brute_force(text, shape):
    n_q, n_k, tq, tk = shape
    mask = FilterMask(filters_of(text), "p", "m")
    expected = brute_force(mask, n_q, n_k, tq, tk, {})
    intervals = count_filter_tiles(mask, n_q, n_k, tq, tk, {}, method="intervals")
    assert intervals.method == "intervals"
    assert observed(intervals) == expected
    assert observed(count_filter_tiles(mask, n_q, n_k, tq, tk, {}, method="boxes")) == expected


@_SETTINGS
@given(text=_filters(_INTERVAL_ATOMS + _BOX_ATOMS), shape=_shape)
def test_random_filters_match_brute_force(text, shape):
    n_q, n_k, tq, tk = shape
    mask = FilterMask(filters_of(text), "p", "m")
    expected = brute_force(mask, n_q, n_k, tq, tk, {})
    auto = count_filter_tiles(mask, n_q, n_k, tq, tk, {})
    boxes = count_filter_tiles(mask, n_q, n_k, tq, tk, {}, method="boxes")
    assert observed(auto) == observed(boxes) == expected
    assert 0 <= auto.partial <= auto.steps <= auto.n_q_tiles * auto.n_kv_tiles
    assert 0 <= auto.pairs <= auto.dense_pairs


# --- scale: no query x key array ----------------------------------------------------


def test_long_causal_is_exact_without_a_dense_mask():
    n, t = 1 << 20, 128
    mask = FilterMask(filters_of("m <= p"), "p", "m")
    counts = count_filter_tiles(mask, n, n, t, t, {})
    nb = n // t
    assert (counts.steps, counts.partial, counts.pairs) == (nb * (nb + 1) // 2, nb, n * (n + 1) // 2)


def test_long_box_mask_is_decided_by_bounds():
    n, t = 1 << 16, 128
    mask = FilterMask(filters_of("m // 128 % 2 == 0"), "p", "m")  # every other key tile
    counts = count_filter_tiles(mask, n, n, t, t, {})
    assert counts.method == "boxes"
    assert (counts.steps, counts.partial, counts.pairs) == ((n // t) ** 2 // 2, 0, n * n // 2)


# --- errors -------------------------------------------------------------------------


def _count(text, sizes=None, tensors=None, others=(), **kwargs):
    mask = FilterMask(filters_of(text), "p", "m", others)
    return count_filter_tiles(mask, 16, 16, 4, 4, sizes or {}, tensors, **kwargs)


@pytest.mark.parametrize("call,message", [
    (lambda: _count("m <= p + h"), "filter variable 'h' is unknown"),
    (lambda: _count("p - W < m"), "size W is used by the filters but not given"),
    (lambda: _count("p - W[h] < m", others=(("h", 2),)), "tensor W is read by the filters"),
    (lambda: _count("p - W[h] < m", tensors={"W": [1.5, 2]}, others=(("h", 2),)),
     "expected integer values"),
    (lambda: _count("p - W[h] < m", tensors={"W": [[1]]}, others=(("h", 2),)), "1 dimension"),
    (lambda: _count("m % 2 == 0", method="intervals"), "not intervals of the key 'm'"),
    (lambda: _count("m <= p", method="fast"), "method: expected one of"),
    (lambda: _count("m <= p", sizes={"W": 1.5}), None),
    (lambda: _count("p - W < m", sizes={"W": 1.5}), "size W: expected an integer"),
    (lambda: count_filter_tiles("m <= p", 4, 4, 1, 1, {}), "expected a FilterMask"),
    (lambda: FilterMask((), "p", "m", ("h",)), "expected \\(name, extent\\) pairs"),
    (lambda: count_filter_tiles(FilterMask((), "p", "m"), 0, 4, 1, 1, {}), "n_queries"),
    (lambda: FilterMask((), "p", "p"), "distinct"),
    (lambda: FilterMask((), "p", "m", (("h", 0),)), "extent of 'h'"),
    (lambda: FilterMask(("m <= p",), "p", "m"), "filter objects"),
])
def test_bad_input_raises_spec_error(call, message):
    if message is None:  # unused sizes are ignored
        call()
        return
    with pytest.raises(SpecError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_dense_and_unused_others():
    mask = FilterMask((), "p", "m", (("h", 3),))
    counts = count_filter_tiles(mask, 10, 12, 4, 5, {})
    assert (counts.steps, counts.partial, counts.pairs, counts.instances) == (27, 0, 360, 3)
    assert "27 of 27 dense" in str(counts)

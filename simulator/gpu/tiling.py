"""Tiling arithmetic of a fused attention kernel, vectorised over problems.

Everything here works elementwise on numpy arrays (one entry per problem) as well as on
plain numbers: tile choice per head dim, the shared-memory fit, occupancy from shared
memory and registers, exact visited/partially-masked key-tile counts of causal masks
(closed-form floor sums, no loop over query tiles), the split-K heuristic and the L2
hit model for K/V re-reads.

Examples
--------
Causal 1024 x 1024 with 128 x 128 tiles visits 1 + 2 + ... + 8 = 36 tiles, 8 of them on
the diagonal (partially masked):

>>> counts = causal_steps(1024, 1024, 128, 128)
>>> int(counts.steps), int(counts.partial), int(counts.max_steps)
(36, 8, 8)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "StepCounts",
    "causal_pairs",
    "causal_steps",
    "ceil_div",
    "clipped_floor_sum",
    "dense_steps",
    "fit_kv_tile",
    "floor_sum",
    "l2_miss_fraction",
    "no_fit_reason",
    "occupancy",
    "rule_pair_emulation",
    "rule_pairs",
    "rule_threads",
    "rule_tiles",
    "split_count",
]


class StepCounts(NamedTuple):
    """(query tile, key tile) steps of one instance (one batch entry and head).

    ``steps`` visited tiles in total, ``partial`` of them partially masked, ``max_steps``
    the most any query tile visits, ``q_tiles`` and ``kv_tiles`` the grid; ``touched``
    the key tiles some query tile visits (None: all of them), which bounds the keys that
    must come from DRAM at all.
    """

    steps: Any
    partial: Any
    max_steps: Any
    q_tiles: Any
    kv_tiles: Any
    touched: Any = None


def ceil_div(a: Any, b: Any) -> Any:
    """Integer ceiling division on ints or integer arrays.

    Examples
    --------
    >>> ceil_div(1025, 128), ceil_div(np.array([1, 128, 129]), 128).tolist()
    (9, [1, 1, 2])
    """
    return -(-a // b)


def floor_sum(n: Any, m: Any, a: Any, b: Any) -> Any:
    """``sum(floor((a*i + b) / m) for i in range(n))`` for ``a, b >= 0``, ``m > 0``.

    The Euclid-like reduction (as in AtCoder Library's ``floor_sum``) runs in
    ``O(log m)`` vectorised steps, so a million problems cost a few array passes.

    Examples
    --------
    >>> floor_sum(5, 3, 2, 1), sum((2 * i + 1) // 3 for i in range(5))
    (7, 7)
    >>> floor_sum(np.array([0, 4]), 4, 3, np.array([0, 5])).tolist()
    [0, 8]
    """
    n, m, a, b = (np.asarray(v, dtype=np.int64) for v in np.broadcast_arrays(n, m, a, b))
    n, m, a, b = (v.copy() for v in (n, m, a, b))
    total = np.zeros(n.shape, dtype=np.int64)
    active = n > 0
    while np.any(active):
        q = a // m
        total += np.where(active, (n - 1) * n // 2 * q, 0)
        a = a - q * m
        q = b // m
        total += np.where(active, n * q, 0)
        b = b - q * m
        y_max = a * n + b
        active &= y_max >= m
        safe_m = np.where(active, m, 1)
        n, b, m, a = (np.where(active, y_max // safe_m, n), np.where(active, y_max % safe_m, b),
                      np.where(active, a, m), np.where(active, m, a))
        a = np.where(active, a, 0)
        m = np.where(m > 0, m, 1)
    return total if total.ndim else int(total)


def clipped_floor_sum(n: Any, a: Any, b: Any, m: Any, c: Any, top: Any) -> Any:
    """``sum(clip(floor((a*i + b) / m) + c, 0, top) for i in range(n))`` with ``a, m > 0``.

    ``b`` may be negative; ``c`` is 0 or 1. The summand is non-decreasing in ``i``, so
    the clipped prefix and suffix are found in closed form.

    Examples
    --------
    >>> clipped_floor_sum(6, 3, -4, 2, 1, 5)
    15
    >>> sum(min(max((3 * i - 4) // 2 + 1, 0), 5) for i in range(6))
    15
    """
    n, a, b, m, c, top = (np.asarray(v, dtype=np.int64) for v in (n, a, b, m, c, top))
    first = np.clip(ceil_div((1 - c) * m - b, a), 0, n)  # summand >= 1 from here
    last = np.clip(ceil_div((top - c) * m - b, a), first, n)  # summand >= top from here
    count = last - first
    middle = floor_sum(count, m, a, a * first + b) + c * count
    total = middle + top * (n - last)
    return total if np.ndim(total) else int(total)


def dense_steps(rows: Any, keys: Any, q_tile: Any, kv_tile: Any) -> StepCounts:
    """Steps of unmasked attention: every query tile visits every key tile.

    Examples
    --------
    >>> dense_steps(1024, 1024, 192, 128).steps
    48
    """
    q_tiles, kv_tiles = ceil_div(rows, q_tile), ceil_div(keys, kv_tile)
    zero = q_tiles * 0
    return StepCounts(q_tiles * kv_tiles, zero, kv_tiles + zero, q_tiles, kv_tiles + zero)


def causal_steps(rows: Any, keys: Any, q_tile: Any, kv_tile: Any, offset: Any = None) -> StepCounts:
    """Visited and partially masked key tiles of a causal mask ``m <= p + offset``.

    ``offset`` defaults to ``keys - rows`` (bottom-right aligned: query ``p`` sees keys
    ``m <= p + keys - rows``). Query tile ``i`` visits key tiles up to the one holding its
    last row's last key; a visited tile is partially masked unless its last key is
    visible to the tile's first row (padding keys do not count).

    Examples
    --------
    >>> counts = causal_steps(1024, 1024, 192, 128)  # visits 2, 3, 5, 6, 8, 8 key tiles
    >>> counts.steps, counts.partial, counts.q_tiles
    (32, 11, 6)
    >>> causal_steps(1, 4096, 64, 128).steps    # decode: one row sees every key
    32
    """
    q_tiles, kv_tiles = ceil_div(rows, q_tile), ceil_div(keys, kv_tile)
    offset = keys - rows if offset is None else offset
    # all tiles but the last end at row (i+1)*q_tile - 1; the last ends at rows - 1
    inner = clipped_floor_sum(q_tiles - 1, q_tile, q_tile - 1 + offset, kv_tile, 1, kv_tiles)
    last = np.clip((rows - 1 + offset) // kv_tile + 1, 0, kv_tiles)
    steps = inner + last
    full = clipped_floor_sum(q_tiles - 1, q_tile, offset + 1, kv_tile, 0, kv_tiles)
    # the last tile's first row; it sees every real key once it reaches key M - 1
    first = (q_tiles - 1) * q_tile + offset
    last_full = np.where(first >= keys - 1, kv_tiles, np.clip((first + 1) // kv_tile, 0, kv_tiles))
    full = full + np.minimum(last_full, last)
    counts = (steps, steps - full, last, q_tiles, kv_tiles)
    return StepCounts(*(v if np.ndim(v) else int(v) for v in counts))


def causal_pairs(rows: Any, keys: Any, offset: Any = None) -> Any:
    """Unmasked (query, key) pairs of the causal mask ``m <= p + offset`` (exact).

    Examples
    --------
    >>> causal_pairs(4, 4), causal_pairs(1, 4096), causal_pairs(4, 8, 0)
    (10, 4096, 10)
    """
    offset = keys - rows if offset is None else offset
    return clipped_floor_sum(rows, 1, offset + 1, 1, 0, keys)


def _rule_index(head_dim: Any, rules: tuple) -> Any:
    """Index of the first rule whose ``max_head_dim`` covers ``head_dim`` (the last beyond)."""
    limits = np.array([r.max_head_dim for r in rules])
    return np.minimum(np.searchsorted(limits, head_dim, side="left"), len(rules) - 1)


def rule_tiles(head_dim: Any, rules: tuple) -> tuple[Any, Any]:
    """``(q_tile, kv_tile)`` of the first rule whose ``max_head_dim`` covers ``head_dim``.

    The last rule covers larger head dims too.

    Examples
    --------
    >>> from simulator.gpu.profiles import TileRule
    >>> rules = (TileRule(64, 192, 128), TileRule(128, 128, 128))
    >>> [t.tolist() for t in rule_tiles(np.array([32, 64, 96, 512]), rules)]
    [[192, 192, 128, 128], [128, 128, 128, 128]]
    """
    index = _rule_index(head_dim, rules)
    return np.array([r.q for r in rules])[index], np.array([r.kv for r in rules])[index]


def rule_threads(head_dim: Any, rules: tuple, default: float) -> Any:
    """CTA threads of the rule covering ``head_dim`` (``default`` where the rule gives none).

    Examples
    --------
    >>> from simulator.gpu.profiles import TileRule
    >>> rules = (TileRule(128, 128, 64), TileRule(256, 128, 64, threads=256))
    >>> rule_threads(np.array([64, 256]), rules, 128).tolist()
    [128, 256]
    """
    index = _rule_index(head_dim, rules)
    threads = np.array([r.threads or default for r in rules])
    return threads[index]


def rule_pair_emulation(head_dim: Any, rules: tuple, paired: Any, default: float) -> Any:
    """Exp-emulation fraction of the rule covering ``head_dim``: its 2-CTA value where paired.

    Examples
    --------
    >>> from simulator.gpu.profiles import TileRule
    >>> rules = (TileRule(128, 256, 128, cta_pair="dense", pair_exp_emulated=0.1875),
    ...          TileRule(256, 128, 128, cta_pair="always"))
    >>> rule_pair_emulation(np.array([128, 128, 256]), rules, np.array([True, False, True]), 0.125).tolist()
    [0.1875, 0.125, 0.125]
    """
    index = _rule_index(head_dim, rules)
    value = np.array([r.pair_exp_emulated for r in rules])[index]
    return np.where(np.asarray(paired) & (value >= 0), value, default)


def rule_pairs(head_dim: Any, rules: tuple, dense: Any, rows: Any, q_tile: Any) -> Any:
    """Whether the rule covering ``head_dim`` runs as a 2-CTA pair on this problem.

    ``"always"`` pairs; ``"dense"`` pairs an unmasked problem of more than one query tile
    (FA4: non-causal, non-local, packed rows > 256, its two-128-row tile).

    Examples
    --------
    >>> from simulator.gpu.profiles import TileRule
    >>> rules = (TileRule(128, 256, 128, cta_pair="dense"), TileRule(256, 128, 128, cta_pair="always"))
    >>> rule_pairs(np.array([128, 128, 128, 256]), rules, np.array([True, False, True, False]),
    ...            np.array([4096, 4096, 200, 4096]), 256).tolist()
    [True, False, False, True]
    """
    index = _rule_index(head_dim, rules)
    always = np.array([r.cta_pair == "always" for r in rules])[index]
    if_dense = np.array([r.cta_pair == "dense" for r in rules])[index]
    return always | (if_dense & np.asarray(dense) & (np.asarray(rows) > np.asarray(q_tile)))


def fit_kv_tile(q_tile: Any, kv_tile: Any, smem_limit: float, q_bytes: Any, kv_bytes: Any,
                stages: float, qk_dim: Any, v_dim: Any, extra_bytes: Any = 0) -> tuple[Any, Any]:
    """Shrink the key tile until one CTA's tiles fit in ``smem_limit`` bytes.

    A CTA holds the query tile (``q_tile*E*q_bytes``), ``stages`` key/value tiles
    (``kv_tile*(E+F)*kv_bytes`` each) and ``extra_bytes`` (a held fiber). If they do not
    fit, the key tile becomes the largest multiple of 16 that does (at least 16).

    Returns
    -------
    kv_tile, smem_bytes : arrays
        The key tile and the CTA's shared memory with it (may still exceed the limit
        when even a 16-key tile does not fit; :func:`occupancy` then returns 0).

    Examples
    --------
    >>> [int(x) for x in fit_kv_tile(128, 128, 101376, 2, 2, 2, 128, 128)]  # L40S, d128
    [64, 98304]
    """
    room = smem_limit - extra_bytes - q_tile * qk_dim * q_bytes
    fit = np.floor(room / (stages * (qk_dim + v_dim) * kv_bytes) / 16) * 16
    kv_tile = np.where(fit < kv_tile, np.maximum(fit, 16), kv_tile).astype(np.int64)
    smem = q_tile * qk_dim * q_bytes + stages * kv_tile * (qk_dim + v_dim) * kv_bytes + extra_bytes
    return kv_tile, smem


def occupancy(smem_per_cta: Any, smem_per_sm: float, smem_limit: float, registers_per_cta: float,
              registers_per_sm: float, max_ctas: float) -> Any:
    """Resident CTAs per SM: the tightest of shared memory, registers and the CTA limit.

    Zero where one CTA does not fit (``smem_per_cta > smem_limit``).

    Examples
    --------
    >>> occupancy(98304, 233472, 232448, 128 * 255, 65536, 32)   # FA2-like: registers bind
    2
    >>> occupancy(240000, 233472, 232448, 128 * 255, 65536, 32)
    0
    """
    by_smem = np.floor(smem_per_sm / np.maximum(smem_per_cta, 1))
    by_regs = np.floor(registers_per_sm / registers_per_cta)
    occ = np.minimum(np.minimum(by_smem, by_regs), max_ctas)
    occ = np.where(smem_per_cta > smem_limit, 0, occ).astype(np.int64)
    return occ if np.ndim(occ) else int(occ)


def no_fit_reason(hardware: str, q_tile: int, kv_tile: int, smem_per_cta: float,
                  smem_limit: float) -> str:
    """Why one CTA of a kernel fits on no SM (occupancy 0), as one line for the user.

    Examples
    --------
    >>> no_fit_reason("h100-sxm5", 128, 16, 2.6e8, 232448)  # doctest: +ELLIPSIS
    'no tile fits on h100-sxm5: one CTA with a 128-query x 16-key tile (the smallest ...) needs 2.6e+08 B ...'
    """
    smallest = " (the smallest key tile)" if kv_tile <= 16 else ""
    tiles = f"a {q_tile}-query x {kv_tile}-key tile{smallest}"
    if smem_per_cta > smem_limit:
        return (f"no tile fits on {hardware}: one CTA with {tiles} needs {smem_per_cta:.3g} B of "
                f"shared memory, and a CTA may use {smem_limit:.6g} B; expected a smaller head dim "
                "or query tile")
    return (f"no tile fits on {hardware}: one CTA with {tiles} fits in shared memory, but its "
            "registers (threads x registers per thread) exceed one SM's register file; expected "
            "a profile with fewer threads or registers")


def split_count(ctas: Any, slots: Any, kv_tiles: Any, max_splits: float,
                wave_fraction: float) -> Any:
    """Split-K factor: as many splits as fit in one wave of CTA slots when the grid is small.

    A simplified FlashAttention ``num_splits_heuristic``: no split once the grid fills
    ``wave_fraction`` of a wave, else ``floor(slots / ctas)`` splits (one full wave, no
    tail), at most ``max_splits`` and at most one per key tile.

    Examples
    --------
    >>> split_count(32, 132, 512, 128, 0.8), split_count(4096, 132, 512, 128, 0.8)
    (4, 1)
    """
    wanted = np.minimum(np.minimum(slots // np.maximum(ctas, 1), max_splits), kv_tiles)
    splits = np.where(ctas >= wave_fraction * slots, 1, np.maximum(wanted, 1)).astype(np.int64)
    return splits if np.ndim(splits) else int(splits)


def l2_miss_fraction(working_set_bytes: Any, l2_bytes: float, usable_fraction: float) -> Any:
    """Fraction of K/V re-reads that miss L2: ``1 - usable L2 / working set``, in [0, 1].

    Examples
    --------
    >>> l2_miss_fraction(10e6, 50 * 2**20, 0.5), round(l2_miss_fraction(100e6, 50e6, 0.5), 2)
    (0.0, 0.75)
    """
    usable = l2_bytes * usable_fraction
    miss = np.clip(1.0 - usable / np.maximum(working_set_bytes, 1.0), 0.0, 1.0)
    return miss if np.ndim(miss) else float(miss)

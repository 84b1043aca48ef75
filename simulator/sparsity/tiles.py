"""Tile-level sparsity counting, as NATTEN's simulator does it (reference/gna.md §2).

A fused attention kernel splits queries into Q tiles and keys/values into KV tiles and
visits, per Q tile, every KV tile that holds at least one unmasked (query, key) pair;
a visited tile costs a whole ``T_Q x T_KV`` MMA block however few of its pairs are
unmasked. :func:`count_tiles` counts the visited and the partially masked tiles per Q
tile, plus the exact number of unmasked pairs, for a :class:`SparsityConfig` and a
:class:`TileConfig`.

Two tilings of a multi-dimensional layout (gna.md §2.1, §2.3):

* **multi-dimensional** ("token layout", tile rank = layout rank): every tile is a box,
  e.g. ``(4, 8, 8)``, as after NATTEN's token permutation. Dilation groups are folded
  into the batch, so tiles live in the coordinates local to one dilation group and no
  tile mixes groups. The GNA mask factorises over dimensions, so the count per Q tile
  is a product of per-dimension interval counts (``get_trip_count``, gna.md §2.2);
  the work is ``O(sum_i X_i / T_Q_i)`` plus one outer product.
* **flattened** (rank-1 tiles on a 2-D/3-D layout): tiles are runs of ``T`` tokens of
  the row-major sequence, no permutation. The union of the Q tile's windows is not a
  box any more, so the visited KV tiles are found as a set, from the key intervals
  of each row of the Q tile (a loop over Q tiles, vectorised inside).

KV tiling (gna.md §2.1 item 3, §2.2):

* ``"static"``: KV tiles sit at fixed multiples of ``T_KV`` (Hopper/Blackwell FNA, TMA);
  a Q tile whose keys span ``[a, b)`` visits ``ceil(b/T) - floor(a/T)`` tiles per dim.
* ``"dynamic"``: the KV region is sliced per Q tile and tiled from its first key ``a``,
  the last tile clipped at ``b`` (Ampere FNA); it visits ``ceil((b - a)/T)`` tiles per
  dim. In flattened mode the grid starts at the Q tile's first key and only tiles
  holding a needed key are counted.

Q tiles that contain only padding are not counted; a tile is *fully unmasked* when all
of its real (query, key) pairs are unmasked (padding does not make a tile partial).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulator.errors import SpecError
from simulator.sparsity.mask import (
    SparsityConfig,
    dilation_group_lengths,
    pair_count,
    window_bounds,
)

__all__ = [
    "KV_TILINGS",
    "TileConfig",
    "TileCounts",
    "count_tiles",
    "default_tiles",
    "visited_kv_tiles",
]

#: The KV tiling modes of gna.md §2.1.
KV_TILINGS = ("static", "dynamic")

#: Blackwell FNA default forward tiles per layout rank (gna.md §3): (q_tile, kv_tile).
_BLACKWELL_DEFAULTS = {
    1: ((256,), (128,)),
    2: ((16, 16), (16, 8)),
    3: ((8, 4, 8), (4, 4, 8)),
}


def _as_tile(value: object, name: str) -> tuple[int, ...]:
    """Normalise a tile shape (int or 1-3 positive ints) to a tuple."""
    items = (value,) if isinstance(value, (int, np.integer)) else value
    try:
        items = tuple(items)  # type: ignore[arg-type]
    except TypeError:
        raise SpecError(f"{name}: expected an int or 1 to 3 ints, got {value!r}") from None
    ok = all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 1
        for v in items
    )
    if not ok or not 1 <= len(items) <= 3:
        raise SpecError(f"{name}: expected 1 to 3 integers >= 1, got {value!r}")
    return tuple(int(v) for v in items)


@dataclass(frozen=True)
class TileConfig:
    """Q and KV tile shapes and the KV tiling mode of a fused attention kernel.

    Parameters
    ----------
    q_tile, kv_tile : int or tuple of int
        Tile shapes. Rank equal to the layout's rank means multi-dimensional
        (token-permuted) tiling; rank 1 on a 2-D/3-D layout means flattened tiling.
        Both tiles must have the same rank.
    kv_tiling : {"static", "dynamic"}
        Fixed KV tile grid (Hopper/Blackwell FNA) or a grid anchored at each Q tile's
        first key (Ampere FNA).

    Raises
    ------
    SpecError
        On non-positive sizes, mismatched ranks or an unknown ``kv_tiling``.

    Examples
    --------
    >>> TileConfig(128, 64).q_tile
    (128,)
    >>> TileConfig((8, 16), 128)
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: kv_tile: expected the rank of q_tile (2), got (128,)
    """

    q_tile: tuple[int, ...]
    kv_tile: tuple[int, ...]
    kv_tiling: str = "static"

    def __post_init__(self) -> None:
        q_tile = _as_tile(self.q_tile, "q_tile")
        kv_tile = _as_tile(self.kv_tile, "kv_tile")
        if len(kv_tile) != len(q_tile):
            raise SpecError(f"kv_tile: expected the rank of q_tile ({len(q_tile)}), got {kv_tile}")
        if self.kv_tiling not in KV_TILINGS:
            raise SpecError(f"kv_tiling: expected 'static' or 'dynamic', got {self.kv_tiling!r}")
        object.__setattr__(self, "q_tile", q_tile)
        object.__setattr__(self, "kv_tile", kv_tile)

    @property
    def dynamic(self) -> bool:
        """True for dynamic KV tiling."""
        return self.kv_tiling == "dynamic"

    def __str__(self) -> str:
        q = "x".join(map(str, self.q_tile))
        kv = "x".join(map(str, self.kv_tile))
        return f"q_tile {q}, kv_tile {kv}, {self.kv_tiling} KV tiling"


def default_tiles(ndim: int, kv_tiling: str = "static") -> TileConfig:
    """Blackwell FNA's default forward tiles for a layout of rank ``ndim`` (gna.md §3).

    Examples
    --------
    >>> default_tiles(3)
    TileConfig(q_tile=(8, 4, 8), kv_tile=(4, 4, 8), kv_tiling='static')
    """
    if ndim not in _BLACKWELL_DEFAULTS:
        raise SpecError(f"layout: expected 1 to 3 dimensions, got {ndim}")
    q_tile, kv_tile = _BLACKWELL_DEFAULTS[ndim]
    return TileConfig(q_tile, kv_tile, kv_tiling)


def _readonly(array: np.ndarray) -> np.ndarray:
    """Return ``array`` as int64 with the write flag cleared."""
    array = np.ascontiguousarray(array, dtype=np.int64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class TileCounts:
    """Visited and partially masked KV tiles per Q tile, and pair counts.

    Attributes
    ----------
    config, tiles : SparsityConfig, TileConfig
        The inputs.
    flattened : bool
        True for flattened (1-D) tiling of a 2-D/3-D layout.
    n_q_tiles : int
        Q tiles of the sparse problem (per dilation group; padding-only tiles excluded).
    n_kv_tiles : int
        KV tiles a Q tile visits in dense attention: ``prod(ceil(X_i / T_KV_i))``.
    dense_q_tiles : int
        Q tiles of dense self-attention with the same tiling (``n_q_tiles`` unless
        dilation splits Q tiles).
    visited_per_q_tile, partial_per_q_tile : numpy.ndarray
        Per Q tile (row-major over per-dimension (dilation group, tile) slots, or in
        sequence order when flattened): KV tiles visited, and those among them with at
        least one masked real pair. Read-only.
    total_visited, total_partial : int
        Sums of the two arrays.
    dense_tiles : int
        ``dense_q_tiles * n_kv_tiles``: tiles of dense self-attention.
    unmasked_pairs, dense_pairs : int
        Exact unmasked (query, key) pairs, and ``n_queries * n_keys``.
    visited_pairs : int
        Real (non-padding) pairs inside visited tiles: the element work a tile-skipping
        kernel does. Equals ``unmasked_pairs`` iff the mask is perfectly block-sparse.
    """

    config: SparsityConfig
    tiles: TileConfig
    flattened: bool
    n_q_tiles: int
    n_kv_tiles: int
    dense_q_tiles: int
    visited_per_q_tile: np.ndarray = field(repr=False)
    partial_per_q_tile: np.ndarray = field(repr=False)
    unmasked_pairs: int
    dense_pairs: int
    visited_pairs: int

    @property
    def total_visited(self) -> int:
        """Visited (Q tile, KV tile) pairs."""
        return int(self.visited_per_q_tile.sum())

    @property
    def total_partial(self) -> int:
        """Visited tile pairs with at least one masked real element."""
        return int(self.partial_per_q_tile.sum())

    @property
    def max_visited(self) -> int:
        """Largest number of KV tiles visited by one Q tile."""
        return int(self.visited_per_q_tile.max())

    @property
    def dense_tiles(self) -> int:
        """Tile pairs of dense self-attention with the same tiling."""
        return self.dense_q_tiles * self.n_kv_tiles

    def summary(self) -> dict[str, int]:
        """Totals as a JSON-ready dict (the per-Q-tile arrays are left out).

        Examples
        --------
        >>> counts = count_tiles(SparsityConfig.causal_1d(1024), TileConfig(128, 128))
        >>> counts.summary()["total_visited"], counts.summary()["max_visited"]
        (36, 8)
        """
        names = (
            "n_q_tiles", "n_kv_tiles", "dense_q_tiles", "max_visited", "total_visited",
            "total_partial", "dense_tiles", "unmasked_pairs", "dense_pairs", "visited_pairs",
        )
        return {name: int(getattr(self, name)) for name in names}

    def __str__(self) -> str:
        visited, partial = self.total_visited, self.total_partial
        mode = "flattened 1-D" if self.flattened else "multi-dimensional"
        lines = [
            f"{self.config}",
            f"{self.tiles} ({mode} tiling)",
            f"Q tiles:              {self.n_q_tiles:,} (dense {self.dense_q_tiles:,})",
            f"KV tiles per Q tile:  {self.n_kv_tiles:,} dense, max {self.max_visited:,} "
            f"visited, mean {visited / self.n_q_tiles:,.2f}",
            f"visited tiles:        {visited:,} of {self.dense_tiles:,} dense",
            f"partially masked:     {partial:,} ({100 * partial / visited:.1f}% of visited)",
            f"unmasked pairs:       {self.unmasked_pairs:,} of {self.dense_pairs:,} "
            f"({100 * self.unmasked_pairs / self.dense_pairs:.2f}%)",
            f"pairs in visited:     {self.visited_pairs:,}",
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class _DimSlots:
    """Per-dimension statistics of the Q slots (one slot = one tile of one dilation group)."""

    visited: np.ndarray  # KV tiles visited per Q slot
    full: np.ndarray  # of which fully unmasked in this dimension
    n_queries: np.ndarray  # real queries per Q slot
    kv_extent: np.ndarray  # real keys covered by the visited KV tiles
    kv_first: np.ndarray  # static: first visited KV slot (global index in this dimension)
    n_kv_slots: int  # KV slots in this dimension (all groups)


def _full_tiles(
    first: np.ndarray, n: np.ndarray, clip: np.ndarray | int, inner: tuple, tile: int
) -> np.ndarray:
    """Number of the ``n`` KV tiles at ``first + j*tile`` inside the common window ``inner``.

    ``inner = (A, B)`` is the key interval every query of the Q slot sees; tile ``j``
    covers ``[u, v)`` with ``u = first + j*tile`` and ``v = min(u + tile, clip)``, and it
    is full iff ``A <= u`` and ``v <= B``.
    """
    lo, hi = inner
    j_lo = np.maximum(-((first - lo) // tile), 0)
    j_hi = np.where(clip <= hi, n - 1, np.minimum(n - 1, (hi - first) // tile - 1))
    count = np.where(lo < hi, j_hi - j_lo + 1, 0)
    return np.clip(count, 0, None)


def _group_slots(
    n_q: int, length: int, offset: int, params: tuple, tq: int, tk: int, dynamic: bool
) -> tuple[np.ndarray, ...]:
    """Slot statistics of one dilation group: ``n_q`` queries at ``offset`` in ``length`` keys."""
    window, stride, causal = params
    first_q = np.arange(0, n_q, tq) + offset
    last_q = np.minimum(first_q + tq, n_q + offset) - 1
    a, big_b = window_bounds(first_q, length, window, stride, causal)  # a, end(first)
    big_a, b = window_bounds(last_q, length, window, stride, causal)  # start(last), b
    anchor = a if dynamic else a // tk * tk
    visited = -((anchor - b) // tk)
    full = _full_tiles(anchor, visited, b if dynamic else length, (big_a, big_b), tk)
    extent = b - a if dynamic else np.minimum(anchor + visited * tk, length) - anchor
    return visited, full, last_q - first_q + 1, extent, anchor // tk


def _dim_slots(config: SparsityConfig, tiles: TileConfig, dim: int) -> _DimSlots:
    """Concatenate the slot statistics of every dilation group of dimension ``dim``."""
    params = (config.window[dim], config.stride[dim], config.causal[dim])
    offset = config.query_offset if dim == 0 else 0
    tq, tk = tiles.q_tile[dim], tiles.kv_tile[dim]
    parts, kv_base = [], 0
    for length in dilation_group_lengths(config.layout[dim], config.dilation[dim]).tolist():
        stats = _group_slots(length - offset, length, offset, params, tq, tk, tiles.dynamic)
        parts.append(stats[:4] + (stats[4] + kv_base,))
        kv_base += -(-length // tk)
    columns = [np.concatenate(column) for column in zip(*parts)]
    return _DimSlots(*columns, n_kv_slots=kv_base)


def _outer(arrays: list[np.ndarray]) -> np.ndarray:
    """Row-major outer product of 1-D integer arrays, flattened."""
    result = np.ones(1, dtype=np.int64)
    for array in arrays:
        result = np.multiply.outer(result, array).ravel()
    return result


def _count_multi(config: SparsityConfig, tiles: TileConfig) -> TileCounts:
    """Count with multi-dimensional (token-permuted) tiles: a product over dimensions."""
    slots = [_dim_slots(config, tiles, dim) for dim in range(config.ndim)]
    visited = _outer([s.visited for s in slots])
    full = _outer([s.full for s in slots])
    visited_pairs = math.prod(
        int((s.n_queries * s.kv_extent).sum()) for s in slots
    )
    q_extents = (config.seq_q,) + config.layout[1:]
    return TileCounts(
        config=config,
        tiles=tiles,
        flattened=False,
        n_q_tiles=int(visited.size),
        n_kv_tiles=math.prod(-(-x // t) for x, t in zip(config.layout, tiles.kv_tile)),
        dense_q_tiles=math.prod(-(-x // t) for x, t in zip(q_extents, tiles.q_tile)),
        visited_per_q_tile=_readonly(visited),
        partial_per_q_tile=_readonly(visited - full),
        unmasked_pairs=pair_count(config),
        dense_pairs=config.n_queries * config.n_keys,
        visited_pairs=visited_pairs,
    )


# --- flattened tiling -------------------------------------------------------------


@dataclass(frozen=True)
class _FlatContext:
    """Per-coordinate key intervals of every dimension, shared by all Q tiles."""

    layout: tuple[int, ...]
    dilation: tuple[int, ...]
    start: tuple[np.ndarray, ...]  # local key start per coordinate, per dim
    end: tuple[np.ndarray, ...]
    coords: np.ndarray  # (ndim, N) coordinates of every token
    row_strides: tuple[int, ...]  # row-major strides of layout[:-1]


def _flat_context(config: SparsityConfig) -> _FlatContext:
    """Precompute the per-coordinate local key intervals of each dimension."""
    starts, ends = [], []
    for dim, extent in enumerate(config.layout):
        d = config.dilation[dim]
        x = np.arange(extent)
        length = extent // d + (x % d < extent % d)
        start, end = np.empty(extent, np.int64), np.empty(extent, np.int64)
        for g in range(d):
            sel = x % d == g
            start[sel], end[sel] = window_bounds(
                x[sel] // d, int(length[sel][0]), config.window[dim], config.stride[dim],
                config.causal[dim],
            )
        starts.append(start)
        ends.append(end)
    prefix = config.layout[:-1]
    strides = tuple(math.prod(prefix[i + 1:]) for i in range(len(prefix)))
    coords = np.indices(config.layout).reshape(config.ndim, -1)
    return _FlatContext(config.layout, config.dilation, tuple(starts), tuple(ends), coords, strides)


def _key_coords(ctx: _FlatContext, dim: int, x: int) -> np.ndarray:
    """Key coordinates of dimension ``dim`` seen from query coordinate ``x``."""
    d = ctx.dilation[dim]
    return x % d + d * np.arange(ctx.start[dim][x], ctx.end[dim][x])


def _rows(ctx: _FlatContext, sets: list[np.ndarray]) -> np.ndarray:
    """Flat row indices (over ``layout[:-1]``) of the product of per-dimension key sets."""
    rows = np.zeros(1, dtype=np.int64)
    for stride, keys in zip(ctx.row_strides, sets):
        rows = np.add.outer(rows, keys * stride).ravel()
    return rows


def _runs(covered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-open runs ``[start, end)`` of True values in a boolean vector."""
    edges = np.diff(np.concatenate(([0], covered.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _intervals(rows: np.ndarray, runs: tuple, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat key intervals of ``rows`` x ``runs`` (rows of ``width`` tokens)."""
    base = rows[:, None] * width
    return (base + runs[0][None, :]).ravel(), (base + runs[1][None, :]).ravel()


def _union_intervals(ctx: _FlatContext, q0: int, q1: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat key intervals covering every key seen by queries ``q0 .. q1 - 1``."""
    width, last = ctx.layout[-1], len(ctx.layout) - 1
    starts, ends = [], []
    for row in range(q0 // width, (q1 - 1) // width + 1):
        lo, hi = max(q0 - row * width, 0), min(q1 - row * width, width)
        prefix = ctx.coords[:last, row * width]
        rows = _rows(ctx, [_key_coords(ctx, i, int(x)) for i, x in enumerate(prefix)])
        covered = np.zeros(width, dtype=bool)
        d = ctx.dilation[last]
        for x0 in range(lo, min(lo + d, hi)):  # one residue class at a time
            x1 = x0 + (hi - 1 - x0) // d * d  # its last query in this row
            local = np.arange(ctx.start[last][x0], ctx.end[last][x1])
            covered[x0 % d + d * local] = True
        s, e = _intervals(rows, _runs(covered), width)
        starts.append(s)
        ends.append(e)
    return np.concatenate(starts), np.concatenate(ends)


def _common_intervals(ctx: _FlatContext, q0: int, q1: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted flat key intervals seen by *every* query ``q0 .. q1 - 1`` (a box)."""
    sets = []
    for dim, d in enumerate(ctx.dilation):
        x = ctx.coords[dim, q0:q1]
        lo, hi = int(x.min()), int(x.max())
        if d > 1 and np.any(x % d != lo % d):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        s, e = ctx.start[dim][hi], ctx.end[dim][lo]
        sets.append(lo % d + d * np.arange(s, max(s, e)))
    covered = np.zeros(ctx.layout[-1], dtype=bool)
    covered[sets[-1]] = True
    return _intervals(_rows(ctx, sets[:-1]), _runs(covered), ctx.layout[-1])


def _coverage(starts: np.ndarray, ends: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Number of covered positions below each point, for sorted disjoint intervals."""
    if starts.size == 0:
        return np.zeros(points.shape, dtype=np.int64)
    before = np.concatenate(([0], np.cumsum(ends - starts)))
    idx = np.searchsorted(starts, points, side="right") - 1
    safe = np.maximum(idx, 0)
    inside = np.minimum(points - starts[safe], ends[safe] - starts[safe])
    return np.where(idx >= 0, before[safe] + inside, 0)


def _flat_q_tile(
    ctx: _FlatContext, q0: int, q1: int, tk: int, dynamic: bool
) -> tuple[np.ndarray, int, int]:
    """Visited KV tile ids (relative to the grid anchor), full tiles and visited keys."""
    starts, ends = _union_intervals(ctx, q0, q1)
    n_keys = ctx.coords.shape[1]
    anchor = int(starts.min()) if dynamic else 0
    limit = int(ends.max()) if dynamic else n_keys
    n_tiles = -(-(limit - anchor) // tk)
    marks = np.zeros(n_tiles + 1, dtype=np.int64)
    np.add.at(marks, (starts - anchor) // tk, 1)
    np.add.at(marks, -(-(ends - anchor) // tk), -1)
    visited = np.flatnonzero(np.cumsum(marks)[:n_tiles] > 0)
    lo = anchor + visited * tk
    hi = np.minimum(lo + tk, limit)
    box_starts, box_ends = _common_intervals(ctx, q0, q1)
    covered = _coverage(box_starts, box_ends, hi) - _coverage(box_starts, box_ends, lo)
    n_full = int(np.count_nonzero(covered == hi - lo))
    return visited, n_full, int((hi - lo).sum())


def _count_flat(config: SparsityConfig, tiles: TileConfig) -> TileCounts:
    """Count with flattened 1-D tiles on a 2-D/3-D layout (set-based, per Q tile)."""
    ctx = _flat_context(config)
    n, tq, tk = config.n_keys, tiles.q_tile[0], tiles.kv_tile[0]
    n_q_tiles = -(-n // tq)
    visited = np.zeros(n_q_tiles, dtype=np.int64)
    full = np.zeros(n_q_tiles, dtype=np.int64)
    visited_pairs = 0
    for t in range(n_q_tiles):
        q0, q1 = t * tq, min((t + 1) * tq, n)
        ids, full[t], n_keys = _flat_q_tile(ctx, q0, q1, tk, tiles.dynamic)
        visited[t] = ids.size
        visited_pairs += (q1 - q0) * n_keys
    return TileCounts(
        config=config,
        tiles=tiles,
        flattened=True,
        n_q_tiles=n_q_tiles,
        n_kv_tiles=-(-n // tk),
        dense_q_tiles=n_q_tiles,
        visited_per_q_tile=_readonly(visited),
        partial_per_q_tile=_readonly(visited - full),
        unmasked_pairs=pair_count(config),
        dense_pairs=n * n,
        visited_pairs=visited_pairs,
    )


def _is_flattened(config: SparsityConfig, tiles: TileConfig) -> bool:
    """Check the tile rank against the layout; True for flattened tiling."""
    rank = len(tiles.q_tile)
    if rank == config.ndim:
        return False
    if rank == 1:
        return True
    raise SpecError(
        f"q_tile: expected rank 1 (flattened) or the layout rank {config.ndim}, "
        f"got {tiles.q_tile}"
    )


def count_tiles(config: SparsityConfig, tiles: TileConfig) -> TileCounts:
    """Count visited and partially masked KV tiles per Q tile (NATTEN Sim, gna.md §2.2).

    Parameters
    ----------
    config : SparsityConfig
        Layout and GNA parameters.
    tiles : TileConfig
        Tile shapes (rank = layout rank for multi-dimensional tiling, rank 1 for
        flattened tiling) and KV tiling mode.

    Returns
    -------
    TileCounts
        Per-Q-tile arrays, totals and pair counts.

    Raises
    ------
    SpecError
        If the tile rank is neither 1 nor the layout rank.

    Examples
    --------
    Causal 1-D attention with equal tiles visits ``nb (nb + 1) / 2`` tiles, ``nb`` of
    them on the diagonal (partially masked):

    >>> counts = count_tiles(SparsityConfig.causal_1d(1024), TileConfig(128, 128))
    >>> counts.visited_per_q_tile.tolist()
    [1, 2, 3, 4, 5, 6, 7, 8]
    >>> counts.total_visited, counts.total_partial, counts.dense_tiles
    (36, 8, 64)

    HunyuanVideo with GNA stride 16x8x8 is perfectly block-sparse:

    >>> cfg = SparsityConfig((30, 48, 80), window=(18, 24, 24), stride=(16, 8, 8))
    >>> counts = count_tiles(cfg, TileConfig((4, 8, 8), (2, 8, 8)))
    >>> counts.max_visited, counts.n_kv_tiles, counts.total_partial
    (81, 900, 0)
    """
    _check_tile_count(config, tiles)
    if _is_flattened(config, tiles):
        return _count_flat(config, tiles)
    return _count_multi(config, tiles)


#: The most Q or KV tiles counted (2^24): the counter holds a few int64 arrays per tile, and
#: a layout of 10^12 tokens would otherwise try to allocate tens of GiB.
MAX_TILES = 2**24


def _check_tile_count(config: SparsityConfig, tiles: TileConfig) -> None:
    """Refuse, before allocating, a layout that gives more than :data:`MAX_TILES` tiles."""
    layout = tuple(config.layout)
    for name, tile in (("q", tiles.q_tile), ("kv", tiles.kv_tile)):
        if len(tile) == len(layout):
            count = math.prod(-(-n // t) for n, t in zip(layout, tile))
        else:
            count = -(-math.prod(layout) // math.prod(tile))
        if count > MAX_TILES:
            raise SpecError(f"layout {'x'.join(map(str, layout))} in {name} tiles of "
                            f"{'x'.join(map(str, tile))} gives {count} tiles; the tile counter "
                            f"accepts at most {MAX_TILES}: expected a smaller layout or larger tiles")


def _multi_visited(config: SparsityConfig, tiles: TileConfig, q_tile: int) -> np.ndarray:
    """Static visited KV tile ids of one Q tile, multi-dimensional tiling."""
    slots = [_dim_slots(config, tiles, dim) for dim in range(config.ndim)]
    n_slots = tuple(s.visited.size for s in slots)
    _check_index(q_tile, math.prod(n_slots))
    q_index = np.unravel_index(q_tile, n_slots)
    ranges = [
        np.arange(s.kv_first[i], s.kv_first[i] + s.visited[i]) for s, i in zip(slots, q_index)
    ]
    grid = np.meshgrid(*ranges, indexing="ij")
    return np.ravel_multi_index(tuple(g.ravel() for g in grid), tuple(s.n_kv_slots for s in slots))


def _check_index(q_tile: int, n_q_tiles: int) -> None:
    """Raise SpecError unless ``0 <= q_tile < n_q_tiles``."""
    if not 0 <= q_tile < n_q_tiles:
        raise SpecError(f"q_tile: expected an index in [0, {n_q_tiles}), got {q_tile}")


def visited_kv_tiles(config: SparsityConfig, tiles: TileConfig, q_tile: int) -> np.ndarray:
    """Sorted ids of the KV tiles that Q tile ``q_tile`` visits (static KV tiling).

    Tile ids are row-major over the per-dimension (dilation group, tile) slots for
    multi-dimensional tiling, and sequence order for flattened tiling, the same order
    as :attr:`TileCounts.visited_per_q_tile`.

    Raises
    ------
    SpecError
        For dynamic KV tiling (its tiles have no fixed ids) or an out-of-range index.

    Examples
    --------
    >>> visited_kv_tiles(SparsityConfig.causal_1d(1024), TileConfig(128, 128), 2).tolist()
    [0, 1, 2]
    >>> cfg = SparsityConfig.neighborhood((8, 8), 3)
    >>> visited_kv_tiles(cfg, TileConfig((4, 4), (4, 4)), 0).tolist()
    [0, 1, 2, 3]
    """
    if tiles.dynamic:
        raise SpecError("visited_kv_tiles: expected static KV tiling; dynamic KV tiles have no ids")
    if not _is_flattened(config, tiles):
        return np.sort(_multi_visited(config, tiles, q_tile))
    tq = tiles.q_tile[0]
    _check_index(q_tile, -(-config.n_keys // tq))
    q0, q1 = q_tile * tq, min((q_tile + 1) * tq, config.n_keys)
    return _flat_q_tile(_flat_context(config), q0, q1, tiles.kv_tile[0], False)[0]

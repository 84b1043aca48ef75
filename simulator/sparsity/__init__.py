"""Tile-level sparsity counting and speedup bounds (NATTEN Sim rules, reference/gna.md).

Describe a mask with :class:`SparsityConfig` (dense, causal, sliding window, strided,
blocked, dilated; 1-3-D token layouts), a kernel's tiling with :class:`TileConfig`,
count visited KV tiles with :func:`count_tiles` and turn the counts into speedup upper
bounds with :func:`speedup_bounds`.

Examples
--------
>>> cfg = SparsityConfig.sliding_window_1d(32768, 2048)
>>> bounds = speedup_bounds(count_tiles(cfg, TileConfig(128, 128)))
>>> round(bounds.flop_bound, 2), round(bounds.tile_bound_total, 2)
(16.52, 15.54)
"""

from simulator.sparsity.bounds import (
    SpeedupBounds,
    block_sparse,
    flop_bound,
    kernel_block_sparse,
    predicted_speedup_hook,
    speedup_bounds,
    tile_bound,
    tile_bound_total,
)
from simulator.sparsity.filters import (
    FILTER_METHODS,
    FilterMask,
    FilterTileCounts,
    count_filter_tiles,
)
from simulator.sparsity.mask import (
    SparsityConfig,
    dilation_group_lengths,
    gna_mask,
    pair_count,
    window_bounds,
)
from simulator.sparsity.tiles import (
    KV_TILINGS,
    TileConfig,
    TileCounts,
    count_tiles,
    default_tiles,
    visited_kv_tiles,
)

__all__ = [
    "FILTER_METHODS",
    "FilterMask",
    "FilterTileCounts",
    "KV_TILINGS",
    "SparsityConfig",
    "SpeedupBounds",
    "TileConfig",
    "TileCounts",
    "block_sparse",
    "count_filter_tiles",
    "count_tiles",
    "default_tiles",
    "dilation_group_lengths",
    "flop_bound",
    "gna_mask",
    "kernel_block_sparse",
    "pair_count",
    "predicted_speedup_hook",
    "speedup_bounds",
    "tile_bound",
    "tile_bound_total",
    "visited_kv_tiles",
    "window_bounds",
]

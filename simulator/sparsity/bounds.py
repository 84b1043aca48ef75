"""Speedup upper bounds of a sparse mask over dense attention (reference/gna.md §1-§2).

Three bounds, all "with respect to self attention with the same tiling":

* :func:`flop_bound`: dense pairs / unmasked pairs (FLOP-wise, ``1 / (1 - sparsity)``).
* :func:`tile_bound`: the paper's rule, by the worst Q tile: dense KV tiles per Q tile /
  the most KV tiles any Q tile visits. Degenerate for causal masks (the last Q tile
  visits every KV tile); use :func:`tile_bound_total` there.
* :func:`tile_bound_total`: dense tiles / total visited tiles (work-based).

:func:`block_sparse` tells whether every visited tile is fully unmasked (then the
tile-wise bound reaches the FLOP-wise one and no fine-grained masking is needed);
:func:`kernel_block_sparse` is the Blackwell FNA kernel's own sufficient predicate.
:func:`predicted_speedup_hook` is the integration point of the GPU model.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from typing import Any

from simulator.errors import SimulatorError, SpecError
from simulator.sparsity.mask import SparsityConfig, dilation_group_lengths, window_bounds
from simulator.sparsity.tiles import TileConfig, TileCounts

__all__ = [
    "SpeedupBounds",
    "block_sparse",
    "flop_bound",
    "kernel_block_sparse",
    "predicted_speedup_hook",
    "speedup_bounds",
    "tile_bound",
    "tile_bound_total",
]


def flop_bound(counts: TileCounts) -> float:
    """FLOP-wise speedup bound: dense pairs / unmasked pairs.

    Examples
    --------
    >>> from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
    >>> cfg = SparsityConfig.neighborhood((256, 256), 80)  # FLUX 4K, gna.md §1
    >>> round(flop_bound(count_tiles(cfg, TileConfig((16, 16), (16, 8)))), 2)
    10.24
    """
    return counts.dense_pairs / counts.unmasked_pairs


def tile_bound(counts: TileCounts) -> float:
    """Tile-wise bound by the worst Q tile (NATTEN Sim, gna.md §2.2).

    ``n_kv_tiles / max(visited_per_q_tile)``: the paper's rule.

    Examples
    --------
    >>> from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
    >>> cfg = SparsityConfig.blocked((30, 48, 80), (18, 24, 24))  # Hunyuan WSA
    >>> round(tile_bound(count_tiles(cfg, TileConfig((8, 4, 8), (4, 4, 8)))), 2)
    6.67
    """
    return counts.n_kv_tiles / counts.max_visited


def tile_bound_total(counts: TileCounts) -> float:
    """Tile-wise bound by total work: dense tiles / total visited tiles.

    Examples
    --------
    >>> from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
    >>> counts = count_tiles(SparsityConfig.causal_1d(1024), TileConfig(128, 128))
    >>> tile_bound_total(counts)  # 64 / 36
    1.7777777777777777
    """
    return counts.dense_tiles / counts.total_visited


def block_sparse(counts: TileCounts) -> bool:
    """True iff every visited tile is fully unmasked ("perfectly block-sparse").

    Examples
    --------
    >>> from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
    >>> cfg = SparsityConfig((32768,), window=2048, stride=256)
    >>> block_sparse(count_tiles(cfg, TileConfig(256, 128)))
    True
    """
    return counts.total_partial == 0


@dataclass(frozen=True)
class SpeedupBounds:
    """The three speedup upper bounds and the block-sparsity flag of one mask + tiling.

    Examples
    --------
    >>> SpeedupBounds(2.0, 1.0, 1.78, False).as_dict()["tile_bound_total"]
    1.78
    """

    flop_bound: float
    tile_bound: float
    tile_bound_total: float
    block_sparse: bool

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (JSON-ready)."""
        return asdict(self)

    def __str__(self) -> str:
        return "\n".join(
            [
                f"speedup bound, FLOP-wise:            {self.flop_bound:.2f}x",
                f"speedup bound, tiles (worst Q tile): {self.tile_bound:.2f}x",
                f"speedup bound, tiles (total work):   {self.tile_bound_total:.2f}x",
                f"perfectly block-sparse:              {'yes' if self.block_sparse else 'no'}",
            ]
        )


def speedup_bounds(counts: TileCounts) -> SpeedupBounds:
    """All bounds of :class:`TileCounts` at once.

    Examples
    --------
    >>> from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
    >>> cfg = SparsityConfig((30, 48, 80), window=(18, 24, 24), stride=(16, 8, 8))
    >>> print(speedup_bounds(count_tiles(cfg, TileConfig((4, 8, 8), (2, 8, 8)))))
    speedup bound, FLOP-wise:            11.11x
    speedup bound, tiles (worst Q tile): 11.11x
    speedup bound, tiles (total work):   11.11x
    perfectly block-sparse:              yes
    """
    return SpeedupBounds(
        flop_bound=flop_bound(counts),
        tile_bound=tile_bound(counts),
        tile_bound_total=tile_bound_total(counts),
        block_sparse=block_sparse(counts),
    )


def _kernel_dim_ok(length: int, window: int, stride: int, tq: int, tk: int) -> bool:
    """Blackwell FNA's ``is_fully_block_sparse_int`` for one dimension (gna.md §1)."""
    if length == window:
        return True
    half = stride // 2
    last_leader = (length - 1) // stride * stride
    last_start = int(window_bounds(last_leader, length, window, stride, False)[0])
    fits = stride % tq == 0 and window % tk == 0
    tail = length % stride == 0 or last_start % tk == 0
    two_groups = length % tk == 0 and -(-length // stride) == 2 and stride + half >= length - window
    return fits and tail and ((window // 2 - half) % tk == 0 or two_groups)


def kernel_block_sparse(config: SparsityConfig, tiles: TileConfig) -> bool:
    """Blackwell FNA's predicate for skipping fine-grained masking (gna.md §1).

    Evaluated per dimension and dilation group, as transcribed in gna.md; always False
    when a dimension is causal. It is a sufficient condition for perfect block sparsity
    with static KV tiling when ``T_KV`` divides the stride (e.g. ``T_KV | T_Q``, as in
    Blackwell's 1-D 256/128), but not in general: layout 27, window 6, stride 3, tiles
    3/2 passes it and is not block-sparse. :func:`block_sparse` counts exactly.

    Raises
    ------
    SpecError
        For flattened tiling of a 2-D/3-D layout (the kernel tiles multi-dimensionally).

    Examples
    --------
    >>> cfg = SparsityConfig((32768,), window=2048, stride=128)
    >>> kernel_block_sparse(cfg, TileConfig(256, 128))  # stride must reach 256
    False
    """
    if len(tiles.q_tile) != config.ndim:
        raise SpecError(
            f"q_tile: the kernel predicate needs rank-{config.ndim} tiles, got {tiles.q_tile}"
        )
    if any(config.causal):
        return False
    for dim in range(config.ndim):
        lengths = set(dilation_group_lengths(config.layout[dim], config.dilation[dim]).tolist())
        for length in lengths:
            args = (config.window[dim], config.stride[dim], tiles.q_tile[dim], tiles.kv_tile[dim])
            if not _kernel_dim_ok(length, *args):
                return False
    return True


def predicted_speedup_hook(hw: str, counts: TileCounts) -> Any:
    """HOOK for the GPU model: predicted speedup of the sparse mask on GPU ``hw``.

    Integration contract: the module :mod:`simulator.gpu` (being written separately)
    must define ``predict_sparse_speedup(hw: str, counts: TileCounts)`` returning a
    number (or a JSON-ready dict); ``einsim speedup --hw NAME`` reports it under the key
    ``predicted``. Until then this raises.

    Raises
    ------
    SimulatorError
        If :mod:`simulator.gpu` or its ``predict_sparse_speedup`` is missing.

    Examples
    --------
    >>> import sys
    >>> from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
    >>> counts = count_tiles(SparsityConfig.causal_1d(256), TileConfig(64, 64))
    >>> saved = sys.modules.pop("simulator.gpu", None)
    >>> sys.modules["simulator.gpu"] = None  # pretend the GPU model is absent
    >>> predicted_speedup_hook("h100", counts)
    Traceback (most recent call last):
    ...
    simulator.errors.SimulatorError: `--hw` needs the GPU model (module simulator.gpu), which is not available
    >>> del sys.modules["simulator.gpu"]
    >>> if saved is not None:
    ...     sys.modules["simulator.gpu"] = saved
    """
    try:
        gpu = importlib.import_module("simulator.gpu")
    except ModuleNotFoundError as err:
        if err.name != "simulator.gpu":
            raise
        raise SimulatorError(
            "`--hw` needs the GPU model (module simulator.gpu), which is not available"
        ) from None
    predict = getattr(gpu, "predict_sparse_speedup", None)
    if predict is None:
        raise SimulatorError(
            "`--hw`: simulator.gpu has no predict_sparse_speedup(hw, counts) yet"
        )
    return predict(hw, counts)

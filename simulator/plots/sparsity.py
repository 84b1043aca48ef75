"""Pictures of a sparse mask at tile level, and its speedup bounds.

:func:`tile_states` classifies every (Q tile, KV tile) pair of a mask as skipped,
partly masked or fully visited, straight from the element mask
(:func:`simulator.sparsity.gna_mask`, so for small layouts only). The tile counter
(:func:`simulator.sparsity.count_tiles`) computes the same counts without the mask;
the figures let a person see them.

Examples
--------
>>> from simulator.sparsity import SparsityConfig
>>> states = tile_states(SparsityConfig.causal_1d(8), 4, 4)
>>> states.tolist()              # 0 skipped, 1 partly masked, 2 full
[[1, 0], [2, 1]]
>>> frame = bounds_frame(4096, [256, 1024], [(64, 64), (128, 128)])
>>> frame.columns.tolist()[:4]
['window', 'tiles', 'flop_bound', 'tile_bound']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from simulator.plots._base import new_figure
from simulator.sparsity import SparsityConfig, TileConfig, count_tiles, gna_mask, speedup_bounds

__all__ = ["STATE_NAMES", "bounds_figure", "bounds_frame", "tile_map_figure", "tile_slice_2d",
           "tile_states"]

#: Names of the tile states of :func:`tile_states`, by code.
STATE_NAMES = ("skipped", "partly masked", "visited (full)")
_CMAP = ListedColormap(["#f7f7f7", "#fdae61", "#2c7bb6"])


def tile_states(config: SparsityConfig, q_tile: int, kv_tile: int) -> np.ndarray:
    """Per (Q tile, KV tile) of a 1-D (or flattened) mask: 0 skipped, 1 partly masked, 2 full.

    Tokens past the end of the sequence (a partial last tile) count as not masked.
    """
    mask = gna_mask(config)
    n_q, n_k = mask.shape
    rows, cols = -(-n_q // q_tile), -(-n_k // kv_tile)
    padded = np.zeros((rows * q_tile, cols * kv_tile), dtype=bool)
    real = np.zeros_like(padded)
    padded[:n_q, :n_k] = mask
    real[:n_q, :n_k] = True
    seen = padded.reshape(rows, q_tile, cols, kv_tile).sum(axis=(1, 3))
    total = real.reshape(rows, q_tile, cols, kv_tile).sum(axis=(1, 3))
    return np.where(seen == 0, 0, np.where(seen == total, 2, 1))


def tile_slice_2d(config: SparsityConfig, q_tile: tuple[int, int], kv_tile: tuple[int, int],
                  q_index: tuple[int, int]) -> np.ndarray:
    """For one Q tile of a 2-D layout, the state of every KV tile on the 2-D KV tile grid.

    Parameters
    ----------
    config : SparsityConfig
        A 2-D layout whose extents the tiles divide.
    q_tile, kv_tile : tuple of int
        Multi-dimensional (token-permuted) tile shapes.
    q_index : tuple of int
        Which Q tile (row, column on the Q tile grid).

    Returns
    -------
    numpy.ndarray
        ``(X0 / kv_tile[0], X1 / kv_tile[1])`` states, as :func:`tile_states`.
    """
    x0, x1 = config.layout
    mask = gna_mask(config).reshape(x0, x1, x0, x1)
    a, b = q_index[0] * q_tile[0], q_index[1] * q_tile[1]
    block = mask[a:a + q_tile[0], b:b + q_tile[1]]  # (tq0, tq1, x0, x1)
    k0, k1 = kv_tile
    seen = block.reshape(q_tile[0], q_tile[1], x0 // k0, k0, x1 // k1, k1).sum(axis=(0, 1, 3, 5))
    full = q_tile[0] * q_tile[1] * k0 * k1
    return np.where(seen == 0, 0, np.where(seen == full, 2, 1))


def tile_map_figure(states: np.ndarray, title: str, *, xlabel: str = "KV tile",
                    ylabel: str = "Q tile", marker: tuple[int, int] | None = None) -> Figure:
    """Draw a tile-state map (from :func:`tile_states` or :func:`tile_slice_2d`)."""
    figure, axes = new_figure(5.6, 4.4)
    axes.imshow(states, cmap=_CMAP, vmin=-0.5, vmax=2.5, interpolation="nearest")
    if marker is not None:
        axes.scatter([marker[1]], [marker[0]], marker="*", s=120, color="k", label="query tile")
    for code, name in enumerate(STATE_NAMES):
        count = int((states == code).sum())
        axes.scatter([], [], marker="s", s=60, color=_CMAP(code), edgecolors="0.5",
                     label=f"{name}: {count}")
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(title, fontsize=9)  # over the figure: the legend column takes width
    figure.subplots_adjust(left=0.1, right=0.68, bottom=0.12, top=0.9)
    return figure


def bounds_frame(length: int, windows: Sequence[int], tiles: Sequence[tuple[int, int]],
                 hw: str | None = None) -> pd.DataFrame:
    """Speedup bounds of a 1-D sliding window per window and (Q, KV) tile shape.

    Parameters
    ----------
    length : int
        Tokens.
    windows : sequence of int
    tiles : sequence of (int, int)
        ``(q_tile, kv_tile)``.
    hw : str, optional
        A GPU: add the GPU model's ``predicted`` speedup over dense.

    Returns
    -------
    pandas.DataFrame
        ``window, tiles, flop_bound, tile_bound, tile_bound_total`` (and ``predicted``).
    """
    rows = []
    for q, kv in tiles:
        for window in windows:
            counts = count_tiles(SparsityConfig.sliding_window_1d(length, window), TileConfig(q, kv))
            b = speedup_bounds(counts)
            row = {"window": int(window), "tiles": f"{q}x{kv}", "flop_bound": b.flop_bound,
                   "tile_bound": b.tile_bound, "tile_bound_total": b.tile_bound_total}
            if hw is not None:
                from simulator.gpu import predict_sparse_speedup

                row["predicted"] = float(predict_sparse_speedup(hw, counts))
            rows.append(row)
    return pd.DataFrame(rows)


def bounds_figure(frame: pd.DataFrame, length: int, hw: str | None = None) -> Figure:
    """Bounds (and predicted speedups) vs window, one colour per tile shape."""
    figure, axes = new_figure(7, 4.2)
    flop = frame.drop_duplicates("window").sort_values("window")
    axes.plot(flop["window"], flop["flop_bound"], color="k", lw=2, label="FLOP-wise bound")
    for index, (name, part) in enumerate(frame.groupby("tiles", sort=False)):
        colour = f"C{index}"
        part = part.sort_values("window")
        axes.plot(part["window"], part["tile_bound"], color=colour, marker="o", ms=3,
                  label=f"tile bound {name}")
        if "predicted" in part:
            axes.plot(part["window"], part["predicted"], color=colour, ls="--", marker="x", ms=4,
                      label=f"predicted {name}" + (f" on {hw}" if hw else ""))
    axes.set_xscale("log", base=2)
    axes.set_yscale("log", base=2)
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_formatter(ScalarFormatter())
    axes.set_xlabel("window (keys)")
    axes.set_ylabel("speedup over dense attention (×)")
    axes.set_title(f"Sliding window over {length:,} tokens: bounds vs tile shape", fontsize=9)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    figure.subplots_adjust(left=0.1, right=0.68, bottom=0.13, top=0.9)
    return figure



"""Sparse masks on the GPU model: tile counts in, predicted time and speedup out.

:mod:`simulator.sparsity` counts, per query tile, the key tiles a mask makes a kernel
visit and how many of them are partially masked (NATTEN's simulator rules). The GPU
model charges each visited tile a full step and each partially masked tile
``overheads.masked_tile_cost`` more, so :func:`predict_sparse_speedup` (the hook behind
``einsim speedup --hw``) is the ratio of predicted dense and sparse times with the same
tiles.

Examples
--------
>>> from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
>>> cfg = SparsityConfig((30, 48, 80), window=(18, 24, 24), stride=(16, 8, 8))
>>> counts = count_tiles(cfg, TileConfig((4, 8, 8), (2, 8, 8)))   # block-sparse: 11.11x bound
>>> 10.0 < predict_sparse_speedup("h100", counts) <= 11.12
True
"""

from __future__ import annotations

import math
import os

from simulator.gpu.model import MaskCounts, predict
from simulator.gpu.profiles import KernelProfile
from simulator.gpu.tiling import StepCounts
from simulator.hardware import GPUSpec
from simulator.sparsity import TileCounts
from simulator.workload import AttentionProblem

__all__ = ["dense_counts", "mask_counts", "predict_sparse_speedup"]


def mask_counts(counts: TileCounts) -> MaskCounts:
    """The GPU model's view of :class:`~simulator.sparsity.TileCounts` (per instance).

    Examples
    --------
    >>> from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
    >>> m = mask_counts(count_tiles(SparsityConfig.causal_1d(1024), TileConfig(128, 128)))
    >>> m.steps.steps, m.steps.partial, m.q_tile
    (36, 8, 128)
    """
    steps = StepCounts(counts.total_visited, counts.total_partial, counts.max_visited,
                       counts.n_q_tiles, counts.n_kv_tiles)
    return MaskCounts(steps, math.prod(counts.tiles.q_tile), math.prod(counts.tiles.kv_tile),
                      float(counts.unmasked_pairs))


def dense_counts(counts: TileCounts) -> MaskCounts:
    """Dense self-attention with the same tiles: every key tile, none masked.

    Examples
    --------
    >>> from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
    >>> dense_counts(count_tiles(SparsityConfig.causal_1d(1024), TileConfig(128, 128))).steps
    StepCounts(steps=64, partial=0, max_steps=8, q_tiles=8, kv_tiles=8, touched=None)
    """
    steps = StepCounts(counts.dense_tiles, 0, counts.n_kv_tiles, counts.dense_q_tiles,
                       counts.n_kv_tiles)
    return MaskCounts(steps, math.prod(counts.tiles.q_tile), math.prod(counts.tiles.kv_tile),
                      float(counts.dense_pairs))


def predict_sparse_speedup(hw: str | os.PathLike[str] | GPUSpec, counts: TileCounts, *,
                           batch: int = 1, heads: int = 24, head_dim: int = 128,
                           profile: str | KernelProfile = "auto",
                           cascade: str = "attention-1pass") -> float:
    """Predicted speedup of a sparse mask over dense attention with the same tiles.

    The default shape (one sequence, 24 heads of dimension 128, FP16) is that of
    NATTEN's FLUX and HunyuanVideo examples (reference gna.md sec. 4.1).

    Parameters
    ----------
    hw : str, path or GPUSpec
    counts : TileCounts
        From :func:`simulator.sparsity.count_tiles`.
    batch, heads, head_dim : int
        The attention problem the mask applies to.
    profile : str or KernelProfile
        Kernel profile (``flash3`` by default).
    cascade : str
        The cascade run for both (``attention-1pass``).

    Returns
    -------
    float
        ``dense time / sparse time``.

    Raises
    ------
    SpecError
        Unknown GPU or profile.

    Examples
    --------
    >>> from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
    >>> counts = count_tiles(SparsityConfig.causal_1d(16384), TileConfig(128, 128))
    >>> round(predict_sparse_speedup("h100", counts), 2)    # tile bound 1.98
    1.96
    """
    config = counts.config
    problem = AttentionProblem(batch=batch, heads=heads, kv_heads=heads, seq_q=config.n_queries,
                               seq_kv=config.n_keys, head_dim_qk=head_dim)
    sparse = predict(hw, cascade, problem, profile=profile, masks=mask_counts(counts))
    dense = predict(hw, cascade, problem, profile=profile, masks=dense_counts(counts))
    return dense.time_s / sparse.time_s

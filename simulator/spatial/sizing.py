"""A workload's sizes and the cascade's filter densities, bound to the cascade by role.

A spatial design prices whatever cascade it is given; the cascade names its ranks as it
likes. :func:`workload_sizes` binds a :class:`Workload` (queries, keys, head dims, batch,
heads) to the cascade's ranks through their roles (:func:`simulator.binding.bind`): the
query rank takes ``seq_q``, the key (pass) rank ``seq_kv``, the inner part of the key
partition the 2-D array's key tile, the contracted and value ranks the head dims; the
cascade's own batch and head ranks take their extents, and the rest of ``batch × heads``
becomes the count of independent instances (so a latent cache that no head rank indexes,
MLA's, is read once per batch, not once per head). Every other rank is sized by
``--size NAME=VALUE`` (``extra``).

:func:`filter_densities` gives every filter-density symbol of the cascade its exact value:
the symbol of the per-pair contractions the kernel's mask describes
(:func:`simulator.gpu.masks.mask_plan`) the fraction of (query, key) pairs the mask keeps,
any other filter the fraction of its own points (by enumeration, small sizes only). The
cascade is the only description of the mask; a caller may still fix a density by hand.

Examples
--------
>>> import einsum
>>> bound = workload_sizes(einsum.load("attention-1pass"), Workload(2, 12, 64, 64, 1000, 1000),
...                        key_tile=256)
>>> sorted(bound.sizes.items()), int(bound.instances)
([('E', 64), ('F', 64), ('M', 1000), ('M0', 256), ('M1', 4), ('P', 1000)], 24)
>>> causal = einsum.load("attention-1pass-causal")
>>> filter_densities(causal, Workload(1, 1, 64, 64, 4, 4), tiles=(2, 2))
{'rho_BQK': 0.625}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

import einsum
from einsum.model import Cascade
from simulator.binding import bind
from simulator.errors import SpecError
from simulator.gpu.masks import mask_pairs, mask_plan
from simulator.gpu.model import bound_sizes, make_shapes

__all__ = ["MAX_DENSITY_POINTS", "BoundWorkload", "Workload", "filter_densities",
           "mask_symbols", "tensor_sizes", "workload_sizes"]

#: Most points :func:`filter_densities` enumerates for a filter that is not the kernel's mask.
MAX_DENSITY_POINTS = 1 << 24


class Workload(NamedTuple):
    """A batch of self-attention layers; every field may be a numpy array (one per point)."""

    batch: Any
    heads: Any
    head_dim: Any
    head_dim_v: Any
    seq_q: Any
    seq_kv: Any
    d_model: Any = None
    ffn_hidden: Any = None
    kv_heads: Any = None

    @staticmethod
    def from_model(model: Any, batch: Any, seq_len: Any) -> Workload:
        """The attention and linear-layer shape of a catalogue model (``M = P = seq_len``)."""
        from simulator.workload import get_model

        shape = get_model(model) if isinstance(model, str) else model
        return Workload(batch, shape.heads, shape.head_dim, shape.head_dim_v or shape.head_dim,
                        seq_len, seq_len, shape.d_model, shape.ffn_hidden, shape.kv_heads)


class BoundWorkload(NamedTuple):
    """A workload bound to a cascade.

    Attributes
    ----------
    sizes : dict
        Every rank's size (partitions derived; the key tile as the inner key part).
    instances : float or ndarray
        Independent instances the cascade runs for: ``batch × heads`` over the product of
        the extents of the cascade's own batch and head ranks.
    extra : dict
        The sizes of the ranks other than queries and keys (head dims, ``--size`` values).
    head_dims : tuple
        (Q·K dot length, V width) the extra sizes imply.
    """

    sizes: dict[str, Any]
    instances: Any
    extra: dict[str, Any]
    head_dims: tuple[Any, Any]


def workload_sizes(cascade: Cascade, workload: Workload, key_tile: Any = None,
                   extra: Mapping[str, Any] | None = None) -> BoundWorkload:
    """Bind a workload's sizes to the cascade's ranks by role (see the module docstring).

    Raises
    ------
    SpecError
        When the head dims contradict ``extra``, or a rank of the cascade stays unsized
        (the message names the ``--size`` to give).
    """
    binding = bind(cascade)
    head, qk, v = bound_sizes(cascade, workload.head_dim, workload.head_dim_v, extra)
    sizes = dict(binding.sizes(seq_q=workload.seq_q, seq_kv=workload.seq_kv, key_tile=key_tile,
                               extra=head))
    instances = np.multiply(workload.batch, workload.heads)
    if binding.instance:
        kv_heads = workload.heads if workload.kv_heads is None else workload.kv_heads
        extents = binding.instance_extents(workload.batch, workload.heads, kv_heads)
        covered: Any = 1
        for rank, extent in extents.items():
            sizes[rank] = extent
            covered = np.multiply(covered, extent)
        instances = np.divide(instances, covered)
    return BoundWorkload(sizes, instances, head, (qk, v))


def tensor_sizes(cascade: Cascade, tensors: Mapping[str, Any] | None,
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``extra`` plus the sizes of the ranks of the given tensors, read from their shapes.

    Raises
    ------
    SpecError
        When a tensor's shape contradicts ``extra`` or the cascade's indexing of it.

    Examples
    --------
    >>> import einsum
    >>> tensor_sizes(einsum.load("attention-1pass-block"), {"BM": np.eye(4)}, {"MB": 256})
    {'MB': 256, 'QB': 4, 'KB': 4}
    """
    out = dict(extra or {})
    for name, values in (tensors or {}).items():
        if name not in dict(cascade.tensor_ranks):
            continue
        ranks, shape = cascade.ranks_of(name), np.shape(values)
        if len(ranks) != len(shape):
            raise SpecError(f"tensor {name}: {len(shape)} dimension(s) given; cascade "
                            f"'{cascade.name}' indexes it with {len(ranks)} ({', '.join(ranks)})")
        for rank, extent in zip(ranks, shape, strict=True):
            if rank in out and np.any(np.asarray(out[rank]) != extent):
                raise SpecError(f"tensor {name}: rank {rank} has {extent} entries but "
                                f"--size {rank}={out[rank]}; give one of them")
            out.setdefault(rank, extent)
    return out


def filter_densities(cascade: Cascade, workload: Workload, *, tiles: tuple[Any, Any],
                     extra: Mapping[str, Any] | None = None,
                     tensors: Mapping[str, Any] | None = None,
                     given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Exact values of the cascade's filter-density symbols (``given`` ones kept as given).

    Parameters
    ----------
    cascade, workload
    tiles : (query tile, key tile)
        The spatial tile; the pair counts do not depend on it, the own-point densities of
        filters over partitioned keys do (their iteration space is whole tiles).
    extra : mapping, optional
        ``--size`` values (see :func:`workload_sizes`).
    tensors : mapping, optional
        Values of tensors the filters read (a block mask, per-head windows).
    given : mapping, optional
        Densities fixed by the caller; only the others are computed.

    Raises
    ------
    SpecError
        When the mask reads a tensor that ``tensors`` lacks, or a filter other than the
        kernel's mask needs more than :data:`MAX_DENSITY_POINTS` points to count.
    """
    out = dict(given or {})
    todo = [d.symbol for d in einsum.op_counts(cascade).densities if d.symbol not in out]
    if not todo:
        return out
    bound = workload_sizes(cascade, workload, tiles[1], extra)
    mask = mask_symbols(cascade)
    if mask & set(todo):
        fraction = _pair_fraction(cascade, workload, bound, tiles, tensors)
        out.update({symbol: fraction for symbol in todo if symbol in mask})
    for symbol in todo:
        if symbol not in mask:
            out[symbol] = _own_density(cascade, symbol, bound.sizes, tensors)
    return out


def mask_symbols(cascade: Cascade) -> frozenset[str]:
    """The density symbols whose value is the kernel mask's fraction of (query, key) pairs.

    The symbol of the per-pair contractions the mask describes (:func:`mask_plan`), when
    they share one; several different symbols are each counted on their own points.

    Examples
    --------
    >>> sorted(mask_symbols(einsum.load("attention-1pass-causal")))
    ['rho_BQK']
    >>> sorted(mask_symbols(einsum.load("alibi-causal")))  # the filter on the biased score
    ['rho_S']
    """
    plan = mask_plan(cascade)
    found = {symbol for e in einsum.op_counts(cascade).per_einsum if e.label in plan.symbols
             for symbol in e.points.symbols if symbol.startswith("rho_")}
    return frozenset(found) if len(found) == 1 else frozenset()


def _pair_fraction(cascade: Cascade, workload: Workload, bound: BoundWorkload,
                   tiles: tuple[Any, Any], tensors: Mapping[str, Any] | None) -> Any:
    """Fraction of the (query, key) pairs the kernel's mask keeps, per instance."""
    kv_heads = workload.heads if workload.kv_heads is None else workload.kv_heads
    shapes = make_shapes(workload.batch, workload.heads, workload.seq_q, workload.seq_kv,
                         bound.head_dims[0], kv_heads=kv_heads, head_dim_v=bound.head_dims[1],
                         extra=bound.extra, tensors=tensors)
    pairs = mask_pairs(bind(cascade), shapes, tiles[0], tiles[1])
    fraction = np.divide(pairs, np.multiply(workload.seq_q, workload.seq_kv))
    return float(fraction) if np.ndim(fraction) == 0 else fraction


def _own_density(cascade: Cascade, symbol: str, sizes: Mapping[str, Any],
                 tensors: Mapping[str, Any] | None) -> Any:
    """Exact density of a filter that is not the kernel's mask, by enumeration per size."""
    density = next(d for d in einsum.op_counts(cascade).densities if d.symbol == symbol)
    names = sorted(sizes)
    arrays = np.broadcast_arrays(*(np.asarray(sizes[n]) for n in names))
    table = np.stack([a.ravel() for a in arrays], axis=1).astype(np.int64)
    unique, inverse = np.unique(table, axis=0, return_inverse=True)
    values = np.empty(len(unique))
    for row, numbers in enumerate(unique.tolist()):
        named = dict(zip(names, numbers))
        points = int(np.prod([named[cascade.rank_of(v)] for v in density.vars], dtype=float))
        if points > MAX_DENSITY_POINTS:
            raise SpecError(f"cascade '{cascade.name}': the density of {density} needs "
                            f"{points:.3g} points to count exactly (at most "
                            f"{MAX_DENSITY_POINTS:.3g}); only the kernel's mask is counted by "
                            f"pairs; give its value with densities={{'{symbol}': ...}}")
        values[row] = einsum.filter_density(cascade, symbol, named, tensors)
    out = values[inverse.ravel()].reshape(arrays[0].shape)
    return float(out) if out.ndim == 0 else out

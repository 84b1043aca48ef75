"""Bind a workload's sizes to a cascade's ranks by role, never by name.

The GPU model knows attention problems (queries, keys, head dims, batch and heads) and
tiles (a query tile, a key tile); a cascade names its ranks as it likes. The roles of
:func:`einsum.rank_roles` connect the two: the query rank takes ``seq_q``, the key rank
``seq_kv``, the innermost part of the key partition (``M0`` of ``m1*M0 + m0``) the
kernel's key tile, a single contracted rank ``head_dim`` and a single value rank
``head_dim_v``; batch and head ranks describe one instance (size 1), since the model
multiplies by the number of instances. Every other size (an MLA latent, a window, a
shard count) comes from ``--size NAME=VALUE``.

Examples
--------
>>> import einsum
>>> b = bind(einsum.load("decode-splitk"))
>>> b.query, b.key, b.key_inner, b.key_outer, b.contracted, b.value
('P', 'M', 'M0', ('M1',), ('E',), ('F',))
>>> full = b.sizes(seq_q=1, seq_kv=4096, key_tile=256, extra=b.head_dims(128, 128))
>>> int(full["M1"]), int(full["M0"])
(16, 256)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

import einsum
from einsum import Cascade
from einsum.model import IntExpr
from einsum.sizes import derive_sizes
from simulator.errors import SpecError

__all__ = ["RankBinding", "SizeValues", "bind"]


class SizeValues(dict):
    """Sizes for evaluating a cascade's polynomials.

    Densities default to 1 (the model charges masks through tile counts); an unknown size
    is a one-line error naming the ``--size`` to give.
    """

    def __missing__(self, key: str) -> Any:
        if key.startswith("rho_"):
            return 1
        raise SpecError(f"the cascade needs the size of rank '{key}', which the workload does not "
                        f"fix; give it with --size {key}=VALUE (known: {', '.join(sorted(self))})")


@dataclass(frozen=True)
class RankBinding:
    """How a cascade's ranks receive a workload's sizes (see the module docstring).

    Attributes
    ----------
    cascade : Cascade
    query, key : str or None
        The query and key (pass) ranks.
    key_inner : str or None
        The unit-stride part of the key partition: its size is the kernel's key tile.
    key_outer : tuple of str
        The other parts, outermost first (``("M1",)``; ring attention ``("S", "M1")``).
    key_strides : tuple of IntExpr
        The strides of ``key_outer + (key_inner,)``, for rewriting filters.
    shared : str or None
        A part of both the query and the key partitions (Lightning's block rank): the
        kernel scans those blocks in order, one CTA per instance.
    contracted, value, latent, batch, group : tuple of str
        Ranks by role; batch and group (head) ranks have size 1 per instance.
    kv_shared : bool
        The key inputs carry no batch or head rank while queries carry head ranks: one
        KV instance serves every head (MLA's latent cache), so ``kv_heads`` is 1.
    """

    cascade: Cascade = field(repr=False)
    query: str | None
    key: str | None
    key_inner: str | None
    key_outer: tuple[str, ...]
    key_strides: tuple[IntExpr, ...]
    shared: str | None
    contracted: tuple[str, ...]
    value: tuple[str, ...]
    latent: tuple[str, ...]
    batch: tuple[str, ...]
    group: tuple[str, ...]
    kv_shared: bool

    @property
    def qk_ranks(self) -> tuple[str, ...]:
        """Ranks the Q·K dot product runs over: contracted ones and latent ones (MLA: R, C)."""
        return self.contracted + tuple(r for r in self.latent if r not in self.contracted)

    @property
    def instance(self) -> tuple[str, ...]:
        """Batch and head ranks: one attention instance per combination, size 1 each."""
        return self.batch + self.group

    def head_dims(self, head_dim: Any, head_dim_v: Any,
                  sizes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Sizes of the contracted and value ranks from the head dims and ``sizes``.

        One unsized contracted rank takes what ``head_dim`` leaves after the sized ones
        (the Q·K dot length is the sum of the contracted ranks), one unsized value rank
        likewise from ``head_dim_v``; when all are sized their sums must match.

        Raises
        ------
        SpecError
            When the head dims contradict the sizes, or several ranks are left unsized.

        Examples
        --------
        >>> import einsum
        >>> b = bind(einsum.load("attention-1pass"))
        >>> b.head_dims(128, 64)
        {'E': 128, 'F': 64}
        """
        out = {k: v for k, v in (sizes or {}).items()}
        for ranks, total, flag in ((self.qk_ranks, head_dim, "--head-dim"),
                                   (self.value, head_dim_v, "--head-dim-v")):
            unsized = [r for r in ranks if r not in out]
            if total is None:
                continue
            total = total if np.ndim(total) == 0 and not isinstance(total, list) else np.asarray(total)
            known = sum((out[r] for r in ranks if r in out), start=0)
            if len(unsized) == 1:
                rest = total - known
                if not _positive(rest):
                    raise SpecError(f"{flag} {_text(total)} leaves no room for rank {unsized[0]} "
                                    f"after {', '.join(r for r in ranks if r in out)} ({_text(known)})")
                out[unsized[0]] = rest
            elif not unsized and ranks and not _same(known, total):
                raise SpecError(f"{flag} {_text(total)} contradicts the cascade's ranks "
                                f"{' + '.join(ranks)} = {_text(known)}; give one of them")
        return out

    def sizes(self, *, seq_q: Any, seq_kv: Any, key_tile: Any = None,
              extra: Mapping[str, Any] | None = None,
              outer: Mapping[str, Any] | None = None) -> SizeValues:
        """Full sizes of every rank (arrays broadcast), partitions derived.

        ``key_tile`` sizes the inner key part (default: the whole key length, one chunk);
        ``outer`` fixes outer key parts (a split count); ``extra`` gives the rest (head
        dims from :meth:`head_dims`, ``--size`` values).

        Raises
        ------
        SpecError
            When ``extra`` contradicts the workload, or the cascade has ranks of its own
            that nothing sizes.
        """
        sizes = SizeValues(extra or {})
        self._put(sizes, self.query, seq_q, "--seq-q")
        self._put(sizes, self.key, seq_kv, "--seq-kv")
        for rank in self.instance:
            sizes[rank] = 1
        if self.key_inner is not None:
            sizes[self.key_inner] = seq_kv if key_tile is None else key_tile
        for rank, value in (outer or {}).items():
            sizes[rank] = value
        derive_sizes(self.cascade, sizes)
        missing = [r for r in self.ranks() if r not in sizes]
        if missing:
            raise SpecError(f"cascade '{self.cascade.name}': the workload does not size rank(s) "
                            f"{', '.join(missing)}; give them with "
                            f"{' '.join(f'--size {r}=VALUE' for r in missing)}")
        return sizes

    def for_shapes(self, shapes: Any, key_tile: Any = None,
                   outer: Mapping[str, Any] | None = None) -> SizeValues:
        """:meth:`sizes` of a GPU model ``Shapes`` (its ``extra``, or its head dims when None)."""
        extra = shapes.extra
        if extra is None:
            extra = self.head_dims(shapes.head_dim_qk, shapes.head_dim_v)
        return self.sizes(seq_q=shapes.seq_q, seq_kv=shapes.seq_kv, key_tile=key_tile,
                          extra=extra, outer=outer)

    def instance_extents(self, batch: Any, heads: Any, kv_heads: Any) -> dict[str, Any]:
        """Extents of the cascade's own batch and head ranks (for masks that read them).

        A lone group rank (GQA's ``g``; MLA's heads) spans ``heads / kv_heads`` (all heads
        when one KV instance serves them); a lone rank on K/V spans the KV heads; two ranks
        on K/V are batch then KV heads, in the order K carries them.

        Examples
        --------
        >>> import einsum
        >>> bind(einsum.load("attention-1pass-gqa")).instance_extents(2, 32, 8)
        {'G': 4, 'B': 2, 'HK': 8}
        """
        out: dict[str, Any] = {}
        if len(self.group) == 1:
            out[self.group[0]] = heads if self.kv_shared else heads // kv_heads
        batch_ranks = self.batch
        if len(batch_ranks) == 1:
            out[batch_ranks[0]] = kv_heads
        elif len(batch_ranks) == 2:
            out[batch_ranks[0]], out[batch_ranks[1]] = batch, kv_heads
        return out

    def _put(self, sizes: dict, rank: str | None, value: Any, flag: str) -> None:
        if rank is None or value is None:
            return
        if rank in sizes and not _same(sizes[rank], value):
            raise SpecError(f"--size {rank}={sizes[rank]} contradicts {flag} ({value}), which sizes "
                            f"the cascade's rank {rank}; give one of them")
        sizes[rank] = value

    def ranks(self) -> tuple[str, ...]:
        """Every rank a tensor the cascade computes with carries.

        Tensors read only by filters (a block mask, a per-head window) are left out: their
        values come with them, and no work or traffic is counted over their ranks.
        """
        return _computed_ranks(self.cascade)

    def step(self, full: Mapping[str, Any], q_tile: Any, kv_tile: Any) -> SizeValues:
        """Sizes of one (query tile, key tile) step: outer key parts 1, the key rank one tile."""
        step = SizeValues(full)
        if self.query is not None:
            step[self.query] = q_tile
        if self.key is not None:
            step[self.key] = kv_tile
        if self.key_inner is not None:
            step[self.key_inner] = kv_tile
        for rank in self.key_outer:
            step[rank] = 1
        if self.shared is not None:
            step[self.shared] = 1
        return step

    def dims(self, sizes: Mapping[str, Any]) -> tuple[Any, Any]:
        """(Q·K dot length, V width): the summed contracted and value ranks (MLA: C + R, C).

        None for a sum whose ranks are not all sized.
        """
        qk = sum((sizes[r] for r in self.qk_ranks), start=0) if all(
            r in sizes for r in self.qk_ranks) else None
        v = sum((sizes[r] for r in self.value), start=0) if all(
            r in sizes for r in self.value) else None
        return qk, v


def _same(a: Any, b: Any) -> bool:
    return bool(np.all(np.asarray(a) == np.asarray(b)))


def _positive(value: Any) -> bool:
    return bool(np.all(np.asarray(value) > 0))


def _text(value: Any) -> str:
    values = np.unique(np.asarray(value))
    return str(values[0]) if values.size == 1 else f"{values[:4].tolist()}"


def _key_partition(cascade: Cascade, key: str | None) -> tuple[str | None, tuple[str, ...],
                                                               tuple[IntExpr, ...]]:
    """(inner part, outer parts, strides) of the key's widest partition."""
    partitions = [p for p in cascade.partitions if p.root == key]
    if not partitions:
        return None, (), ()
    widest = max(partitions, key=lambda p: len(p.parts))
    return widest.parts[-1], widest.parts[:-1], widest.strides


@lru_cache(maxsize=256)
def _computed_ranks(cascade: Cascade) -> tuple[str, ...]:
    """:meth:`RankBinding.ranks` (cached: it walks every expression, once per cascade)."""
    valued = {e.name for e in cascade.einsums}
    valued |= {r.name for e in cascade.einsums for r in einsum.model.expr_refs(e.expr)}
    found = {r for name, ranks in cascade.tensor_ranks if name in valued for r in ranks if r != "?"}
    return tuple(sorted(found))


@lru_cache(maxsize=256)
def bind(cascade: Cascade) -> RankBinding:
    """The :class:`RankBinding` of a cascade (cached; roles from :func:`einsum.rank_roles`).

    Examples
    --------
    >>> import einsum
    >>> b = bind(einsum.load("attention-1pass-gqa"))
    >>> b.instance, b.kv_shared
    (('B', 'HK', 'G'), False)
    """
    roles = einsum.rank_roles(cascade)
    inner, outer, strides = _key_partition(cascade, roles.key)
    query_parts = cascade.parts_of(roles.query) if roles.query else frozenset()
    shared = sorted(query_parts & set(outer))
    key_carried = {r for t in roles.key_inputs for r in cascade.ranks_of(t)}
    kv_shared = bool(roles.group) and not (key_carried & set(roles.batch))
    return RankBinding(cascade, roles.query, roles.key, inner, outer, strides,
                       shared[0] if shared else None, roles.contracted, roles.value,
                       roles.latent, roles.batch, roles.group, kv_shared)

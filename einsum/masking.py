"""Derive a masked cascade from an unmasked one: the filter goes into the cascade.

Command-line flags such as ``--causal`` or a sweep's ``mask: window`` axis choose a
cascade; they never describe a mask beside it. :func:`with_mask` writes the mask as a
filter on the cascade's score contraction (the Einsum that contracts queries with keys
into a (query, key) tensor), in the cascade's own rank variables, so every analysis and
cost model sees it the way it sees a filter the user wrote:

* ``causal``: ``key <= query + K - Q`` (queries aligned to the end of the keys);
* ``window``: ``query + K - Q - W < key <= query + K - Q`` (a causal window of ``W`` keys).

Here ``key`` is the key index (``m1*M0 + m0`` for a partitioned key rank), ``K`` and
``Q`` the key and query rank sizes.

Examples
--------
>>> from einsum import load
>>> masked = with_mask(load("attention-3pass"), "causal")
>>> masked.name, str(masked.einsum("QK").filters[0])
('attention-3pass+causal', 'm <= p + M - P')
>>> str(with_mask(load("attention-1pass"), "window").einsum("BQK").filters[0])
'p + M - P - W < m1*M0 + m0 <= p + M - P'
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

from einsum.errors import EinsumError
from einsum.model import (
    Cascade,
    Compare,
    Einsum,
    IntBinary,
    IntConst,
    IntExpr,
    Size,
    Var,
)
from einsum.opcount import op_counts
from einsum.roles import rank_roles

__all__ = ["MASKS", "with_mask"]

#: Masks :func:`with_mask` can add.
MASKS = ("causal", "window")


def _key_index(cascade: Cascade, einsum: Einsum, key: str) -> IntExpr | None:
    """The key index in an Einsum's variables: the key variable or its mixed-radix sum."""
    by_rank = {cascade.rank_of(v): v for v in einsum.iteration_vars}
    if key in by_rank:
        return Var(by_rank[key])
    for partition in cascade.partitions:
        if partition.root != key or not all(p in by_rank for p in partition.parts):
            continue
        out: IntExpr | None = None
        for part, stride in zip(partition.parts, partition.strides):
            term: IntExpr = Var(by_rank[part])
            if not (isinstance(stride, IntConst) and stride.value == 1):
                term = IntBinary("*", term, stride)
            out = term if out is None else IntBinary("+", out, term)
        return out
    return None


def _score_einsums(cascade: Cascade) -> list[tuple[Einsum, IntExpr, str]]:
    """(Einsum, key index, query variable) of each contraction producing (query, key) scores."""
    roles = rank_roles(cascade)
    if roles.key is None or roles.query is None:
        return []
    macs = {e.label for e in op_counts(cascade).per_einsum if e.op("mac")}
    out = []
    for einsum in cascade.einsums:
        kept = {v.name for v in einsum.output.indices if isinstance(v, Var)}
        query = next((v for v in kept if cascade.rank_of(v) == roles.query), None)
        key = _key_index(cascade, einsum, roles.key)
        if einsum.label in macs and query and key is not None and kept & {
                v for v in einsum.iteration_vars if cascade.rank_of(v) in roles.key_family}:
            out.append((einsum, key, query))
    return out


def _fresh(cascade: Cascade, wanted: str) -> str:
    """A size symbol named ``wanted`` unless the cascade already uses that name otherwise."""
    ranks = {r for _, rs in cascade.tensor_ranks for r in rs}
    return wanted if wanted not in ranks else f"{wanted}_MASK"


@lru_cache(maxsize=256)
def with_mask(cascade: Cascade, mask: str) -> Cascade:
    """The cascade with a ``causal`` or ``window`` filter on its score contraction(s).

    Parameters
    ----------
    cascade : Cascade
        An unmasked cascade (no filter on its scores).
    mask : {"causal", "window"}
        ``window`` uses the size symbol ``W`` (the window length).

    Returns
    -------
    Cascade
        Named ``<name>+<mask>``.

    Raises
    ------
    EinsumError
        For an unknown mask, a cascade whose scores are already filtered (the flag would
        restate or contradict its mask), or one without a (query, key) score contraction.
    """
    if mask not in MASKS:
        raise EinsumError(f"unknown mask {mask!r}; expected one of {', '.join(MASKS)}")
    scores = _score_einsums(cascade)
    if not scores:
        raise EinsumError(f"cascade '{cascade.name}' has no contraction of queries with keys to "
                          f"put a {mask} mask on; write the filter in the cascade")
    filtered = [e.label for e, _, _ in scores if e.filters]
    if filtered or op_counts(cascade).densities:
        where = filtered[0] if filtered else op_counts(cascade).densities[0].symbol
        raise EinsumError(f"cascade '{cascade.name}' already masks keys with a filter ({where}); "
                          f"a {mask} flag would restate it — drop the flag or the filter")
    roles = rank_roles(cascade)
    offset = IntBinary("-", Size(roles.key), Size(roles.query))
    replaced = {}
    for einsum, key, query in scores:
        last = IntBinary("+", Var(query), offset)
        if mask == "causal":
            flt = Compare((key, last), ("<=",))
        else:
            first = IntBinary("-", last, Size(_fresh(cascade, "W")))
            flt = Compare((first, key, last), ("<", "<="))
        replaced[einsum.label] = dataclasses.replace(einsum, filters=einsum.filters + (flt,))
    einsums = tuple(replaced.get(e.label, e) for e in cascade.einsums)
    return dataclasses.replace(cascade, name=f"{cascade.name}+{mask}", einsums=einsums)

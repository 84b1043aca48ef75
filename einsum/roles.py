"""Rank roles: the query, the key (pass) rank, contracted dims, value dims, batch and heads.

Cost models bind a workload's sizes (query and key lengths, head dims, batch and heads) to
a cascade's ranks by role, and the pass analysis counts passes over the key rank. Roles
are read from how the cascade uses its ranks — which inputs carry them, whether an output
keeps them, whether an Einsum reduces them, how index arithmetic partitions them — never
from their names, so renaming every rank of a cascade changes no result.

The rules, for the roots of the rank structure (ranks that no index arithmetic splits):

* **key** (the pass rank): the ``# rank:`` header if present; otherwise among the ranks
  that some input carries, some Einsum reduces and no output keeps, the one the cascade
  partitions (``K[e, m1*M0 + m0]``), else the one the most intermediate tensors carry
  (scores and probabilities carry the key rank; a contracted head dim dies in the first
  contraction).
* **key inputs**: the inputs that carry the key rank (K, V, a latent cache).
* **query**: the ``# query:`` header if present; otherwise among the ranks an output keeps
  that some other input carries but no key input does, one that a filter relates to the
  key (causal, windows), else the last of them in the first such input's index order
  (``Q[b,hk,g,e,p]`` gives ``p``).
* **group**: the other such ranks (GQA's ``g``, MLA's heads sharing one latent cache).
* **batch**: output ranks that both key inputs and other inputs carry and nothing reduces
  (batch, KV heads).
* **value**: output ranks the key inputs carry (the V head dim; MLA's latent, which is also
  contracted, is a *latent* value rank); without a key rank, every kept rank but the query.
* **contracted**: reduced ranks that no output keeps, other than the key (the Q·K head dim,
  MLA's rope dim).

Examples
--------
>>> from einsum import load
>>> roles = rank_roles(load("attention-1pass-gqa"))
>>> roles.key, roles.query, roles.contracted, roles.value, roles.batch, roles.group
('M', 'P', ('E',), ('F',), ('B', 'HK'), ('G',))
>>> sorted(roles.key_family)
['M', 'M0', 'M1']
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from einsum.model import Cascade, Einsum, TensorRef, filter_vars

__all__ = ["RankRoles", "rank_roles"]


@dataclass(frozen=True)
class RankRoles:
    """The role of every root rank of a cascade; see the module docstring for the rules.

    Attributes
    ----------
    key, query : str or None
        The key (pass) rank and the query rank (None when the cascade has none).
    key_family, query_family : frozenset of str
        Each with the ranks that partition it.
    contracted, value, batch, group, other : tuple of str
        Root ranks by role, in order of first appearance.
    latent : tuple of str
        Value ranks that are also contracted (MLA's shared latent).
    key_inputs : tuple of str
        Inputs that carry the key rank.
    """

    key: str | None
    key_family: frozenset[str]
    query: str | None
    query_family: frozenset[str]
    contracted: tuple[str, ...]
    value: tuple[str, ...]
    batch: tuple[str, ...]
    group: tuple[str, ...]
    other: tuple[str, ...]
    latent: tuple[str, ...]
    key_inputs: tuple[str, ...]

    @property
    def instance(self) -> tuple[str, ...]:
        """Ranks that index independent attention instances: batch and group ranks."""
        return self.batch + self.group

    def role(self, rank: str) -> str:
        """The role of one rank (``key`` and ``query`` include their partitions).

        Examples
        --------
        >>> from einsum import load
        >>> r = rank_roles(load("attention-1pass"))
        >>> [r.role(x) for x in ("M0", "P", "E", "F")]
        ['key', 'query', 'contracted', 'value']
        """
        if rank in self.key_family:
            return "key"
        if rank in self.query_family:
            return "query"
        for name in ("latent", "contracted", "value", "batch", "group"):
            if rank in getattr(self, name):
                return name
        return "other"

    def __str__(self) -> str:
        parts = [f"key {self.key} ({', '.join(sorted(self.key_family))})",
                 f"query {self.query or '-'}"]
        for name in ("contracted", "value", "latent", "batch", "group", "other"):
            ranks = getattr(self, name)
            if ranks:
                parts.append(f"{name} {', '.join(ranks)}")
        return "; ".join(parts)


def _roots(cascade: Cascade) -> tuple[str, ...]:
    """Root ranks in order of first appearance (partition parts excluded)."""
    parts = {p for partition in cascade.partitions for p in partition.parts}
    seen: dict[str, None] = {}
    order = {t: i for i, t in reversed(list(enumerate(
        list(cascade.inputs) + [e.name for e in cascade.einsums])))}
    for _, ranks in sorted(cascade.tensor_ranks, key=lambda tr: order.get(tr[0], len(order))):
        for rank in ranks:
            if rank == "?":
                continue
            for root in sorted(cascade.roots_of(rank)) if rank in parts else [rank]:
                seen.setdefault(root, None)
    for _, rank in cascade.var_ranks:
        for root in sorted(cascade.roots_of(rank)):
            seen.setdefault(root, None)
    return tuple(seen)


def _carried(cascade: Cascade, tensor: str) -> frozenset[str]:
    """Root ranks a tensor carries."""
    ranks = [r for r in cascade.ranks_of(tensor) if r != "?"]
    return frozenset().union(*(cascade.roots_of(r) for r in ranks)) if ranks else frozenset()


def _reduced_roots(cascade: Cascade) -> frozenset[str]:
    """Root ranks some Einsum reduces."""
    out: set[str] = set()
    for einsum in cascade.einsums:
        for var in einsum.reduced_vars:
            out |= cascade.roots_of(cascade.rank_of(var))
    return frozenset(out)


def _is_copy(einsum: Einsum) -> bool:
    return isinstance(einsum.expr, TensorRef) and not einsum.reduced_vars and not einsum.filters


def _survival(cascade: Cascade, family: frozenset[str]) -> int:
    """Produced, non-copy tensors that carry a rank of ``family``."""
    names = {e.name for e in cascade.einsums if not _is_copy(e)}
    return sum(1 for name in names if set(cascade.ranks_of(name)) & family)


def _key(cascade: Cascade, roots: tuple[str, ...], kept: frozenset[str]) -> str | None:
    header = cascade.meta("rank")
    if header:
        return header.strip().upper()
    reduced = _reduced_roots(cascade)
    carried = frozenset().union(*(_carried(cascade, t) for t in cascade.inputs))
    candidates = [r for r in roots if r in reduced and r in carried and r not in kept]
    if not candidates:
        return None
    return max(candidates, key=lambda r: (len(cascade.family(r)) > 1,
                                          _survival(cascade, cascade.family(r)),
                                          -candidates.index(r)))


def _filter_partners(cascade: Cascade, family: frozenset[str]) -> frozenset[str]:
    """Root ranks that a filter compares with a rank of ``family``."""
    out: set[str] = set()
    for einsum in cascade.einsums:
        for flt in einsum.filters:
            ranks = {cascade.rank_of(v) for v in filter_vars(flt)}
            if ranks & family:
                out |= {root for r in ranks for root in cascade.roots_of(r)}
    return frozenset(out)


def _query(cascade: Cascade, candidates: list[str], key_family: frozenset[str],
           non_key_inputs: list[str]) -> str | None:
    header = cascade.meta("query")
    if header:
        return header.strip().upper()
    if not candidates:
        return None
    related = [r for r in candidates if r in _filter_partners(cascade, key_family)]
    if len(related) == 1:
        return related[0]
    pool = related or candidates
    for tensor in non_key_inputs:
        ranks = [root for r in cascade.ranks_of(tensor) if r != "?"
                 for root in sorted(cascade.roots_of(r))]
        present = [r for r in ranks if r in pool]
        if present:
            return present[-1]
    return pool[-1]


@lru_cache(maxsize=512)
def rank_roles(cascade: Cascade) -> RankRoles:
    """Infer the role of every rank of a cascade from its structure.

    Parameters
    ----------
    cascade : Cascade

    Returns
    -------
    RankRoles

    Examples
    --------
    >>> from einsum import load
    >>> str(rank_roles(load("attention-3pass")))
    'key M (M); query P; contracted E; value F'
    """
    roots = _roots(cascade)
    kept = frozenset().union(*(_carried(cascade, t) for t in cascade.outputs))
    key = _key(cascade, roots, kept)
    key_family = cascade.family(key) if key else frozenset()
    key_roots = {key} if key else set()
    key_inputs = tuple(t for t in cascade.inputs
                       if set(cascade.ranks_of(t)) & key_family)
    others = [t for t in cascade.inputs if t not in key_inputs]
    on_key = frozenset().union(*(_carried(cascade, t) for t in key_inputs))
    on_others = frozenset().union(*(_carried(cascade, t) for t in others))
    reduced = _reduced_roots(cascade)
    side = [r for r in roots if r in kept and r not in key_roots and r in on_others
            and r not in on_key]
    query = _query(cascade, side, key_family, others)
    query_family = cascade.family(query) if query else frozenset()
    taken = key_roots | ({query} if query else set())
    if key is None:  # no keys: no attention instances to tell apart; kept ranks are features
        value = tuple(r for r in roots if r in kept and r not in taken)
        batch, group = (), ()
    else:
        value = tuple(r for r in roots if r in kept and r in on_key and r not in taken
                      and (r in reduced or r not in on_others))
        batch = tuple(r for r in roots if r in kept and r in on_key and r in on_others
                      and r not in reduced and r not in taken)
        group = tuple(r for r in side if r != query)
    contracted = tuple(r for r in roots if r in reduced and r not in kept and r not in taken)
    latent = tuple(r for r in value if r in reduced)
    assigned = taken | set(value) | set(batch) | set(group) | set(contracted)
    other = tuple(r for r in roots if r not in assigned)
    return RankRoles(key, key_family, query, query_family, contracted, value, batch, group,
                     other, latent, key_inputs)

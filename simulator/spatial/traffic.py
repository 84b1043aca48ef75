"""Per-phase data plans: what a phase reads, writes, holds on chip and spills.

For each phase of a binding, :func:`phase_plans` derives from the cascade alone (as
symbolic polynomials in rank sizes):

* DRAM reads of raw inputs: those without the pass rank (``Q``) once, those with it
  or one of its parts (``K``, ``V``) once per resident query block; tensors produced
  by an earlier phase once; tensors a later phase (or the user) needs written once
  (the pass rank and the query, batch and head ranks are found by role, never by name);
* the live words per query at every pass level, split into a ``fixed`` part (tensors
  without the pass rank: the query row, running max/denominator/numerator) and a
  ``held`` part (pass-rank fibers read again at a later level, e.g. ``QK`` of the 3-pass
  cascade, which must survive the barrier on chip or be spilled);
* the spill traffic per query if the held fibers do not fit (written once if the phase
  produced them, read once per later level) — the "traffic that follows from the passes".

Restricted to a single phase holding the whole cascade, the live words are exactly
:func:`einsum.live_footprint` (a test checks this).

Examples
--------
>>> import einsum
>>> from simulator.spatial.binding import Binding, Phase, Stage
>>> c = einsum.load("attention-3pass")
>>> one = Binding((Phase("all", "pipelined", (Stage((("2d", ("QK", "GM", "SN", "SD", "A",
...     "AV")),)),)),))
>>> plan = phase_plans(c, one)[0]
>>> [str(p) for p in plan.live], plan.held_tensors
(['E + M + 1', 'M + 2', 'F + 1'], ('QK', 'SN'))
>>> str(plan.spill_write), str(plan.spill_read), str(plan.kv_inputs)
('2*M', '2*M', 'E*M + F*M')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import einsum
from einsum.graph import reads_of
from einsum.model import Cascade, Einsum, TensorRef
from einsum.semantics import classify_index
from einsum.symbolic import Poly
from simulator.binding import bind
from simulator.spatial.binding import Binding, Phase

__all__ = ["PhasePlan", "per_query_ranks", "phase_plans"]


@dataclass(frozen=True)
class PhasePlan:
    """Symbolic data plan of one phase (words; see the module docstring).

    Attributes
    ----------
    name : str
    q_inputs, kv_inputs : Poly
        Words of raw inputs without / with the pass rank (``kv`` re-read per block).
    kv_chunk : Poly
        Words per key of the pass-rank inputs (× M0 = the chunk streamed per tile).
    q_tile : Poly
        Words per query of the inputs without the pass rank (operands delivered per tile).
    cross_in, outputs : Poly
        Words read from / written to DRAM because of other phases or the user.
    fixed, held : tuple of Poly
        Per pass level: live words per query without / with the pass rank.
    spill_write, spill_read : Poly
        Per query: words written / re-read if the held fibers go to DRAM.
    state : Poly
        Per query: words of iterative state (running max, …) read and written per tile.
    held_tensors : tuple of str
    """

    name: str
    q_inputs: Poly
    kv_inputs: Poly
    kv_chunk: Poly
    q_tile: Poly
    cross_in: Poly
    outputs: Poly
    fixed: tuple[Poly, ...]
    held: tuple[Poly, ...]
    spill_write: Poly
    spill_read: Poly
    state: Poly
    held_tensors: tuple[str, ...]

    @property
    def live(self) -> tuple[Poly, ...]:
        """Live words per query at each level (``fixed + held``)."""
        return tuple(f + h for f, h in zip(self.fixed, self.held, strict=True))


def per_query_ranks(cascade: Cascade) -> frozenset[str]:
    """Ranks per-query quantities are given per: query ranks and in-cascade batch/head ranks.

    Found by role (:func:`simulator.binding.bind`): the query rank and its parts, and the
    batch and head ranks the cascade itself iterates over (GQA's ``B``, ``HK``, ``G``).

    Examples
    --------
    >>> sorted(per_query_ranks(einsum.load("attention-1pass-gqa")))
    ['B', 'G', 'HK', 'P']
    """
    ranks = bind(cascade)
    query = cascade.family(ranks.query) if ranks.query is not None else frozenset()
    return query | frozenset(ranks.instance)


@lru_cache(maxsize=256)
def phase_plans(cascade: Cascade, binding: Binding) -> tuple[PhasePlan, ...]:
    """Derive the data plan of every phase of ``binding`` (cached; pure)."""
    report = einsum.pass_analysis(cascade)
    context = _Context(cascade, binding, report.rank, dict(report.levels),
                       frozenset(report.traversing))
    return tuple(_plan(context, index, phase) for index, phase in enumerate(binding.phases))


class _Context:
    """Facts about a cascade shared by every phase plan."""

    def __init__(self, cascade: Cascade, binding: Binding, rank: str, levels: dict[str, int],
                 traversing: frozenset[str]) -> None:
        self.cascade, self.rank, self.levels, self.traversing = cascade, rank, levels, traversing
        self.family = cascade.family(rank) if rank else frozenset()
        self.per_query = per_query_ranks(cascade)
        self.alias = _aliases(cascade)
        self.producer_phase: dict[str, int] = {}
        for index, phase in enumerate(binding.phases):
            for label in phase.einsums:
                self.producer_phase[cascade.einsum(label).name] = index
        self.read_phases: dict[str, set[int]] = {}
        for index, phase in enumerate(binding.phases):
            for label in phase.einsums:
                for ref in reads_of(cascade.einsum(label)):
                    self.read_phases.setdefault(self.root(ref.name), set()).add(index)
        self.slots = {name: _iter_slots(cascade, name) for name, _ in cascade.tensor_ranks}

    def root(self, tensor: str) -> str:
        """The tensor a copy aliases (``BK`` → ``K``), or the tensor itself."""
        return self.alias.get(tensor, tensor)

    def ranks(self, tensor: str) -> list[str]:
        """Ranks of a tensor, iterative positions removed (only one value is live)."""
        slots = self.slots.get(tensor, set())
        return [r for pos, r in enumerate(self.cascade.ranks_of(tensor)) if pos not in slots]

    def has_rank(self, tensor: str) -> bool:
        """True if a non-iterative position of the tensor is the pass rank or a partition."""
        return any(r in self.family for r in self.ranks(tensor))

    def words(self, tensor: str) -> Poly:
        """Words of the whole tensor (per instance if the cascade has no batch/head ranks)."""
        return Poly.product(self.ranks(tensor))

    def fiber(self, tensor: str, drop_rank: bool = False) -> Poly:
        """Words per query (and per key too if ``drop_rank``)."""
        keep = [r for r in self.ranks(tensor) if r not in self.per_query
                and not (drop_rank and r in self.family)]
        return Poly.product(keep)


def _aliases(cascade: Cascade) -> dict[str, str]:
    """Copies (``BK[e,m1,m0] = K[e, m1*M0+m0]``) alias their source."""
    alias: dict[str, str] = {}
    for e in cascade.einsums:
        if _is_copy(e):
            source = e.expr.name  # type: ignore[attr-defined]
            alias[e.name] = alias.get(source, source)
    return alias


def _is_copy(e: Einsum) -> bool:
    """A plain copy or reshape: no compute, no reduction, no filter."""
    return isinstance(e.expr, TensorRef) and not e.reduced_vars and not e.filters


def _iter_slots(cascade: Cascade, tensor: str) -> set[int]:
    """Positions of ``tensor`` indexed by an iterative rank (``RM[m1+1, p]``)."""
    iterative = frozenset(cascade.iterative_vars)
    return {pos for e in cascade.einsums if e.name == tensor
            for pos, index in enumerate(e.output.indices)
            if classify_index(index, iterative).offset != 0}


def _plan(ctx: _Context, index: int, phase: Phase) -> PhasePlan:
    """The plan of one phase."""
    cascade = ctx.cascade
    labels = phase.einsums
    reads = {ref.name for label in labels for ref in reads_of(cascade.einsum(label))}
    raw = sorted({ctx.root(t) for t in reads} & set(cascade.inputs))
    with_rank = [t for t in raw if ctx.has_rank(t)]
    without = [t for t in raw if not ctx.has_rank(t)]
    cross = sorted({ctx.root(t) for t in reads if ctx.producer_phase.get(ctx.root(t), index) < index})
    produced = {cascade.einsum(label).name for label in labels}
    written = sorted(t for t in produced if t in cascade.outputs
                     or any(p > index for p in ctx.read_phases.get(t, ())))
    fixed, held, write, read, names = _levels(ctx, labels, produced)
    state = sum((ctx.fiber(t) for t in _touched(ctx, labels) if ctx.slots.get(t)), Poly())
    return PhasePlan(
        name=phase.name, q_inputs=_sum(ctx.words, without), kv_inputs=_sum(ctx.words, with_rank),
        kv_chunk=_sum(lambda t: ctx.fiber(t, drop_rank=True), with_rank),
        q_tile=_sum(ctx.fiber, without), cross_in=_sum(ctx.words, cross),
        outputs=_sum(ctx.words, written), fixed=fixed, held=held, spill_write=write,
        spill_read=read, state=state, held_tensors=names)


def _sum(fn, tensors) -> Poly:  # type: ignore[no-untyped-def]
    """Σ fn(t) over tensors."""
    return sum((fn(t) for t in tensors), Poly())


def _touched(ctx: _Context, labels: tuple[str, ...]) -> set[str]:
    """Tensors the phase's rank-traversing Einsums read or (unless copies) write."""
    out: set[str] = set()
    for label in labels:
        if label in ctx.traversing:
            out |= _accessed(ctx.cascade.einsum(label))
    return out


def _accessed(e: Einsum) -> set[str]:
    """Tensors one Einsum reads, plus its output unless it is a copy."""
    names = {ref.name for ref in reads_of(e)}
    return names if _is_copy(e) else names | {e.name}


def _levels(ctx: _Context, labels: tuple[str, ...], produced: set[str]):  # type: ignore[no-untyped-def]
    """Per-level fixed/held words, spill traffic per query and the held tensors."""
    seen: dict[str, set[int]] = {}
    for label in labels:
        if label in ctx.traversing:
            for tensor in _accessed(ctx.cascade.einsum(label)):
                seen.setdefault(tensor, set()).add(ctx.levels[label])
    top = max((lvl for lvls in seen.values() for lvl in lvls), default=1)
    fixed, held = [], []
    for level in range(1, top + 1):
        fixed.append(_sum(ctx.fiber, [t for t, s in seen.items()
                                      if not ctx.has_rank(t) and level in s]))
        held.append(_sum(ctx.fiber, [t for t, s in seen.items()
                                     if ctx.has_rank(t) and min(s) <= level < max(s)]))
    multi = sorted(t for t, s in seen.items() if ctx.has_rank(t) and len(s) > 1)
    write = _sum(ctx.fiber, [t for t in multi if t in produced])
    read = sum((ctx.fiber(t) * (len(seen[t]) - 1) for t in multi), Poly())
    return tuple(fixed), tuple(held), write, read, tuple(multi)

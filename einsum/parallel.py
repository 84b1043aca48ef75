"""Which results a kernel must accumulate across CTAs when it splits the key or query rank.

A fused kernel gives each CTA a block of one rank (its *outer*, parallel rank) and loops
over the other. A result that depends on a traversal of the outer rank but does not keep
it — ``AV[f,p]`` of the forward over the keys, ``dQ[e,p]`` of the backward — is then a
sum of per-CTA partials: it needs an atomic add into DRAM or a second pass (a split-K merge,
a second kernel with the other rank outer). Results that keep the outer rank stay in the
CTA's registers. This is why FlashAttention-2's backward parallelises over **key blocks**
(Dao 2023, §3.1.2 and Algorithm 2): ``dK`` and ``dV`` keep the key rank and stay on chip, and
only ``dQ[e,p]`` is accumulated (an FP32 atomic add); splitting the queries instead would
accumulate ``dK`` and ``dV`` (``(E + F)·M`` values against ``E·P``). Both ranks' pass counts
come from :func:`einsum.pass_analysis`, which the report carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from einsum.graph import rank_family, traverses
from einsum.model import Cascade, einsum_reads
from einsum.passes import PassReport, pass_analysis
from einsum.roles import rank_roles

__all__ = ["ParallelReport", "Split", "parallel_analysis"]


@dataclass(frozen=True)
class Split:
    """One way to parallelise: CTAs own blocks of ``rank``.

    Attributes
    ----------
    rank : str
        The rank split across CTAs (upper case).
    passes : PassReport
        The pass analysis over that rank.
    local : tuple of str
        Results that keep the rank: each CTA writes its own block.
    accumulated : tuple of (str, tuple of str)
        Results summed over CTAs (atomics or a second pass), with their ranks.
    """

    rank: str
    passes: PassReport
    local: tuple[str, ...]
    accumulated: tuple[tuple[str, tuple[str, ...]], ...]

    def accumulated_elements(self, sizes: Mapping[str, int]) -> int:
        """Elements accumulated across CTAs at the given rank sizes (missing ranks count 1)."""
        total = 0
        for _, ranks in self.accumulated:
            count = 1
            for rank in ranks:
                count *= int(sizes.get(rank, 1))
            total += count
        return total


@dataclass(frozen=True)
class ParallelReport:
    """The result of :func:`parallel_analysis`: the key split, then the query split."""

    cascade: str
    splits: tuple[Split, ...]

    def split(self, rank: str) -> Split:
        """The split over one rank (any case)."""
        return next(s for s in self.splits if s.rank == rank.upper())

    def __str__(self) -> str:
        lines = []
        for split in self.splits:
            acc = ", ".join(f"{n}[{','.join(r)}]" for n, r in split.accumulated) or "none"
            lines.append(f"split {split.rank} across CTAs: {split.passes.passes} pass(es) over "
                         f"{split.rank}; local {', '.join(split.local) or 'none'}; accumulated "
                         f"across CTAs (atomic or second pass): {acc}")
        return "\n".join(lines)


@lru_cache(maxsize=128)
def parallel_analysis(cascade: Cascade) -> ParallelReport:
    """Passes over the key and the query rank, and what each split must accumulate.

    Results are the cascade's outputs plus any its ``# results:`` header names.

    Examples
    --------
    >>> from einsum import load
    >>> r = parallel_analysis(load("attention-backward-fa2"))
    >>> [s.rank for s in r.splits], [s.passes.passes for s in r.splits]
    (['M', 'P'], [1, 1])
    >>> r.split("m").accumulated, r.split("m").local
    ((('DQ', ('E', 'P')),), ('DV', 'DK'))
    >>> r.split("p").accumulated_elements({"E": 4, "F": 3, "M": 10})
    70
    >>> parallel_analysis(load("attention-1pass")).split("p").accumulated
    ()
    """
    roles = rank_roles(cascade)
    ranks = [r for r in (cascade.meta("rank"), roles.key, cascade.meta("query"), roles.query) if r]
    ranks = list(dict.fromkeys(r.upper() for r in ranks))
    return ParallelReport(cascade.name, tuple(_split(cascade, r) for r in ranks))


def _split(cascade: Cascade, rank: str) -> Split:
    depends = _depends_on_traversal(cascade, rank_family(cascade, rank))
    ranks_of_family = cascade.family(rank)
    local, accumulated = [], []
    for result in _results(cascade):
        ranks = cascade.ranks_of(result)
        if any(r in ranks_of_family for r in ranks):
            local.append(result)
        elif result in depends:
            accumulated.append((result, ranks))
    return Split(rank, pass_analysis(cascade, rank), tuple(local), tuple(accumulated))


def _results(cascade: Cascade) -> tuple[str, ...]:
    declared = (cascade.meta("results") or "").replace(",", " ").split()
    return tuple(dict.fromkeys([*cascade.outputs, *declared]))


def _depends_on_traversal(cascade: Cascade, family: frozenset[str]) -> frozenset[str]:
    """Tensors computed by, or from, an Einsum whose iteration space holds the rank."""
    out: set[str] = set()
    for einsum in cascade.einsums:
        if traverses(einsum, family) or any(r.name in out for r in einsum_reads(einsum)):
            out.add(einsum.name)
    return frozenset(out)

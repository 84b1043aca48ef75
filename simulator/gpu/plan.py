"""Kernel plans: which Einsums of a cascade run in which GPU kernel, and what they cost.

Planning is the pure, cached step between the cascade analyses of :mod:`einsum` and the
numeric model: it depends only on the cascade and the profile's fusion rule, never on
problem sizes, so a sweep plans once and evaluates a million shapes.

Op kinds map to resources as ``mac`` → tensor cores (2 FLOP each), transcendental
functions (``exp``, ``log``, ``sqrt``, ``sigmoid``, ``tanh``, ``elu``) → the exp unit
(MUFU), everything else (``add``, ``mul``, ``max``, ``div``) → FP32 pipes (one lane-op
each). In untiled helper kernels (split-K merges) a ``mac`` is an FP32 FMA instead.

A *traversal* kernel tiles queries x keys and loops over key tiles (FlashAttention);
its work is given per (query tile, key tile) *step* and per query tile. *gemm* and
*elementwise* kernels (PyTorch style) and *merge* kernels are priced on totals.

Examples
--------
>>> import einsum
>>> plan = plan_cascade(einsum.load("attention-3pass"), "fused")
>>> [k.labels for k in plan.spilled]
[('QK', 'GM'), ('SN', 'SD'), ('A', 'AV')]
>>> str(plan.held_elements)
'M'
>>> [k.kind for k in plan_cascade(einsum.load("attention-3pass"), "unfused").spilled]
['gemm', 'elementwise', 'gemm']
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from einsum import Cascade, Poly, live_footprint, op_counts, pass_analysis
from einsum.model import Binary, Einsum, TensorRef, expr_refs
from simulator.binding import RankBinding, bind
from simulator.errors import SpecError

__all__ = [
    "MUFU_KINDS",
    "CascadePlan",
    "KernelPlan",
    "TensorMove",
    "plan_cascade",
]

#: Op kinds executed by the exp unit (MUFU / SFU).
MUFU_KINDS = frozenset({"exp", "log", "sqrt", "sigmoid", "tanh", "elu"})
_KINDS = ("traversal", "gemm", "elementwise", "merge")


@dataclass(frozen=True)
class TensorMove:
    """A tensor a kernel moves through DRAM.

    ``elements`` is per cascade instance (rank sizes as symbols); ``streamed`` marks a
    key-side input (it carries the key rank but not the query rank, e.g. K and V) that a
    traversal kernel re-reads once per query tile; ``role`` is ``input``, ``output`` or
    ``intermediate`` (spilled between kernels); ``value_side`` marks a streamed tensor
    with no contracted rank (V, stored at the V bytes per element).
    """

    name: str
    elements: Poly
    write: bool
    streamed: bool
    role: str
    value_side: bool = False


@dataclass(frozen=True)
class KernelPlan:
    """One kernel: its Einsums, kind, work polynomials and DRAM tensors.

    ``step`` and ``tile`` map resource → work per (query tile, key tile) step and per
    query tile (traversal kernels; evaluate with :meth:`RankBinding.step` sizes: the query
    rank one query tile, the key rank and its inner part one key tile, outer key parts 1);
    ``total`` maps resource → work per instance at full sizes. Tensor work is in FLOP,
    exp and FP32 work in ops. ``operand_tiles`` are the streamed MMA operands of one step,
    one entry per use; ``kv_per_key`` the streamed elements per key (each tensor once) and
    ``q_per_row`` the resident query-side elements per query row. ``key_step`` is the work
    per key tile of Einsums that traverse the keys without the queries (linear
    attention's ``K^T V`` state): done once per key tile, not once per query tile;
    ``has_pairs`` is False when no Einsum pairs queries with keys (the query tiles then
    read only the key phase's result, not the keys). ``rescale_step`` is the part of
    ``step`` that rescales the output accumulator by the running max's correction
    (``SPNV = RNV * PRM``), which a kernel with a conditional rescale (FA4) skips.
    """

    name: str
    kind: str
    labels: tuple[str, ...]
    groups: tuple[int, ...]
    step: tuple[tuple[str, Poly], ...]
    tile: tuple[tuple[str, Poly], ...]
    total: tuple[tuple[str, Poly], ...]
    moves: tuple[TensorMove, ...]
    operand_tiles: tuple[Poly, ...]
    resident_operands: tuple[Poly, ...]
    binding: RankBinding
    kv_per_key: Poly = Poly()
    q_per_row: Poly = Poly()
    key_step: tuple[tuple[str, Poly], ...] = ()
    has_pairs: bool = True
    rescale_step: tuple[tuple[str, Poly], ...] = ()


@dataclass(frozen=True)
class CascadePlan:
    """The kernels of a cascade under one fusion rule.

    Attributes
    ----------
    cascade : str
    passes : int
        Passes over ``M`` (pass analysis).
    fused : KernelPlan or None
        Multi-pass cascades under ``fused``: the single kernel that holds the ``M``
        fiber on chip (None when there is nothing to hold or for ``unfused``).
    spilled : tuple of KernelPlan
        The kernels used otherwise (one per pass group; PyTorch-style for ``unfused``).
    held_elements : Poly
        Elements per query of the largest set of key fibers crossing a barrier.
    split : bool
        Split-K cascade (a parallel outer part of the key partition, merged in a later pass).
    instance_ranks : tuple of str
        The batch/head ranks the cascade itself has.
    binding : RankBinding
        How the workload's sizes reach the cascade's ranks.
    split_rank : str or None
        The key part a split-K kernel parallelises (``M1`` of FlashDecoding, ``S`` of
        ring attention's shards).
    """

    cascade: str
    passes: int
    fused: KernelPlan | None
    spilled: tuple[KernelPlan, ...]
    held_elements: Poly
    split: bool
    instance_ranks: tuple[str, ...]
    binding: RankBinding | None = None
    split_rank: str | None = None


# --------------------------------------------------------------------------- helpers


def _is_copy(einsum: Einsum) -> bool:
    """A pure copy or reshape (``BK[e,m1,m0] = K[e, m1*M0+m0]``): an alias, no work."""
    return isinstance(einsum.expr, TensorRef) and not einsum.reduced_vars and not einsum.filters


def _aliases(cascade: Cascade) -> dict[str, str]:
    """Map each copy's output to the tensor it copies (transitively)."""
    alias: dict[str, str] = {}
    for einsum in cascade.einsums:
        if _is_copy(einsum):
            source = einsum.expr.name  # type: ignore[attr-defined]
            alias[einsum.name] = alias.get(source, source)
    return alias


def _sides(binding: RankBinding, tensor: str) -> tuple[bool, bool]:
    """(carries the key rank, carries the query rank) — partitions included."""
    cascade = binding.cascade
    ranks = {r for r in cascade.ranks_of(tensor) if r != "?"}
    key = bool(binding.key) and bool(ranks & cascade.family(binding.key))
    query = bool(binding.query) and bool(ranks & cascade.family(binding.query))
    return key, query


def _elements(binding: RankBinding, tensor: str) -> Poly:
    """Elements of a tensor per instance: the product of its non-instance ranks."""
    cascade = binding.cascade
    ranks = [r for r in cascade.ranks_of(tensor) if r != "?" and r not in binding.instance]
    if "?" in cascade.ranks_of(tensor):
        return Poly()  # a mask tensor of unknown extent: not priced
    return Poly.product(ranks)


def _value_side(binding: RankBinding, tensor: str) -> bool:
    """A key-side tensor without contracted ranks (V): stored at the V bytes per element."""
    return not set(binding.cascade.ranks_of(tensor)) & set(binding.qk_ranks)


def _resource_work(cascade: Cascade, labels: tuple[str, ...], mac_on_fp32: bool,
                   fused_adds: frozenset[str]) -> dict[str, Poly]:
    """Sum an Einsum set's op counts per resource (densities set to 1 later)."""
    counts = dict((e.label, e) for e in op_counts(cascade).per_einsum)
    work = {"tensor": Poly(), "exp": Poly(), "fp32": Poly()}
    for label in labels:
        for kind, poly in counts[label].ops:
            if kind == "mac":
                key, poly = ("fp32", poly) if mac_on_fp32 else ("tensor", poly * 2)
            elif kind == "add" and label in fused_adds:
                continue
            else:
                key = "exp" if kind in MUFU_KINDS else "fp32"
            work[key] = work[key] + poly
    return work


def _mac_outputs(cascade: Cascade) -> frozenset[str]:
    """Tensors produced by contractions (Einsums with ``mac`` work)."""
    return frozenset(e.label for e in op_counts(cascade).per_einsum if e.op("mac"))


def _accumulate_adds(cascade: Cascade) -> frozenset[str]:
    """Adds that merge a contraction result into an accumulator (``RNV = SLNV + SPNV``).

    An MMA accumulates into its C operand, so when the kernel rescales the accumulator in
    place this add costs nothing on the FP32 pipes.
    """
    macs = _mac_outputs(cascade)
    adds = set()
    for einsum in cascade.einsums:
        expr = einsum.expr
        if isinstance(expr, Binary) and expr.op == "+" and not einsum.reduced_vars:
            names = {r.name for r in expr_refs(expr)}
            if names & macs:
                adds.add(einsum.label)
    return frozenset(adds)


def _accumulator_rescales(cascade: Cascade, fused_adds: frozenset[str]) -> frozenset[str]:
    """Einsums that rescale an accumulator before a contraction result is added to it.

    In ``RNV[m1+1] = SLNV + SPNV`` the term that is not the contraction's output
    (``SPNV = RNV[m1] * PRM``) carries the accumulator over with the max correction.
    """
    macs = _mac_outputs(cascade)
    producers = {e.name: e.label for e in cascade.einsums}
    out = set()
    for label in fused_adds:
        einsum = cascade.einsum(label)
        for ref in expr_refs(einsum.expr):
            producer = producers.get(ref.name)
            if ref.name in macs or producer is None or producer == label:
                continue
            expr = cascade.einsum(producer).expr
            if isinstance(expr, Binary) and expr.op == "*" and \
                    einsum.name in {r.name for r in expr_refs(expr)}:
                out.add(producer)
    return frozenset(out)


def _traverses(binding: RankBinding, einsum: Einsum) -> bool:
    """True if the Einsum iterates over the key rank or one of its partitions."""
    if binding.key is None:
        return False
    family = binding.cascade.family(binding.key)
    return any(binding.cascade.rank_of(v) in family for v in einsum.iteration_vars)


# --------------------------------------------------------------------------- kernels


def _moves(binding: RankBinding, labels: tuple[str, ...], alias: dict[str, str],
           producer: dict[str, int], kernel_index: int) -> tuple[TensorMove, ...]:
    """DRAM reads and writes of one kernel, given which kernel produces each tensor."""
    cascade = binding.cascade
    outputs = set(cascade.outputs)
    moves: dict[tuple[str, bool], TensorMove] = {}
    for label in labels:
        einsum = cascade.einsum(label)
        if _is_copy(einsum):
            continue
        for ref in expr_refs(einsum.expr):
            name = alias.get(ref.name, ref.name)
            source = producer.get(name)
            if source == kernel_index or (source is None and name in cascade.produced):
                continue
            key, query = _sides(binding, name)
            role = "input" if source is None else "intermediate"
            streamed = role == "input" and key and not query
            moves[(name, False)] = TensorMove(name, _elements(binding, name), False, streamed,
                                              role, streamed and _value_side(binding, name))
        consumers = {producer.get(e.label) for e in cascade.einsums
                     if einsum.name in {r.name for r in expr_refs(e.expr)}}
        if einsum.name in outputs or consumers - {kernel_index}:
            role = "output" if einsum.name in outputs else "intermediate"
            moves[(einsum.name, True)] = TensorMove(einsum.name, _elements(binding, einsum.name),
                                                    True, False, role)
    return tuple(moves.values())


def _operands(binding: RankBinding, labels: tuple[str, ...], alias: dict[str, str],
              ) -> tuple[tuple[Poly, ...], tuple[Poly, ...], Poly, Poly]:
    """Operands of the contractions and their per-key / per-row element counts.

    Returns the streamed (K/V) tiles of one step, one per use; the resident (Q) operands
    per instance; and the streamed elements per key and resident elements per query row,
    each tensor counted once (MLA's latent cache is both K and V).
    """
    cascade = binding.cascade
    streamed, resident = [], []
    per_key: dict[str, Poly] = {}
    per_row: dict[str, Poly] = {}
    macs = _mac_outputs(cascade)
    for label in labels:
        if label not in macs:
            continue
        einsum = cascade.einsum(label)
        for ref in expr_refs(einsum.expr):
            name = alias.get(ref.name, ref.name)
            if name in cascade.produced:
                continue  # produced on chip (probabilities in registers)
            key, query = _sides(binding, name)
            ranks = [cascade.rank_of(v.name) for v in ref.indices if hasattr(v, "name")]
            tile = Poly.product([r for r in ranks if r not in binding.instance])
            if key and not query:
                streamed.append(tile if tile else _elements(binding, name))
                per_key[name] = _per(binding, name, cascade.family(binding.key))
            elif query and not key:
                resident.append(_elements(binding, name))
                per_row[name] = _per(binding, name, cascade.family(binding.query))
    return (tuple(streamed), tuple(resident), sum(per_key.values(), start=Poly()),
            sum(per_row.values(), start=Poly()))


def _per(binding: RankBinding, tensor: str, family: frozenset[str]) -> Poly:
    """Elements of a tensor per key (or per query row): its ranks outside the family."""
    ranks = [r for r in binding.cascade.ranks_of(tensor)
             if r != "?" and r not in family and r not in binding.instance]
    return Poly.product(ranks)


def _kernel(binding: RankBinding, name: str, kind: str, labels: tuple[str, ...],
            groups: tuple[int, ...], context: dict) -> KernelPlan:
    """Assemble one :class:`KernelPlan`."""
    cascade = binding.cascade
    mac_on_fp32 = kind == "merge"
    fused_adds = context["fused_adds"] if kind == "traversal" else frozenset()
    work_labels = tuple(lb for lb in labels if not _is_copy(cascade.einsum(lb)))
    traversing = tuple(lb for lb in work_labels if _traverses(binding, cascade.einsum(lb)))
    others = tuple(lb for lb in work_labels if lb not in traversing)
    key_only = tuple(lb for lb in traversing if not _queries(binding, cascade.einsum(lb)))
    pairs = tuple(lb for lb in traversing if lb not in key_only)
    step = _resource_work(cascade, pairs, mac_on_fp32, fused_adds)
    key_step = _resource_work(cascade, key_only, mac_on_fp32, fused_adds)
    tile = _resource_work(cascade, others, mac_on_fp32, fused_adds)
    total = _resource_work(cascade, work_labels, mac_on_fp32, fused_adds)
    moves = _moves(binding, labels, context["alias"], context["producer"], context["index"])
    streamed, resident, per_key, per_row = _operands(binding, labels, context["alias"])
    rescales = tuple(lb for lb in pairs if lb in context.get("rescales", ()))
    rescale = _resource_work(cascade, rescales, mac_on_fp32, fused_adds) if rescales else {}
    return KernelPlan(name, kind, labels, groups, tuple(step.items()), tuple(tile.items()),
                      tuple(total.items()), moves, streamed, resident, binding, per_key, per_row,
                      tuple(key_step.items()) if key_only else (), bool(pairs) or not key_only,
                      tuple(rescale.items()))


def _queries(binding: RankBinding, einsum: Einsum) -> bool:
    """True if the Einsum iterates over the query rank or one of its partitions."""
    if binding.query is None:
        return False
    family = binding.cascade.family(binding.query)
    return any(binding.cascade.rank_of(v) in family for v in einsum.iteration_vars)


def _build(binding: RankBinding, kernels: list[tuple[str, str, tuple[str, ...], tuple[int, ...]]],
           ) -> tuple[KernelPlan, ...]:
    """Build kernel plans from ``(name, kind, labels, groups)`` lists."""
    cascade = binding.cascade
    alias = _aliases(cascade)
    producer = {}
    for index, (_, _, labels, _) in enumerate(kernels):
        for label in labels:
            producer[cascade.einsum(label).name] = index
    for copy_name in alias:
        producer.pop(copy_name, None)
    fused_adds = _accumulate_adds(cascade)
    context = {"alias": alias, "producer": producer, "fused_adds": fused_adds,
               "rescales": _accumulator_rescales(cascade, fused_adds)}
    plans = []
    for index, (name, kind, labels, groups) in enumerate(kernels):
        context["index"] = index
        plans.append(_kernel(binding, name, kind, labels, groups, context))
    return tuple(plans)


def _unfused_kernels(cascade: Cascade) -> list[tuple[str, str, tuple[str, ...], tuple[int, ...]]]:
    """PyTorch style: each contraction a GEMM kernel, element-wise runs between them."""
    if cascade.iterative_vars:
        raise SpecError(f"profile 'unfused' runs each contraction as its own kernel, but cascade "
                        f"'{cascade.name}' carries state across the iterative rank(s) "
                        f"{', '.join(cascade.iterative_vars)}; use a fused profile (flash2, flash3)")
    report = pass_analysis(cascade)
    macs = _mac_outputs(cascade)
    kernels: list[tuple[str, str, tuple[str, ...], tuple[int, ...]]] = []
    run: list[str] = []
    for einsum in cascade.einsums:
        if _is_copy(einsum):
            continue
        if einsum.label in macs:
            if run:
                kernels.append((f"elementwise-{len(kernels) + 1}", "elementwise", tuple(run), ()))
                run = []
            kernels.append((f"gemm-{einsum.label}", "gemm", (einsum.label,), ()))
        else:
            run.append(einsum.label)
    if run:
        kernels.append((f"elementwise-{len(kernels) + 1}", "elementwise", tuple(run), ()))
    level = dict(report.levels)
    return [(n, k, lbs, tuple(sorted({level.get(lb, 0) for lb in lbs}))) for n, k, lbs, _ in kernels]


def _split_rank(binding: RankBinding) -> str | None:
    """Split-K: a non-iterative outer key part whose partials a later pass merges.

    The later passes must not touch the other key parts (they read only per-split
    summaries), as in FlashDecoding (``M1``) and ring attention's shards (``S``).
    """
    cascade = binding.cascade
    report = pass_analysis(cascade)
    if report.passes < 2 or not binding.key_outer:
        return None
    iterative_ranks = {cascade.rank_of(v) for v in cascade.iterative_vars}
    candidates = [r for r in binding.key_outer if r not in iterative_ranks]
    if not candidates:
        return None
    rank = candidates[0]
    others = cascade.family(binding.key) - {rank, binding.key}
    later = [cascade.einsum(lb) for group in report.groups[1:] for lb in group]
    uses_vars = any(cascade.rank_of(v) == rank for e in cascade.einsums for v in e.iteration_vars)
    if not uses_vars:
        return None
    if any(cascade.rank_of(v) in others for e in later for v in e.iteration_vars):
        return None
    return rank


def _split_kernels(binding: RankBinding, rank: str,
                   ) -> list[tuple[str, str, tuple[str, ...], tuple[int, ...]]]:
    """Split-K: partials per (query tile, split) in one kernel, every merge in another."""
    cascade = binding.cascade
    report = pass_analysis(cascade)
    split_vars = {v for e in cascade.einsums for v in e.iteration_vars if cascade.rank_of(v) == rank}
    first, merge = [], []
    for label in report.groups[0]:
        einsum = cascade.einsum(label)
        (merge if set(einsum.reduced_vars) & split_vars else first).append(label)
    merge += [lb for group in report.groups[1:] for lb in group]
    return [("split-kv", "traversal", tuple(first), (1,)),
            ("merge", "merge", tuple(merge), tuple(range(2, report.passes + 1)))]


def _held_elements(cascade: Cascade) -> Poly:
    """Elements per query of the largest set of fibers crossing one barrier."""
    footprint = live_footprint(cascade)
    best = Poly()
    for crossing in footprint.held:
        total = Poly()
        for tensor in crossing:
            total = total + Poly.product([r for r in cascade.ranks_of(tensor)
                                          if r not in footprint.per and r != "?"])
        if not total.dominated_by(best):
            best = total
    return best


@lru_cache(maxsize=256)
def plan_cascade(cascade: Cascade, fusion: str) -> CascadePlan:
    """Plan the kernels of a cascade under a fusion rule.

    Parameters
    ----------
    cascade : Cascade
    fusion : {"fused", "unfused"}
        The profile's fusion rule.

    Returns
    -------
    CascadePlan

    Raises
    ------
    SpecError
        For an unknown fusion rule, or ``unfused`` on a cascade with iterative ranks.

    Examples
    --------
    >>> import einsum
    >>> plan = plan_cascade(einsum.load("decode-splitk"), "fused")
    >>> plan.split, [k.kind for k in plan.spilled]
    (True, ['traversal', 'merge'])
    >>> plan_cascade(einsum.load("attention-1pass"), "fused").fused is None
    True
    """
    if fusion not in ("fused", "unfused"):
        raise SpecError(f"fusion: expected 'fused' or 'unfused'; got {fusion!r}")
    binding = bind(cascade)
    report = pass_analysis(cascade)
    held = _held_elements(cascade)
    labels = tuple(e.label for e in cascade.einsums)
    split_rank = _split_rank(binding) if fusion == "fused" else None
    if fusion == "unfused":
        kernels = _unfused_kernels(cascade)
    elif split_rank:
        kernels = _split_kernels(binding, split_rank)
    else:
        groups = report.groups or (labels,)
        kernels = [(f"pass-{i}" if len(groups) > 1 else "fused", "traversal", g, (i,))
                   for i, g in enumerate(groups, start=1)]
    spilled = _build(binding, kernels)
    fused = None
    if fusion == "fused" and not split_rank and len(spilled) > 1:
        fused = _build(binding, [("fused", "traversal", labels,
                                  tuple(range(1, report.passes + 1)))])[0]
    return CascadePlan(cascade.name, report.passes, fused, spilled, held, bool(split_rank),
                       binding.instance, binding, split_rank)

"""The mask a fused kernel applies, read from the cascade's filters.

A FlashAttention-style kernel visits a (query tile, key tile) step only when the cascade
does work there. That work is the support of the contractions that run per (query, key)
pair — the score ``Q·K`` and the ``P·V`` accumulation — which carry the filters of the
Einsums upstream of them (``*``, ``/``, unary functions and ``exp(a - b)`` intersect
supports, :mod:`einsum.opcount`). :func:`mask_plan` collects those filters and rewrites them
over one flat query index and one flat key index (``m1*M0 + m0`` becomes the key index;
a lone ``m1`` becomes ``key // M0``), so the tile counter of
:mod:`simulator.sparsity.filters` can count visited and partially masked tiles for any
filter: causal, windows, sinks, strides, per-head windows, 2-D index arithmetic, mask
tensors. Two common masks keep closed forms that evaluate on arrays of sizes: no mask
(``dense``) and ``m <= p + offset`` (``causal``).

Examples
--------
>>> import einsum
>>> mask_plan(einsum.load("attention-1pass")).kind
'dense'
>>> plan = mask_plan(einsum.load("attention-1pass-causal"))
>>> plan.kind, str(plan.offset)
('causal', 'M - P')
>>> plan = mask_plan(einsum.load("attention-1pass-window"))
>>> plan.kind, str(plan.filters[0])
('filter', '__p + M - P - W < __m <= __p + M - P')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

import einsum
from einsum import Cascade
from einsum.model import (
    BoolOp,
    Compare,
    Einsum,
    Filter,
    IntBinary,
    IntCall,
    IntConst,
    IntExpr,
    IntTensor,
    MaskRef,
    Not,
    Size,
    TensorRef,
    Var,
    filter_tensors,
    filter_vars,
    int_vars,
    mask_refs,
)
from einsum.sizes import eval_int
from simulator.binding import RankBinding, bind
from simulator.errors import SpecError
from simulator.gpu.tiling import (
    StepCounts,
    causal_pairs,
    causal_steps,
    ceil_div,
    clipped_floor_sum,
    dense_steps,
)

__all__ = ["KEY_VAR", "QUERY_VAR", "MaskPlan", "filter_sizes", "mask_pairs", "mask_plan", "mask_steps",
           "window_symbol"]

#: Names of the flat query and key indices in rewritten filters.
QUERY_VAR, KEY_VAR = "__p", "__m"


@dataclass(frozen=True)
class MaskPlan:
    """The kernel's mask: ``dense``, ``causal`` (``key <= query + offset``) or ``filter``.

    Attributes
    ----------
    kind : str
    filters : tuple of Filter
        The mask over :data:`QUERY_VAR`, :data:`KEY_VAR` and ``others`` (a conjunction).
    offset : IntExpr or None
        The causal offset, an expression of sizes (``M - P`` for bottom-right alignment).
    others : tuple of (str, str)
        Other variables the filters use and the rank each ranges over (``("h", "H")``).
    tensors : tuple of str
        Tensors the filters read (a per-head window, a block mask).
    symbols : tuple of str
        The labels of the Einsums whose work this mask describes (the per-pair
        contractions: a score ``Q·K`` and a ``P·V`` product).
    """

    kind: str
    filters: tuple[Filter, ...] = ()
    offset: IntExpr | None = None
    others: tuple[tuple[str, str], ...] = ()
    tensors: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()


def _pair_einsums(binding: RankBinding) -> list:
    """Contractions that run once per (query, key) pair: the score and the P·V product."""
    cascade = binding.cascade
    if binding.key is None or binding.query is None or binding.shared is not None:
        return []
    per_key = {binding.key} | ({binding.key_inner} if binding.key_inner else set())
    query_family = cascade.family(binding.query)
    macs = {e.label for e in einsum.op_counts(cascade).per_einsum if e.op("mac")}
    out = []
    for e in cascade.einsums:
        ranks = {cascade.rank_of(v) for v in e.iteration_vars}
        if e.label in macs and ranks & per_key and ranks & query_family:
            out.append(e)
    return out


def _linear(expr: IntExpr) -> list[tuple[int, IntExpr]] | None:
    """``expr`` as signed terms ``[(±1, term), ...]`` of a sum; None when it is not a sum."""
    if isinstance(expr, IntBinary) and expr.op in "+-":
        left, right = _linear(expr.left), _linear(expr.right)
        if left is None or right is None:
            return None
        sign = 1 if expr.op == "+" else -1
        return left + [(sign * s, t) for s, t in right]
    return [(1, expr)]


def _term_var(term: IntExpr) -> tuple[str, IntExpr] | None:
    """``(var, coefficient)`` of a product term ``v`` or ``v*C`` (C free of variables)."""
    if isinstance(term, Var):
        return term.name, IntConst(1)
    if isinstance(term, IntBinary) and term.op == "*":
        for var, coef in ((term.left, term.right), (term.right, term.left)):
            if isinstance(var, Var) and not int_vars(coef):
                return var.name, coef
    return None


class _Rewriter:
    """Rewrite a filter's variables into the flat query and key indices."""

    def __init__(self, binding: RankBinding, einsum_vars: tuple[str, ...]):
        cascade = binding.cascade
        self.parts: dict[str, tuple[IntExpr, str, bool]] = {}
        key_family = cascade.family(binding.key)
        query_family = cascade.family(binding.query)
        strides = dict(zip(binding.key_outer + (binding.key_inner,), binding.key_strides))
        self.pattern: dict[str, str] = {}
        self.flat: dict[str, str] = {}
        for var in einsum_vars:
            rank = cascade.rank_of(var)
            if rank == binding.key:
                self.flat[var] = KEY_VAR
            elif rank == binding.query:
                self.flat[var] = QUERY_VAR
            elif rank in key_family and rank in strides:
                outermost = rank == (binding.key_outer + (binding.key_inner,))[0]
                self.parts[var] = (strides[rank], rank, outermost)
                self.pattern[rank] = var
            elif rank in query_family:
                raise _Unsupported(f"the query rank is partitioned ({rank})")
        self.strides = strides
        self.key_parts = binding.key_outer + (binding.key_inner,) if binding.key_inner else ()

    def expr(self, node: IntExpr) -> IntExpr:
        collapsed = self._collapse(node)
        if collapsed is not None:
            return collapsed
        if isinstance(node, Var):
            if node.name in self.flat:
                return Var(self.flat[node.name])
            if node.name in self.parts:
                stride, rank, outermost = self.parts[node.name]
                div = IntBinary("//", Var(KEY_VAR), stride) if str(stride) != "1" else Var(KEY_VAR)
                return div if outermost else IntBinary("%", div, Size(rank))
            return node
        if isinstance(node, IntBinary):
            return IntBinary(node.op, self.expr(node.left), self.expr(node.right))
        if isinstance(node, IntCall):
            return IntCall(node.func, tuple(self.expr(a) for a in node.args))
        if isinstance(node, IntTensor):
            return IntTensor(self.ref(node.ref))
        return node

    def ref(self, ref: TensorRef) -> TensorRef:
        return TensorRef(ref.name, tuple(self.expr(i) for i in ref.indices))

    def _collapse(self, node: IntExpr) -> IntExpr | None:
        """Replace a full mixed-radix sum of the key parts (``m1*M0 + m0``) by the key index."""
        if not self.key_parts or not isinstance(node, IntBinary) or node.op not in "+-":
            return None
        terms = _linear(node)
        if terms is None:
            return None
        found: dict[str, int] = {}
        rest: list[tuple[int, IntExpr]] = []
        for sign, term in terms:
            hit = _term_var(term)
            if hit and hit[0] in self.parts and str(hit[1]) == str(self.parts[hit[0]][0]):
                found[self.parts[hit[0]][1]] = sign
            else:
                rest.append((sign, term))
        signs = set(found.values())
        if set(found) != set(self.key_parts) or len(signs) != 1:
            return None
        sign = signs.pop()
        out: IntExpr = Var(KEY_VAR) if sign > 0 else IntBinary("-", IntConst(0), Var(KEY_VAR))
        for s, term in rest:
            out = IntBinary("+" if s > 0 else "-", out, self.expr(term))
        return out

    def filter(self, flt: Filter) -> Filter:
        if isinstance(flt, Compare):
            return Compare(tuple(self.expr(o) for o in flt.operands), flt.ops)
        if isinstance(flt, BoolOp):
            return BoolOp(flt.op, tuple(self.filter(p) for p in flt.parts))
        if isinstance(flt, Not):
            return Not(self.filter(flt.part))
        if isinstance(flt, MaskRef):
            return MaskRef(self.ref(flt.ref))
        return flt


class _Unsupported(Exception):
    """The filter cannot be expressed over flat query and key indices."""


def _causal_offset(filters: tuple[Filter, ...]) -> IntExpr | None:
    """``c`` when the mask is exactly ``key <= query + c`` (any spelling), else None."""
    if len(filters) != 1 or not isinstance(filters[0], Compare) or len(filters[0].ops) != 1:
        return None
    flt = filters[0]
    op, (left, right) = flt.ops[0], flt.operands
    if op in (">", ">="):
        op, left, right = {">": "<", ">=": "<="}[op], right, left
    if op not in ("<", "<="):
        return None
    terms = _linear(IntBinary("-", left, right))  # left - right  (<= or < 0)
    if terms is None:
        return None
    signs: dict[str, int] = {}
    rest: IntExpr = IntConst(0)
    for sign, term in terms:
        if isinstance(term, Var):
            signs[term.name] = signs.get(term.name, 0) + sign
        elif int_vars(term):
            return None
        else:
            rest = IntBinary("+" if sign > 0 else "-", rest, term)
    if signs != {KEY_VAR: 1, QUERY_VAR: -1}:
        return None
    # key - query + rest <= 0  ->  key <= query - rest  (strict: one less)
    offset: IntExpr = IntBinary("-", IntConst(0), rest)
    if op == "<":
        offset = IntBinary("-", offset, IntConst(1))
    return _simplify(offset)


def _simplify(expr: IntExpr) -> IntExpr:
    """Drop ``0 - (0 + x)`` wrappers so the offset reads like the filter (``M - P``)."""
    terms = _linear(expr) or [(1, expr)]
    kept = [(s, t) for s, t in terms if not (isinstance(t, IntConst) and t.value == 0)]
    if not kept:
        return IntConst(0)
    first_sign, first = kept[0]
    out: IntExpr = first if first_sign > 0 else IntBinary("-", IntConst(0), first)
    for sign, term in kept[1:]:
        out = IntBinary("+" if sign > 0 else "-", out, term)
    return out


def _own_filters(cascade: Cascade, label: str) -> frozenset[Filter]:
    """The filters restricting where an Einsum has work (its own and inherited, forward)."""
    ops = next(e for e in einsum.op_counts(cascade).per_einsum if e.label == label)
    symbol = next((s for s in ops.points.symbols if s.startswith("rho_")), None)
    if symbol is None:
        return frozenset()
    density = next(d for d in einsum.op_counts(cascade).densities if d.symbol == symbol)
    return frozenset(density.filters)


def _work_filters(cascade: Cascade, label: str, seen: frozenset[str]) -> frozenset[Filter]:
    """Filters outside which an Einsum's results are never used.

    Its own filters when it has some; otherwise what every consumer demands: a score
    ``QK`` that only a filtered ``S = QK - bias : m <= p`` reads is needed only where
    ``m <= p``, so a kernel skips the rest (ALiBi writes its mask on the biased score).
    """
    own = _own_filters(cascade, label)
    if own or label in seen:
        return own
    producer = cascade.einsum(label)
    demands = []
    for consumer in cascade.einsums:
        reads = [r for r in einsum.model.expr_refs(consumer.expr) if r.name == producer.name]
        if not reads or consumer.label == label:
            continue
        mapping = _var_mapping(reads[0], producer)
        wanted = _work_filters(cascade, consumer.label, seen | {label})
        if not wanted or mapping is None:
            return frozenset()
        if any(filter_vars(f) - set(mapping) for f in wanted):
            return frozenset()
        demands.append(frozenset(einsum.model.rename_filter(f, mapping) for f in wanted))
    if not demands or any(d != demands[0] for d in demands):
        return frozenset()
    return demands[0]


def _var_mapping(read: TensorRef, producer: Einsum) -> dict[str, str] | None:
    """Consumer variable → producer variable, position by position (plain variables only)."""
    mapping = {}
    for mine, theirs in zip(read.indices, producer.output.indices):
        if isinstance(mine, Var) and isinstance(theirs, Var):
            mapping[mine.name] = theirs.name
        elif mine != theirs:
            return None
    return mapping


@lru_cache(maxsize=256)
def mask_plan(cascade: Cascade) -> MaskPlan:
    """The mask a fused kernel applies to a cascade (see the module docstring).

    Raises
    ------
    SpecError
        Never for a parsed cascade; filters that cannot be rewritten over flat indices
        (a partitioned query rank) price as unmasked, which the lint reports.
    """
    binding = bind(cascade)
    einsums = _pair_einsums(binding)
    if not einsums:
        return MaskPlan("dense")
    conjunctions: dict[tuple[Filter, ...], None] = {}
    symbols = []
    others: dict[str, str] = {}
    for e in einsums:
        work = _work_filters(cascade, e.label, frozenset())
        if not work:
            return MaskPlan("dense")
        try:
            rewriter = _Rewriter(binding, e.iteration_vars)
            filters = tuple(rewriter.filter(f) for f in sorted(work, key=str))
        except _Unsupported:
            return MaskPlan("dense")
        conjunctions.setdefault(filters, None)
        symbols.append(e.label)
        for f in filters:
            for var in filter_vars(f) - {KEY_VAR, QUERY_VAR}:
                others[var] = cascade.rank_of(var)
    if len(conjunctions) == 1:
        filters = next(iter(conjunctions))
    else:
        parts = [BoolOp("and", c) if len(c) > 1 else c[0] for c in conjunctions]
        filters = (BoolOp("or", tuple(parts)),)
    tensors = tuple(dict.fromkeys(r.name for f in filters for r in filter_tensors(f)))
    offset = _causal_offset(filters) if not others and not tensors else None
    kind = "causal" if offset is not None else "filter"
    return MaskPlan(kind, filters, offset, tuple(sorted(others.items())), tensors,
                    tuple(dict.fromkeys(symbols)))


# --------------------------------------------------------------------------- counting


def _size_names(node: object) -> set[str]:
    """Size symbols inside a filter or integer expression."""
    if isinstance(node, Size):
        return {node.name}
    children: tuple = ()
    if isinstance(node, IntBinary):
        children = (node.left, node.right)
    elif isinstance(node, IntCall):
        children = node.args
    elif isinstance(node, (IntTensor, MaskRef)):
        children = node.ref.indices
    elif isinstance(node, Compare):
        children = node.operands
    elif isinstance(node, BoolOp):
        children = node.parts
    elif isinstance(node, Not):
        children = (node.part,)
    return set().union(*(_size_names(c) for c in children))


def filter_sizes(plan: MaskPlan) -> tuple[str, ...]:
    """Size symbols the mask's filters mention, sorted.

    Examples
    --------
    >>> import einsum
    >>> filter_sizes(mask_plan(einsum.load("attention-1pass-window")))
    ('M', 'P', 'W')
    """
    return tuple(sorted(set().union(*(_size_names(f) for f in plan.filters))))


def _tensor_values(plan: MaskPlan, shapes: Any) -> dict[str, np.ndarray]:
    """The values of the tensors the mask reads, or a one-line error naming them."""
    given = dict(shapes.tensors or {})
    missing = [t for t in plan.tensors if t not in given]
    if missing:
        raise SpecError(f"the cascade's mask reads tensor(s) {', '.join(missing)}; give their "
                        f"values with {' '.join(f'--tensor {t}=FILE' for t in missing)} "
                        f"(.npy, .csv or .txt), or a mask tensor's density with --density "
                        f"{missing[0]}=FRACTION")
    return {t: np.asarray(given[t]) for t in plan.tensors}


def _densities(plan: MaskPlan, tensors: dict[str, np.ndarray],
               ) -> tuple[tuple[Filter, ...], float]:
    """Mask tensors given as a density (a number in (0, 1]) instead of values.

    Such a mask keeps that fraction of the tiles (and pairs) the rest of the filter
    keeps: the selection is assumed aligned to the kernel's tiles and independent of the
    rest of the mask, as a block-sparse selection is. Returns the filters without those
    tensors and the product of their densities.
    """
    masks = {ref.name for ref in mask_refs(plan.filters)}
    scalars = {name: float(v) for name, v in tensors.items() if np.ndim(v) == 0}
    for name, value in scalars.items():
        if name not in masks or not 0 < value <= 1:
            raise SpecError(f"--density {name}={value}: expected a fraction in (0, 1] for a mask "
                            f"tensor the cascade's filter reads ({', '.join(sorted(masks)) or 'none'})")
    if not scalars:
        return plan.filters, 1.0
    true = Compare((IntConst(0), IntConst(0)), ("==",))
    filters = tuple(_drop_masks(f, set(scalars), true) for f in plan.filters)
    return filters, float(np.prod(list(scalars.values())))


def _drop_masks(flt: Filter, names: set[str], true: Filter) -> Filter:
    if isinstance(flt, MaskRef) and flt.ref.name in names:
        return true
    if isinstance(flt, BoolOp):
        return BoolOp(flt.op, tuple(_drop_masks(p, names, true) for p in flt.parts))
    if isinstance(flt, Not):
        return Not(_drop_masks(flt.part, names, true))
    return flt


class _Tensors:
    """Mask tensor values riding along a cache key without being part of it."""

    def __init__(self, values: dict[str, np.ndarray]):
        self.values = values

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


def _digest(tensors: dict[str, np.ndarray]) -> tuple:
    """A hashable stand-in for tensor values (shape, dtype and bytes)."""
    import hashlib

    return tuple((name, value.shape, str(value.dtype),
                  hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest())
                 for name, value in sorted(tensors.items()))


@lru_cache(maxsize=8192)
def _one_count(filters: tuple, spans: tuple, shape: tuple, named: tuple, digest: tuple,
               tensors: _Tensors) -> tuple[float, float, float, float, float]:
    """Per-instance (steps, partial, max steps, query tiles, pairs) of one problem shape.

    Cached: a sweep prices the same mask at the same lengths on many GPUs and models.
    """
    from simulator.sparsity.filters import FilterMask, count_filter_tiles

    del digest  # part of the cache key only
    seq_q, seq_kv, tq, tk = shape
    mask = FilterMask(filters, QUERY_VAR, KEY_VAR, spans)
    counts = count_filter_tiles(mask, seq_q, seq_kv, tq, tk, dict(named), tensors.values)
    per = max(counts.instances, 1)
    return (counts.steps / per, counts.partial / per, counts.max_steps, counts.n_q_tiles,
            counts.pairs / per)


def _count(plan: MaskPlan, binding: RankBinding, shapes: Any, q_tile: Any, kv_tile: Any,
           ) -> tuple[StepCounts, Any]:
    """Per-instance mean tile counts and pairs of a filter mask, one count per distinct size."""
    sizes = binding.for_shapes(shapes, kv_tile)
    extents = binding.instance_extents(shapes.batch, shapes.heads, shapes.kv_heads)
    names = filter_sizes(plan)
    others = [var for var, _ in plan.others]
    ranks = dict(plan.others)
    for var in others:
        if ranks[var] not in extents and ranks[var] not in sizes:
            raise SpecError(f"the cascade's mask varies with rank {ranks[var]} (variable {var}), "
                            f"whose extent the workload does not fix; give --size {ranks[var]}=N")
    columns = [shapes.seq_q, shapes.seq_kv, q_tile, kv_tile]
    columns += [sizes[n] for n in names] + [extents.get(ranks[v], sizes[ranks[v]]) for v in others]
    arrays = np.broadcast_arrays(*(np.asarray(c, dtype=np.int64) for c in columns))
    shape = arrays[0].shape
    table = np.stack([a.ravel() for a in arrays], axis=1)
    unique, inverse = np.unique(table, axis=0, return_inverse=True)
    tensors = _tensor_values(plan, shapes)
    filters, density = _densities(plan, tensors)
    tensors = {k: v for k, v in tensors.items() if np.ndim(v) > 0}
    digest = _digest(tensors)
    results = np.zeros((len(unique), 5))
    for row, values in enumerate(unique.tolist()):
        named = tuple(zip(names, values[4:4 + len(names)]))
        spans = tuple(zip(others, values[4 + len(names):]))
        results[row] = _one_count(filters, spans, tuple(values[:4]), named, digest,
                                  _Tensors(tensors))
    results[:, [0, 1, 4]] *= density
    out = results[inverse.ravel()].reshape(shape + (5,))
    steps = StepCounts(out[..., 0], out[..., 1], out[..., 2], out[..., 3],
                       np.asarray(ceil_div(shapes.seq_kv, kv_tile)))
    return steps, out[..., 4]


def mask_steps(kernel: Any, shapes: Any, rows: Any, q_tile: Any, kv_tile: Any, pack: Any,
               even_specialised: bool = False) -> StepCounts:
    """Visited and partially masked (query tile, key tile) steps per instance.

    ``rows`` are the kernel's query rows (``group x seq_q`` where GQA packing puts a KV
    head's query heads in one tile); a packed tile holds every query of each of its heads,
    so a mask is counted with one query tile per head and scaled by the packed tiles.
    ``even_specialised`` counts the masked steps of a kernel compiled for sequences that
    are multiples of its tiles (:func:`even_specialised_partial`) instead of the mask's.

    Examples
    --------
    >>> from simulator.gpu.model import make_shapes, resolve
    >>> from simulator.gpu.plan import plan_cascade
    >>> _, cascade, _ = resolve("h100", "attention-1pass-causal", "flash3")
    >>> kernel = plan_cascade(cascade, "fused").spilled[0]
    >>> s = mask_steps(kernel, make_shapes(1, 1, 1024, 1024, 64), 1024, 128, 128, False)
    >>> int(s.steps), int(s.partial), int(s.max_steps)
    (36, 8, 8)
    """
    binding = kernel.binding
    plan = mask_plan(binding.cascade)
    dense = dense_steps(rows, shapes.seq_kv, q_tile, kv_tile)
    if plan.kind == "dense":
        if even_specialised:
            fa2 = even_specialised_partial(shapes.seq_q, shapes.seq_kv, q_tile, kv_tile)
            dense = dense._replace(partial=np.where(pack, dense.partial, fa2))
        return dense
    tile = np.where(pack, np.maximum(shapes.seq_q, 1), q_tile)
    scale = np.where(pack, dense.q_tiles, 1)
    if plan.kind == "causal":
        offset = eval_int(plan.offset, {}, binding.for_shapes(shapes, kv_tile))
        counts = causal_steps(shapes.seq_q, shapes.seq_kv, tile, kv_tile, offset)
        touched = causal_steps(shapes.seq_q, shapes.seq_kv, shapes.seq_q, kv_tile, offset).steps
        if even_specialised:
            fa2 = even_specialised_partial(shapes.seq_q, shapes.seq_kv, tile, kv_tile, offset)
            counts = counts._replace(partial=np.where(pack, counts.partial,
                                                      np.maximum(counts.partial, fa2)))
    else:
        counts = _count(plan, binding, shapes, tile, kv_tile)[0]
        # one query tile holding every query visits each key tile some query needs
        touched = _count(plan, binding, shapes, shapes.seq_q, kv_tile)[0].steps
        if even_specialised:
            counts = _even_specialised_filter(counts, shapes, tile, kv_tile, pack)
    return StepCounts(counts.steps * scale, counts.partial * scale, counts.max_steps,
                      dense.q_tiles, dense.kv_tiles, touched)


def _even_specialised_filter(counts: StepCounts, shapes: Any, q_tile: Any, kv_tile: Any,
                             pack: Any) -> StepCounts:
    """A filter mask's masked steps in FA2, which has a causal and a local (window) kernel.

    A mask that visits and cuts exactly the causal tiles on these shapes (a window at least
    as long as the keys: ``mha_fwd`` drops such a window) runs the causal kernel; any other
    runs the local one, which applies the mask in every iteration (``Is_local`` makes
    ``Need_masking`` true in the loop over unmasked tiles too), so every visited tile is masked.
    """
    causal = causal_steps(shapes.seq_q, shapes.seq_kv, q_tile, kv_tile)
    is_causal = (np.asarray(counts.steps) == causal.steps) & (np.asarray(counts.partial) == causal.partial)
    fa2 = even_specialised_partial(shapes.seq_q, shapes.seq_kv, q_tile, kv_tile,
                                   shapes.seq_kv - shapes.seq_q)
    partial = np.where(is_causal, np.maximum(counts.partial, fa2), counts.steps)
    return counts._replace(partial=np.where(pack, counts.partial, partial))


def even_specialised_partial(rows: Any, keys: Any, q_tile: Any, kv_tile: Any,
                             offset: Any = None) -> Any:
    """Masked steps per instance of a kernel specialised for even sequences (FlashAttention-2).

    FA2's forward kernel is compiled with ``Is_even_MN`` (``seqlen_q % kBlockM == 0`` and
    ``seqlen_k % kBlockN == 0``); each query tile runs its last ``n_masking_steps`` key
    tiles through the mask: none without a mask when even, one when not (the key edge may
    end inside a tile), and ``ceil(kBlockM / kBlockN)`` for a causal mask, plus one when not
    even (flash-attention ``csrc/flash_attn/src/flash_fwd_kernel.h``, ``compute_attn_1rowblock``;
    kernels.md sec. 1). ``offset`` None means no mask, else the causal ``m <= p + offset``.

    Examples
    --------
    >>> even_specialised_partial(1024, 1024, 128, 128), even_specialised_partial(197, 197, 128, 128)
    (0, 2)
    >>> even_specialised_partial(559, 559, 128, 128, 0)   # 5 query tiles visit 1-5 key tiles
    9
    >>> sum(min(v, 2) for v in (1, 2, 3, 4, 5))
    9
    """
    q_tiles, kv_tiles = ceil_div(rows, q_tile), ceil_div(keys, kv_tile)
    uneven = ((np.asarray(rows) % q_tile != 0) | (np.asarray(keys) % kv_tile != 0)).astype(np.int64)
    if offset is None:
        total = uneven * q_tiles
        return total if np.ndim(total) else int(total)
    cap = np.minimum(ceil_div(q_tile, kv_tile) + uneven, kv_tiles)
    # the key tiles query tile i visits, as causal_steps counts them, each capped at ``cap``
    inner = clipped_floor_sum(q_tiles - 1, q_tile, q_tile - 1 + offset, kv_tile, 1, cap)
    last = np.clip((rows - 1 + offset) // kv_tile + 1, 0, kv_tiles)
    total = inner + np.minimum(last, cap)
    return total if np.ndim(total) else int(total)


def mask_pairs(binding: RankBinding, shapes: Any, q_tile: Any, kv_tile: Any) -> Any:
    """Unmasked (query, key) pairs per instance (the useful work the FLOP count uses).

    Examples
    --------
    >>> import einsum
    >>> from simulator.gpu.model import make_shapes
    >>> b = bind(einsum.load("attention-1pass-causal"))
    >>> int(mask_pairs(b, make_shapes(1, 1, 4, 4, 64), 128, 128))
    10
    """
    plan = mask_plan(binding.cascade)
    if plan.kind == "dense":
        return shapes.seq_q * shapes.seq_kv
    if plan.kind == "causal":
        offset = eval_int(plan.offset, {}, binding.for_shapes(shapes, kv_tile))
        return causal_pairs(shapes.seq_q, shapes.seq_kv, offset)
    return _count(plan, binding, shapes, q_tile, kv_tile)[1]


def window_symbol(cascade: Cascade) -> str:
    """The size symbol of the window :func:`einsum.with_mask` wrote (``W`` unless taken).

    Examples
    --------
    >>> import einsum
    >>> window_symbol(einsum.with_mask(einsum.load("attention-1pass"), "window"))
    'W'
    """
    return next(s for s in filter_sizes(mask_plan(cascade)) if s.startswith("W"))

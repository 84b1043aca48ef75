"""The GPU cost model: a cascade + a GPU + a kernel profile + a problem → a Prediction.

The cascade decides the work (op counts per Einsum, by kind) and the kernels (its pass
groups); the profile decides how the kernels are formed and how their resources
overlap; the GPU gives the rates. One code path serves one problem and a million:
:func:`predict` takes an :class:`~simulator.workload.AttentionProblem`,
:func:`predict_batch` takes numpy arrays of sizes and returns a :class:`Prediction`
whose fields are arrays.

Multi-pass cascades under a fused profile hold the ``M`` fiber of each query tile in
shared memory when it fits (one kernel) and otherwise spill it to DRAM between passes
(one kernel per pass group); ``Prediction.spilled`` says which, ``buffer_bytes`` the
shared memory a CTA needs.

Examples
--------
>>> from simulator.workload import AttentionProblem
>>> problem = AttentionProblem(batch=4, heads=16, kv_heads=16, seq_q=4096, seq_kv=4096,
...                            head_dim_qk=128)
>>> pred = predict("h100", "attention-1pass", problem, profile="flash3")
>>> pred.bound, pred.passes, pred.spilled
('tensor', 1, False)
>>> 550 < pred.tflops_per_s < 700
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

import einsum
from einsum import Cascade
from simulator.binding import bind
from simulator.errors import SpecError
from simulator.gpu import capacity
from simulator.gpu.kernels import (
    KernelResult,
    Shapes,
    copy_kernel,
    hold_tile,
    mask_kernel,
    traversal_kernel,
    untiled_kernel,
)
from simulator.gpu.masks import mask_pairs, mask_plan
from simulator.gpu.plan import CascadePlan, plan_cascade
from simulator.gpu.profiles import KernelProfile, auto_profile, check_profile, load_profile
from simulator.gpu.resources import RESOURCE_ORDER, SMRates, binding, sm_rates
from simulator.gpu.tiling import StepCounts, ceil_div, no_fit_reason, rule_tiles
from simulator.hardware import GPUSpec, load_gpu
from simulator.prediction import KernelRecord, Prediction
from simulator.workload import INPUT_DTYPES, KV_DTYPES, AttentionProblem

__all__ = ["MaskCounts", "bound_sizes", "chosen_cascade", "evaluate_shapes", "make_shapes",
           "predict", "predict_batch", "resolve"]


@dataclass(frozen=True)
class MaskCounts:
    """Tile counts of a sparse mask, per (batch, head) instance, and its tiles.

    ``steps`` are (query tile, key tile) pairs visited, ``partial`` those partially
    masked, ``pairs`` the unmasked (query, key) pairs (for the FLOP count).
    """

    steps: StepCounts
    q_tile: int
    kv_tile: int
    pairs: float


def resolve(hw: str | os.PathLike[str] | GPUSpec, cascade: str | os.PathLike[str] | Cascade,
            profile: str | os.PathLike[str] | KernelProfile) -> tuple[GPUSpec, Cascade,
                                                                       KernelProfile]:
    """Load a GPU, a cascade and a profile given by name, path or object.

    ``profile="auto"`` picks the GPU architecture's profile (:func:`auto_profile`); a
    profile whose instructions the GPU lacks (``flash3`` on Ampere) is an error.

    Examples
    --------
    >>> gpu, cascade, profile = resolve("a100", "attention-3pass", "unfused")
    >>> gpu.name, cascade.name, profile.name
    ('a100-sxm4-80gb', 'attention-3pass', 'unfused')
    >>> resolve("a100", "attention-1pass", "auto")[2].name
    'flash2'
    """
    gpu = hw if isinstance(hw, GPUSpec) else load_gpu(hw)
    c = cascade if isinstance(cascade, Cascade) else einsum.load(cascade)
    chosen = auto_profile(gpu) if isinstance(profile, str) and profile == "auto" else profile
    loaded = load_profile(chosen)
    check_profile(gpu, loaded)
    return gpu, c, loaded


def make_shapes(batch: Any, heads: Any, seq_q: Any, seq_kv: Any, head_dim: Any, *,
                kv_heads: Any = None, head_dim_v: Any = None,
                dtype: str = "fp16", kv_dtype: str | None = None,
                extra: Mapping[str, Any] | None = None,
                tensors: Mapping[str, Any] | None = None, page_size: Any = 0) -> Shapes:
    """Validate problem sizes into :class:`~simulator.gpu.kernels.Shapes`.

    Each size keeps its own shape; they must broadcast together (``Shapes.shape``).
    ``extra`` sizes the cascade's other ranks (see :meth:`RankBinding.head_dims`),
    ``tensors`` gives the values of tensors its filters read; ``page_size`` > 0 is a
    paged KV cache of that many tokens per page (0: contiguous).

    Raises
    ------
    SpecError
        On a non-positive size, heads not divisible by KV heads, or an unknown dtype.

    Examples
    --------
    >>> shapes = make_shapes([1, 2], 32, 1, 4096, 128, kv_heads=8, kv_dtype="int4")
    >>> shapes.shape, int(shapes.group), float(shapes.k_bytes)
    ((2,), 4, 0.53125)
    """
    kv_heads = heads if kv_heads is None else kv_heads
    head_dim_v = head_dim if head_dim_v is None else head_dim_v
    names = ("batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim", "head_dim_v")
    arrays = [np.asarray(v) for v in (batch, heads, kv_heads, seq_q, seq_kv, head_dim, head_dim_v)]
    # Arrays keep their own shapes (numpy broadcasts them as it computes), so a quantity
    # that depends on one size only is computed once per value of that size.
    np.broadcast_shapes(*(a.shape for a in arrays))
    ints = [a.astype(np.int64, copy=False) for a in arrays]
    for name, raw, value in zip(names, arrays, ints):
        if np.any(raw != value) or np.any(value <= 0):
            raise SpecError(f"{name}: expected positive integers; got {raw.ravel()[:4].tolist()}")
    if np.any(ints[1] % ints[2]):
        raise SpecError("heads: expected a multiple of kv_heads (GQA groups)")
    kv_dtype = dtype if kv_dtype is None else kv_dtype
    if dtype not in INPUT_DTYPES:
        raise SpecError(f"dtype: expected one of {', '.join(INPUT_DTYPES)}; got {dtype!r}")
    if kv_dtype not in KV_DTYPES:
        raise SpecError(f"kv_dtype: expected one of {', '.join(KV_DTYPES)}; got {kv_dtype!r}")
    fmt = KV_DTYPES[kv_dtype]
    k_bytes = fmt.bits / 8 + fmt.metadata_bytes / ints[5]
    v_bytes = fmt.bits / 8 + fmt.metadata_bytes / ints[6]
    page = np.asarray(0 if page_size is None else page_size)
    if np.any(page < 0) or np.any(page != np.round(page)):
        raise SpecError(f"page_size: expected a non-negative integer; got {page.ravel()[:4].tolist()}")
    return Shapes(*ints, INPUT_DTYPES[dtype], k_bytes, v_bytes, dtype, kv_dtype,
                  extra=None if extra is None else dict(extra),
                  tensors=None if tensors is None else dict(tensors), page_size=page.astype(np.int64))


# --------------------------------------------------------------------------- evaluation


def _partitions(results: list[KernelResult], shapes: Shapes, plan: CascadePlan,
                ) -> tuple[Any, dict[str, Any]]:
    """(key tile, outer parts) for untiled kernels: a split's chunk and count, else the key tile."""
    for result in results:
        if np.any(np.asarray(result.kv_tile) > 0):
            splits = np.maximum(result.splits, 1)
            tiles = ceil_div(shapes.seq_kv, result.kv_tile)
            if plan.split_rank is None:
                return result.kv_tile, {}
            if plan.binding is not None and plan.binding.key_outer == (plan.split_rank,):
                return ceil_div(tiles, splits) * result.kv_tile, {plan.split_rank: splits}
            return result.kv_tile, {plan.split_rank: splits}
    return shapes.seq_kv, {}


def _run(kernels: tuple, plan: CascadePlan, shapes: Shapes, gpu: GPUSpec,
         profile: KernelProfile, rates: SMRates) -> list[KernelResult]:
    """Price a sequence of kernels (traversal kernels first, so merges see the splits)."""
    results: dict[int, KernelResult] = {}
    for index, kernel in enumerate(kernels):
        if kernel.kind == "traversal":
            results[index] = traversal_kernel(kernel, shapes, gpu, profile, rates,
                                              split=plan.split, split_rank=plan.split_rank)
    for index, kernel in enumerate(kernels):
        if kernel.kind != "traversal":
            parts = _partitions(list(results.values()), shapes, plan)
            results[index] = untiled_kernel(kernel, shapes, profile, rates, parts)
    return [results[i] for i in range(len(kernels))]


def _held(plan: CascadePlan, shapes: Shapes, gpu: GPUSpec, profile: KernelProfile,
          rates: SMRates) -> tuple[Any, KernelResult | None]:
    """Hold decision and the single-kernel result for multi-pass cascades."""
    if plan.fused is None:
        return np.zeros(shapes.shape, dtype=bool), None
    head_dim = np.maximum(shapes.head_dim_qk, shapes.head_dim_v)
    kv_tile = rule_tiles(head_dim, profile.tile_rules(gpu.architecture, shapes.dtype))[1]
    if shapes.tiles is not None:
        kv_tile = shapes.tiles[1]
    sizes = plan.fused.binding.for_shapes(shapes, kv_tile)
    per_row = plan.held_elements.evaluate(sizes) * profile.number("memory.intermediate_bytes")
    held, q_tile = hold_tile(shapes, gpu, profile, per_row, plan.fused)
    result = traversal_kernel(plan.fused, shapes, gpu, profile, rates, q_override=q_tile,
                              extra_per_row=per_row)
    return held, result


@dataclass(frozen=True)
class _Outcome:
    """Kernel results, which of them ran per problem, and the hold decision."""

    results: tuple[KernelResult, ...]
    used: tuple[Any, ...]
    held: Any
    groups: tuple[tuple[int, ...], ...]


def _outcome(gpu: GPUSpec, cascade: Cascade, profile: KernelProfile, shapes: Shapes,
             ) -> tuple[_Outcome, SMRates, CascadePlan]:
    """Evaluate every kernel of the plan(s) and the hold decision."""
    plan = plan_cascade(cascade, profile.fusion)
    rates = sm_rates(gpu, profile, shapes.dtype)
    spilled = _run(plan.spilled, plan, shapes, gpu, profile, rates)
    held, fused = _held(plan, shapes, gpu, profile, rates)
    results = tuple(spilled) if fused is None else (fused, *spilled)
    used = tuple(~held for _ in spilled) if fused is None else (held, *(~held for _ in spilled))
    if plan.split:   # one split: the kernel writes O itself, no merge runs (FA2/FA3: num_splits == 1)
        splits = np.asarray(next(r.splits for r, k in zip(spilled, plan.spilled) if k.kind == "traversal"))
        offset = len(results) - len(spilled)
        merges = [i >= offset and plan.spilled[i - offset].kind != "traversal" for i in range(len(used))]
        used = tuple(u & (splits > 1) if merge else u for u, merge in zip(used, merges))
    kernels = plan.spilled if plan.fused is None else (plan.fused, *plan.spilled)
    groups = tuple(k.groups for k in kernels)
    masking = mask_kernel(shapes, profile, rates) if _unfused_mask(cascade, profile) else None
    if masking is not None:   # right after the kernel that writes the scores (the first spilled one)
        at = len(results) - len(spilled) + 1
        results = (*results[:at], masking, *results[at:])
        used = (*used[:at], np.ones_like(held), *used[at:])
        groups = (*groups[:at], (), *groups[at:])
    copies = copy_kernel(plan.spilled, shapes, profile, rates)
    if copies is not None:
        results, used, groups = (copies, *results), (np.ones_like(held), *used), ((), *groups)
    return _Outcome(results, used, held, groups), rates, plan


def _pair_labels(cascade: Cascade) -> frozenset[str]:
    """Labels of the Einsums that iterate over (query, key) pairs: a GNA mask thins them."""
    from einsum.roles import rank_roles

    roles = rank_roles(cascade)
    family = set(roles.key_family)
    return frozenset(e.label for e in cascade.einsums
                     if {cascade.rank_of(v) for v in e.iteration_vars} >= {roles.query}
                     and family & {cascade.rank_of(v) for v in e.iteration_vars})


def _unfused_mask(cascade: Cascade, profile: KernelProfile) -> bool:
    """Whether an unfused execution applies the cascade's mask as its own kernel."""
    return profile.fusion == "unfused" and mask_plan(cascade).kind != "dense"


def _flops(cascade: Cascade, plan: CascadePlan, shapes: Shapes, outcome: _Outcome,
           pairs: float | None) -> Any:
    """Useful FLOPs from the cascade's own contractions: 2 per multiply-accumulate.

    Each contraction is counted at the real sizes (a partitioned key rank covers exactly
    ``seq_kv`` keys, no tile padding) times its exact density: the mask's unmasked pairs
    for the per-pair contractions (``pairs`` when a GNA mask is given), the exact
    fraction of its own points for any other filtered contraction.
    """
    binding = plan.binding
    kv_tile = next((r.kv_tile for r in outcome.results if np.any(np.asarray(r.kv_tile) > 0)),
                   shapes.seq_kv)
    q_tile = next((r.q_tile for r in outcome.results if np.any(np.asarray(r.q_tile) > 0)),
                  shapes.seq_q)
    sizes = _real_sizes(binding, shapes, kv_tile)
    mask = mask_plan(cascade)
    dense_pairs = shapes.seq_q * shapes.seq_kv
    if pairs is not None:
        fraction = pairs / dense_pairs
    else:
        fraction = mask_pairs(binding, shapes, q_tile, kv_tile) / dense_pairs
    total: Any = 0.0
    for ops in einsum.op_counts(cascade).per_einsum:
        macs = ops.op("mac")
        if not macs:
            continue
        symbol = next((s for s in ops.points.symbols if s.startswith("rho_")), None)
        if ops.label in mask.symbols or (pairs is not None and (symbol is not None or
                                                              ops.label in _pair_labels(cascade))):
            density: Any = fraction  # a per-pair contraction: the mask's exact pairs
        elif symbol is None:
            density = 1.0
        else:
            density = _own_density(cascade, symbol, sizes)
        total = total + macs.evaluate(sizes) * density
    return 2.0 * shapes.instances * total


def _real_sizes(binding: Any, shapes: Shapes, kv_tile: Any) -> Any:
    """Sizes with the key partition covering exactly the keys (a fractional chunk count)."""
    sizes = binding.for_shapes(shapes, kv_tile)
    parts = binding.key_outer + ((binding.key_inner,) if binding.key_inner else ())
    if binding.key is None or not parts:
        return sizes
    given = set(shapes.extra or {})
    derived = next((p for p in parts if p not in given and p != binding.key_inner), None)
    if derived is None:
        return sizes
    others = 1
    for part in parts:
        if part != derived:
            others = others * sizes[part]
    sizes[derived] = sizes[binding.key] / others
    return sizes


def _own_density(cascade: Cascade, symbol: str, sizes: Any) -> Any:
    """Exact density of a filter that is not the kernel's mask (e.g. inside a block)."""
    density = next(d for d in einsum.op_counts(cascade).densities if d.symbol == symbol)
    names = {cascade.rank_of(v) for v in density.vars}
    scalar = {k: v for k, v in sizes.items() if np.ndim(v) == 0 or np.unique(v).size == 1}
    points = 1
    for rank in names:
        points *= int(np.ravel(sizes[rank])[0]) if rank in scalar else 1 << 40
    if points > 1 << 24:
        raise SpecError(f"cascade '{cascade.name}': the density of {density} needs "
                        f"{points:.3g} points to count; only the kernel's mask is counted by tiles")
    values = {k: int(np.ravel(v)[0]) for k, v in scalar.items()
              if isinstance(v, (int, np.integer, np.ndarray)) or np.ndim(v) == 0}
    return einsum.filter_density(cascade, symbol, values)


def _records(outcome: _Outcome) -> tuple[KernelRecord, ...]:
    """One KernelRecord per kernel (time zero where a problem did not use it)."""
    records = []
    for result, used, groups in zip(outcome.results, outcome.used, outcome.groups):
        labels = tuple(f"pass {g}" for g in groups)
        ops = result.work["tensor"] + result.work["exp"] + result.work["fp32"]
        records.append(KernelRecord(
            name=result.name, time_s=np.where(used, result.time, 0.0),
            bound=binding({r: result.times[r] for r in RESOURCE_ORDER}), passes=labels,
            ctas=result.ctas, waves=result.waves, tile=None, ops=ops,
            dram_bytes=result.dram_bytes))
    return tuple(records)


_EXTRA_FIELDS = ("q_tile", "kv_tile", "occupancy", "ctas", "waves", "splits", "l2_miss")


def _extra(outcome: _Outcome) -> dict[str, Any]:
    """Tiling details of the first kernel each problem ran (copies excluded)."""
    pairs = [(r, u) for r, u in zip(outcome.results, outcome.used) if r.name != "input-copies"]
    extra: dict[str, Any] = {}
    for name in _EXTRA_FIELDS:
        value = getattr(pairs[-1][0], name)
        for result, used in reversed(pairs[:-1]):
            value = np.where(used, getattr(result, name), value)
        extra[name] = value
    extra["held"] = outcome.held
    extra["kernel_count"] = sum((np.asarray(u, dtype=int) for u in outcome.used), start=0)
    return extra


def evaluate_shapes(gpu: GPUSpec, cascade: Cascade, profile: KernelProfile, shapes: Shapes,
                    pairs: float | None = None, *, detail: bool = True) -> Prediction:
    """Predict every problem of ``shapes`` (arrays) at once; see :func:`predict_batch`.

    ``pairs`` (unmasked query-key pairs per instance) replaces the FLOP count of a
    sparse mask. Without ``detail`` the per-kernel records, utilisations and tiling
    details are left empty (sweeps need none of them).

    Examples
    --------
    >>> gpu, cascade, profile = resolve("h100", "attention-1pass", "flash3")
    >>> shapes = make_shapes(1, 32, [1024, 8192], [1024, 8192], 128)
    >>> evaluate_shapes(gpu, cascade, profile, shapes).bound.tolist()
    ['tensor', 'tensor']
    """
    outcome, rates, plan = _outcome(gpu, cascade, profile, shapes)
    pick = list(zip(outcome.results, outcome.used))
    time = _used_sum(pick, lambda r: r.time)
    work = {k: _used_sum(pick, lambda r, k=k: r.work[k]) for k in ("tensor", "exp", "fp32", "smem", "dram")}
    times = {k: _used_sum(pick, lambda r, k=k: r.times[k]) for k in RESOURCE_ORDER}
    flops = _flops(cascade, plan, shapes, outcome, pairs)
    buffer = sum((np.where(u, r.smem_bytes, 0.0) for r, u in pick[:1]), start=0.0)
    for result, used in pick[1:]:
        buffer = np.maximum(buffer, np.where(used, result.smem_bytes, 0.0))
    spills = sum((np.where(u, r.spills, False) for r, u in pick), start=False)
    resident = _resident(outcome, plan, shapes, profile)
    util = ({k: work[k] / rates.peak[k] / time for k in ("tensor", "exp", "fp32", "smem", "dram")}
            if detail else {})
    return Prediction(
        hardware=gpu.name, cascade=cascade.name, profile=profile.name, time_s=time,
        flops=flops, tflops_per_s=flops / time / 1e12, bound=binding(times),
        resource_times_s=times, utilization=util, passes=plan.passes, buffer_bytes=buffer,
        dram_bytes=work["dram"], spilled=np.asarray(spills, dtype=bool),
        kernels=_records(outcome) if detail else (), extra=_extra(outcome) if detail else {},
        fits_in_memory=np.asarray(resident <= gpu.dram_bytes), resident_bytes=resident)


def _resident(outcome: _Outcome, plan: CascadePlan, shapes: Shapes, profile: KernelProfile) -> Any:
    """Peak DRAM footprint per problem (:mod:`simulator.gpu.capacity`)."""
    spilled = list(outcome.results[len(outcome.results) - len(plan.spilled):])
    parts = _partitions(spilled, shapes, plan)
    return capacity.footprint(plan, shapes, profile, outcome.held, parts).total + 0.0


def _used_sum(pick: list[tuple[KernelResult, Any]], value: Any) -> Any:
    """Sum of ``value(result)`` over the kernels each problem ran."""
    if len(pick) == 1 and np.all(pick[0][1]):
        return value(pick[0][0]) + 0.0  # the common case: one kernel, run by every problem
    return sum((np.where(used, value(result), 0.0) for result, used in pick), start=0.0)


# --------------------------------------------------------------------------- public API


def bound_sizes(cascade: Cascade, head_dim: Any, head_dim_v: Any,
                sizes: Mapping[str, Any] | None) -> tuple[dict[str, Any], Any, Any]:
    """Sizes of a cascade's contracted, value and other ranks, and the head dims they imply.

    ``head_dim`` sizes a lone unsized contracted rank (what the others leave of it),
    ``head_dim_v`` (default ``head_dim``) a lone unsized value rank; ``sizes`` (``--size``)
    gives the rest. Returns ``(sizes, Q·K dot length, V width)``.

    Raises
    ------
    SpecError
        When the head dims contradict the sizes or a rank stays unsized.

    Examples
    --------
    >>> import einsum
    >>> bound_sizes(einsum.load("attention-1pass"), 128, None, None)
    ({'E': 128, 'F': 128}, 128, 128)
    """
    binding = bind(cascade)
    extra = binding.head_dims(head_dim, None, sizes)
    if head_dim_v is None and any(r not in extra for r in binding.value):
        head_dim_v = head_dim
    extra = binding.head_dims(None, head_dim_v, extra)
    qk, v = binding.dims(extra)
    qk = head_dim if not binding.qk_ranks or qk is None else qk
    v = (head_dim_v if head_dim_v is not None else qk) if not binding.value or v is None else v
    if qk is None:
        raise SpecError(f"cascade '{cascade.name}': give the head dim (--head-dim) or the sizes of "
                        f"its contracted ranks ({' '.join(f'--size {r}=N' for r in binding.qk_ranks)})")
    return extra, qk, v


def shared_kv_heads(cascade: Cascade, heads: Any, kv_heads: Any) -> Any:
    """KV heads: 1 where the cascade's K/V carry no head rank but its queries do (MLA)."""
    if not bind(cascade).kv_shared:
        return kv_heads
    if kv_heads is not None and np.any(np.asarray(kv_heads) != 1):
        raise SpecError(f"cascade '{cascade.name}' shares one K/V across heads (its key inputs "
                        f"{', '.join(einsum.rank_roles(cascade).key_inputs)} carry no head rank); "
                        f"kv_heads must be 1, got {np.unique(kv_heads).tolist()}")
    return np.ones_like(np.asarray(heads))


def chosen_cascade(cascade: Cascade, causal: bool) -> Cascade:
    """The cascade a ``causal`` flag chooses: its causal variant, or itself.

    Examples
    --------
    >>> import einsum
    >>> chosen_cascade(einsum.load("attention-3pass"), True).name
    'attention-3pass+causal'
    """
    masked, _ = _masked(cascade, causal)
    return masked or cascade


def _masked(cascade: Cascade, causal: Any) -> tuple[Cascade | None, Any]:
    """The causal variant a ``causal`` flag chooses (None when no row asks for it)."""
    causal = np.asarray(causal, dtype=bool)
    if not causal.any() or mask_plan(cascade).kind == "causal":
        return None, causal
    try:
        return einsum.with_mask(cascade, "causal"), causal
    except einsum.EinsumError as err:
        raise SpecError(f"causal: {err}") from None


def predict_batch(hw: str | os.PathLike[str] | GPUSpec, cascade: str | os.PathLike[str] | Cascade,
                  *, batch: Any, heads: Any, seq_q: Any, seq_kv: Any, head_dim: Any = None,
                  kv_heads: Any = None, head_dim_v: Any = None, causal: Any = False,
                  dtype: str = "fp16", kv_dtype: str | None = None,
                  profile: str | os.PathLike[str] | KernelProfile = "auto",
                  detail: bool = True, sizes: Mapping[str, Any] | None = None,
                  tensors: Mapping[str, Any] | None = None, page_size: Any = 0) -> Prediction:
    """Predict many problems at once: sizes are numpy arrays (broadcast together).

    Parameters
    ----------
    hw : str, path or GPUSpec
        GPU name (``"h100"``), YAML path or spec.
    cascade : str, path or Cascade
        Built-in cascade name, ``.cas`` path or parsed cascade.
    batch, heads, seq_q, seq_kv : int or array of int
        ``B``, ``H``, the query and the key lengths.
    head_dim : int or array, optional
        The Q·K head dim (a lone contracted rank of the cascade); optional when ``sizes``
        gives every contracted rank.
    kv_heads, head_dim_v : int or array, optional
        ``Hkv`` (default ``H``; 1 for a cascade whose K/V carry no head rank) and the V
        head dim (default ``head_dim``).
    causal : bool or array of bool
        Choose the cascade's causal variant (:func:`einsum.with_mask`) for these rows; the
        cascade must not carry another mask.
    dtype, kv_dtype : str
        Input dtype (one for all problems) and KV-cache format (default ``dtype``).
    profile : str, path or KernelProfile
        Kernel profile: ``auto`` (default: by the GPU's architecture), a name or a YAML.
    detail : bool, optional
        Also give per-kernel records, utilisations and tiling details (default True);
        without them a large batch is priced faster.
    sizes : mapping, optional
        Sizes of the cascade's other ranks and symbols (an MLA latent ``C``, a window
        ``W``, a shard count ``S``), ints or arrays.
    tensors : mapping, optional
        Values of the tensors the cascade's filters read (a per-head window, a mask).
    page_size : int or array, optional
        Tokens per page of a paged KV cache (0, the default: contiguous).

    Returns
    -------
    Prediction
        Fields are arrays with one entry per problem (``row(i)`` picks one).

    Raises
    ------
    SpecError
        Unknown GPU/profile/dtype, invalid sizes, or a cascade the profile cannot run.

    Examples
    --------
    >>> seq = np.array([1024, 4096, 16384])
    >>> pred = predict_batch("h100", "attention-1pass", batch=16384 // seq, heads=16,
    ...                      seq_q=seq, seq_kv=seq, head_dim=128)
    >>> pred.tflops_per_s.round(-1).tolist()
    [560.0, 620.0, 640.0]
    """
    gpu, c, prof = resolve(hw, cascade, profile)
    masked, rows = _masked(c, causal)
    options = dict(batch=batch, heads=heads, seq_q=seq_q, seq_kv=seq_kv, head_dim=head_dim,
                   kv_heads=kv_heads, head_dim_v=head_dim_v, dtype=dtype, kv_dtype=kv_dtype,
                   sizes=sizes, tensors=tensors, detail=detail, page_size=page_size)
    if masked is None:
        return _predict_rows(gpu, c, prof, **options)
    with_mask = _predict_rows(gpu, masked, prof, **options)
    if rows.all():
        return with_mask
    return _select(rows, with_mask, _predict_rows(gpu, c, prof, **options))


def _predict_rows(gpu: GPUSpec, cascade: Cascade, profile: KernelProfile, *, batch: Any,
                  heads: Any, seq_q: Any, seq_kv: Any, head_dim: Any, kv_heads: Any,
                  head_dim_v: Any, dtype: str, kv_dtype: str | None, sizes: Any, tensors: Any,
                  detail: bool, page_size: Any = 0) -> Prediction:
    extra, qk, v = bound_sizes(cascade, head_dim, head_dim_v, sizes)
    kv_heads = shared_kv_heads(cascade, heads, kv_heads)
    shapes = make_shapes(batch, heads, seq_q, seq_kv, qk, kv_heads=kv_heads, head_dim_v=v,
                         dtype=dtype, kv_dtype=kv_dtype, extra=extra, tensors=tensors,
                         page_size=page_size)
    return _widened(evaluate_shapes(gpu, cascade, profile, shapes, detail=detail), shapes.shape)


def _select(rows: Any, chosen: Prediction, other: Prediction) -> Prediction:
    """Row-wise pick between two widened predictions of the same problems."""
    def pick(a: Any, b: Any) -> Any:
        if isinstance(a, dict):
            return {k: pick(a[k], b[k]) for k in a}
        if isinstance(a, np.ndarray) and np.shape(a) == np.shape(b):
            return np.where(np.broadcast_to(rows, np.shape(a)), a, b)
        return a

    values = {f.name: pick(getattr(chosen, f.name), getattr(other, f.name))
              for f in fields(chosen) if f.name not in ("kernels", "cascade")}
    kernels = tuple(replace(k, **{f.name: pick(getattr(k, f.name), getattr(o, f.name))
                                  for f in fields(k) if f.name != "name"})
                    for k, o in zip(chosen.kernels, other.kernels))
    return Prediction(**values, cascade=other.cascade, kernels=kernels)


def _widened(pred: Prediction, shape: tuple[int, ...]) -> Prediction:
    """The prediction with every per-problem array at the problems' full shape.

    The model computes each quantity at the shape of the sizes it depends on (a tile
    size that depends on the sequence length only is computed once per length); callers
    get one value per problem.
    """
    def widen(value: Any, numbers: tuple[type, ...] = (np.ndarray, np.generic)) -> Any:
        if isinstance(value, dict):
            return {k: widen(v, numbers) for k, v in value.items()}
        if isinstance(value, numbers) and np.shape(value) != shape:
            return np.broadcast_to(value, shape).copy()
        return value

    values = {f.name: widen(getattr(pred, f.name)) for f in fields(pred)
              if f.name not in ("kernels", "extra")}
    values["extra"] = widen(pred.extra, (np.ndarray, np.generic, int, float))
    kernels = tuple(replace(k, **{f.name: widen(getattr(k, f.name)) for f in fields(k)})
                    for k in pred.kernels)
    return Prediction(**values, kernels=kernels)


def predict(hw: str | os.PathLike[str] | GPUSpec, cascade: str | os.PathLike[str] | Cascade,
            problem: AttentionProblem, *, profile: str | os.PathLike[str] | KernelProfile = "auto",
            masks: MaskCounts | None = None, tiles: tuple[int, int] | None = None,
            sizes: Mapping[str, Any] | None = None,
            tensors: Mapping[str, Any] | None = None) -> Prediction:
    """Predict one attention call on one GPU.

    Parameters
    ----------
    hw : str, path or GPUSpec
    cascade : str, path or Cascade
    problem : AttentionProblem
        Shape and dtypes; its causal flag chooses the cascade's causal variant
        (:func:`einsum.with_mask`).
    profile : str, path or KernelProfile
        ``auto`` (default: by the GPU's architecture), ``flash3``, ``flash2``, ``unfused`` or a
        YAML path.
    masks : MaskCounts, optional
        Tile counts of a sparse mask (from :func:`simulator.gpu.sparse.mask_counts`);
        they fix the tiles.
    tiles : (int, int), optional
        Override the profile's ``(q_tile, kv_tile)``.
    sizes, tensors : mapping, optional
        As for :func:`predict_batch`.

    Returns
    -------
    Prediction
        Scalar fields; ``kernels`` lists only the kernels that ran.

    Raises
    ------
    SpecError
        Unknown names, a dtype the GPU lacks, or a cascade the profile cannot run.

    Examples
    --------
    >>> from simulator.workload import AttentionProblem
    >>> p = AttentionProblem(batch=8, heads=16, kv_heads=16, seq_q=2048, seq_kv=2048,
    ...                      head_dim_qk=128)
    >>> pred = predict("h100", "attention-3pass", p, profile="unfused")
    >>> [k.name for k in pred.kernels], pred.spilled, pred.bound
    (['input-copies', 'gemm-QK', 'elementwise-2', 'gemm-AV'], True, 'dram')
    """
    gpu, c, prof = resolve(hw, cascade, profile)
    c = chosen_cascade(c, problem.causal and masks is None)
    if masks is not None and mask_plan(c).kind != "dense":
        raise SpecError(f"cascade '{c.name}' masks keys with its own filter; a GNA mask "
                        f"(--layout/--window/--stride/--dilation) would restate it — drop one")
    extra, qk, v = bound_sizes(c, problem.head_dim_qk, problem.v_dim, sizes)
    # one latent K/V for every head: "as many KV heads as heads" means "not given"
    given = None if bind(c).kv_shared and problem.kv_heads == problem.heads else problem.kv_heads
    kv_heads = shared_kv_heads(c, problem.heads, given)
    shapes = _one_problem(problem, masks, tiles, extra, (qk, v, kv_heads), tensors)
    row = evaluate_shapes(gpu, c, prof, shapes, masks.pairs if masks else None).row(0)
    if not np.isfinite(row.time_s) and int(np.asarray(row.extra["occupancy"])) == 0:
        # a tiled kernel no SM can hold: say why instead of printing "inf s, 0 TFLOP/s"
        raise SpecError(no_fit_reason(gpu.name, int(row.extra["q_tile"]), int(row.extra["kv_tile"]),
                                      float(row.buffer_bytes), gpu.smem_bytes_per_cta))
    kernels = tuple(_scalar_record(k) for k in row.kernels if k.time_s > 0)
    pred = _replace_prediction(row, kernels)
    return replace(pred, fits_in_memory=bool(pred.fits_in_memory),
                   resident_bytes=float(pred.resident_bytes),
                   capacity=capacity.note(pred.resident_bytes, gpu))


def _one_problem(problem: AttentionProblem, masks: MaskCounts | None,
                 tiles: tuple[int, int] | None, extra: Mapping[str, Any],
                 dims: tuple[Any, Any, Any], tensors: Mapping[str, Any] | None) -> Shapes:
    """Shapes of one problem, with a sparse mask's counts or a tile override attached.

    ``dims`` are the Q·K dot length, the V width and the KV heads the cascade implies.
    """
    shapes = make_shapes([problem.batch], problem.heads, problem.seq_q, problem.seq_kv,
                         dims[0], kv_heads=dims[2], head_dim_v=dims[1],
                         dtype=problem.dtype, kv_dtype=problem.kv_dtype, extra=extra,
                         tensors=tensors, page_size=problem.page_size or 0)
    if masks is not None:
        return _with_masks(shapes, masks)
    if tiles is not None:
        return _replace(shapes, tiles=(np.array([tiles[0]]), np.array([tiles[1]])))
    return shapes


def _replace(shapes: Shapes, **changes: Any) -> Shapes:
    """A copy of ``shapes`` with fields changed."""
    values = {name: getattr(shapes, name) for name in Shapes.__dataclass_fields__}
    values.update(changes)
    return Shapes(**values)


def _with_masks(shapes: Shapes, masks: MaskCounts) -> Shapes:
    """Attach a sparse mask's tile counts (they fix the tiles)."""
    tiles = (np.array([masks.q_tile]), np.array([masks.kv_tile]))
    return _replace(shapes, masks=masks.steps, tiles=tiles)


def _scalar_record(record: KernelRecord) -> KernelRecord:
    """Plain Python numbers in a one-problem kernel record."""
    return KernelRecord(record.name, float(record.time_s), str(record.bound), record.passes,
                        int(record.ctas), int(record.waves), record.tile, float(record.ops),
                        float(record.dram_bytes))


def _replace_prediction(pred: Prediction, kernels: tuple[KernelRecord, ...]) -> Prediction:
    """Scalar prediction with plain types and the kernels that ran."""
    extra = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in pred.extra.items()}
    tile = (int(extra["q_tile"]), int(extra["kv_tile"])) if extra["q_tile"] else None
    kernels = tuple(KernelRecord(k.name, k.time_s, k.bound, k.passes, k.ctas, k.waves,
                                 tile if k.ctas else None, k.ops, k.dram_bytes) for k in kernels)
    values = {name: getattr(pred, name) for name in Prediction.__dataclass_fields__}
    values.update(kernels=kernels, extra=extra, spilled=bool(pred.spilled),
                  bound=str(pred.bound), passes=int(pred.passes))
    for key in ("time_s", "flops", "tflops_per_s", "buffer_bytes", "dram_bytes"):
        values[key] = float(values[key])
    values["resource_times_s"] = {k: float(v) for k, v in pred.resource_times_s.items()}
    values["utilization"] = {k: float(v) for k, v in pred.utilization.items()}
    return Prediction(**values)

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
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

import einsum
from einsum import Cascade
from simulator.errors import SpecError
from simulator.gpu.kernels import (
    KernelResult,
    Shapes,
    copy_kernel,
    hold_tile,
    traversal_kernel,
    untiled_kernel,
)
from simulator.gpu.plan import CascadePlan, plan_cascade
from simulator.gpu.profiles import KernelProfile, load_profile
from simulator.gpu.resources import RESOURCE_ORDER, SMRates, binding, sm_rates
from simulator.gpu.tiling import StepCounts, ceil_div, rule_tiles
from simulator.hardware import GPUSpec, load_gpu
from simulator.prediction import KernelRecord, Prediction
from simulator.workload import INPUT_DTYPES, KV_DTYPES, AttentionProblem, causal_fraction

__all__ = ["MaskCounts", "evaluate_shapes", "make_shapes", "predict", "predict_batch",
           "resolve"]


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

    Examples
    --------
    >>> gpu, cascade, profile = resolve("a100", "attention-3pass", "unfused")
    >>> gpu.name, cascade.name, profile.name
    ('a100-sxm4-80gb', 'attention-3pass', 'unfused')
    """
    gpu = hw if isinstance(hw, GPUSpec) else load_gpu(hw)
    c = cascade if isinstance(cascade, Cascade) else einsum.load(cascade)
    return gpu, c, load_profile(profile)


def make_shapes(batch: Any, heads: Any, seq_q: Any, seq_kv: Any, head_dim: Any, *,
                kv_heads: Any = None, head_dim_v: Any = None, causal: Any = False,
                dtype: str = "fp16", kv_dtype: str | None = None) -> Shapes:
    """Validate problem sizes into :class:`~simulator.gpu.kernels.Shapes`.

    Each size keeps its own shape; they must broadcast together (``Shapes.shape``).

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
    arrays.append(np.asarray(causal, dtype=bool))
    # Arrays keep their own shapes (numpy broadcasts them as it computes), so a quantity
    # that depends on one size only is computed once per value of that size.
    np.broadcast_shapes(*(a.shape for a in arrays))
    ints = [a.astype(np.int64, copy=False) for a in arrays[:-1]]
    for name, raw, value in zip(names, arrays[:-1], ints):
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
    return Shapes(*ints, arrays[-1], INPUT_DTYPES[dtype], k_bytes, v_bytes, dtype, kv_dtype)


# --------------------------------------------------------------------------- evaluation


def _partitions(results: list[KernelResult], shapes: Shapes) -> tuple[Any, Any]:
    """(M0, M1) for untiled kernels: the split chunk and count, or the key tile and count."""
    for result in results:
        if np.any(np.asarray(result.kv_tile) > 0):
            splits = np.maximum(result.splits, 1)
            tiles = ceil_div(shapes.seq_kv, result.kv_tile)
            return ceil_div(tiles, splits) * result.kv_tile, np.where(splits > 1, splits, tiles)
    return shapes.seq_kv, np.ones_like(shapes.seq_kv)


def _run(kernels: tuple, plan: CascadePlan, shapes: Shapes, gpu: GPUSpec,
         profile: KernelProfile, rates: SMRates) -> list[KernelResult]:
    """Price a sequence of kernels (traversal kernels first, so merges see the splits)."""
    results: dict[int, KernelResult] = {}
    for index, kernel in enumerate(kernels):
        if kernel.kind == "traversal":
            results[index] = traversal_kernel(kernel, shapes, gpu, profile, rates,
                                              split=plan.split)
    for index, kernel in enumerate(kernels):
        if kernel.kind != "traversal":
            parts = _partitions(list(results.values()), shapes)
            results[index] = untiled_kernel(kernel, shapes, profile, rates, parts)
    return [results[i] for i in range(len(kernels))]


def _held(plan: CascadePlan, shapes: Shapes, gpu: GPUSpec, profile: KernelProfile,
          rates: SMRates) -> tuple[Any, KernelResult | None]:
    """Hold decision and the single-kernel result for multi-pass cascades."""
    if plan.fused is None:
        return np.zeros(shapes.shape, dtype=bool), None
    head_dim = np.maximum(shapes.head_dim_qk, shapes.head_dim_v)
    kv_tile = rule_tiles(head_dim, profile.tile_rules(gpu.architecture))[1]
    if shapes.tiles is not None:
        kv_tile = shapes.tiles[1]
    sizes = {"M": shapes.seq_kv, "M0": kv_tile, "M1": ceil_div(shapes.seq_kv, kv_tile),
             "E": shapes.head_dim_qk, "F": shapes.head_dim_v}
    per_row = plan.held_elements.evaluate(sizes) * profile.number("memory.intermediate_bytes")
    held, q_tile = hold_tile(shapes, gpu, profile, per_row)
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
    kernels = plan.spilled if plan.fused is None else (plan.fused, *plan.spilled)
    groups = tuple(k.groups for k in kernels)
    copies = copy_kernel(plan.spilled, shapes, profile, rates)
    if copies is not None:
        results, used, groups = (copies, *results), (np.ones_like(held), *used), ((), *groups)
    return _Outcome(results, used, held, groups), rates, plan


def _flops(shapes: Shapes, pairs: float | None) -> Any:
    """FLOPs by the FlashAttention convention (causal fraction, or the mask's pairs)."""
    dims = shapes.head_dim_qk + shapes.head_dim_v
    if pairs is not None:
        return 2.0 * shapes.instances * dims * pairs
    fraction = np.where(shapes.causal, causal_fraction(shapes.seq_q, shapes.seq_kv), 1.0)
    return 2.0 * shapes.instances * shapes.seq_q * shapes.seq_kv * dims * fraction


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
    >>> shapes = make_shapes(1, 32, [1024, 8192], [1024, 8192], 128, causal=True)
    >>> evaluate_shapes(gpu, cascade, profile, shapes).bound.tolist()
    ['tensor', 'tensor']
    """
    outcome, rates, plan = _outcome(gpu, cascade, profile, shapes)
    pick = list(zip(outcome.results, outcome.used))
    time = _used_sum(pick, lambda r: r.time)
    work = {k: _used_sum(pick, lambda r, k=k: r.work[k]) for k in ("tensor", "exp", "fp32", "smem", "dram")}
    times = {k: _used_sum(pick, lambda r, k=k: r.times[k]) for k in RESOURCE_ORDER}
    flops = _flops(shapes, pairs)
    buffer = sum((np.where(u, r.smem_bytes, 0.0) for r, u in pick[:1]), start=0.0)
    for result, used in pick[1:]:
        buffer = np.maximum(buffer, np.where(used, result.smem_bytes, 0.0))
    spills = sum((np.where(u, r.spills, False) for r, u in pick), start=False)
    util = ({k: work[k] / rates.peak[k] / time for k in ("tensor", "exp", "fp32", "smem", "dram")}
            if detail else {})
    return Prediction(
        hardware=gpu.name, cascade=cascade.name, profile=profile.name, time_s=time,
        flops=flops, tflops_per_s=flops / time / 1e12, bound=binding(times),
        resource_times_s=times, utilization=util, passes=plan.passes, buffer_bytes=buffer,
        dram_bytes=work["dram"], spilled=np.asarray(spills, dtype=bool),
        kernels=_records(outcome) if detail else (), extra=_extra(outcome) if detail else {})


def _used_sum(pick: list[tuple[KernelResult, Any]], value: Any) -> Any:
    """Sum of ``value(result)`` over the kernels each problem ran."""
    if len(pick) == 1 and np.all(pick[0][1]):
        return value(pick[0][0]) + 0.0  # the common case: one kernel, run by every problem
    return sum((np.where(used, value(result), 0.0) for result, used in pick), start=0.0)


# --------------------------------------------------------------------------- public API


def predict_batch(hw: str | os.PathLike[str] | GPUSpec, cascade: str | os.PathLike[str] | Cascade,
                  *, batch: Any, heads: Any, seq_q: Any, seq_kv: Any, head_dim: Any,
                  kv_heads: Any = None, head_dim_v: Any = None, causal: Any = False,
                  dtype: str = "fp16", kv_dtype: str | None = None,
                  profile: str | os.PathLike[str] | KernelProfile = "flash3",
                  detail: bool = True) -> Prediction:
    """Predict many problems at once: sizes are numpy arrays (broadcast together).

    Parameters
    ----------
    hw : str, path or GPUSpec
        GPU name (``"h100"``), YAML path or spec.
    cascade : str, path or Cascade
        Built-in cascade name, ``.cas`` path or parsed cascade.
    batch, heads, seq_q, seq_kv, head_dim : int or array of int
        ``B``, ``H``, ``P`` (queries), ``M`` (keys) and ``E``.
    kv_heads, head_dim_v : int or array, optional
        ``Hkv`` (default ``H``) and ``F`` (default ``E``).
    causal : bool or array of bool
        Bottom-right-aligned causal mask.
    dtype, kv_dtype : str
        Input dtype (one for all problems) and KV-cache format (default ``dtype``).
    profile : str, path or KernelProfile
        Kernel profile (``flash3`` by default).
    detail : bool, optional
        Also give per-kernel records, utilisations and tiling details (default True);
        without them a large batch is priced faster.

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
    [560.0, 620.0, 630.0]
    """
    gpu, c, prof = resolve(hw, cascade, profile)
    shapes = make_shapes(batch, heads, seq_q, seq_kv, head_dim, kv_heads=kv_heads,
                         head_dim_v=head_dim_v, causal=causal, dtype=dtype, kv_dtype=kv_dtype)
    return _widened(evaluate_shapes(gpu, c, prof, shapes, detail=detail), shapes.shape)


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
            problem: AttentionProblem, *, profile: str | os.PathLike[str] | KernelProfile = "flash3",
            masks: MaskCounts | None = None, tiles: tuple[int, int] | None = None) -> Prediction:
    """Predict one attention call on one GPU.

    Parameters
    ----------
    hw : str, path or GPUSpec
    cascade : str, path or Cascade
    problem : AttentionProblem
        Shape, dtypes and the causal flag.
    profile : str, path or KernelProfile
        ``flash3`` (default), ``flash2``, ``unfused`` or a YAML path.
    masks : MaskCounts, optional
        Tile counts of a sparse mask (from :func:`simulator.gpu.sparse.mask_counts`);
        they fix the tiles.
    tiles : (int, int), optional
        Override the profile's ``(q_tile, kv_tile)``.

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
    shapes = _one_problem(problem, masks, tiles)
    row = evaluate_shapes(gpu, c, prof, shapes, masks.pairs if masks else None).row(0)
    kernels = tuple(_scalar_record(k) for k in row.kernels if k.time_s > 0)
    return _replace_prediction(row, kernels)


def _one_problem(problem: AttentionProblem, masks: MaskCounts | None,
                 tiles: tuple[int, int] | None) -> Shapes:
    """Shapes of one problem, with a sparse mask's counts or a tile override attached."""
    shapes = make_shapes([problem.batch], problem.heads, problem.seq_q, problem.seq_kv,
                         problem.head_dim_qk, kv_heads=problem.kv_heads,
                         head_dim_v=problem.v_dim, causal=problem.causal, dtype=problem.dtype,
                         kv_dtype=problem.kv_dtype)
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

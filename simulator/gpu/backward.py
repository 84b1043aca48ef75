"""The attention backward pass on GPUs: three kernels priced from the backward cascade.

FlashAttention-2 and -3 run the backward as three kernels (reference/kernels.md §2-3):

1. **preprocess** — ``D = rowsum(dO ∘ O)``; it also zeroes the FP32 ``dQ_accum`` buffer
   (and FA3 rescales the saved log-sum-exp). DRAM-bound: reads O and dO, writes D.
2. **main** (``dq_dk_dv``) — one CTA per *key block* (``parallel_analysis`` says why:
   splitting the keys keeps dK and dV on chip and accumulates only dQ), looping over the
   query tiles the forward cascade's mask visits. Per (query tile, key tile) step the work
   is the backward cascade's own op counts (``attention-backward-fa2`` evaluated at the
   tile sizes: five GEMMs, one exp per score, the element-wise softmax backward), priced
   on the forward profile's pipe rates with the backward profile's overlap; shared-memory
   traffic counts each GEMM's operands read once plus ``A`` and ``dS`` written once (both
   feed a transposed GEMM), and the FP32 ``dQ`` partial of every step is reduced into
   ``dQ_accum`` in L2 (atomics in FA2, TMA reduce-add via shared memory in FA3).
3. **dQ convert** — reads ``dQ_accum`` (FP32) and writes dQ in the input dtype.

Only the cascade defines the work and the mask: the forward cascade's filter gives the
visited tiles (:func:`simulator.gpu.masks.mask_steps`), the backward cascade the per-step
work. FLOPs follow the FlashAttention convention, backward = 2.5 × forward — which is
the backward cascade's own MAC count when ``E = F`` (``tests/einsum/test_gradients.py``).
GQA is priced as MHA with per-query-head dK/dV (the sum over a group is not priced).

Examples
--------
>>> from simulator.workload import AttentionProblem
>>> p = AttentionProblem(batch=1, heads=128, kv_heads=128, seq_q=4096, seq_kv=4096,
...                      head_dim_qk=192, head_dim_v=128, dtype="bf16", causal=True)
>>> bwd = predict_backward("h800", "attention-1pass", p)
>>> [k.name for k in bwd.kernels], bwd.bound
(['bwd-preprocess', 'bwd-dq-dk-dv', 'bwd-dq-convert'], 'smem')
>>> 2e-3 < bwd.time_s < 6e-3
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import einsum
from einsum import Cascade, Poly
from simulator.errors import SpecError
from simulator.gpu.backward_profiles import BackwardProfile, load_backward_profile
from simulator.gpu.kernels import masked_step_time
from simulator.gpu.masks import mask_plan, mask_steps
from simulator.gpu.model import bound_sizes, chosen_cascade, make_shapes, predict, resolve
from simulator.gpu.plan import plan_cascade
from simulator.gpu.profiles import KernelProfile
from simulator.gpu.resources import SMRates, binding, overlap_time, sm_rates
from simulator.gpu.tiling import ceil_div, l2_miss_fraction
from simulator.hardware import GPUSpec
from simulator.prediction import KernelRecord, Prediction
from simulator.workload import INPUT_DTYPES, AttentionProblem

__all__ = ["BACKWARD_CASCADE", "PASSES", "predict_backward", "predict_pass"]

#: The cascade whose op counts are the backward's work.
BACKWARD_CASCADE = "attention-backward-fa2"
#: ``--pass`` values.
PASSES = ("fwd", "bwd", "fwdbwd")
_PIPES = ("tensor", "exp", "fp32", "smem")
_FP32 = ("add", "mul", "max", "div")   # element-wise op kinds on the FP32 pipes


@dataclass(frozen=True)
class _Setup:
    """Everything the three kernels share."""

    gpu: GPUSpec
    forward: Cascade
    fwd_profile: KernelProfile
    profile: BackwardProfile
    problem: AttentionProblem
    rates: SMRates
    in_bytes: float
    instances: int
    dims: tuple[int, int]


def _setup(hw: Any, cascade: Any, problem: AttentionProblem, profile: Any) -> _Setup:
    gpu, forward, fwd_profile = resolve(hw, cascade, profile)
    bwd_profile = load_backward_profile(fwd_profile.name)
    if bwd_profile.architectures and gpu.architecture.lower() not in bwd_profile.architectures:
        raise SpecError(f"backward profile {bwd_profile.name} does not run on {gpu.name} "
                        f"({gpu.architecture}); it needs {', '.join(bwd_profile.architectures)}")
    forward = chosen_cascade(forward, problem.causal)
    rates = sm_rates(gpu, fwd_profile, problem.dtype)
    dims = (problem.head_dim_qk, problem.v_dim)
    return _Setup(gpu, forward, fwd_profile, bwd_profile, problem, rates,
                  INPUT_DTYPES[problem.dtype], problem.batch * problem.heads, dims)


def _launch(setup: _Setup) -> float:
    return setup.fwd_profile.number("overheads.launch_s")


def _dram_kernel(name: str, setup: _Setup, dram_bytes: float, fp32_ops: float) -> KernelRecord:
    """A streaming kernel: DRAM time, its element-wise work over all SMs, and a launch."""
    fp32 = fp32_ops / (setup.rates.per_sm["fp32"] * setup.rates.sm_count)
    times = {"fp32": fp32, "dram": dram_bytes / setup.rates.dram}
    return KernelRecord(name, max(times.values()) + _launch(setup), binding(times),
                        ops=fp32_ops, dram_bytes=dram_bytes)


def _preprocess(setup: _Setup, work: Mapping[str, Poly]) -> KernelRecord:
    """``D = rowsum(dO ∘ O)``, zeroing ``dQ_accum`` (and FA3's LSE copy)."""
    p, (e, f) = setup.problem, setup.dims
    rows = setup.instances * p.seq_q
    accum = setup.profile.number("dq_accum.bytes_per_element")
    dram = rows * (2 * f * setup.in_bytes + 4 + setup.profile.number("preprocess.lse_bytes_per_row")
                   + setup.profile.number("preprocess.zero_dq_accum") * e * accum)
    ops = sum(float(poly.evaluate({"P": p.seq_q, "F": f, "E": e})) for poly in work.values())
    return _dram_kernel("bwd-preprocess", setup, dram, ops * setup.instances)


def _dq_convert(setup: _Setup) -> KernelRecord:
    """``dQ = cast(dQ_accum)``: read FP32, write the input dtype."""
    rows = setup.instances * setup.problem.seq_q
    accum = setup.profile.number("dq_accum.bytes_per_element")
    dram = rows * setup.dims[0] * (accum + setup.in_bytes)
    return _dram_kernel("bwd-dq-convert", setup, dram, rows * setup.dims[0])


def _split_work(backward: Cascade) -> tuple[dict[str, Any], dict[str, Any]]:
    """Op-count polynomials of the per-query preprocess Einsums and of the main kernel.

    The preprocess Einsums are those that traverse no key (``D[p]``): they run once per
    query row, before the main kernel, as FA does.
    """
    roles = einsum.rank_roles(backward)
    key = (backward.meta("rank") or roles.key or "m").upper()
    family = backward.family(key)
    counts = einsum.op_counts(backward)
    pre, main = {}, {}
    for item in counts.per_einsum:
        ranks = {backward.rank_of(v) for v in backward.einsum(item.label).iteration_vars}
        target = main if ranks & set(family) else pre
        for kind, poly in item.ops:
            target[kind] = target[kind] + poly if kind in target else poly
    return pre, main


def _step_work(setup: _Setup, main: Mapping[str, Any], q_tile: int, kv_tile: int
               ) -> dict[str, float]:
    """Work of one (query tile, key tile) step: FLOP, exp, FP32 lane-ops, SMEM bytes."""
    e, f = setup.dims
    values = {"P": q_tile, "M": kv_tile, "E": e, "F": f}
    ops = {kind: float(poly.evaluate(values)) for kind, poly in main.items()}
    # SMEM: the five GEMMs' operands read once (S: Q,K; dP: dO,V; dV: A,dO; dK: dS,Q;
    # dQ: dS,K), A and dS written once for their transposed GEMMs, Q and dO written
    # by the loads; FA3 also stages the FP32 dQ tile for the TMA reduce.
    elements = (2 * q_tile * e + 2 * q_tile * f + 3 * q_tile * kv_tile + 2 * kv_tile * e
                + kv_tile * f) + 2 * q_tile * kv_tile + q_tile * (e + f)
    staged = setup.profile.number("kernel.dq_through_smem") * 2 * q_tile * e \
        * setup.profile.number("dq_accum.bytes_per_element")
    return {"tensor": 2 * ops.get("mac", 0.0), "exp": ops.get("exp", 0.0),
            "fp32": sum(ops.get(k, 0.0) for k in _FP32),
            "smem": elements * setup.in_bytes + staged}


def _main_dram(setup: _Setup, kv_tiles: Any, concurrent_heads: Any) -> float:
    """DRAM bytes of the main kernel: inputs once, Q/dO/dQ_accum re-reads on L2 misses."""
    p, (e, f) = setup.problem, setup.dims
    accum = setup.profile.number("dq_accum.bytes_per_element")
    per_query = (e + f) * setup.in_bytes + 8          # Q, dO, and the FP32 LSE and D
    per_key = (e + f) * setup.in_bytes * 2            # K, V read; dK, dV written
    once = setup.instances * (p.seq_q * (per_query + 2 * e * accum) + p.seq_kv * per_key)
    working = concurrent_heads * p.seq_q * (per_query + e * accum)
    miss = l2_miss_fraction(working, setup.gpu.l2_bytes,
                            setup.fwd_profile.number("memory.l2_usable_fraction"))
    reread = setup.instances * p.seq_q * (per_query + 2 * e * accum) * (kv_tiles - 1) * miss
    return float(once + reread)


def _unbuffered_load(setup: _Setup, q_tile: int) -> float:
    """Per-step time of loading the next Q and dO tiles when their buffers have one stage.

    With two stages the producer fetches step ``i+1``'s tiles during step ``i``; with one
    (FA3 at d192/d256) the fetch waits for the step to release the buffer, so the tiles'
    transfer from L2 (``dq_accum.l2_bytes_per_clk_per_sm``, the profile's per-SM L2 rate)
    adds to every step.
    """
    prof, (e, f) = setup.profile, setup.dims
    if prof.stages_for(max(setup.dims), setup.gpu.architecture) > 1:
        return 0.0
    tile_bytes = q_tile * (e + f) * setup.in_bytes
    return tile_bytes / (prof.number("dq_accum.l2_bytes_per_clk_per_sm") * setup.rates.clock_hz)


def _main_kernel(setup: _Setup, main: Mapping[str, Any], sizes: Mapping[str, Any] | None,
                 tensors: Mapping[str, Any] | None) -> tuple[KernelRecord, dict[str, float]]:
    """The dq_dk_dv kernel: key-block CTAs over the visited query tiles."""
    p, prof, rates = setup.problem, setup.profile, setup.rates
    q_tile, kv_tile = prof.tile_for(max(setup.dims), setup.gpu.architecture,
                                    mask_plan(setup.forward).kind != "dense")
    steps = _visited(setup, sizes, tensors, q_tile, kv_tile)
    step = _step_work(setup, main, q_tile, kv_tile)
    pipes = {r: step[r] / rates.per_sm[r] for r in _PIPES}
    t_step = overlap_time(pipes, prof.serial, prof.number("overlap.streams")) + \
        _unbuffered_load(setup, q_tile)
    kv_tiles = int(ceil_div(p.seq_kv, kv_tile))
    q_tiles = int(ceil_div(p.seq_q, q_tile))
    ctas = setup.instances * kv_tiles
    slots = max(prof.number("kernel.ctas_per_sm"), 1) * rates.sm_count
    masked = masked_step_time(setup.fwd_profile, t_step, pipes["exp"])
    overhead = setup.fwd_profile.number("overheads.cta_cycles") / rates.clock_hz
    per_instance = steps["steps"] * t_step + steps["partial"] * masked + kv_tiles * overhead
    # CTAs of unequal work (causal) are dealt to free SMs: total over slots, or the longest
    sm_time = max(setup.instances * per_instance / slots, q_tiles * t_step + overhead)
    accum = prof.number("dq_accum.bytes_per_element")
    l2_bytes = setup.instances * steps["steps"] * q_tile * setup.dims[0] * accum
    l2 = l2_bytes / (prof.number("dq_accum.l2_bytes_per_clk_per_sm") * rates.sm_count
                     * rates.clock_hz)
    concurrent = ceil_div(min(ctas, slots), kv_tiles)
    dram = _main_dram(setup, kv_tiles, concurrent)
    times = {r: setup.instances * steps["steps"] * step[r] / (rates.per_sm[r] * rates.sm_count)
             for r in _PIPES}
    times.update({"dram": dram / rates.dram, "l2": l2})
    total = float(max(sm_time, times["dram"], l2) + _launch(setup))
    # the SM side binds when its overlapped time is the longest; then its largest pipe
    bound = binding({r: times[r] for r in _PIPES}) if sm_time >= max(times["dram"], l2) \
        else binding({"dram": times["dram"], "l2": l2})
    ops = setup.instances * steps["steps"] * (step["tensor"] + step["exp"] + step["fp32"])
    record = KernelRecord("bwd-dq-dk-dv", total, bound, ctas=ctas,
                          waves=int(ceil_div(ctas, slots)), tile=(q_tile, kv_tile), ops=ops,
                          dram_bytes=dram)
    return record, {**times, "steps": steps["steps"], "dq_accum_l2_bytes": l2_bytes,
                    "t_step_s": float(t_step),
                    "main_tensor_flop": setup.instances * steps["steps"] * step["tensor"]}


def _visited(setup: _Setup, sizes: Mapping[str, Any] | None, tensors: Mapping[str, Any] | None,
             q_tile: int, kv_tile: int) -> dict[str, float]:
    """(query tile, key tile) steps the forward cascade's mask visits, per instance."""
    p = setup.problem
    kernel = plan_cascade(setup.forward, "fused").spilled[0]
    extra, qk, v = bound_sizes(setup.forward, p.head_dim_qk, p.v_dim, sizes)
    shapes = make_shapes(1, 1, p.seq_q, p.seq_kv, qk, head_dim_v=v, dtype=p.dtype,
                         extra=extra, tensors=tensors)
    counts = mask_steps(kernel, shapes, p.seq_q, q_tile, kv_tile, False)
    return {"steps": float(counts.steps), "partial": float(counts.partial)}


def predict_backward(hw: str | os.PathLike[str] | GPUSpec, cascade: str | os.PathLike[str] | Cascade,
                     problem: AttentionProblem, *, profile: str | os.PathLike[str] | KernelProfile = "auto",
                     sizes: Mapping[str, Any] | None = None,
                     tensors: Mapping[str, Any] | None = None,
                     forward_flops: float | None = None) -> Prediction:
    """Predict the backward pass of one attention call (three kernels).

    Parameters
    ----------
    hw, cascade, problem, profile, sizes, tensors
        As for :func:`simulator.gpu.predict`; ``cascade`` is the *forward* cascade (its
        filter is the mask), ``profile`` the forward profile, whose backward profile
        (``simulator/profiles/backward/<name>.yaml``) prices the kernels.
    forward_flops : float, optional
        The forward's FLOPs (else predicted); the backward reports 2.5 × them.

    Returns
    -------
    Prediction
        ``kernels``: preprocess, main, dQ convert; ``extra``: tiles, steps, dQ-accumulation
        bytes through L2, the main kernel's tensor FLOP; ``buffer_bytes`` is NaN (the
        backward model does not size CTA buffers).

    Raises
    ------
    SpecError
        A profile without a backward (``unfused``, ``natten``) or an unknown name.
    """
    setup = _setup(hw, cascade, problem, profile)
    backward = einsum.load(BACKWARD_CASCADE)
    pre, main = _split_work(backward)
    if forward_flops is None:
        forward_flops = predict(setup.gpu, setup.forward, problem, profile=setup.fwd_profile,
                                sizes=sizes, tensors=tensors).flops
    record, detail = _main_kernel(setup, main, sizes, tensors)
    kernels = (_preprocess(setup, pre), record, _dq_convert(setup))
    return _combine(setup, kernels, detail, 2.5 * float(forward_flops))


def _combine(setup: _Setup, kernels: tuple[KernelRecord, ...], detail: dict[str, float],
             flops: float) -> Prediction:
    time = float(sum(k.time_s for k in kernels))
    dram = float(sum(k.dram_bytes for k in kernels))
    times = {r: float(detail[r]) for r in (*_PIPES, "l2")}
    times["dram"] = dram / setup.rates.dram
    times["launch"] = len(kernels) * _launch(setup)
    extra = {"tile": kernels[1].tile, "steps": detail["steps"],
             "dq_accum_l2_bytes": detail["dq_accum_l2_bytes"], "backward_cascade": BACKWARD_CASCADE,
             "main_tensor_flop": detail["main_tensor_flop"],
             "backward_profile": setup.profile.name, "pass": "bwd"}
    return Prediction(setup.gpu.name, f"{setup.forward.name} (backward)", setup.profile.name, time,
                      flops, flops / time / 1e12, kernels[1].bound, times,
                      {r: t / time for r, t in times.items()}, 1, float("nan"), dram, kernels=kernels,
                      extra=extra)


def predict_pass(hw: str | os.PathLike[str] | GPUSpec, cascade: str | os.PathLike[str] | Cascade,
                 problem: AttentionProblem, which: str = "fwd", **options: Any) -> Prediction:
    """The forward (``fwd``), backward (``bwd``) or both (``fwdbwd``) of one call.

    ``fwdbwd`` adds the times, FLOPs (3.5 × forward), DRAM bytes and kernels.

    Examples
    --------
    >>> from simulator.workload import AttentionProblem
    >>> p = AttentionProblem(batch=4, heads=16, kv_heads=16, seq_q=2048, seq_kv=2048,
    ...                      head_dim_qk=128)
    >>> fwd = predict_pass("h100", "attention-1pass", p, "fwd")
    >>> both = predict_pass("h100", "attention-1pass", p, "fwdbwd")
    >>> round(both.flops / fwd.flops, 2), both.time_s > 3 * fwd.time_s
    (3.5, True)
    """
    if which not in PASSES:
        raise SpecError(f"--pass: expected one of {', '.join(PASSES)}; got {which!r}")
    fwd = predict(hw, cascade, problem, **options)
    if which == "fwd":
        return fwd
    bwd = predict_backward(hw, cascade, problem, forward_flops=fwd.flops, **options)
    if which == "bwd":
        return bwd
    time = fwd.time_s + bwd.time_s
    times = {r: fwd.resource_times_s.get(r, 0.0) + bwd.resource_times_s.get(r, 0.0)
             for r in dict.fromkeys([*fwd.resource_times_s, *bwd.resource_times_s])}
    flops = fwd.flops + bwd.flops
    return replace(fwd, cascade=f"{fwd.cascade} (forward + backward)", time_s=time, flops=flops,
                   tflops_per_s=flops / time / 1e12, resource_times_s=times,
                   utilization={r: t / time for r, t in times.items()}, bound=binding(times),
                   dram_bytes=fwd.dram_bytes + bwd.dram_bytes, kernels=fwd.kernels + bwd.kernels,
                   extra={**fwd.extra, "backward": bwd.extra, "forward_time_s": fwd.time_s,
                          "backward_time_s": bwd.time_s, "pass": "fwdbwd"})

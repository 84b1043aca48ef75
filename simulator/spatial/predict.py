"""``predict_accel``: one attention problem on a spatial accelerator → a :class:`Prediction`.

This is the entry point ``einsim predict --accel NAME`` calls. It returns the same record
as the GPU model: ``time_s``, ``flops`` (2 per multiply-accumulate of the cascade's
contractions, filters applied), ``bound``, per-resource times, ``utilization``
(keys ``array_2d``, ``array_1d`` and ``dram``), ``passes``, ``buffer_bytes``,
``dram_bytes``, ``spilled``, plus ``energy_j`` and ``area_m2``; the phases become
``kernels`` and model details go to ``extra``.

Examples
--------
>>> from simulator.workload import problem_from_model
>>> p = predict_accel("fusemax", None, problem_from_model("bert-base", 64, 4096))
>>> p.bound, p.passes, round(p.utilization["array_2d"], 3), p.extra["cycles_per_tile"]
('array_1d', 1, 0.965, 142.0)
>>> predict_accel("flat", "attention-3pass", problem_from_model("bert-base", 64, 4096),
...               array="128x128").extra["array_shape"]
[128, 128]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

import einsum
from einsum.model import Cascade
from simulator.errors import SpecError
from simulator.gpu.model import chosen_cascade
from simulator.prediction import KernelRecord, Prediction
from simulator.spatial.arch import Architecture
from simulator.spatial.designs import (
    Design,
    Workload,
    design_attention,
    design_end_to_end,
    load_accelerator,
)
from simulator.spatial.model import AccelResult

__all__ = ["OPTIONS", "predict_accel"]

#: Options ``predict_accel`` accepts (design overrides and evaluation choices).
OPTIONS = ("array", "rows", "cols", "pes_1d", "buffer_bytes", "dram_bytes_per_s", "clock_hz",
           "gemm_pipeline", "densities", "sizes", "tensors", "scope", "model")


def predict_accel(accel_name: str, cascade: Cascade | str | None, problem: Any,
                  **opts: Any) -> Prediction:
    """Predict one attention problem on a spatial-array design.

    Parameters
    ----------
    accel_name : str
        A design (``fusemax``, ``flat``, ``unfused``, ``cascade``, ``architecture``), an
        architecture (``fusemax-cloud``: the cascade is bound automatically) or a YAML path.
    cascade : Cascade, str or None
        The cascade to run; None uses the design's own. Another cascade is bound by rule
        with the design's schedule (:func:`~simulator.spatial.binding.auto_binding`). A
        causal problem runs the cascade's causal variant
        (:func:`simulator.gpu.model.chosen_cascade`); a masked cascade needs no flag.
    problem : AttentionProblem
        Queries, keys, head dims, batch and heads, bound to the cascade's ranks by role.
    **opts
        ``array`` (``"128x128"``, an int for a square array, or a (rows, cols) pair),
        ``rows``, ``cols``, ``pes_1d`` (default: the 2-D columns when the array is
        resized), ``buffer_bytes``, ``dram_bytes_per_s``, ``clock_hz``, ``gemm_pipeline``
        (``fusemax`` or ``scale-sim``: the linear layers' fill/drain, end to end only,
        :func:`~simulator.spatial.gemm.gemm_cycles`); ``sizes`` (the
        sizes of the cascade's own ranks that the problem does not fix, by the cascade's
        names: an MLA latent ``C``, a block count; ``--size NAME=VALUE``); ``tensors``
        (values of tensors the cascade's filters read); ``densities`` (filter-density
        symbol → value, overriding the exact densities of the cascade's filters);
        ``scope`` (``"attention"`` or ``"end_to_end"``, which adds the linear layers of
        ``model``, a catalogue name or ModelShape).

    Returns
    -------
    Prediction

    Raises
    ------
    SpecError
        Unknown accelerator, option or cascade; a binding that does not fit; a rank
        that nothing sizes (naming the ``--size`` to give); a causal flag on a cascade
        with another mask.
    SimulatorError
        If the buffer cannot hold one resident block.
    """
    unknown = sorted(set(opts) - set(OPTIONS))
    if unknown:
        raise SpecError(f"predict_accel: unknown option '{unknown[0]}'; expected one of "
                        f"{', '.join(OPTIONS)}")
    design = load_accelerator(accel_name)
    arch = _architecture(design, opts)
    chosen = chosen_cascade(_cascade(design, cascade), problem.causal)
    workload = Workload(problem.batch, problem.heads, problem.head_dim_qk, problem.v_dim,
                        problem.seq_q, problem.seq_kv, kv_heads=problem.kv_heads)
    scope = opts.get("scope", "attention")
    if scope == "attention":
        result = design_attention(design, workload, arch, chosen, opts.get("densities"),
                                  opts.get("sizes"), opts.get("tensors"))
        return _prediction(design, arch, chosen, problem, result)
    if scope == "end_to_end":
        return _end_to_end(design, arch, chosen, problem, workload, opts)
    raise SpecError(f"predict_accel: option 'scope': expected attention or end_to_end; got "
                    f"{scope!r}")


def _cascade(design: Design, cascade: Cascade | str | None) -> Cascade:
    """The cascade to run: given, loaded by name, or the design's."""
    if cascade is None:
        return design.load_cascade()
    return einsum.load(cascade) if isinstance(cascade, str) else cascade


def _architecture(design: Design, opts: Mapping[str, Any]) -> Architecture:
    """The design's architecture with the array/buffer/bandwidth/clock/GEMM overrides applied."""
    arch = design.load_architecture()
    rows, cols = opts.get("rows"), opts.get("cols")
    if opts.get("array") is not None:
        rows, cols = _array_shape(opts["array"])
    pes_1d = opts.get("pes_1d")
    if pes_1d is None and cols is not None:
        pes_1d = cols  # one 1-D PE per query column, as on FuseMax (P0 = 1-D PEs)
    return arch.with_overrides(rows=rows, cols=cols, pes_1d=pes_1d,
                               buffer_bytes=opts.get("buffer_bytes"),
                               dram_bytes_per_s=opts.get("dram_bytes_per_s"),
                               clock_hz=opts.get("clock_hz"),
                               gemm_pipeline=opts.get("gemm_pipeline"))


def _array_shape(value: Any) -> tuple[int, int]:
    """Parse ``"128x64"``, ``128`` or ``(128, 64)`` into (rows, cols)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, str):
        parts = value.lower().split("x")
        if len(parts) in (1, 2) and all(p.strip().isascii() and p.strip().isdigit() and int(p) > 0
                                        for p in parts):
            numbers = [int(p) for p in parts]
            return numbers[0], numbers[-1]
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise SpecError(f"predict_accel: option 'array': expected ROWSxCOLS (e.g. 128x128), an "
                    f"integer or a (rows, cols) pair; got {value!r}")


def _scalar(value: Any) -> Any:
    """0-d numpy values → Python scalars."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _prediction(design: Design, arch: Architecture, cascade: Cascade, problem: Any,
                result: AccelResult) -> Prediction:
    """Pack an attention result into the shared prediction record."""
    latency = _scalar(result.latency_s)
    resources = {name: _scalar(v) for name, v in result.busy_s.items()}
    resources["dram"] = _scalar(result.memory_s)
    utilization = {name: _scalar(v) for name, v in result.utilization.items()}
    utilization["dram"] = _scalar(result.memory_s / result.latency_s)
    kernels = tuple(_kernel(design, cascade, arch, p) for p in result.phases)
    flops = 2.0 * _scalar(result.macs)
    return Prediction(
        hardware=arch.name, cascade=cascade.name, profile=design.name, time_s=latency,
        flops=flops, tflops_per_s=flops / latency / 1e12,
        bound=_scalar(result.bound), resource_times_s=resources, utilization=utilization,
        passes=result.passes, buffer_bytes=_scalar(result.buffer_bytes),
        dram_bytes=_scalar(result.dram_bytes), spilled=bool(np.any(result.spill_fraction > 0)),
        energy_j=_scalar(result.energy_j), area_m2=_scalar(arch.area_m2()), kernels=kernels,
        extra=_extra(design, arch, result))


def _kernel(design: Design, cascade: Cascade, arch: Architecture, phase: Any) -> KernelRecord:
    """One phase as a kernel record (its Einsums in pass order, ops and DRAM bytes if known)."""
    labels = _phase_labels(design, cascade, arch, phase.name)
    groups = einsum.pass_analysis(cascade).groups
    record = KernelRecord(phase.name, _scalar(phase.latency_s), _scalar(phase.bound),
                          tuple(label for g in groups for label in g if label in labels),
                          tile=tuple(int(x) for x in arch.array_2d.shape))
    known = KernelRecord.__dataclass_fields__
    extra = {k: _scalar(v) for k, v in (("ops", phase.ops), ("dram_bytes", phase.dram_bytes))
             if k in known}
    return dataclasses.replace(record, **extra)


def _phase_labels(design: Design, cascade: Cascade, arch: Architecture, name: str) -> set[str]:
    """Labels bound in the phase called ``name``."""
    binding = design.binding_for(cascade, arch)
    return {label for p in binding.phases if p.name == name for label in p.einsums}


def _extra(design: Design, arch: Architecture, result: AccelResult) -> dict[str, Any]:
    """Model details for tables: tiles, residency, spills, energy breakdown, schedule."""
    return {
        "design_title": design.title,
        "array_shape": [int(x) for x in arch.array_2d.shape],
        "pes_1d": [int(a.pes) for a in arch.arrays if len(a.shape) == 1],
        "cycles_per_tile": _scalar(result.cycles_per_tile), "tiles": _scalar(result.tiles),
        "compute_s": _scalar(result.compute_s), "memory_s": _scalar(result.memory_s),
        "resident_queries": _scalar(result.resident_queries),
        "kv_reads": _scalar(result.kv_reads), "spill_fraction": _scalar(result.spill_fraction),
        "buffer_need_bytes": _scalar(result.buffer_need_bytes),
        "energy_breakdown_j": {k: _scalar(v) for k, v in result.energy.as_dict().items()},
    }


def _end_to_end(design: Design, arch: Architecture, cascade: Cascade, problem: Any,
                workload: Workload, opts: Mapping[str, Any]) -> Prediction:
    """Attention plus the model's linear layers, as one prediction."""
    model = opts.get("model")
    if model is None:
        raise SpecError("predict_accel: scope 'end_to_end' needs option 'model' (a catalogue "
                        "name such as bert-base)")
    full = Workload.from_model(model, problem.batch, problem.seq_q)
    layer = design_end_to_end(design, workload._replace(d_model=full.d_model,
                                                        ffn_hidden=full.ffn_hidden), arch, cascade,
                              opts.get("densities"), opts.get("sizes"), opts.get("tensors"))
    base = _prediction(design, arch, cascade, problem, layer.attention)
    latency = _scalar(layer.latency_s)
    resources = dict(base.resource_times_s)
    key = f"array_{arch.array_2d.name}"
    resources[key] = resources.get(key, 0.0) + _scalar(layer.linear.busy_s)
    resources["dram"] += _scalar(layer.linear.memory_s)
    utilization = {k: _scalar(v) for k, v in layer.utilization.items()}
    utilization["dram"] = resources["dram"] / latency
    kernels = base.kernels + (KernelRecord("linear", _scalar(layer.linear.latency_s), "array_2d"),)
    extra = dict(base.extra, scope="end_to_end", linear_s=_scalar(layer.linear.latency_s),
                 linear_flops=2 * _scalar(layer.linear.macs))
    return Prediction(
        hardware=base.hardware, cascade=base.cascade, profile=base.profile, time_s=latency,
        flops=base.flops, tflops_per_s=base.flops / latency / 1e12,
        bound=max(resources, key=resources.__getitem__), resource_times_s=resources,
        utilization=utilization, passes=base.passes, buffer_bytes=base.buffer_bytes,
        dram_bytes=_scalar(layer.dram_bytes), spilled=base.spilled,
        energy_j=_scalar(layer.energy_j), area_m2=base.area_m2, kernels=kernels, extra=extra)

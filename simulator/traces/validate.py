"""Measured vs predicted time for every attention kernel group of a trace.

Each group with a known shape is priced with the GPU model
(:func:`simulator.gpu.predict`) on the catalogue GPU the trace names (``hw="auto"``) with
the kernel profile its family maps to (``kernel="auto"``,
``simulator/data/kernel_families.yaml``) and compared with the group's median duration:
``error = predicted / measured - 1``. MAPE is the mean of ``|error|`` over the compared
groups (each kernel × problem counts once, however often it ran).

Groups the model cannot compare are listed with the reason: no shape, a backward or
split-K combine kernel, a family without a profile, a problem the model rejects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from simulator.errors import SimulatorError
from simulator.traces.families import profile_for
from simulator.traces.groups import LaunchGroup, group_launches
from simulator.traces.record import Trace

__all__ = ["DEFAULT_CASCADE", "Comparison", "Validation", "mape", "price_group", "resolve_hw",
           "validate"]

#: The cascade a fused attention kernel computes (one pass, online softmax).
DEFAULT_CASCADE = "attention-1pass"


@dataclass(frozen=True)
class Comparison:
    """One group: measured and predicted time, and what the model says binds."""

    group: LaunchGroup
    hw: str
    profile: str
    measured_s: float
    predicted_s: float
    bound: str
    flops: float
    dram_bytes: float

    @property
    def error(self) -> float:
        """``predicted / measured - 1``."""
        return self.predicted_s / self.measured_s - 1

    @property
    def measured_dram_bytes(self) -> float | None:
        """DRAM bytes the tool counted (Nsight Compute ``dram__bytes_read/write.sum``), or None."""
        metrics = self.group.metrics
        if "dram__bytes.sum" in metrics:
            return metrics["dram__bytes.sum"]
        parts = [metrics.get("dram__bytes_read.sum"), metrics.get("dram__bytes_write.sum")]
        return sum(parts) if None not in parts else None

    @property
    def achieved_tflops_per_s(self) -> float:
        """The model's FLOP count over the measured time."""
        return self.flops / self.measured_s / 1e12

    @property
    def achieved_bytes_per_s(self) -> float:
        """The model's DRAM bytes over the measured time."""
        return self.dram_bytes / self.measured_s

    def as_dict(self) -> dict[str, Any]:
        """A ``validate --json`` row: the group keys, then the comparison."""
        return {**self.group.as_dict(), "hw": self.hw, "profile": self.profile,
                "measured_s": self.measured_s, "predicted_s": self.predicted_s, "error": self.error,
                "bound": self.bound, "flops": self.flops, "dram_bytes": self.dram_bytes,
                "achieved_tflops_per_s": self.achieved_tflops_per_s,
                "achieved_bytes_per_s": self.achieved_bytes_per_s,
                "measured_dram_bytes": self.measured_dram_bytes}


@dataclass(frozen=True)
class Validation:
    """The comparisons of one or more traces, what was skipped and why, and notes."""

    traces: tuple[str, ...]
    hw: str
    hw_note: str
    rows: tuple[Comparison, ...]
    skipped: tuple[tuple[LaunchGroup, str], ...] = ()
    notes: tuple[str, ...] = ()
    gpu: dict = field(default_factory=dict)

    @property
    def mape(self) -> float:
        """Mean absolute error over the compared groups (nan when none)."""
        return mape(self.rows)

    @property
    def kernel_profiles(self) -> dict[str, str]:
        """The profile each kernel family was priced with."""
        return {row.group.family: row.profile for row in self.rows}

    def as_dict(self) -> dict[str, Any]:
        """The ``validate --json`` document."""
        return {"traces": list(self.traces), "gpu": self.gpu, "hw": self.hw, "hw_note": self.hw_note,
                "kernel_profiles": self.kernel_profiles, "mape": self.mape,
                "rows": [row.as_dict() for row in self.rows],
                "skipped": [{**g.as_dict(), "reason": why} for g, why in self.skipped],
                "notes": list(self.notes)}


def mape(rows: Sequence[Comparison]) -> float:
    """Mean of ``|error|`` (nan for no rows)."""
    return sum(abs(r.error) for r in rows) / len(rows) if rows else math.nan


def _architecture(hw: str) -> str:
    """The catalogue GPU's architecture (for the family -> profile map)."""
    from simulator.hardware import load_gpu

    return load_gpu(hw).architecture


def resolve_hw(hw: str, trace: Trace) -> tuple[str, str]:
    """``(catalogue GPU, note)``: ``auto`` maps the trace's device name, else ``hw`` as given."""
    from simulator.hardware import load_gpu

    if hw != "auto":
        return load_gpu(hw).name, ""
    from simulator.traces.devices import catalogue_name

    if not trace.gpu.name:
        raise SimulatorError(f"{trace.path}: the trace names no device; pass --hw NAME")
    name, note = catalogue_name(trace.gpu.name, trace.gpu.sm_count)
    mapped = f"{trace.gpu.name} -> {name}" + (f" ({note})" if note else "")
    return name, mapped


def _skip_reason(group: LaunchGroup, profile: str | None) -> str | None:
    """Why a group is not compared (None when it is)."""
    if group.shape is None:
        return "no shape (unlinked launch; give a --manifest)"
    if group.role == "backward":
        return "backward kernel (einsim prices forward attention)"
    if group.role == "combine":
        return "split-K combine kernel (part of its forward call's prediction)"
    if profile is None:
        return f"no kernel profile for family '{group.family}' (pass --kernel PROFILE)"
    return None


def price_group(group: LaunchGroup, hw: str, profile: Any, cascade: str = DEFAULT_CASCADE) -> Any:
    """The model's :class:`~simulator.prediction.Prediction` for one group's shape.

    A shape with a sliding window is priced with the cascade's window variant.
    """
    import einsum
    from simulator.gpu import predict
    from simulator.gpu.masks import window_symbol
    from simulator.workload import AttentionProblem

    shape = group.shape
    problem = AttentionProblem(batch=shape.batch, heads=shape.heads, kv_heads=shape.kv_heads,
                               seq_q=shape.seq_q, seq_kv=shape.seq_kv, head_dim_qk=shape.head_dim,
                               head_dim_v=shape.head_dim_v, dtype=shape.dtype, kv_dtype=shape.kv_dtype,
                               causal=shape.causal and shape.window is None, page_size=shape.page_size)
    if shape.window is None:
        return predict(hw, cascade, problem, profile=profile)
    masked = einsum.with_mask(einsum.load(cascade), "window")
    return predict(hw, masked, problem, profile=profile, sizes={window_symbol(masked): shape.window})


def _compare(group: LaunchGroup, hw: str, profile: str, cascade: str) -> Comparison:
    from simulator.gpu import load_profile

    loaded = load_profile(profile)
    pred = price_group(group, hw, loaded, cascade)
    return Comparison(group, hw, loaded.name, group.median_s,
                      float(pred.time_s), str(pred.bound), float(pred.flops), float(pred.dram_bytes))


def validate(trace: Trace, hw: str = "auto", kernel: str = "auto",
             cascade: str = DEFAULT_CASCADE) -> Validation:
    """Compare every attention group of a trace with the model.

    Parameters
    ----------
    trace : Trace
        An imported trace (shapes linked or from a manifest).
    hw : str
        A catalogue GPU or ``"auto"`` (map the trace's device name).
    kernel : str
        A kernel profile (name or YAML path) for every group, or ``"auto"`` (by family).
    cascade : str
        The cascade the kernels compute (``attention-1pass``).

    Returns
    -------
    Validation

    Examples
    --------
    >>> from simulator.traces.record import AttentionShape, GpuInfo, KernelLaunch, Trace
    >>> shape = AttentionShape(4, 16, 16, 4096, 4096, 128, dtype="fp16")
    >>> launch = KernelLaunch("flash_fwd_kernel", "fa2", 2.0e-3, shape=shape, shape_source="manifest")
    >>> v = validate(Trace("t.json", "kineto", "", GpuInfo("NVIDIA H100 80GB HBM3", 132), (launch,)))
    >>> v.hw, v.rows[0].profile, v.rows[0].bound, v.rows[0].error == v.rows[0].predicted_s / 2.0e-3 - 1
    ('h100-sxm5', 'flash2', 'tensor', True)
    """
    name, note = resolve_hw(hw, trace)
    vendor = trace.gpu.vendor or ("amd" if name.startswith("mi") else "nvidia")
    architecture = _architecture(name)
    rows, skipped = [], []
    for group in group_launches(trace.launches, trace.name):
        profile = profile_for(group.family, vendor, architecture) if kernel == "auto" else kernel
        reason = _skip_reason(group, profile)
        if reason is None:
            try:
                rows.append(_compare(group, name, profile, cascade))
                continue
            except SimulatorError as err:
                reason = f"the model rejects the problem: {err}"
        skipped.append((group, reason))
    return Validation((trace.name,), name, note, tuple(rows), tuple(skipped), trace.notes,
                      trace.gpu.as_dict())

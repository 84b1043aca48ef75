"""The prediction record every cost model returns (GPU and spatial array alike).

A :class:`Prediction` has named fields in base SI units. Fields that do not apply to a
model stay ``None`` (e.g. ``energy_j`` on the GPU model, ``waves`` on a spatial array).
For vectorised evaluation, the same record holds numpy arrays instead of scalars
(one entry per problem); :meth:`Prediction.row` picks one problem out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

__all__ = ["Prediction", "KernelRecord", "RESOURCES"]

#: Resources a time can be charged to. ``launch`` covers fixed per-kernel overheads.
RESOURCES = ("tensor", "exp", "fp32", "smem", "dram", "launch", "array_2d", "array_1d")


@dataclass(frozen=True)
class KernelRecord:
    """One kernel (GPU) or phase (spatial array) of a prediction.

    ``ops`` is the work the kernel executes (tensor FLOP + exp + FP32 ops on a GPU) and
    ``dram_bytes`` its DRAM traffic, when the model knows them.
    """

    name: str
    time_s: Any
    bound: Any
    passes: tuple[str, ...] = ()
    ctas: Any = None
    waves: Any = None
    tile: tuple[int, ...] | None = None
    ops: Any = None
    dram_bytes: Any = None


@dataclass(frozen=True)
class Prediction:
    """A named prediction record.

    Attributes
    ----------
    hardware, cascade, profile : str
        What was modelled (``profile`` is the kernel profile or accelerator design).
    time_s : float or ndarray
        Predicted time.
    flops : float or ndarray
        FLOP by the FlashAttention convention (4·B·H·P·M·E-style, causal halved).
    tflops_per_s : float or ndarray
        ``flops / time_s / 1e12``.
    bound : str or ndarray of str
        The binding resource (a key of ``resource_times_s``).
    resource_times_s : dict of str to float or ndarray
        Time each resource would need on its own.
    utilization : dict of str to float or ndarray
        Busy fraction of each resource over ``time_s``.
    passes : int
        Passes over the keys (from the cascade's pass analysis).
    buffer_bytes : float or ndarray
        On-chip buffer the execution needs (per CTA on a GPU, total on an array).
    dram_bytes : float or ndarray
        DRAM traffic.
    spilled : bool or ndarray
        Whether a multi-pass cascade's M fiber was spilled to DRAM.
    energy_j, area_m2 : float or ndarray, optional
        Spatial arrays only.
    kernels : tuple of KernelRecord
        Kernels (GPU) or phases (spatial) in order.
    extra : dict
        Model-specific details (tiles, occupancy, waves, …) that tables may show.
    fits_in_memory : bool or ndarray of bool
        Whether everything the execution keeps in DRAM at once fits in the device's
        memory (True where a model does not check; the GPU model compares
        ``resident_bytes`` with ``GPUSpec.dram_bytes``, :mod:`simulator.gpu.capacity`). A
        prediction that does not fit is still priced, and flagged: it cannot run.
    resident_bytes : float or ndarray, optional
        Peak DRAM footprint: inputs (Q and the KV cache in its format), outputs, layout
        copies and the intermediates spilled kernels keep alive together.
    capacity : str, optional
        A one-line note when a one-problem prediction does not fit (``"needs 96.6 GB of
        DRAM, h100-sxm5 has 80 GB — not feasible"``); None when it fits and for batches
        (read ``fits_in_memory`` there).
    """

    hardware: str
    cascade: str
    profile: str
    time_s: Any
    flops: Any
    tflops_per_s: Any
    bound: Any
    resource_times_s: dict[str, Any]
    utilization: dict[str, Any]
    passes: int
    buffer_bytes: Any
    dram_bytes: Any
    spilled: Any = False
    energy_j: Any = None
    area_m2: Any = None
    kernels: tuple[KernelRecord, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    fits_in_memory: Any = True
    resident_bytes: Any = None
    capacity: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form (numpy values left as they are; see ``to_jsonable``)."""
        out = asdict(self)
        out["kernels"] = [asdict(k) for k in self.kernels]
        return out

    def row(self, index: int) -> Prediction:
        """The prediction of one problem out of a vectorised record."""

        def pick(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: pick(v) for k, v in value.items()}
            if isinstance(value, np.ndarray) and value.ndim:
                return value[index].item() if value.dtype != object else value[index]
            return value

        values = {f.name: pick(getattr(self, f.name)) for f in fields(self) if f.name != "kernels"}
        kernels = tuple(KernelRecord(**{k: pick(v) for k, v in asdict(k).items()})
                        for k in self.kernels)
        return Prediction(**values, kernels=kernels)

    def __str__(self) -> str:
        lines = [f"{self.cascade} on {self.hardware} ({self.profile}): "
                 f"{_fmt(self.time_s, 's')}, {_fmt(self.tflops_per_s, '')} TFLOP/s, "
                 f"bound by {self.bound}, {self.passes} pass(es)"]
        for name, value in self.resource_times_s.items():
            util = self.utilization.get(name)
            util_text = f"  ({util:.0%} busy)" if isinstance(util, (int, float)) else ""
            lines.append(f"  {name:<9} {_fmt(value, 's')}{util_text}")
        lines.append(f"  buffer {_fmt(self.buffer_bytes, 'B')}, DRAM {_fmt(self.dram_bytes, 'B')}"
                     + (", spilled" if self.spilled is True else ""))
        if self.energy_j is not None:
            lines.append(f"  energy {_fmt(self.energy_j, 'J')}")
        if self.capacity:
            lines.append(f"  capacity: {self.capacity}")
        return "\n".join(lines)


def _fmt(value: Any, unit: str) -> str:
    """Format a scalar with an SI prefix (arrays are summarised by their shape)."""
    if isinstance(value, np.ndarray) and value.ndim:
        return f"<{value.size} values>"
    value = float(value)
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"),
                           (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}".rstrip()
    return f"{value:.3g} {unit}".rstrip()

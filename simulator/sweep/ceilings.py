"""Roofline ceilings of a catalogue GPU for the sweep's ``roofline_<hw>.png``.

The sweep's points are plotted as attention FLOP/s (FlashAttention convention) against
FLOP per DRAM byte, so the ceilings are in the same units: the dense tensor peak of the
rows' dtype, the exp (MUFU) ceiling ``exp/s × 4·E`` (one exp per score, ``4·E`` attention
FLOP per score, so it depends on the head dim ``E`` of the rows' models; causal masks
halve both), and the DRAM bandwidth as a slope. Hardware that is not a catalogue GPU (a
spatial accelerator) has none.

Examples
--------
>>> import pandas as pd
>>> rows = pd.DataFrame({"model": ["llama-3-8b"], "dtype": ["fp16"]})
>>> [(c.label, round(c.value / 1e12)) for c in gpu_ceilings("h100-sxm5", rows)]
[('tensor fp16', 989), ('exp, E=128', 1979), ('DRAM', 3)]
>>> gpu_ceilings("fusemax", rows)
()
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["RoofLine", "gpu_ceilings"]


@dataclass(frozen=True)
class RoofLine:
    """One ceiling: ``flat`` at ``value`` FLOP/s or a ``slope`` of ``value`` B/s."""

    resource: str
    label: str
    kind: str
    value: float


def gpu_ceilings(hardware: str, rows: pd.DataFrame) -> tuple[RoofLine, ...]:
    """The ceilings of ``hardware`` for these rows (empty unless it is a catalogue GPU)."""
    from simulator.errors import SimulatorError
    from simulator.hardware import list_gpus, load_gpu
    from simulator.workload import get_model

    known = set(list_gpus())
    if str(hardware) not in known:
        return ()
    try:
        gpu = load_gpu(str(hardware))
    except SimulatorError:
        return ()
    dtype = str(rows["dtype"].iloc[0]) if "dtype" in rows and len(rows) else "fp16"
    ceilings = []
    try:
        ceilings.append(RoofLine("tensor", f"tensor {dtype}", "flat", float(gpu.tensor_flops(dtype))))
    except (SimulatorError, KeyError):
        pass
    dims = set()
    for model in (rows["model"].astype(str).unique() if "model" in rows else ()):
        try:
            dims.add(int(get_model(model).head_dim))
        except SimulatorError:
            continue
    for dim in sorted(dims):
        ceilings.append(RoofLine("exp", f"exp, E={dim}", "flat", float(gpu.exp_ops_per_s) * 4 * dim))
    ceilings.append(RoofLine("dram", "DRAM", "slope", float(gpu.dram_bytes_per_s)))
    return tuple(ceilings)

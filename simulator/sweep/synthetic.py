"""A synthetic evaluator: a toy roofline machine for testing and benchmarking sweeps.

It is a pure numpy function of numeric columns, registered as ``synthetic``. A machine of
``units`` identical units, each with ``peak_flops`` FLOP/s, shares ``bandwidth`` B/s of
DRAM bandwidth; a kernel does ``work`` FLOP and moves ``traffic`` bytes. More units run
faster until the kernel becomes memory-bound, but cost area and interconnect energy, so
latency, energy and area trade off against each other.

Examples
--------
>>> import pandas as pd
>>> chunk = pd.DataFrame({"units": [1, 4]})
>>> for name, value in SYNTHETIC_DEFAULTS.items():
...     chunk[name] = chunk.get(name, value)
>>> out = evaluate_synthetic(chunk)
>>> out["latency"].round(6).tolist(), out["bound"].tolist()
([0.01, 0.0026], ['compute', 'compute'])
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pandas as pd

from simulator.errors import SpecError
from simulator.sweep.registry import register_evaluator

__all__ = ["SYNTHETIC_DEFAULTS", "SYNTHETIC_METRICS", "evaluate_synthetic"]

#: Input columns (base SI units) and the values used when a spec does not sweep them.
SYNTHETIC_DEFAULTS = MappingProxyType(
    {
        "hardware": "synthetic",
        "work": 1.0e12,  # FLOP
        "traffic": 1.0e9,  # bytes
        "peak_flops": 1.0e14,  # FLOP/s per unit
        "bandwidth": 1.0e12,  # bytes/s, shared by all units
        "units": 1,
        "energy_per_flop": 1.0e-12,  # J
        "energy_per_byte": 2.0e-11,  # J
        "static_power": 5.0,  # W per unit
        "unit_area": 1.0e-5,  # m^2 per unit
    }
)
#: Metric columns the evaluator adds.
SYNTHETIC_METRICS = (
    "compute_time", "memory_time", "latency", "bound", "energy", "area",
    "arithmetic_intensity", "tflops_per_s",
)  # fmt: skip


def evaluate_synthetic(chunk: pd.DataFrame) -> pd.DataFrame:
    """Toy roofline model: latency, energy, area and the binding resource per row.

    Parameters
    ----------
    chunk : pandas.DataFrame
        Must have the columns of :data:`SYNTHETIC_DEFAULTS` (the sweep engine adds the
        ones a spec does not sweep).

    Returns
    -------
    pandas.DataFrame
        A copy of ``chunk`` with :data:`SYNTHETIC_METRICS` added.

    Examples
    --------
    >>> chunk = pd.DataFrame({k: [v] for k, v in SYNTHETIC_DEFAULTS.items()})
    >>> row = evaluate_synthetic(chunk).iloc[0]
    >>> float(row["arithmetic_intensity"]), float(row["tflops_per_s"]), row["bound"]
    (1000.0, 100.0, 'compute')
    """
    col = {name: chunk[name].to_numpy(dtype=float) for name in SYNTHETIC_DEFAULTS if name != "hardware"}
    for name, values in col.items():
        # sizes and rates must be positive (units 0 divides by zero), energies may be 0
        low = 0.0 if name.startswith(("energy", "static")) else np.nextafter(0.0, 1.0)
        bad = ~(np.isfinite(values) & (values >= low))
        if bad.any():
            raise SpecError(f"column {name!r}: expected a {'non-negative' if low == 0 else 'positive'} "
                            f"number, got {values[bad][0]:g}")
    units = col["units"]
    # Synchronising more units costs a little time and interconnect energy per FLOP.
    compute_time = col["work"] / (col["peak_flops"] * units) * (1.0 + 0.02 * np.log2(units))
    memory_time = col["traffic"] / col["bandwidth"]
    latency = np.maximum(compute_time, memory_time)
    dynamic = col["work"] * col["energy_per_flop"] * (1.0 + 0.25 * np.log2(units))
    energy = dynamic + col["traffic"] * col["energy_per_byte"] + col["static_power"] * units * latency
    return chunk.assign(
        compute_time=compute_time,
        memory_time=memory_time,
        latency=latency,
        bound=np.where(compute_time >= memory_time, "compute", "memory"),
        energy=energy,
        area=units * col["unit_area"],
        arithmetic_intensity=col["work"] / col["traffic"],
        tflops_per_s=col["work"] / latency / 1e12,
    )


register_evaluator("synthetic", evaluate_synthetic, defaults=SYNTHETIC_DEFAULTS)

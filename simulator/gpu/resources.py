"""GPU resources: achievable rates per SM, the overlap rule and the binding resource.

Work is charged to five resources: tensor cores (FLOP), the exp unit / MUFU (ops), FP32
pipes (lane-ops: one add, max, mul or FMA per lane per clock, i.e. half the FP32 FLOP
rate), shared memory (bytes) and DRAM (bytes); ``launch`` collects fixed per-kernel
overheads. A kernel profile scales each peak by its achievable fraction and says how
the pipes overlap (:func:`overlap_time`).

Examples
--------
>>> from simulator.hardware import load_gpu
>>> from simulator.gpu.profiles import load_profile
>>> rates = sm_rates(load_gpu("h100"), load_profile("flash2"), "fp16")
>>> round(rates.peak["exp"] / 1e12, 2)        # 132 SM x 16/clk x 1.83 GHz
3.86
>>> round(rates.per_sm["fp32"] / 1e9, 1)      # 128 lanes x 1.83 GHz, efficiency 1
234.2
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.gpu.profiles import KernelProfile
from simulator.hardware import GPUSpec

__all__ = ["RESOURCE_ORDER", "SMRates", "binding", "binding_index", "overlap_time", "sm_rates"]

#: Resources in report order (the ``bound`` of a prediction is one of them).
RESOURCE_ORDER = ("tensor", "exp", "fp32", "smem", "dram", "launch")


@dataclass(frozen=True)
class SMRates:
    """Achievable rates of one SM and device peaks, per second.

    Attributes
    ----------
    per_sm : mapping
        Achievable rate of one SM for ``tensor`` (FLOP/s), ``exp`` and ``fp32`` (op/s)
        and ``smem`` (B/s): peak x the profile's efficiency.
    peak : mapping
        Device peaks (all SMs, efficiency 1) of the same resources plus ``dram`` (B/s).
    dram : float
        Achievable device DRAM bandwidth, B/s.
    clock_hz : float
        The clock all rates assume.
    sm_count : int
    """

    per_sm: Mapping[str, float] = field(hash=False)
    peak: Mapping[str, float] = field(hash=False)
    dram: float
    clock_hz: float
    sm_count: int


def sm_rates(gpu: GPUSpec, profile: KernelProfile, dtype: str) -> SMRates:
    """Rates of a GPU under a profile, for tensor-core inputs of ``dtype``.

    Parameters
    ----------
    gpu : GPUSpec
    profile : KernelProfile
    dtype : str
        Tensor-core input type (``fp16``, ``bf16``, ``fp8`` ...).

    Returns
    -------
    SMRates

    Raises
    ------
    SpecError
        If the GPU has no tensor-core rate for ``dtype``.

    Examples
    --------
    >>> from simulator.hardware import load_gpu
    >>> from simulator.gpu.profiles import load_profile
    >>> rates = sm_rates(load_gpu("h100"), load_profile("flash3"), "fp16")
    >>> round(rates.peak["tensor"] / 1e12, 1)
    989.4
    """
    clock = gpu.tensor_clock_hz
    gpu.tensor_flops(dtype)  # raises SpecError for a missing dtype
    per_clock = {
        "tensor": gpu.tensor_flop_per_clk_per_sm[dtype],
        "exp": gpu.exp_per_clk_per_sm,
        "fp32": gpu.fp32_flop_per_clk_per_sm / 2,  # FMA = 2 FLOP = 1 lane-op
        "smem": gpu.smem_bytes_per_clk_per_sm,
    }
    eff = dict(profile.efficiency)
    eff["tensor"] *= profile.tensor_fraction(gpu.architecture)
    per_sm = {name: rate * clock * eff[name] for name, rate in per_clock.items()}
    peak = {name: rate * clock * gpu.sm_count for name, rate in per_clock.items()}
    peak["dram"] = gpu.dram_bytes_per_s
    return SMRates(per_sm, peak, gpu.dram_bytes_per_s * eff["dram"], clock, gpu.sm_count)


def overlap_time(times: Mapping[str, Any], serial: tuple[str, ...], streams: float) -> Any:
    """Time of work whose resources overlap as a profile says.

    ``max(max_r t_r, top + (sum_serial - top) / streams)`` with ``top`` the longest of the
    ``serial`` pipes: each resource alone is a lower bound; pipes issued by the same warps
    (``serial``) take turns within one instruction stream, and with ``streams`` independent
    streams per SM (FA3's ping-pong warpgroups) the busiest serial pipe runs back to back
    while only ``1 / streams`` of the other serial pipes' work stays exposed (the dependent
    part a second stream cannot cover). ``streams = 1`` is fully serial (FlashAttention-2),
    a large value fully pipelined.

    This form, rather than ``max(max_r t_r, sum_serial / streams)``, is what the FA3 paper's
    FP16 panels say: from d64 to d128 the time per score element grows by the tensor-core
    time alone (at ~0.9 of peak) on top of a constant softmax share, instead of hiding the
    softmax entirely once the GEMMs dominate (C.3; experiments/validation/fa3_h100.py); the
    held-out d256 headline (740 TFLOP/s) then comes out within 3%.

    Examples
    --------
    >>> float(overlap_time({"tensor": 2.0, "exp": 1.0, "fp32": 0.5}, ("tensor", "exp", "fp32"), 1))
    3.5
    >>> float(overlap_time({"tensor": 2.0, "exp": 1.0, "fp32": 0.5}, ("tensor", "exp", "fp32"), 2))
    2.75
    >>> float(overlap_time({"tensor": 2.0, "dram": 3.0}, ("tensor",), 2))   # DRAM alone binds
    3.0
    """
    longest: Any = 0.0
    for value in times.values():
        longest = np.maximum(longest, value)
    chained: Any = 0.0
    top: Any = 0.0
    for name in serial:
        if name in times:
            chained = chained + times[name]
            top = np.maximum(top, times[name])
    return np.maximum(longest, top + (chained - top) / streams)


def binding(times: Mapping[str, Any]) -> Any:
    """Name of the resource with the largest time (ties: the earlier in report order).

    Works elementwise on arrays (returns an array of names).

    Examples
    --------
    >>> binding({"tensor": 1.0, "exp": 2.0, "dram": 0.5})
    'exp'
    >>> binding({"tensor": np.array([1.0, 3.0]), "exp": np.array([2.0, 1.0])}).tolist()
    ['exp', 'tensor']
    """
    names, index = binding_index(times)
    if not np.ndim(index):
        return names[int(index)]
    return np.array(names, dtype=object)[index]


def binding_index(times: Mapping[str, Any]) -> tuple[tuple[str, ...], Any]:
    """The resource names and, elementwise, the position of the binding one.

    The integer form of :func:`binding`, for callers that keep the result as category
    codes rather than as one Python string per problem.

    Examples
    --------
    >>> names, index = binding_index({"exp": np.array([2.0, 1.0]), "tensor": np.array([1.0, 3.0])})
    >>> names, index.tolist()
    (('tensor', 'exp'), [1, 0])
    """
    names = tuple([r for r in RESOURCE_ORDER if r in times] + [r for r in times if r not in
                                                                RESOURCE_ORDER])
    best = np.asarray(times[names[0]], dtype=float)
    index = np.zeros(np.shape(best), dtype=np.int8)
    for position, name in enumerate(names[1:], start=1):
        value = np.asarray(times[name], dtype=float)
        larger = value > best
        index = np.where(larger, np.int8(position), index)
        best = np.maximum(best, value)
    return names, index

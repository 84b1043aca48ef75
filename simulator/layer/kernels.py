"""GEMMs and element-wise kernels of a layer, priced on a GPU spec.

A GEMM ``[m × k] · [k × n]`` (tokens × input features · weights) runs as CTA tiles of
``tile_m × tile_n`` outputs (``m`` padded to the MMA's 16 rows in decode): CTAs, waves
over the SMs, and per CTA the tensor-core time at the rate of the *compute* dtype (INT8
tensor cores for W8A8 and W4A8, FP8 for FP8, FP16 otherwise) plus, for weights stored in
another format, the CUDA-core dequantisation of every weight tile the CTA loads — issued by
the same warps as the MMAs on the mma.sync path (Ampere, Ada), so the two add up, which is
why QServe's W4A8 keeps its dequantisation to about one op per weight. DRAM moves the
weights (in their stored format, group metadata included), the activations in and out.
Time = max(compute, DRAM) + launch; the bound says which. Element-wise kernels (norms,
rotary, activation) are DRAM streams with a few FP32 ops per element.

Examples
--------
>>> from simulator.hardware import load_gpu
>>> from simulator.layer.precision import PRECISIONS
>>> h100 = load_gpu("h100")
>>> big = gemm(h100, "mlp-up", 8192, 28672, 4096, PRECISIONS["fp16"])
>>> big.bound, 0.7 < big.flops / big.time_s / h100.peak_tensor_flops["fp16"] < 0.85
('tensor', True)
>>> gemm(h100, "mlp-up", 8, 28672, 4096, PRECISIONS["fp16"]).bound   # decode: weights
'dram'
"""

from __future__ import annotations

import math
from typing import NamedTuple

from simulator.hardware import GPUSpec
from simulator.layer.precision import Precision, weight_bytes
from simulator.layer.spec import layer_numbers
from simulator.workload import INPUT_DTYPES

__all__ = ["KernelCost", "elementwise", "gemm"]


class KernelCost(NamedTuple):
    """One kernel of a layer: what it is, its time and what binds it."""

    name: str
    kind: str            # gemm | attention | elementwise
    time_s: float
    bound: str
    flops: float = 0.0
    dram_bytes: float = 0.0
    count: int = 1       # occurrences per step of the model (layers, or 1 for the LM head)

    def as_dict(self) -> dict:
        """The JSON form."""
        return self._asdict()


def _number(section: str, key: str) -> float:
    return float(layer_numbers()[section][key]["value"])


def _tensor_rate_per_sm(gpu: GPUSpec, dtype: str) -> float:
    """Achievable FLOP/s (or OP/s) of one SM's tensor cores for ``dtype``."""
    gpu.tensor_flops(dtype)  # one-line SpecError if the GPU lacks this type
    return gpu.tensor_flop_per_clk_per_sm[dtype] * gpu.tensor_clock_hz * \
        _number("gemm", "tensor_efficiency")


def _lane_rate_per_sm(gpu: GPUSpec) -> float:
    """FP32/INT lane-ops per second of one SM (an FMA is one lane-op)."""
    return gpu.fp32_flop_per_clk_per_sm / 2 * gpu.tensor_clock_hz


def gemm(gpu: GPUSpec, name: str, m: int, n: int, k: int, precision: Precision,
         count: int = 1, groups: int = 1) -> KernelCost:
    """Price ``groups`` GEMMs of ``[m × k] · [k × n]`` (MoE experts: one per group).

    Examples
    --------
    >>> from simulator.hardware import load_gpu
    >>> from simulator.layer.precision import PRECISIONS
    >>> a100 = load_gpu("a100")
    >>> w4 = gemm(a100, "qkv", 4096, 6144, 4096, PRECISIONS["w4a16"])
    >>> fp16 = gemm(a100, "qkv", 4096, 6144, 4096, PRECISIONS["fp16"])
    >>> w4.time_s > fp16.time_s       # prefill: W4A16 pays its dequantisation
    True
    """
    tile_m = min(int(_number("gemm", "tile_m")),
                 max(int(_number("gemm", "min_tile_m")), 16 * math.ceil(m / 16)))
    tile_n = int(_number("gemm", "tile_n"))
    ctas = groups * math.ceil(m / tile_m) * math.ceil(n / tile_n)
    tensor = 2.0 * tile_m * tile_n * k / _tensor_rate_per_sm(gpu, precision.compute)
    dequant = precision.dequant_ops * tile_n * k / _lane_rate_per_sm(gpu)
    per_cta = tensor + dequant          # same warps on the mma.sync path: serial
    if ctas >= gpu.sm_count:
        compute = math.ceil(ctas / gpu.sm_count) * per_cta
    else:                               # split-K spreads a small grid over every SM
        compute = ctas * per_cta / gpu.sm_count
    act = INPUT_DTYPES[precision.act]
    dram = groups * (n * k * weight_bytes(precision.weight) + m * k * act) + groups * m * n * 2
    memory = dram / (gpu.dram_bytes_per_s * _number("gemm", "dram_efficiency"))
    bound = "dram" if memory >= compute else ("fp32" if dequant > tensor else "tensor")
    return KernelCost(name, "gemm", max(compute, memory) + _number("gemm", "launch_s"), bound,
                      2.0 * m * n * k * groups, dram, count)


def elementwise(gpu: GPUSpec, name: str, elements: float, bytes_moved: float, ops_key: str,
                count: int = 1) -> KernelCost:
    """A streaming kernel over ``elements`` outputs that moves ``bytes_moved`` through DRAM.

    Examples
    --------
    >>> from simulator.hardware import load_gpu
    >>> norm = elementwise(load_gpu("h100"), "norm", 4096 * 4096, 4 * 4096 * 4096 * 2, "norm_ops")
    >>> norm.bound
    'dram'
    """
    ops = elements * _number("elementwise", ops_key)
    fp32 = ops / (_lane_rate_per_sm(gpu) * gpu.sm_count)
    memory = bytes_moved / (gpu.dram_bytes_per_s * _number("gemm", "dram_efficiency"))
    return KernelCost(name, "elementwise", max(fp32, memory) + _number("gemm", "launch_s"),
                      "dram" if memory >= fp32 else "fp32", 0.0, bytes_moved, count)

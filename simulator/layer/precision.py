"""Weight / activation / KV-cache precisions of a layer (``W4A8KV4`` and friends).

A :class:`Precision` says how weights are stored (``fp16 bf16 fp8 int8 int4``, with group
metadata from ``layer.yaml``), what the tensor cores compute in (the activation type:
INT8 for W8A8 and W4A8, FP8 for FP8, FP16/BF16 otherwise), how many CUDA-core ops
dequantise one weight element (``dequant: cuda``) or none (``dequant: tensor``, the
conversion folded into the tensor-core path) and the KV-cache format (as
:data:`simulator.workload.KV_DTYPES`).

Examples
--------
>>> PRECISIONS["w4a8kv4"].name, PRECISIONS["w4a8kv4"].compute, PRECISIONS["w4a8kv4"].dequant_ops
('W4A8KV4', 'int8', 1.0)
>>> precision("int4", kv_dtype="int4").name          # weight-only INT4 by default
'W4A16KV4'
>>> round(weight_bytes("int4"), 4)                    # 4 bits + 2 B per group of 128
0.5156
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from simulator.errors import SpecError
from simulator.layer.spec import layer_numbers
from simulator.workload import KV_DTYPES

__all__ = ["PRECISIONS", "Precision", "precision", "weight_bytes"]

_BITS = {"fp16": 16, "bf16": 16, "fp8": 8, "int8": 8, "int4": 4}
#: Activation types a weight format may run with; the first is the default.
_ACTS = {"fp16": ("fp16",), "bf16": ("bf16",), "fp8": ("fp8",), "int8": ("int8",),
         "int4": ("fp16", "int8", "bf16")}


@dataclass(frozen=True)
class Precision:
    """Weight, activation and KV dtypes, and where weights are dequantised."""

    weight: str
    act: str
    kv: str
    dequant: str = "cuda"

    @property
    def compute(self) -> str:
        """The tensor cores' input type."""
        return self.act

    @property
    def dequant_key(self) -> str | None:
        """The ``layer.yaml`` dequant entry of this weight/activation pair (None: no dequant)."""
        if self.weight == self.act or self.weight in ("fp16", "bf16"):
            return None
        return {("int4", "int8"): "w4a8", ("int8", "int8"): "w8a8",
                ("fp8", "fp8"): "fp8"}.get((self.weight, self.act), "w4a16")

    @property
    def dequant_ops(self) -> float:
        """CUDA-core ops per weight element per CTA load (0 when folded into tensor cores)."""
        key = self.dequant_key
        if key is None or self.dequant == "tensor":
            return 0.0
        return float(layer_numbers()["dequant"][key]["value"])

    @property
    def name(self) -> str:
        """``W4A8KV4`` style."""
        def bits(dtype: str) -> str:
            return str(_BITS.get(dtype, KV_DTYPES[dtype].bits))
        return f"W{bits(self.weight)}A{bits(self.act)}KV{KV_DTYPES[self.kv].bits}"


def weight_bytes(dtype: str) -> float:
    """Stored bytes per weight, group metadata included."""
    entry = layer_numbers()["weights"][dtype]
    return entry["bits"] / 8 + entry["metadata_bytes"] / entry["group"]


def precision(weight_dtype: str = "fp16", act_dtype: str | None = None,
              kv_dtype: str | None = None, dequant: str = "cuda") -> Precision:
    """Validate a precision; the activation defaults by weight type, the KV to the activation's.

    Raises
    ------
    SpecError
        An unknown dtype or a pair no kernel runs (INT8 weights with FP16 activations…).
    """
    if weight_dtype not in _ACTS:
        raise SpecError(f"--weight-dtype: expected one of {', '.join(_ACTS)}; got {weight_dtype!r}")
    act = act_dtype or _ACTS[weight_dtype][0]
    if act not in _ACTS[weight_dtype]:
        raise SpecError(f"--act-dtype: {weight_dtype} weights run with {', '.join(_ACTS[weight_dtype])} "
                        f"activations; got {act!r}")
    kv = kv_dtype or ("int8" if act == "int8" else "fp16" if act == "fp16" else act)
    if kv not in KV_DTYPES:
        raise SpecError(f"--kv-dtype: expected one of {', '.join(KV_DTYPES)}; got {kv!r}")
    if dequant not in ("cuda", "tensor"):
        raise SpecError(f"--dequant: expected cuda or tensor; got {dequant!r}")
    return Precision(weight_dtype, act, kv, dequant)


#: The serving systems QServe compares (TensorRT-LLM's FP16, W8A8 and W4A16; QServe's W4A8KV4).
PRECISIONS = MappingProxyType({
    "fp16": Precision("fp16", "fp16", "fp16"),
    "w8a8": Precision("int8", "int8", "int8"),
    "w4a16": Precision("int4", "fp16", "fp16"),
    "w4a8kv4": Precision("int4", "int8", "int4"),
})

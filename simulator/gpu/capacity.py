"""DRAM capacity: whether a problem's resident footprint fits in the GPU's memory.

The model prices time; a problem whose tensors cannot all be in DRAM at once cannot run,
however fast it would be. The footprint is the peak of what one execution keeps in DRAM,
from the same DRAM tensors the kernels move (:class:`~simulator.gpu.plan.TensorMove`),
at the same bytes per element the model charges for their traffic:

``resident = inputs + outputs + copies + max over kernels (live intermediates)``

- *inputs*: the cascade's inputs — Q (``B·H·P·E`` elements at
  the input dtype), the KV cache (``B·Hkv·M·E`` for K and ``B·Hkv·M·F`` for V at the KV
  format's bytes per element, scale/zero metadata included), an MLA latent cache, …;
- *outputs*: what the last kernel writes (O: ``B·H·P·F`` at the input dtype);
- *copies*: the layout copies of the inputs an ``overheads.input_copies`` profile makes
  (PyTorch's rearranged Q, K, V; they live as long as the call);
- *live intermediates*: a tensor one kernel writes and a later one reads (the spilled M
  fiber of a multi-pass cascade, the score and probability matrices of an unfused
  cascade, split-K partials) occupies DRAM from the kernel that writes it to the last
  that reads it; the peak over kernels counts those alive together (an unfused 3-pass
  holds the ``B·H·P·M`` scores and the ``B·H·P·M`` probabilities during its softmax).

A multi-pass cascade that holds its M fiber on chip runs as one kernel: no intermediates.
The comparison is with the whole of ``GPUSpec.dram_bytes``; what a framework reserves
(CUDA context, allocator slack, weights and activations of the rest of a model) is not
modelled, so ``fits_in_memory`` is a necessary condition, not a sufficient one.

Examples
--------
>>> from simulator.gpu.model import make_shapes, resolve
>>> from simulator.gpu.plan import plan_cascade
>>> gpu, cascade, profile = resolve("h100", "attention-1pass", "flash3")
>>> shapes = make_shapes(64, 32, 1, 1 << 20, 128, kv_heads=8)   # decode, a 1M-token cache
>>> need = footprint(plan_cascade(cascade, "fused"), shapes, profile, False,
...                  (shapes.seq_kv, {}))
>>> float(need.inputs) == 64 * 8 * (1 << 20) * (128 + 128) * 2 + 64 * 32 * 128 * 2
True
>>> bool(need.total <= gpu.dram_bytes)
False
>>> note(need.total, gpu)
'needs 275 GB of DRAM, h100-sxm5 has 80 GB — not feasible'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.gpu.plan import CascadePlan, KernelPlan, TensorMove
from simulator.gpu.profiles import KernelProfile
from simulator.hardware import GPUSpec

__all__ = ["Footprint", "footprint", "note"]


@dataclass(frozen=True)
class Footprint:
    """Bytes resident in DRAM at the peak of one execution, by kind (arrays over problems)."""

    inputs: Any
    outputs: Any
    copies: Any
    intermediates: Any

    @property
    def total(self) -> Any:
        """Everything resident at the peak."""
        return self.inputs + self.outputs + self.copies + self.intermediates


def _bytes_per_element(move: TensorMove, shapes: Any, profile: KernelProfile) -> Any:
    """Bytes per stored element, as the kernels charge them for traffic."""
    from simulator.gpu.kernels import _move_bytes

    return _move_bytes(move, shapes, profile)


def _tensor_bytes(move: TensorMove, kernel: KernelPlan, shapes: Any, profile: KernelProfile,
                  parts: tuple[Any, Mapping[str, Any]]) -> Any:
    """Bytes of one DRAM tensor over all (batch, head) instances."""
    sizes = kernel.binding.for_shapes(shapes, parts[0], parts[1])
    count = shapes.batch * shapes.kv_heads if move.streamed else shapes.instances
    return move.elements.evaluate(sizes) * count * _bytes_per_element(move, shapes, profile)


def _sequence(kernels: Sequence[KernelPlan], shapes: Any, profile: KernelProfile,
              parts: tuple[Any, Mapping[str, Any]]) -> Footprint:
    """The footprint of kernels run in order, each tensor counted once by name."""
    sizes: dict[str, Any] = {}
    roles: dict[str, str] = {}
    span: dict[str, list[int]] = {}
    for index, kernel in enumerate(kernels):
        for move in kernel.moves:
            if move.name not in sizes:
                sizes[move.name] = _tensor_bytes(move, kernel, shapes, profile, parts)
                roles[move.name] = move.role
                span[move.name] = [index, index]
            span[move.name][1] = index
    total = {"input": 0.0, "output": 0.0}
    for name, role in roles.items():
        if role in total:
            total[role] = total[role] + sizes[name]
    peak: Any = 0.0
    for index in range(len(kernels)):
        live = sum((sizes[n] for n, r in roles.items()
                    if r == "intermediate" and span[n][0] <= index <= span[n][1]), start=0.0)
        peak = np.maximum(peak, live)
    copies = profile.number("overheads.input_copies") * total["input"]
    return Footprint(total["input"], total["output"], copies, peak)


def footprint(plan: CascadePlan, shapes: Any, profile: KernelProfile, held: Any,
              parts: tuple[Any, Mapping[str, Any]]) -> Footprint:
    """Peak DRAM footprint of each problem of ``shapes`` (arrays, broadcast like them).

    Parameters
    ----------
    plan : CascadePlan
        The cascade's kernels under the profile's fusion rule.
    shapes : Shapes
    profile : KernelProfile
        Gives the intermediates' bytes per element and the layout copies.
    held : bool or array of bool
        Where a multi-pass cascade holds its M fiber on chip (one kernel, ``plan.fused``);
        elsewhere it runs ``plan.spilled``.
    parts : (key tile, outer parts)
        The key partition the untiled kernels use (a split's chunk and count), which
        sizes partitioned intermediates (split-K partials).

    Returns
    -------
    Footprint
    """
    spilled = _sequence(plan.spilled, shapes, profile, parts)
    if plan.fused is None:
        return spilled
    fused = _sequence((plan.fused,), shapes, profile, parts)
    return Footprint(*(np.where(held, getattr(fused, name), getattr(spilled, name))
                       for name in ("inputs", "outputs", "copies", "intermediates")))


def note(resident: Any, gpu: GPUSpec) -> str | None:
    """One-line capacity note for one problem: None when it fits.

    Examples
    --------
    >>> from simulator.hardware import load_gpu
    >>> note(96.6e9, load_gpu("h100")), note(1e9, load_gpu("h100"))
    ('needs 96.6 GB of DRAM, h100-sxm5 has 80 GB — not feasible', None)
    >>> note(1.107e12, load_gpu("h100"))
    'needs 1,107 GB of DRAM, h100-sxm5 has 80 GB — not feasible'
    """
    need = float(resident)
    if need <= gpu.dram_bytes:
        return None
    return f"needs {_gb(need)} of DRAM, {gpu.name} has {_gb(gpu.dram_bytes)} — not feasible"


def _gb(value: float) -> str:
    """Decimal gigabytes, three significant digits below 1000 (``96.6 GB``, ``1,107 GB``)."""
    gb = value / 1e9
    return f"{gb:.3g} GB" if gb < 999.5 else f"{gb:,.0f} GB"

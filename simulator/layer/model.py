"""One prefill or decode step of a whole model on one GPU, kernel by kernel.

Per layer: fused residual-add + norm, the QKV projection, rotary embedding with the K/V
write into the cache (in the KV format), attention priced from its cascade by the GPU
attention model (:func:`simulator.gpu.predict`: ``attention-1pass`` causal for prefill,
``decode-splitk`` for decode, with the KV dtype), the output projection, a second norm and
the MLP (gate + up, activation, down; MoE: the active experts' GEMMs, reading every expert
the batch touches). Per model: ``layers`` × the layer, plus the LM head on each sequence's
last token (FP16 weights). Memory is the weights (stored format) + the KV cache of
``batch`` sequences of ``seq_len`` tokens + the prefill activations, against the usable
share of the GPU's DRAM; :func:`max_batch` is the largest batch that fits.

Examples
--------
>>> step = layer_step("h100", "llama-3-8b", "decode", seq_len=4096, batch=16)
>>> step.fits, [k.name for k in step.kernels][:4]
(True, ['attn-norm', 'qkv-proj', 'rotary-kv-write', 'attention'])
>>> 0.1 < step.attention_share < 0.6
True
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from simulator.errors import SpecError
from simulator.gpu import predict
from simulator.hardware import GPUSpec, load_gpu
from simulator.layer.kernels import KernelCost, elementwise, gemm
from simulator.layer.precision import PRECISIONS, Precision, weight_bytes
from simulator.layer.spec import LayerSpec, layer_numbers, layer_spec
from simulator.workload import INPUT_DTYPES, KV_DTYPES, AttentionProblem

__all__ = ["LayerStep", "layer_step", "max_batch", "memory_bytes"]

_PHASES = ("prefill", "decode")


@dataclass(frozen=True)
class LayerStep:
    """A model step: its kernels (``count`` = occurrences), times, memory and fit."""

    hardware: str
    model: str
    phase: str
    seq_len: int
    batch: int
    precision: Precision
    kernels: tuple[KernelCost, ...]
    layers: int
    weight_bytes: float
    kv_cache_bytes: float
    activation_bytes: float
    capacity_bytes: float

    @property
    def time_s(self) -> float:
        """The model's step time (every layer, plus the LM head)."""
        return sum(k.time_s * k.count for k in self.kernels)

    @property
    def layer_time_s(self) -> float:
        """One layer's time."""
        return sum(k.time_s for k in self.kernels if k.count == self.layers)

    @property
    def attention_share(self) -> float:
        """Share of the step spent in attention kernels."""
        return sum(k.time_s * k.count for k in self.kernels if k.kind == "attention") / self.time_s

    @property
    def memory_bytes(self) -> float:
        """Weights + KV cache + activations."""
        return self.weight_bytes + self.kv_cache_bytes + self.activation_bytes

    @property
    def fits(self) -> bool:
        """Whether the memory fits the usable DRAM."""
        return self.memory_bytes <= self.capacity_bytes

    @property
    def tokens(self) -> int:
        """Tokens the step processes (prefill: every prompt token; decode: one per sequence)."""
        return self.batch * (self.seq_len if self.phase == "prefill" else 1)


def _attention(gpu: GPUSpec, spec: LayerSpec, phase: str, seq_len: int, batch: int,
               precision: Precision) -> KernelCost:
    """Attention from its cascade, on the GPU attention model."""
    dtype = "bf16" if precision.act == "bf16" else "fp16"
    prefill = phase == "prefill"
    problem = AttentionProblem(batch=batch, heads=spec.heads, kv_heads=spec.kv_heads,
                               seq_q=seq_len if prefill else 1, seq_kv=seq_len,
                               head_dim_qk=spec.head_dim, dtype=dtype,
                               kv_dtype=dtype if prefill else precision.kv, causal=prefill)
    pred = predict(gpu, "attention-1pass" if prefill else "decode-splitk", problem)
    return KernelCost("attention", "attention", float(pred.time_s), str(pred.bound),
                      float(pred.flops), float(pred.dram_bytes), spec.layers)


def _act_bytes(precision: Precision, quantized_output: bool) -> float:
    """Bytes of an activation element a kernel writes (INT8/FP8 when the next GEMM takes it)."""
    return INPUT_DTYPES[precision.act] if quantized_output else 2.0


def _mlp(gpu: GPUSpec, spec: LayerSpec, tokens: int, precision: Precision) -> list[KernelCost]:
    """The MLP: (gate +) up projection, activation, down projection; MoE over active experts."""
    n = spec.layers
    routed = tokens * spec.active_experts
    touched = spec.experts * (1 - (1 - spec.active_experts / spec.experts) ** tokens) \
        if spec.experts > 1 else 1
    groups = max(1, math.ceil(touched))
    per_group = max(1, math.ceil(routed / groups))
    width = spec.ffn_hidden * (2 if spec.mlp == "gated" else 1)
    out = [gemm(gpu, "mlp-up", per_group, width, spec.d_model, precision, n, groups)]
    elements = routed * spec.ffn_hidden
    moved = routed * width * 2 + elements * _act_bytes(precision, True)
    out.append(elementwise(gpu, "mlp-activation", elements, moved, "activation_ops", n))
    out.append(gemm(gpu, "mlp-down", per_group, spec.d_model, spec.ffn_hidden, precision, n, groups))
    if spec.experts > 1:
        out.insert(0, gemm(gpu, "moe-router", tokens, spec.experts, spec.d_model,
                           PRECISIONS["fp16"], n))
    return out


def _kernels(gpu: GPUSpec, spec: LayerSpec, phase: str, seq_len: int, batch: int,
             precision: Precision) -> tuple[KernelCost, ...]:
    tokens = batch * (seq_len if phase == "prefill" else 1)
    n, d, e = spec.layers, spec.d_model, spec.head_dim
    norm_bytes = tokens * d * (3 * 2 + _act_bytes(precision, True))  # x, residual in; both out
    kv_store = KV_DTYPES[precision.kv].bits / 8 + KV_DTYPES[precision.kv].metadata_bytes / e
    rotary_bytes = tokens * (spec.qkv_width * 2 + (spec.heads + spec.kv_heads) * e * 2
                             + 2 * spec.kv_heads * e * kv_store)
    kernels = [
        elementwise(gpu, "attn-norm", tokens * d, norm_bytes, "norm_ops", n),
        gemm(gpu, "qkv-proj", tokens, spec.qkv_width, d, precision, n),
        elementwise(gpu, "rotary-kv-write", tokens * spec.qkv_width, rotary_bytes, "rotary_ops", n),
        _attention(gpu, spec, phase, seq_len, batch, precision),
        gemm(gpu, "o-proj", tokens, d, spec.heads * e, precision, n),
        elementwise(gpu, "mlp-norm", tokens * d, norm_bytes, "norm_ops", n),
        *_mlp(gpu, spec, tokens, precision),
    ]
    if spec.vocab:  # logits for each sequence's last token, FP16 weights
        kernels.append(gemm(gpu, "lm-head", batch, spec.vocab, d, PRECISIONS["fp16"], 1))
    return tuple(kernels)


def memory_bytes(spec: LayerSpec, precision: Precision, phase: str, seq_len: int,
                 batch: int) -> tuple[float, float, float]:
    """(weights, KV cache, activations) in bytes.

    Examples
    --------
    >>> w, kv, act = memory_bytes(layer_spec("llama-3-8b"), PRECISIONS["fp16"], "decode", 1024, 1)
    >>> round(w / 1e9, 1), kv == 2 * 32 * 8 * 128 * 1024 * 2
    (16.1, True)
    """
    weights = spec.layers * spec.weight_params_per_layer * weight_bytes(precision.weight)
    weights += spec.vocab * spec.d_model * 2 * 2  # embedding + LM head, FP16, untied
    fmt = KV_DTYPES[precision.kv]
    per_token = spec.layers * 2 * spec.kv_heads * (spec.head_dim * fmt.bits / 8 + fmt.metadata_bytes)
    tokens = batch * (seq_len if phase == "prefill" else 1)
    widest = max(spec.qkv_width, spec.ffn_hidden * (spec.mlp_matrices - 1))
    activations = (tokens * (widest + 2 * spec.d_model) + batch * spec.vocab) * 2
    return float(weights), float(batch * seq_len * per_token), float(activations)


def _capacity(gpu: GPUSpec) -> float:
    return gpu.dram_bytes * float(layer_numbers()["memory"]["usable_fraction"]["value"])


def layer_step(hw: str | os.PathLike[str] | GPUSpec, model: str | os.PathLike[str] | LayerSpec,
               phase: str, seq_len: int, batch: int,
               precision: Precision | str = "fp16") -> LayerStep:
    """Price one prefill (``seq_len`` prompt tokens per sequence) or decode step.

    Parameters
    ----------
    hw : GPU name, path or spec
    model : catalogue name, ``config.json`` path or :class:`LayerSpec`
    phase : ``prefill`` or ``decode``
    seq_len : prompt length (prefill) or tokens in the KV cache (decode)
    batch : sequences
    precision : :class:`Precision` or a name of :data:`PRECISIONS`

    Raises
    ------
    SpecError
        Unknown names, a non-positive size, or a dtype the GPU's tensor cores lack.
    """
    if phase not in _PHASES:
        raise SpecError(f"--phase: expected prefill or decode; got {phase!r}")
    if seq_len < 1 or batch < 1:
        raise SpecError(f"--seq-len and --batch: expected positive integers; got {seq_len}, {batch}")
    gpu = hw if isinstance(hw, GPUSpec) else load_gpu(hw)
    spec = model if isinstance(model, LayerSpec) else layer_spec(model)
    if isinstance(precision, str):
        if precision not in PRECISIONS:
            raise SpecError(f"precision: expected one of {', '.join(PRECISIONS)}; got {precision!r}")
        precision = PRECISIONS[precision]
    kernels = _kernels(gpu, spec, phase, seq_len, batch, precision)
    weights, kv, act = memory_bytes(spec, precision, phase, seq_len, batch)
    return LayerStep(gpu.name, spec.name, phase, seq_len, batch, precision, kernels,
                     spec.layers, weights, kv, act, _capacity(gpu))


def max_batch(hw: str | GPUSpec, model: str | LayerSpec, context: int,
              precision: Precision | str = "fp16") -> int:
    """The largest batch whose weights + KV cache of ``context`` tokens fit (0 if none).

    Examples
    --------
    >>> max_batch("a100", "llama-3-8b", 1536, "fp16") < max_batch("a100", "llama-3-8b", 1536, "w4a8kv4")
    True
    >>> max_batch("l40s", "qwen1.5-72b", 1536, "fp16")      # 144 GB of weights
    0
    """
    gpu = hw if isinstance(hw, GPUSpec) else load_gpu(hw)
    spec = model if isinstance(model, LayerSpec) else layer_spec(model)
    prec = PRECISIONS[precision] if isinstance(precision, str) else precision
    weights, kv_one, _ = memory_bytes(spec, prec, "decode", context, 1)
    spare = _capacity(gpu) - weights
    if spare <= kv_one:
        return 0
    batch = int(spare // kv_one)
    while batch > 0 and sum(memory_bytes(spec, prec, "decode", context, batch)) > _capacity(gpu):
        batch -= 1
    return batch

"""The ``einsim layer`` document: a :class:`~simulator.layer.model.LayerStep` as plain data."""

from __future__ import annotations

from typing import Any

from simulator.layer.model import LayerStep, max_batch

__all__ = ["step_document", "step_text"]


def step_document(step: LayerStep) -> dict[str, Any]:
    """JSON keys: ``time_s attention_share memory_bytes fits kernels`` and the details.

    Examples
    --------
    >>> from simulator.layer import layer_step
    >>> doc = step_document(layer_step("h100", "llama-3-8b", "prefill", 1024, 1))
    >>> sorted(doc["kernels"][0])
    ['bound', 'count', 'dram_bytes', 'flops', 'kind', 'name', 'time_s']
    """
    prec = step.precision
    return {
        "hardware": step.hardware, "model": step.model, "phase": step.phase,
        "seq_len": step.seq_len, "batch": step.batch,
        "precision": {"name": prec.name, "weight_dtype": prec.weight, "act_dtype": prec.act,
                      "kv_dtype": prec.kv, "dequant": prec.dequant},
        "time_s": step.time_s, "layer_time_s": step.layer_time_s, "layers": step.layers,
        "attention_share": step.attention_share, "tokens_per_s": step.tokens / step.time_s,
        "memory_bytes": step.memory_bytes, "weight_bytes": step.weight_bytes,
        "kv_cache_bytes": step.kv_cache_bytes, "activation_bytes": step.activation_bytes,
        "capacity_bytes": step.capacity_bytes, "fits": step.fits,
        "max_batch": max_batch(step.hardware, step.model, step.seq_len, prec),
        "kernels": [k.as_dict() for k in step.kernels],
    }


def step_text(step: LayerStep) -> str:
    """A human-readable breakdown: one line per kernel, then the totals."""
    doc = step_document(step)
    lines = [f"{step.model} {step.phase} on {step.hardware}, {doc['precision']['name']}, "
             f"batch {step.batch}, {step.seq_len} tokens: {step.time_s * 1e3:.3f} ms per step "
             f"({step.layer_time_s * 1e6:.1f} us per layer x {step.layers}), attention "
             f"{step.attention_share:.1%}"]
    for kernel in step.kernels:
        lines.append(f"  {kernel.name:<16} {kernel.kind:<11} {kernel.time_s * 1e6:10.2f} us  "
                     f"x{kernel.count:<3} bound {kernel.bound}")
    verdict = "fits" if step.fits else "does NOT fit"
    lines.append(f"  memory {step.memory_bytes / 1e9:.2f} GB (weights {step.weight_bytes / 1e9:.2f}, "
                 f"KV {step.kv_cache_bytes / 1e9:.2f}, activations {step.activation_bytes / 1e9:.2f}) "
                 f"of {step.capacity_bytes / 1e9:.1f} GB usable: {verdict}; largest batch at "
                 f"{step.seq_len} tokens: {doc['max_batch']}")
    return "\n".join(lines)

"""Serving throughput at the largest batch that fits, and the QServe reproduction.

A serving benchmark (QServe's: prompts of ``input_tokens``, ``output_tokens`` generated,
``layer.yaml`` serving section) runs ``batch`` sequences at once: each prompt is prefilled
(one sequence at a time, as chunked prefill does), then ``output_tokens`` decode steps run
with the cache growing from ``input`` to ``input + output`` tokens; a decode step's time is
linear in the context (attention) plus a constant (weights), so the step at the mean context
``input + output / 2`` stands for all of them. ``batch`` is the largest that fits the KV
cache of ``input + output`` tokens next to the weights, capped by the scheduler's
``max_batch``. Throughput = generated tokens / time.

Examples
--------
>>> row = serving_throughput("a100", "llama-3-8b", "w4a8kv4")
>>> row.batch, row.tokens_per_s > serving_throughput("a100", "llama-3-8b", "fp16").tokens_per_s
(256, True)
"""

from __future__ import annotations

from typing import NamedTuple

from simulator.layer.model import layer_step, max_batch
from simulator.layer.precision import PRECISIONS
from simulator.layer.spec import layer_numbers

__all__ = ["ServingPoint", "serving_throughput"]


class ServingPoint(NamedTuple):
    """Throughput of one (GPU, model, precision) at its largest batch."""

    gpu: str
    model: str
    precision: str
    batch: int
    tokens_per_s: float
    decode_step_s: float
    prefill_s: float
    attention_share: float


def _serving(key: str) -> int:
    return int(layer_numbers()["serving"][key]["value"])


def serving_throughput(gpu: str, model: str, precision: str, input_tokens: int | None = None,
                       output_tokens: int | None = None) -> ServingPoint:
    """Generated tokens per second at the largest batch that fits ``input + output`` tokens.

    A configuration whose weights leave no room for one sequence gets batch 0 and 0 tokens/s.
    """
    prompt = input_tokens or _serving("input_tokens")
    output = output_tokens or _serving("output_tokens")
    prec = PRECISIONS[precision]
    batch = min(max_batch(gpu, model, prompt + output, prec), _serving("max_batch"))
    if batch == 0:
        return ServingPoint(gpu, model, precision, 0, 0.0, float("nan"), float("nan"), float("nan"))
    decode = layer_step(gpu, model, "decode", prompt + output // 2, batch, prec)
    prefill = layer_step(gpu, model, "prefill", prompt, 1, prec).time_s * batch
    total = prefill + output * decode.time_s
    return ServingPoint(decode.hardware, model, prec.name, batch, batch * output / total,
                        decode.time_s, prefill, decode.attention_share)

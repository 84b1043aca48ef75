"""Attention shapes from the CPU ops a PyTorch-profiler trace records (``record_shapes``).

Each extractor reads one op's ``Input Dims``, ``Input type`` and ``Concrete Inputs``
(scalar arguments printed as strings) and returns an :class:`AttentionShape`, or None
when the op's arguments do not determine one. Argument positions follow the op
schemas in PyTorch's ``aten/src/ATen/native/native_functions.yaml``; the layouts are
``[B, H, S, D]`` for the ``_scaled_dot_product_*`` ops and ``[B, S, H, D]`` (or
variable-length ``[T, H, D]`` with cumulative sequence lengths) for the kernel-level
``_flash_attention_forward`` / ``_efficient_attention_forward`` ops.

Serving engines (vLLM, SGLang) pass flattened token batches; how many sequences they
hold lives in a step annotation (``execute_context_1(888_788544)_generation_0(0)``,
``step[EXTEND bs=15 toks=15360]``), which :func:`batch_from_ranges` reads.

Examples
--------
>>> args = {"Input Dims": [[16, 16, 559, 64], [16, 16, 559, 64], [16, 16, 559, 64], [], [], [], []],
...         "Input type": ["c10::BFloat16"] * 3 + ["Scalar"] * 4,
...         "Concrete Inputs": ["", "", "", "0.", "True", "False", "0.125"]}
>>> shape = extract("aten::_scaled_dot_product_flash_attention", args, ())
>>> (shape.batch, shape.heads, shape.seq_q, shape.head_dim, shape.causal, shape.dtype)
(16, 16, 559, 64, True, 'bf16')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from simulator.traces.record import AttentionShape

__all__ = ["OP_NAMES", "batch_from_ranges", "extract", "refine_from_kernel", "torch_dtype"]

_DTYPES = {"c10::BFloat16": "bf16", "c10::Half": "fp16", "float": "fp32", "c10::Float8_e4m3fn": "fp8",
           "c10::Float8_e5m2": "fp8", "c10::Float8_e4m3fnuz": "fp8", "c10::Float8_e5m2fnuz": "fp8",
           "double": "fp32", "BFloat16": "bf16", "Half": "fp16", "Float": "fp32"}


def torch_dtype(name: str) -> str | None:
    """Einsim's dtype name for a profiler ``Input type`` (``c10::BFloat16`` → ``bf16``)."""
    return _DTYPES.get(name)


class _Args:
    """Typed access to one op's recorded arguments (missing entries read as None)."""

    def __init__(self, args: Mapping[str, Any]) -> None:
        self.dims: list = list(args.get("Input Dims") or [])
        self.types: list = list(args.get("Input type") or [])
        self.concrete: list = list(args.get("Concrete Inputs") or [])

    def dim(self, index: int) -> list[int]:
        """The dims of input ``index`` ([] when absent or not a tensor)."""
        value = self.dims[index] if index < len(self.dims) else []
        return [int(v) for v in value] if isinstance(value, list) else []

    def text(self, index: int) -> str:
        """Concrete input ``index`` as printed ("" when absent)."""
        value = self.concrete[index] if index < len(self.concrete) else ""
        return str(value).strip()

    def flag(self, index: int) -> bool | None:
        """A boolean concrete input (None when not printed)."""
        return {"True": True, "False": False, "1": True, "0": False}.get(self.text(index))

    def integer(self, index: int) -> int | None:
        """An integer concrete input (None when not printed)."""
        try:
            return int(float(self.text(index)))
        except ValueError:
            return None

    def dtype(self, index: int = 0) -> str:
        """Einsim dtype of input ``index`` (bf16 when unknown)."""
        known = torch_dtype(self.types[index]) if index < len(self.types) else None
        return known or "bf16"


def _window(args: _Args, left: int, right: int) -> int | None:
    """A sliding-window size from (left, right) window arguments; None when unbounded."""
    lo = args.integer(left)
    return lo + 1 if lo is not None and lo >= 0 else None


def _bhsd(args: _Args, causal_at: int, mask_at: int | None = None) -> AttentionShape | None:
    """``[B, H, S, D]`` query, key and value (the ``_scaled_dot_product_*`` ops)."""
    q, k, v = args.dim(0), args.dim(1), args.dim(2)
    if len(q) != 4 or len(k) != 4:
        return None
    causal = bool(args.flag(causal_at))
    note = "explicit attention mask (priced unmasked)" if mask_at is not None and args.dim(mask_at) else ""
    return AttentionShape(batch=q[0], heads=q[1], kv_heads=k[1], seq_q=q[2], seq_kv=k[2],
                          head_dim=q[3], head_dim_v=v[3] if len(v) == 4 else q[3], causal=causal,
                          dtype=args.dtype(), note=note)


def _bshd(args: _Args, max_q_at: int, max_k_at: int, cu_q_at: int) -> dict[str, Any] | None:
    """Sizes from ``[B, S, H, D]`` tensors, or ``[T, H, D]`` with cumulative lengths."""
    q, k, v = args.dim(0), args.dim(1), args.dim(2)
    if len(q) == 4 and len(k) == 4:
        return dict(batch=q[0], heads=q[2], kv_heads=k[2], seq_q=q[1], seq_kv=k[1], head_dim=q[3],
                    head_dim_v=v[3] if len(v) == 4 else q[3], note="")
    cu = args.dim(cu_q_at)
    if len(q) == 3 and len(k) == 3 and len(cu) == 1 and cu[0] > 1:
        batch = cu[0] - 1
        seq_q = max(q[0] // batch, 1)
        seq_kv = max(k[0] // batch, 1)
        note = f"variable-length batch of {batch}: mean lengths"
        if args.integer(max_q_at) == seq_q and q[0] == batch * seq_q:
            seq_kv, note = args.integer(max_k_at) or seq_kv, ""
        return dict(batch=batch, heads=q[1], kv_heads=k[1], seq_q=seq_q, seq_kv=seq_kv,
                    head_dim=q[2], head_dim_v=v[2] if len(v) == 3 else q[2], note=note)
    return None


def _flash_forward(args: _Args, ranges: Sequence[str]) -> AttentionShape | None:
    """Shape of ``aten::_flash_attention_forward``.

    Schema: ``(q, k, v, cum_q, cum_k, max_q, max_k, dropout, is_causal, return_debug_mask,
    scale, window_left, window_right, ...)``.
    """
    sizes = _bshd(args, 5, 6, 3)
    if sizes is None:
        return None
    return AttentionShape(**sizes, causal=bool(args.flag(8)), dtype=args.dtype(),
                          window=_window(args, 11, 12))


def _efficient_forward(args: _Args, ranges: Sequence[str]) -> AttentionShape | None:
    """Shape of ``aten::_efficient_attention_forward``.

    Schema: ``(q, k, v, bias, cu_q, cu_k, max_q, max_k, dropout, custom_mask_type, ...)``;
    mask type 1/2 = causal from the top left/bottom right.
    """
    sizes = _bshd(args, 6, 7, 4)
    if sizes is None:
        return None
    return AttentionShape(**sizes, causal=args.integer(9) in (1, 2), dtype=args.dtype())


_VLLM_STEP = re.compile(r"execute_context_(\d+)\((\d+)_\d+\)_generation_(\d+)\((\d+)")
_SGLANG_STEP = re.compile(r"step\[(EXTEND|DECODE|MIXED)\s+bs=(\d+)(?:\s+toks=(\d+))?")


def batch_from_ranges(ranges: Sequence[str]) -> tuple[int, int, str] | None:
    """``(prefill sequences, decode sequences, the annotation)`` from a serving step name.

    Examples
    --------
    >>> batch_from_ranges(["execute_context_1(888_788544)_generation_0(0)"])[:2]
    (1, 0)
    >>> batch_from_ranges(["step[EXTEND bs=15 toks=15360]"])[:2]
    (15, 0)
    """
    for name in reversed(ranges):
        match = _VLLM_STEP.search(name)
        if match:
            return int(match.group(1)), int(match.group(3)), name
        match = _SGLANG_STEP.search(name)
        if match:
            count = int(match.group(2))
            return (0, count, name) if match.group(1) == "DECODE" else (count, 0, name)
    return None


def _vllm_attention(args: _Args, ranges: Sequence[str]) -> AttentionShape | None:
    """``vllm::unified_attention[_with_output](query [T, H, D], key [T, Hkv, D], value, ...)``.

    The step annotation says how many sequences the ``T`` new tokens hold; a prefill-only
    step of ``n`` sequences is ``n`` causal sequences of ``T / n`` tokens with no cached
    prefix (vLLM's step name gives no per-request lengths).
    """
    q, k, v = args.dim(0), args.dim(1), args.dim(2)
    composition = batch_from_ranges(ranges)
    if len(q) != 3 or len(k) != 3 or composition is None:
        return None
    prefill, decode, step = composition
    if prefill < 1 or decode:
        return None
    seq = max(q[0] // prefill, 1)
    note = f"{prefill} sequence(s) of {seq} new tokens from '{step}'; no cached prefix assumed"
    return AttentionShape(batch=prefill, heads=q[1], kv_heads=k[1], seq_q=seq, seq_kv=seq,
                          head_dim=q[2], head_dim_v=v[2] if len(v) == 3 else q[2], causal=True,
                          dtype=args.dtype(0), kv_dtype=args.dtype(1), note=note)


def _aiter_prefill(args: _Args, ranges: Sequence[str]) -> AttentionShape | None:
    """Shape of ``aiter::mha_batch_prefill`` (a paged KV cache).

    Schema: ``(q [T, H, D], k_cache, v_cache, cu_seqlens_q, kv_indptr, kv_page_indices,
    max_seqlen_q, max_seqlen_k, dropout, scale, logits_soft_cap, zero_tensors, is_causal,
    window_left, window_right, ...)``.
    """
    q, k = args.dim(0), args.dim(1)
    cu = args.dim(3)
    if len(q) != 3 or len(k) < 2 or len(cu) != 1 or cu[0] < 2:
        return None
    batch = cu[0] - 1
    max_q, max_k = args.integer(6), args.integer(7)
    seq_q = q[0] // batch
    uniform = max_q == seq_q and q[0] == batch * seq_q
    note = "paged KV; uniform batch (total = batch x max_seqlen_q)" if uniform else \
        f"paged KV; variable-length batch of {batch}: mean query length, max key length"
    return AttentionShape(batch=batch, heads=q[1], kv_heads=k[-2], seq_q=seq_q,
                          seq_kv=max_k or seq_q, head_dim=q[2], head_dim_v=q[2],
                          causal=bool(args.flag(12)), dtype=args.dtype(), window=_window(args, 13, 14),
                          paged=True, note=note)


_Extractor = Callable[[_Args, Sequence[str]], "AttentionShape | None"]

_EXTRACTORS: dict[str, _Extractor] = {
    "aten::_flash_attention_forward": _flash_forward,
    "aten::_efficient_attention_forward": _efficient_forward,
    "aten::_scaled_dot_product_flash_attention": lambda a, r: _bhsd(a, 4),
    "aten::_scaled_dot_product_efficient_attention": lambda a, r: _bhsd(a, 6, 3),
    "aten::_scaled_dot_product_cudnn_attention": lambda a, r: _bhsd(a, 6, 3),
    "aten::_scaled_dot_product_flash_attention_for_cpu": lambda a, r: _bhsd(a, 4),
    "aten::scaled_dot_product_attention": lambda a, r: _bhsd(a, 5, 3),
    "vllm::unified_attention_with_output": _vllm_attention,
    "vllm::unified_attention": _vllm_attention,
    "aiter::mha_batch_prefill": _aiter_prefill,
}
#: The op names an importer should consider (innermost first wins).
OP_NAMES = frozenset(_EXTRACTORS)


def extract(op: str, args: Mapping[str, Any], ranges: Sequence[str]) -> AttentionShape | None:
    """The shape one op's recorded arguments give (None when they do not give one)."""
    extractor = _EXTRACTORS.get(op)
    if extractor is None:
        return None
    try:
        return extractor(_Args(args), ranges)
    except (TypeError, ValueError, ZeroDivisionError):
        return None   # malformed arguments: the launch stays unlinked rather than failing


_TRTLLM_TYPES = re.compile(r"Qkv(E4m3|E5m2|Bfloat16|Fp16)O")
_TRTLLM_DTYPES = {"E4m3": "fp8", "E5m2": "fp8", "Bfloat16": "bf16", "Fp16": "fp16"}


def refine_from_kernel(shape: AttentionShape, kernel: str) -> AttentionShape:
    """Facts the kernel name states that the op's arguments do not.

    TensorRT-LLM-gen FMHA names spell the Q/K/V element type (``QkvE4m3``: an FP8 KV
    cache even when the op's new keys are bf16) and a sliding window
    (``SlidingOrChunkedCausal``, whose size the trace does not record).

    Examples
    --------
    >>> s = AttentionShape(1, 8, 1, 888, 888, 64, causal=True, kv_dtype="bf16")
    >>> r = refine_from_kernel(s, "fmhaSm100aKernel_QkvE4m3OBfloat16H64PagedKvSlidingOrChunkedCausalP16")
    >>> r.kv_dtype, r.paged, r.page_size, "sliding window" in r.note
    ('fp8', True, 16, True)
    """
    match = _TRTLLM_TYPES.search(kernel)
    if match is None:
        return shape
    page = re.search(r"PagedKv\w*?P(\d+)", kernel)
    notes = [shape.note] if shape.note else []
    if "SlidingOrChunked" in kernel and shape.window is None:
        notes.append("the kernel applies a sliding window whose size the trace does not record: "
                     "priced causal (give 'window' in a --manifest rule with override: true)")
    return replace(shape, kv_dtype=_TRTLLM_DTYPES[match.group(1)], paged=shape.paged or "PagedKv" in kernel,
                   page_size=int(page.group(1)) if page else shape.page_size, note="; ".join(notes))

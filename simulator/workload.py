"""Attention workloads: problem shapes, dtype byte rules and a catalogue of model shapes.

An :class:`AttentionProblem` is one attention call (``B`` batch, ``H`` query heads, ``Hkv`` KV
heads, ``P`` = ``seq_q`` queries, ``M`` = ``seq_kv`` keys, head dims ``E`` and ``F``); a
:class:`ModelShape` is a model's attention-relevant hyperparameters, looked up by name in
``simulator/data/models.yaml`` or read from a Hugging Face ``config.json``.

Examples
--------
>>> problem = problem_from_model("llama-3-8b", batch=1, seq_q=4096, causal=True)
>>> problem.group_size, problem.seq_kv
(4, 4096)
>>> problem.flops == 4 * 1 * 32 * 4096 * 4096 * 128 // 2   # FlashAttention convention
True
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import yaml

from einsum.textfile import read_text_file
from simulator.errors import SpecError

__all__ = [
    "INPUT_DTYPES",
    "KV_DTYPES",
    "AttentionProblem",
    "MAX_WORK",
    "check_int64_work",
    "KVFormat",
    "MLAShape",
    "ModelShape",
    "causal_fraction",
    "get_model",
    "list_models",
    "load_hf_config",
    "problem_from_model",
]

#: Bytes per element of Q/K/V/O inputs, by dtype name.
INPUT_DTYPES: Mapping[str, float] = MappingProxyType(
    {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0}
)


class KVFormat(NamedTuple):
    """Storage of one cached K or V vector: element width and per-vector metadata bytes."""

    bits: int
    metadata_bytes: int


#: KV-cache formats. Quantized formats carry FP16 metadata per (token, KV head) vector, for K
#: and for V separately: int4/int8 an asymmetric scale + zero (4 B; QServe KV4 gives
#: 0.5 + 4/E bytes/element, attention_variants.md section 17(c)); fp8 a symmetric scale (2 B).
KV_DTYPES: Mapping[str, KVFormat] = MappingProxyType({
    "fp32": KVFormat(32, 0), "fp16": KVFormat(16, 0), "bf16": KVFormat(16, 0),
    "fp8": KVFormat(8, 2), "int8": KVFormat(8, 4), "int4": KVFormat(4, 4),
})

_DTYPE_ALIASES = {
    "float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16",
    "float8": "fp8", "e4m3": "fp8", "fp8-e4m3": "fp8", "fp8-e5m2": "fp8",
    "uint8": "int8", "uint4": "int4",
}


def _normalize(name: str) -> str:
    """Case-fold a name and treat '_' and ' ' as '-'."""
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def _dtype(value: Any, table: Mapping[str, Any], what: str) -> str:
    """Normalize a dtype name (``'BF16'``, ``'bfloat16'``) and check it is in ``table``."""
    key = _DTYPE_ALIASES.get(_normalize(value), _normalize(value)) if isinstance(value, str) else ""
    if key not in table:
        raise SpecError(f"{what}: expected one of {', '.join(table)}; got {value!r}")
    return key


def _positive_int(value: Any, what: str) -> int:
    """Return ``value`` as int if it is a positive integer, else raise SpecError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise SpecError(f"{what}: expected a positive integer; got {value!r}")
    return int(value)


#: The most multiply-accumulates one problem may count, B·H·P·M·E < 2^61, so that FLOP and
#: element counts (4·B·H·P·M·E and smaller products) stay exact in int64.
MAX_WORK = 2**61


def check_int64_work(batch_heads: Any, seq_q: Any, seq_kv: Any, head_dim: Any, context: str) -> None:
    """Refuse sizes whose product B·H·P·M·E overflows the model's int64 counts (scalars or arrays).

    Examples
    --------
    >>> check_int64_work(1, 10**15, 10**15, 64, "predict")
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: predict: B*H*P*M*E = 6.4e+31 multiply-accumulates; ...
    """
    work = (np.asarray(batch_heads, dtype=float) * np.asarray(seq_q, dtype=float)
            * np.asarray(seq_kv, dtype=float) * np.asarray(head_dim, dtype=float))
    worst = float(np.max(work)) if np.size(work) else 0.0
    if not worst < MAX_WORK:
        raise SpecError(f"{context}: B*H*P*M*E = {worst:.2g} multiply-accumulates; the model counts "
                        f"in int64 and accepts at most 2^61 ({MAX_WORK:.2g}): expected smaller sizes")


def _optional_int(value: Any, what: str) -> int | None:
    """Like :func:`_positive_int` but None passes through."""
    return None if value is None else _positive_int(value, what)


def _check_groups(heads: int, kv_heads: int, context: str) -> None:
    """Query heads must split evenly over KV heads (GQA groups)."""
    if heads % kv_heads:
        raise SpecError(f"{context}: heads ({heads}) is not divisible by kv_heads ({kv_heads})")


def causal_fraction(seq_q: Any, seq_kv: Any) -> Any:
    """Fraction of the ``P x M`` score matrix a causal mask keeps (FlashAttention convention).

    Masks are bottom-right aligned (query ``p`` sees keys ``m <= p + M - P``, as in
    FlashAttention >= 2.1) and the diagonal is counted as half, so ``P == M`` gives exactly
    1/2 (the FA benchmarks' "causal / 2"), decode (``P = 1``) gives ``1 - 1/(2M)`` and
    ``P > M`` gives ``M / (2P)``. Works elementwise on numpy arrays.

    Examples
    --------
    >>> causal_fraction(4096, 4096), causal_fraction(1024, 4096), causal_fraction(8, 4)
    (0.5, 0.875, 0.25)
    """
    ratio = seq_q / seq_kv
    return _where(ratio <= 1, 1 - ratio / 2, 1 / (2 * ratio))


def _where(condition: Any, if_true: Any, if_false: Any) -> Any:
    """Scalar-or-array select without importing numpy for plain numbers."""
    if isinstance(condition, bool):
        return if_true if condition else if_false
    import numpy as np

    return np.where(condition, if_true, if_false)


@dataclass(frozen=True)
class AttentionProblem:
    """One attention call; FLOPs follow the FlashAttention benchmark convention.

    Parameters
    ----------
    batch, heads, kv_heads, seq_q, seq_kv, head_dim_qk : int
        ``B``, ``H`` (query heads), ``Hkv``, ``P``, ``M`` and ``E``; all positive, ``H``
        divisible by ``Hkv``.
    head_dim_v : int, optional
        ``F``; defaults to ``E``.
    dtype : str
        Q/K/V/O input dtype, one of :data:`INPUT_DTYPES` (``fp16`` by default).
    kv_dtype : str, optional
        KV-cache format, one of :data:`KV_DTYPES`; defaults to ``dtype``.
    causal : bool
        Causal (bottom-right aligned) mask; see :func:`causal_fraction`.
    sparsity : object, optional
        A sparsity configuration, opaque here (``flops`` ignores it).
    shared_kv : bool
        V is a slice of the cached K vector (MLA absorbed form), so only K is cached.
    page_size : int, optional
        Tokens per page of a paged KV cache (vLLM, FlashInfer, FA3 paged); None = contiguous.

    Examples
    --------
    >>> p = AttentionProblem(batch=2, heads=32, kv_heads=8, seq_q=1, seq_kv=8192,
    ...                      head_dim_qk=128, kv_dtype="int4")
    >>> p.group_size, p.kv_bytes_per_element   # 0.5 + 4/128
    (4, 0.53125)
    >>> p.kv_cache_bytes == 2 * 8 * 8192 * 2 * (128 * 0.5 + 4)
    True
    """

    batch: int
    heads: int
    kv_heads: int
    seq_q: int
    seq_kv: int
    head_dim_qk: int
    head_dim_v: int | None = None
    dtype: str = "fp16"
    kv_dtype: str | None = None
    causal: bool = False
    sparsity: object | None = field(default=None, hash=False)
    shared_kv: bool = False
    page_size: int | None = None

    def __post_init__(self) -> None:
        context = "AttentionProblem"
        for name in ("batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim_qk"):
            value = _positive_int(getattr(self, name), f"{context}: key '{name}'")
            object.__setattr__(self, name, value)
        head_dim_v = self.head_dim_qk if self.head_dim_v is None else self.head_dim_v
        object.__setattr__(self, "head_dim_v", _positive_int(head_dim_v, f"{context}: key "
                                                             "'head_dim_v'"))
        _check_groups(self.heads, self.kv_heads, context)
        check_int64_work(self.batch * self.heads, self.seq_q, self.seq_kv,
                         max(self.head_dim_qk, self.v_dim), context)
        _optional_int(self.page_size, f"{context}: key 'page_size'")
        dtype = _dtype(self.dtype, INPUT_DTYPES, f"{context}: key 'dtype'")
        kv_dtype = dtype if self.kv_dtype is None else self.kv_dtype
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "kv_dtype", _dtype(kv_dtype, KV_DTYPES, f"{context}: key "
                                                    "'kv_dtype'"))
        for flag in ("causal", "shared_kv"):
            if not isinstance(getattr(self, flag), bool):
                raise SpecError(f"{context}: key '{flag}': expected true or false; "
                                f"got {getattr(self, flag)!r}")
        if self.shared_kv and self.v_dim > self.head_dim_qk:
            raise SpecError(f"{context}: shared_kv needs head_dim_v ({self.v_dim}) <= "
                            f"head_dim_qk ({self.head_dim_qk})")

    def __str__(self) -> str:
        mask = " causal" if self.causal else ""
        return (f"B={self.batch} H={self.heads} Hkv={self.kv_heads} P={self.seq_q} "
                f"M={self.seq_kv} E={self.head_dim_qk} F={self.v_dim} {self.dtype} "
                f"kv={self.kv_dtype}{mask}")

    @property
    def v_dim(self) -> int:
        """``F`` as a plain int (``head_dim_v`` after normalization)."""
        return int(self.head_dim_v or self.head_dim_qk)

    @property
    def group_size(self) -> int:
        """``G``: query heads per KV head."""
        return self.heads // self.kv_heads

    @property
    def input_bytes_per_element(self) -> float:
        """Bytes per Q/K/V/O element in ``dtype``."""
        return INPUT_DTYPES[self.dtype]

    def _vector_bytes(self, dim: int) -> float:
        """Bytes of one cached K or V vector of ``dim`` elements, metadata included."""
        kv_format = KV_DTYPES[str(self.kv_dtype)]
        return dim * kv_format.bits / 8 + kv_format.metadata_bytes

    @property
    def k_bytes_per_element(self) -> float:
        """Cached bytes per K element including scale/zero metadata (``bits/8 + meta/E``)."""
        return self._vector_bytes(self.head_dim_qk) / self.head_dim_qk

    @property
    def v_bytes_per_element(self) -> float:
        """Cached bytes per V element including scale/zero metadata (``bits/8 + meta/F``)."""
        return self._vector_bytes(self.v_dim) / self.v_dim

    @property
    def kv_bytes_per_element(self) -> float:
        """Mean cached bytes per K/V element: ``kv_cache_bytes`` / cached elements."""
        dims = self.head_dim_qk + (0 if self.shared_kv else self.v_dim)
        return self.kv_cache_bytes / (self.batch * self.kv_heads * self.seq_kv * dims)

    @property
    def kv_cache_bytes(self) -> float:
        """Bytes of the K and V cache for ``seq_kv`` tokens (V omitted when ``shared_kv``)."""
        per_head = self._vector_bytes(self.head_dim_qk)
        if not self.shared_kv:
            per_head += self._vector_bytes(self.v_dim)
        return self.batch * self.kv_heads * self.seq_kv * per_head

    @property
    def causal_fraction(self) -> float:
        """Kept fraction of the score matrix: 1, or :func:`causal_fraction` if causal."""
        return float(causal_fraction(self.seq_q, self.seq_kv)) if self.causal else 1.0

    @property
    def flops(self) -> float:
        """Forward FLOPs of the two GEMMs: ``2·B·H·P·M·(E+F)`` x causal fraction.

        With ``E = F`` this is the FlashAttention ``4·B·H·P·M·E`` (halved when causal and
        ``P = M``); softmax, masking and scaling are not counted.
        """
        dense = (2 * self.batch * self.heads * self.seq_q * self.seq_kv
                 * (self.head_dim_qk + self.v_dim))
        return dense * self.causal_fraction


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class MLAShape:
    """Multi-head latent attention dims (DeepSeek-V2/V3): latent and decoupled-RoPE sizes.

    Examples
    --------
    >>> MLAShape(kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64,
    ...          v_head_dim=128).cache_values_per_token
    576
    """

    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    q_lora_rank: int | None = None

    def __post_init__(self) -> None:
        for name in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
            _positive_int(getattr(self, name), f"MLAShape: key '{name}'")
        _optional_int(self.q_lora_rank, "MLAShape: key 'q_lora_rank'")

    @property
    def cache_values_per_token(self) -> int:
        """Cached values per token and layer: latent ``d_c`` + RoPE key ``d_R``."""
        return self.kv_lora_rank + self.qk_rope_head_dim


@dataclass(frozen=True)
class ModelShape:
    """Attention-relevant hyperparameters of a model.

    ``head_dim`` is the Q/K head dim, ``head_dim_v`` the V head dim (defaults to
    ``head_dim``); ``token_layout`` is the token grid of vision/video models (its product
    is the sequence length); ``mla`` marks multi-head latent attention, for which
    ``kv_heads``/``head_dim`` describe the naive (prefill) form.

    Examples
    --------
    >>> get_model("Llama-3-70B").group_size
    8
    >>> get_model("hunyuanvideo").tokens
    115200
    """

    name: str
    d_model: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn_hidden: int | None = None
    layers: int | None = None
    token_layout: tuple[int, ...] | None = None
    sliding_window: int | None = None
    head_dim_v: int | None = None
    mla: MLAShape | None = None
    source: str = field(default="", compare=False)
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        context = f"model '{self.name}'"
        for name in ("d_model", "heads", "kv_heads", "head_dim"):
            _positive_int(getattr(self, name), f"{context}: key '{name}'")
        for name in ("ffn_hidden", "layers", "sliding_window", "head_dim_v"):
            _optional_int(getattr(self, name), f"{context}: key '{name}'")
        _check_groups(self.heads, self.kv_heads, context)
        if self.head_dim_v is None:
            object.__setattr__(self, "head_dim_v", self.head_dim)
        if self.token_layout is not None:
            layout = tuple(self.token_layout)
            if not layout or any(isinstance(n, bool) or not isinstance(n, int) or n <= 0
                                 for n in layout):
                raise SpecError(f"{context}: key 'token_layout': expected a list of positive "
                                f"integers; got {self.token_layout!r}")
            object.__setattr__(self, "token_layout", layout)

    @property
    def group_size(self) -> int:
        """``G``: query heads per KV head."""
        return self.heads // self.kv_heads

    @property
    def tokens(self) -> int | None:
        """Tokens in ``token_layout`` (None without a layout)."""
        return math.prod(self.token_layout) if self.token_layout else None

    @property
    def is_mla(self) -> bool:
        """True for multi-head latent attention models."""
        return self.mla is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready document with snake_case keys."""
        document = {name: getattr(self, name) for name in self.__dataclass_fields__}
        document["mla"] = None if self.mla is None else dict(vars(self.mla))
        document["token_layout"] = list(self.token_layout) if self.token_layout else None
        document.update(group_size=self.group_size, tokens=self.tokens)
        return document


_ENTRY_KEYS = frozenset({
    "name", "aliases", "d_model", "heads", "kv_heads", "head_dim", "head_dim_v", "ffn_hidden",
    "layers", "token_layout", "sliding_window", "mla", "source", "notes",
})


def _model_from_entry(label: str, entry: Any) -> tuple[ModelShape, tuple[str, ...]]:
    """Build one catalogue entry (and its aliases) from a models.yaml mapping."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        raise SpecError(f"{label}: expected a mapping with a 'name'; got {entry!r}")
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise SpecError(f"{label}: model '{entry['name']}': unknown key '{unknown[0]}'")
    fields = {k: v for k, v in entry.items() if k != "aliases"}
    if isinstance(fields.get("mla"), Mapping):
        fields["mla"] = MLAShape(**fields["mla"])
    try:
        return ModelShape(**fields), tuple(entry.get("aliases", ()))
    except TypeError as err:  # a required key is missing
        raise SpecError(f"{label}: model '{entry['name']}': {err}") from None


@functools.lru_cache(maxsize=1)
def _catalogue() -> Mapping[str, ModelShape]:
    """Map normalized names and aliases of ``simulator/data/models.yaml`` to shapes."""
    text = (files("simulator") / "data" / "models.yaml").read_text(encoding="utf-8")
    key2model: dict[str, ModelShape] = {}
    for entry in yaml.safe_load(text)["models"]:
        model, aliases = _model_from_entry("models.yaml", entry)
        for key in (model.name, *aliases):
            key2model.setdefault(_normalize(key), model)
    return MappingProxyType(key2model)


def list_models() -> list[str]:
    """Canonical names of the built-in model catalogue, in file order.

    Examples
    --------
    >>> list_models()[:3]
    ['bert-base', 'trxl-wt103', 't5-small']
    """
    names: dict[str, None] = {}
    for model in _catalogue().values():
        names.setdefault(model.name, None)
    return list(names)


def get_model(name_or_path: str | os.PathLike[str]) -> ModelShape:
    """Look up a model by name or alias (case-insensitive), or read a ``config.json`` path.

    Parameters
    ----------
    name_or_path : str or path-like
        A catalogue name such as ``"llama-3-8b"`` / ``"Qwen1.5-72B"``, or a path to a
        Hugging Face ``config.json``.

    Returns
    -------
    ModelShape

    Raises
    ------
    SpecError
        For an unknown name (the message lists the known ones) or a bad config file.

    Examples
    --------
    >>> get_model("Mistral-7B").sliding_window
    4096
    >>> get_model("deepseek-v3").mla.cache_values_per_token
    576
    """
    text = os.fspath(name_or_path)
    if not isinstance(name_or_path, str) or text.endswith(".json") or os.sep in text:
        return load_hf_config(name_or_path)
    model = _catalogue().get(_normalize(text))
    if model is None:
        raise SpecError(f"unknown model '{text}'; known: {', '.join(list_models())} "
                        "(or give a path to a config.json)")
    return model


def problem_from_model(
    model: str | os.PathLike[str] | ModelShape, batch: int = 1, seq_q: int | None = None,
    seq_kv: int | None = None, *, dtype: str = "fp16", kv_dtype: str | None = None,
    causal: bool = False, sparsity: object | None = None, mla_form: str = "absorbed",
) -> AttentionProblem:
    """Build the :class:`AttentionProblem` of one attention layer of a model.

    Parameters
    ----------
    model : str, path-like or ModelShape
        Catalogue name, ``config.json`` path or shape.
    batch, seq_q, seq_kv : int
        ``B``, ``P``, ``M``; ``seq_q`` defaults to the token-layout size, ``seq_kv`` to ``P``.
    dtype, kv_dtype, causal, sparsity
        Passed to :class:`AttentionProblem`.
    mla_form : {"absorbed", "naive"}
        MLA models only: absorbed decode form (1 latent KV head, ``E = d_c + d_R``,
        ``F = d_c``, only the latent cached) or naive prefill form (``E = d_nope + d_R``).

    Returns
    -------
    AttentionProblem

    Raises
    ------
    SpecError
        If ``seq_q`` is missing for a model without a token layout, or a value is invalid.

    Examples
    --------
    >>> p = problem_from_model("deepseek-v3", batch=1, seq_q=1, seq_kv=4096)
    >>> p.kv_heads, p.head_dim_qk, p.head_dim_v, p.kv_cache_bytes == 4096 * 576 * 2
    (1, 576, 512, True)
    >>> problem_from_model("flux-4k").seq_q
    65536
    """
    shape = model if isinstance(model, ModelShape) else get_model(model)
    seq_q = shape.tokens if seq_q is None else seq_q
    if seq_q is None:
        raise SpecError(f"model '{shape.name}' has no token layout; give seq_q")
    heads, kv_heads, head_dim_qk, head_dim_v, shared_kv = _attention_dims(shape, mla_form)
    return AttentionProblem(
        batch=batch, heads=heads, kv_heads=kv_heads, seq_q=seq_q,
        seq_kv=seq_q if seq_kv is None else seq_kv, head_dim_qk=head_dim_qk,
        head_dim_v=head_dim_v, dtype=dtype, kv_dtype=kv_dtype, causal=causal,
        sparsity=sparsity, shared_kv=shared_kv,
    )


def _attention_dims(shape: ModelShape, mla_form: str) -> tuple[int, int, int, int, bool]:
    """(heads, kv_heads, E, F, shared_kv) of a model's attention in the requested form."""
    if mla_form not in ("absorbed", "naive"):
        raise SpecError(f"mla_form: expected one of absorbed, naive; got {mla_form!r}")
    mla = shape.mla
    if mla is None or mla_form == "naive":
        return shape.heads, shape.kv_heads, shape.head_dim, int(shape.head_dim_v or 0), False
    return shape.heads, 1, mla.cache_values_per_token, mla.kv_lora_rank, True


# --------------------------------------------------------------------------- HF configs

#: Accepted Hugging Face config keys per ModelShape field, most common first.
_HF_KEYS: dict[str, tuple[str, ...]] = {
    "d_model": ("hidden_size", "d_model", "n_embd", "dim"),
    "heads": ("num_attention_heads", "num_heads", "n_head", "n_heads"),
    "layers": ("num_hidden_layers", "num_layers", "n_layer", "n_layers"),
    "kv_heads": ("num_key_value_heads", "num_kv_heads", "n_head_kv"),
    "head_dim": ("head_dim", "d_kv"),
    "ffn_hidden": ("intermediate_size", "d_ff", "n_inner", "ffn_dim"),
    "sliding_window": ("sliding_window",),
}
_HF_REQUIRED = ("d_model", "heads", "layers")
_MLA_KEYS = ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")


#: The largest dimension a model config may give (2^31): real ones are below 10^6.
_MAX_CONFIG_INT = 2**31


def _hf_value(label: str, config: Mapping[str, Any], name: str) -> int | None:
    """First present, non-null HF key for ``name``, validated as a positive integer."""
    for key in _HF_KEYS[name]:
        if config.get(key) is not None:
            value = _positive_int(config[key], f"{label}: key '{key}'")
            if value > _MAX_CONFIG_INT:
                raise SpecError(f"{label}: key '{key}': expected at most {_MAX_CONFIG_INT}; got {value}")
            return value
    if name in _HF_REQUIRED:
        first, *others = _HF_KEYS[name]
        raise SpecError(f"{label}: missing key '{first}' (also accepted: {', '.join(others)}): "
                        "expected a positive integer")
    return None


def _read_json(path: Path, label: str) -> Mapping[str, Any]:
    """Read a JSON object, turning I/O and syntax errors into one-line SpecErrors."""
    if not path.is_file():
        raise SpecError(f"{label}: config file not found")
    try:
        config = json.loads(read_text_file(path, "config.json", SpecError))
    except json.JSONDecodeError as err:
        raise SpecError(f"{label}: line {err.lineno}, column {err.colno}: malformed JSON: "
                        f"{err.msg}") from None
    if not isinstance(config, Mapping):
        raise SpecError(f"{label}: expected a JSON object; got {type(config).__name__}")
    nested = config.get("text_config")  # multimodal configs keep the LM shape here
    if "hidden_size" not in config and isinstance(nested, Mapping):
        return nested
    return config


def _hf_head_dims(label: str, config: Mapping[str, Any], values: dict[str, Any]) -> None:
    """Fill ``head_dim``, ``head_dim_v`` and ``mla`` (defaults: hidden / heads; MLA dims)."""
    if config.get("kv_lora_rank") is not None:
        dims = {k: _positive_int(config.get(k), f"{label}: key '{k}'") for k in _MLA_KEYS}
        mla = MLAShape(**dims, q_lora_rank=_optional_int(config.get("q_lora_rank"),
                                                         f"{label}: key 'q_lora_rank'"))
        values.update(mla=mla, head_dim=mla.qk_nope_head_dim + mla.qk_rope_head_dim,
                      head_dim_v=mla.v_head_dim)
    elif values["head_dim"] is None:
        if values["d_model"] % values["heads"]:
            raise SpecError(f"{label}: missing key 'head_dim' and hidden size "
                            f"({values['d_model']}) is not divisible by the heads "
                            f"({values['heads']})")
        values["head_dim"] = values["d_model"] // values["heads"]


def load_hf_config(path: str | os.PathLike[str]) -> ModelShape:
    """Read a Hugging Face ``config.json`` into a :class:`ModelShape`.

    Reads ``hidden_size``, ``num_attention_heads``, ``num_key_value_heads`` (default: the
    heads), ``head_dim`` (default: hidden / heads), ``intermediate_size``,
    ``num_hidden_layers`` and ``sliding_window`` (ignored if ``use_sliding_window`` is
    false), plus the T5/GPT-2 spellings (``d_model``, ``num_heads``, ``d_kv``, ``d_ff``,
    ``n_embd``, ``n_head``, ``n_layer``...) and DeepSeek MLA fields (``kv_lora_rank``...).

    Parameters
    ----------
    path : str or path-like
        The ``config.json`` file.

    Returns
    -------
    ModelShape
        Named after ``_name_or_path`` or, failing that, the file's directory.

    Raises
    ------
    SpecError
        If the file is missing or malformed, a required key is missing, a value is not a
        positive integer, or the heads do not divide evenly; the message names the file.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "bert"
    >>> folder.mkdir()
    >>> _ = (folder / "config.json").write_text(json.dumps({"hidden_size": 768,
    ...     "num_attention_heads": 12, "intermediate_size": 3072, "num_hidden_layers": 12}))
    >>> shape = load_hf_config(folder / "config.json")
    >>> shape.name, shape.head_dim, shape.kv_heads
    ('bert', 64, 12)
    """
    file, label = Path(path).expanduser(), os.fspath(path)
    config = _read_json(file, label)
    values: dict[str, Any] = {name: _hf_value(label, config, name) for name in _HF_KEYS}
    if values["kv_heads"] is None:
        values["kv_heads"] = values["heads"]
    if values["heads"] % values["kv_heads"]:
        raise SpecError(f"{label}: key 'num_key_value_heads': expected a divisor of the "
                        f"heads ({values['heads']}); got {values['kv_heads']}")
    if config.get("use_sliding_window") is False:
        values["sliding_window"] = None
    _hf_head_dims(label, config, values)
    name = config.get("_name_or_path") or (file.parent.name if file.stem == "config"
                                           else file.stem)
    return ModelShape(name=str(name), source=f"Hugging Face config {label}", **values)

"""What one transformer layer is made of: shapes from the catalogue or a ``config.json``.

The attention shape (heads, KV heads, head dim, FFN width, layers) comes from
:func:`simulator.workload.get_model`; the rest — gated or plain MLP, MoE experts and how many
are active per token, the norm and the vocabulary of the LM head — from
``simulator/layer/models.yaml`` for catalogue models, or from the Hugging Face config
(``hidden_act``, ``num_local_experts``/``num_experts``, ``num_experts_per_tok``,
``moe_intermediate_size``, ``vocab_size``) when a path is given.

Examples
--------
>>> spec = layer_spec("llama-3-8b")
>>> spec.mlp, spec.experts, spec.vocab, spec.layers
('gated', 1, 128256, 32)
>>> spec.qkv_width, spec.weight_params_per_layer
(6144, 218103808)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from simulator.errors import SpecError
from simulator.workload import ModelShape, get_model
from simulator.yamlio import read_yaml

__all__ = ["LayerSpec", "layer_numbers", "layer_spec"]

_HERE = Path(__file__).parent
_GATED_ACTS = ("silu", "swiglu", "gelu_pytorch_tanh_gated", "geglu")


@dataclass(frozen=True)
class LayerSpec:
    """A decoder layer's shapes.

    Attributes
    ----------
    name : str
    d_model, heads, kv_heads, head_dim, ffn_hidden, layers : int
    mlp : str
        ``gated`` (SwiGLU: gate and up projections, then down) or ``plain`` (up, down).
    experts, active_experts : int
        MoE experts per layer and experts per token (1 and 1 for a dense MLP).
    vocab : int
        LM-head width (0: not priced).
    source : str
    """

    name: str
    d_model: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn_hidden: int
    layers: int
    mlp: str = "gated"
    experts: int = 1
    active_experts: int = 1
    vocab: int = 0
    source: str = ""

    @property
    def qkv_width(self) -> int:
        """Output width of the fused QKV projection: ``(H + 2·Hkv)·E``."""
        return (self.heads + 2 * self.kv_heads) * self.head_dim

    @property
    def mlp_matrices(self) -> int:
        """Weight matrices of one expert's MLP: 3 gated, 2 plain."""
        return 3 if self.mlp == "gated" else 2

    @property
    def weight_params_per_layer(self) -> int:
        """Parameters of the projections and every expert's MLP (norms excluded)."""
        attention = self.d_model * self.qkv_width + self.heads * self.head_dim * self.d_model
        return attention + self.experts * self.mlp_matrices * self.d_model * self.ffn_hidden


@lru_cache(maxsize=1)
def layer_numbers() -> dict[str, Any]:
    """The layer model's numbers (``simulator/layer/layer.yaml``), each with its source."""
    return read_yaml(_HERE / "layer.yaml", "layer model numbers")


@lru_cache(maxsize=1)
def _facts() -> dict[str, Any]:
    return read_yaml(_HERE / "models.yaml", "layer model catalogue")["models"]


def _from_shape(shape: ModelShape, extra: dict[str, Any]) -> LayerSpec:
    if shape.ffn_hidden is None or shape.layers is None:
        raise SpecError(f"model {shape.name}: the layer model needs the FFN width and the layer "
                        f"count (intermediate_size, num_hidden_layers)")
    if shape.mla is not None:
        raise SpecError(f"model {shape.name}: MLA layers are not modelled by einsim layer yet")
    return LayerSpec(shape.name, shape.d_model, shape.heads, shape.kv_heads, shape.head_dim,
                     int(extra.get("ffn", shape.ffn_hidden)), shape.layers,
                     extra.get("mlp", "gated"), int(extra.get("experts", 1)),
                     int(extra.get("active_experts", 1)), int(extra.get("vocab", 0)),
                     extra.get("source", shape.source))


def _hf_extra(path: Path) -> dict[str, Any]:
    """MLP kind, experts and vocabulary from a Hugging Face config."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SpecError(f"{path}: cannot read the config ({err})") from None
    act = str(config.get("hidden_act") or config.get("hidden_activation") or "silu").lower()
    experts = config.get("num_local_experts") or config.get("num_experts") or 1
    extra = {"mlp": "gated" if act in _GATED_ACTS else "plain", "experts": int(experts),
             "active_experts": int(config.get("num_experts_per_tok") or 1),
             "vocab": int(config.get("vocab_size") or 0),
             "source": f"Hugging Face config {path}"}
    if experts > 1 and config.get("moe_intermediate_size"):
        extra["ffn"] = int(config["moe_intermediate_size"])
    return extra


def layer_spec(name_or_path: str | os.PathLike[str]) -> LayerSpec:
    """The layer of a catalogue model (by name) or of a Hugging Face ``config.json``.

    Raises
    ------
    SpecError
        Unknown model, unreadable config, or a model without FFN width or layer count.
    """
    shape = get_model(name_or_path)
    text = os.fspath(name_or_path)
    if text.endswith(".json") or os.sep in text:
        return _from_shape(shape, _hf_extra(Path(text).expanduser()))
    return _from_shape(shape, dict(_facts().get(shape.name, {})))

"""Backward-pass kernel profiles (``simulator/profiles/backward/*.yaml``).

A backward profile names the forward profile whose rates it shares (SM-pipe and DRAM
efficiencies, per-CTA overhead, launch latency, masked-tile cost, usable L2) and adds what
only the backward has: its tiles, its overlap, how the FP32 ``dQ`` partials are
accumulated across key-block CTAs, and what the preprocess kernel writes. Every number is
``{value, source}``; the loader rejects a missing source with a one-line error naming the
file and key.

Examples
--------
>>> profile = load_backward_profile("flash3")
>>> profile.name, profile.forward, profile.tile_for(192, "hopper", masked=True)
('flash3-bwd', 'flash3', (64, 96))
>>> profile.tile_for(128, "hopper", masked=False), profile.tile_for(128, "hopper", masked=True)
((80, 128), (64, 128))
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from simulator.errors import SpecError
from simulator.yamlio import read_yaml

__all__ = ["BackwardProfile", "backward_profile_names", "load_backward_profile"]

_NUMBERS = ("overlap.streams", "kernel.ctas_per_sm", "kernel.dq_through_smem",
            "dq_accum.bytes_per_element", "dq_accum.l2_bytes_per_clk_per_sm",
            "preprocess.zero_dq_accum", "preprocess.lse_bytes_per_row")


@dataclass(frozen=True)
class BackwardProfile:
    """A parsed backward profile.

    Attributes
    ----------
    name, title, source : str
    forward : str
        The forward kernel profile whose rates and overheads the backward shares.
    architectures : tuple of str
    numbers : mapping of str to float
        ``section.key`` → value (``overlap.streams``, ``dq_accum.l2_bytes_per_clk_per_sm``, …).
    serial : tuple of str
        Pipes issued by the same warps (added up within one stream).
    tiles : mapping of str to tuple of dict
        Tile rules per architecture (``default`` and optional overrides), each
        ``{max_head_dim, q, kv[, q_masked]}``.
    sources : mapping of str to str
    """

    name: str
    title: str
    source: str
    forward: str
    architectures: tuple[str, ...]
    numbers: Mapping[str, float] = field(hash=False)
    serial: tuple[str, ...]
    tiles: Mapping[str, tuple[dict, ...]] = field(hash=False)
    sources: Mapping[str, str] = field(hash=False, repr=False)

    def number(self, key: str) -> float:
        """One number by its ``section.key`` path."""
        return self.numbers[key]

    def tile_for(self, head_dim: int, architecture: str, masked: bool) -> tuple[int, int]:
        """(query tile, key tile) for a head dim (``max(E, F)``) on an architecture.

        ``masked``: the forward cascade has a filter (causal, window), which some kernels
        tile differently (a rule's ``q_masked``).
        """
        rules = self.tiles.get(architecture.lower(), self.tiles["default"])
        for rule in rules:
            if head_dim <= rule["max_head_dim"]:
                q = rule.get("q_masked", rule["q"]) if masked else rule["q"]
                return int(q), int(rule["kv"])
        raise SpecError(f"{self.name}: no backward tile for head dim {head_dim} (largest "
                        f"{rules[-1]['max_head_dim']})")

    def stages_for(self, head_dim: int, architecture: str) -> int:
        """Pipeline stages of the Q/dO buffers for a head dim (a rule's ``stages``, default 2).

        >>> bwd = load_backward_profile("flash3")
        >>> bwd.stages_for(128, "hopper"), bwd.stages_for(192, "hopper")
        (2, 1)
        """
        rules = self.tiles.get(architecture.lower(), self.tiles["default"])
        rule = next((r for r in rules if head_dim <= r["max_head_dim"]), rules[-1])
        return int(rule.get("stages", 2))


def _fail(label: str, key: str, expected: str, got: Any) -> SpecError:
    return SpecError(f"{label}: key '{key}': expected {expected}; got {got!r}")


def _lookup(label: str, doc: Mapping[str, Any], key: str) -> Any:
    node: Any = doc
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise _fail(label, key, "a {value, source} entry", None)
        node = node[part]
    return node


def _quantity(label: str, doc: Mapping[str, Any], key: str) -> tuple[Any, str]:
    node = _lookup(label, doc, key)
    if not isinstance(node, Mapping) or "value" not in node:
        raise _fail(label, key, "a {value, source} entry", node)
    source = node.get("source")
    if not isinstance(source, str) or not source.strip():
        raise _fail(label, f"{key}.source", "a non-empty source", source)
    return node["value"], source


def _positive(label: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _fail(label, f"{key}.value", "a non-negative number", value)
    return float(value)


def _tile_rules(label: str, doc: Mapping[str, Any]) -> dict[str, tuple[dict, ...]]:
    tiles = doc.get("tiles")
    if not isinstance(tiles, Mapping) or not isinstance(tiles.get("source"), str):
        raise _fail(label, "tiles", "a mapping with a source and a default rule list", tiles)
    out = {}
    for arch, rules in tiles.items():
        if arch == "source":
            continue
        if not isinstance(rules, list) or not rules:
            raise _fail(label, f"tiles.{arch}", "a list of {max_head_dim, q, kv} rules", rules)
        for number, rule in enumerate(rules):
            if not isinstance(rule, Mapping) or not {"max_head_dim", "q", "kv"} <= set(rule):
                raise _fail(label, f"tiles.{arch}[{number}]", "{max_head_dim, q, kv}", rule)
        out[str(arch).lower()] = tuple(dict(r) for r in rules)
    if "default" not in out:
        raise _fail(label, "tiles.default", "a list of tile rules", None)
    return out


def _parse(label: str, doc: Any) -> BackwardProfile:
    if not isinstance(doc, Mapping):
        raise SpecError(f"{label}: expected a mapping at the top level")
    numbers, sources = {}, {}
    for key in _NUMBERS:
        value, source = _quantity(label, doc, key)
        numbers[key], sources[key] = _positive(label, key, value), source
    forward, sources["forward"] = _quantity(label, doc, "forward")
    serial = doc.get("overlap", {}).get("serial", [])
    if not isinstance(serial, list):
        raise _fail(label, "overlap.serial", "a list of pipe names", serial)
    for key in ("name", "title", "source"):
        if not isinstance(doc.get(key), str):
            raise _fail(label, key, "a string", doc.get(key))
    return BackwardProfile(doc["name"], doc["title"], doc["source"], str(forward),
                           tuple(str(a).lower() for a in doc.get("architectures", [])),
                           numbers, tuple(serial), _tile_rules(label, doc), sources)


def _folder() -> Path:
    return Path(str(files("simulator") / "profiles" / "backward"))


def backward_profile_names() -> list[str]:
    """Names of the built-in backward profiles (by their forward profile's name).

    Examples
    --------
    >>> backward_profile_names()
    ['flash2', 'flash3']
    """
    return sorted(p.stem for p in _folder().glob("*.yaml"))


@lru_cache(maxsize=32)
def _load(path: str, mtime_ns: int) -> BackwardProfile:
    return _parse(Path(path).name, read_yaml(Path(path), "backward profile"))


def load_backward_profile(name_or_path: str | os.PathLike[str]) -> BackwardProfile:
    """Load a backward profile by the forward profile's name (``flash3``) or a path.

    Raises
    ------
    SpecError
        For an unknown name (listing the known ones) or a malformed file.
    """
    text = os.fspath(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(text)
    else:
        path = _folder() / f"{text.strip().lower().removesuffix('-bwd')}.yaml"
        if not path.is_file():
            raise SpecError(f"no backward profile for kernel profile '{text}'; known: "
                            f"{', '.join(backward_profile_names())}")
    if not path.is_file():
        raise SpecError(f"{path}: no such backward profile file")
    return _load(str(path), path.stat().st_mtime_ns)

r"""Workload manifests: attention shapes for launches a trace cannot link to a CPU op.

A manifest is a small YAML file; each rule matches launches by kernel name and/or by an
annotation / NVTX range around them (regular expressions, searched) and gives the shape.
Rules apply in order, first match wins, to launches without a shape (``override: true``
also replaces a shape the trace gave)::

    source: "sglang decode step, Qwen3-8B config (32 heads, 8 KV heads, head dim 128)"
    launches:
      - kernel: 'paged_attention_ll4mi_QKV'
        range: 'step\[DECODE bs=32\]'
        batch: 32
        heads: 32
        kv_heads: 8
        seq_q: 1
        seq_kv: 1025
        head_dim: 128
        causal: true
        dtype: bf16

Examples
--------
>>> rules = parse_manifest(
...     "launches:\n  - {kernel: 'attn_fwd', batch: 2, heads: 8, seq_q: 512, seq_kv: 512,"
...     " head_dim: 64}\n", "m.yaml")
>>> rules[0].shape.kv_heads, rules[0].shape.causal
(8, False)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from einsum.textfile import read_text_file
from simulator.errors import TraceError
from simulator.traces.families import is_attention
from simulator.traces.record import AttentionShape, Trace
from simulator.workload import INPUT_DTYPES, KV_DTYPES

__all__ = ["ManifestRule", "apply_manifest", "load_manifest", "parse_manifest"]

_SHAPE_INTS = ("batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim", "head_dim_v", "window",
               "page_size")
_REQUIRED = ("batch", "heads", "seq_q", "seq_kv", "head_dim")
_KEYS = frozenset({"kernel", "range", "override", "causal", "dtype", "kv_dtype", "paged", "note",
                   *_SHAPE_INTS})


@dataclass(frozen=True)
class ManifestRule:
    """One manifest rule: what it matches and the shape it gives."""

    kernel: re.Pattern[str] | None
    range: re.Pattern[str] | None
    shape: AttentionShape
    override: bool
    line: int

    def matches(self, kernel: str, ranges: tuple[str, ...]) -> bool:
        """Whether a launch with this kernel name and these ranges is covered."""
        if self.kernel is not None and not self.kernel.search(kernel):
            return False
        return self.range is None or any(self.range.search(r) for r in ranges)


def _fail(where: str, message: str) -> TraceError:
    return TraceError(f"{where}: {message}")


def _pattern(where: str, rule: dict, key: str) -> re.Pattern[str] | None:
    """A rule's regular expression (None when absent)."""
    if key not in rule:
        return None
    try:
        return re.compile(str(rule[key]))
    except re.error as err:
        raise _fail(where, f"key '{key}': not a regular expression ({err})") from None


def _integer(where: str, rule: dict, key: str) -> int | None:
    value = rule.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _fail(where, f"key '{key}': expected a positive integer; got {value!r}")
    return value


def _boolean(where: str, rule: dict, key: str) -> bool:
    value = rule.get(key, False)
    if not isinstance(value, bool):
        raise _fail(where, f"key '{key}': expected true or false; got {value!r}")
    return value


def _dtype(where: str, rule: dict, key: str, table: Any, default: str | None) -> str | None:
    value = rule.get(key, default)
    if value is not None and value not in table:
        raise _fail(where, f"key '{key}': expected one of {', '.join(table)}; got {value!r}")
    return value


def _rule(where: str, rule: Any, line: int) -> ManifestRule:
    """One checked rule."""
    if not isinstance(rule, dict):
        raise _fail(where, f"expected a mapping of shape keys; got {type(rule).__name__}")
    unknown = sorted(set(rule) - _KEYS)
    if unknown:
        raise _fail(where, f"unknown key '{unknown[0]}'; expected one of {', '.join(sorted(_KEYS))}")
    missing = [k for k in _REQUIRED if k not in rule]
    if missing:
        raise _fail(where, f"missing key '{missing[0]}' (a rule needs {', '.join(_REQUIRED)})")
    if "kernel" not in rule and "range" not in rule:
        raise _fail(where, "a rule needs 'kernel' or 'range' (a regular expression) to match launches")
    sizes = {k: _integer(where, rule, k) for k in _SHAPE_INTS}
    sizes["kv_heads"] = sizes["kv_heads"] or sizes["heads"]
    if sizes["heads"] % sizes["kv_heads"]:
        raise _fail(where, f"heads ({sizes['heads']}) is not divisible by kv_heads ({sizes['kv_heads']})")
    shape = AttentionShape(**sizes, causal=_boolean(where, rule, "causal"),
                           dtype=_dtype(where, rule, "dtype", INPUT_DTYPES, "bf16"),
                           kv_dtype=_dtype(where, rule, "kv_dtype", KV_DTYPES, None),
                           paged=_boolean(where, rule, "paged") or sizes["page_size"] is not None,
                           note=str(rule.get("note", "")))
    return ManifestRule(_pattern(where, rule, "kernel"), _pattern(where, rule, "range"), shape,
                        _boolean(where, rule, "override"), line)


def parse_manifest(text: str, name: str) -> tuple[ManifestRule, ...]:
    """The rules of a manifest given as text (``name`` labels errors)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        raise TraceError(f"{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("launches"), list):
        raise TraceError(f"{name}: expected a mapping with a 'launches' list of rules")
    unknown = sorted(set(doc) - {"source", "launches"})
    if unknown:
        raise TraceError(f"{name}: unknown key '{unknown[0]}'; expected 'source' and 'launches'")
    nodes = next(v for k, v in root.value if k.value == "launches").value
    return tuple(_rule(f"{name}:{node.start_mark.line + 1}: launches[{i}]", rule, node.start_mark.line + 1)
                 for i, (rule, node) in enumerate(zip(doc["launches"], nodes)))


def load_manifest(path: str | os.PathLike[str]) -> tuple[ManifestRule, ...]:
    """Read a manifest file (errors name the file and line)."""
    name = os.fspath(path)
    if not Path(name).exists():
        raise TraceError(f"{name}: manifest file not found")
    text = read_text_file(name, "workload manifest (YAML)", TraceError)
    return parse_manifest(text, Path(name).name)


def apply_manifest(trace: Trace, rules: tuple[ManifestRule, ...]) -> Trace:
    """The trace with manifest shapes on the attention launches the rules match.

    A note names every rule that matched no launch (a typo in a pattern shows).
    """
    used: set[int] = set()
    launches = []
    for launch in trace.launches:
        if is_attention(launch.family) and rules:
            for index, rule in enumerate(rules):
                if (rule.override or not launch.has_shape) and rule.matches(launch.kernel, launch.ranges):
                    launch = launch.with_shape(rule.shape, "manifest")
                    used.add(index)
                    break
        launches.append(launch)
    notes = [f"manifest rule at line {r.line} matched no launch" for i, r in enumerate(rules)
             if i not in used]
    unlinked = [n for n in trace.notes if "have no CPU op" not in n]
    left = sum(1 for launch in launches if is_attention(launch.family) and not launch.has_shape)
    if left:
        unlinked.append(f"{left} attention launches still have no shape after the manifest")
    return replace(trace, launches=tuple(launches), notes=tuple(unlinked + notes))

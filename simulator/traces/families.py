"""Kernel families: which attention implementation a kernel name belongs to.

The patterns live in ``simulator/data/kernel_families.yaml`` (with their sources), tried
in order; attention families come before GEMMs (reference D.5). Each family also names
the kernel profile ``--kernel auto`` prices it with, per GPU vendor.

Examples
--------
>>> classify("void pytorch_flash::flash_fwd_kernel<pytorch_flash::Flash_fwd_kernel_traits<64>>(...)")
('fa2', 'forward')
>>> classify("fmhaSm100aKernel_QkvE4m3OBfloat16H64PagedKvCausalP16VarSeqQ128Kv128PersistentContext")
('trtllm-fmha', 'forward')
>>> classify("ampere_bf16_s16816gemm_bf16_128x64_ldg8_f2f_tn")
('gemm', 'aux')
>>> short_name("void pytorch_flash::flash_fwd_kernel<pytorch_flash::Flash_fwd_kernel_traits<64>, true>(P)")
'pytorch_flash::flash_fwd_kernel'
>>> profile_for("fa2", "nvidia"), profile_for("triton", "amd")
('flash2', 'amd-fmha')
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import yaml

from simulator.errors import SpecError

__all__ = ["ATTENTION_ROLES", "Family", "classify", "families", "is_attention", "profile_for",
           "short_name"]

#: Families that are not attention kernels.
_NOT_ATTENTION = frozenset({"gemm", "attention-aux", "other"})
#: Roles of a launch that does attention work.
ATTENTION_ROLES = ("forward", "backward", "combine")


@dataclass(frozen=True)
class Family:
    """One kernel family: its patterns (regex, role) and its profile per architecture or vendor."""

    name: str
    title: str
    patterns: tuple[tuple[re.Pattern[str], str], ...]
    profiles: dict[str, str]
    profile_source: str
    source: str


def _family(node: Any, where: str) -> Family:
    """One family entry of the YAML, checked."""
    if not isinstance(node, dict) or "family" not in node or "patterns" not in node:
        raise SpecError(f"{where}: expected a mapping with 'family' and 'patterns'")
    patterns = tuple((re.compile(p["pattern"]), p.get("role", "forward")) for p in node["patterns"])
    return Family(node["family"], node.get("title", node["family"]), patterns,
                  dict(node.get("profile", {})), node.get("profile_source", ""),
                  node.get("source", ""))


@functools.cache
def families() -> tuple[Family, ...]:
    """The families of ``kernel_families.yaml``, in match order."""
    path = files("simulator") / "data" / "kernel_families.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(_family(node, f"kernel_families.yaml: families[{i}]")
                 for i, node in enumerate(doc["families"]))


@functools.lru_cache(maxsize=4096)
def classify(name: str) -> tuple[str, str]:
    """``(family, role)`` of a kernel name; ``("other", "aux")`` when nothing matches."""
    for family in families():
        for pattern, role in family.patterns:
            if pattern.search(name):
                return family.name, role
    return "other", "aux"


def is_attention(family: str) -> bool:
    """Whether a family does attention work (not a GEMM, helper or unknown kernel)."""
    return family not in _NOT_ATTENTION


def profile_for(family: str, vendor: str, architecture: str = "") -> str | None:
    """The kernel profile ``--kernel auto`` uses for a family on a GPU (or None).

    A family's ``profile`` maps an architecture (lower case, e.g. ``blackwell``) or a
    vendor to a profile; the architecture wins.

    >>> profile_for("cudnn", "nvidia", "Hopper"), profile_for("cudnn", "nvidia", "Blackwell")
    ('flash3', 'flash4')
    """
    for entry in families():
        if entry.name == family:
            return (entry.profiles.get(architecture.lower()) or entry.profiles.get(vendor)
                    or next(iter(entry.profiles.values()), None))
    return None


def _mangled_parts(text: str) -> list[str]:
    """The length-prefixed identifiers of an Itanium-mangled name (``7ck_tile`` → ``ck_tile``)."""
    parts, index = [], 0
    while index < len(text):
        match = re.compile(r"\d+").match(text, index)
        if match is None:
            index += 1
            continue
        length, start = int(match.group()), match.end()
        word = text[start:start + length]
        if len(word) == length and re.fullmatch(r"[A-Za-z_]\w*", word or "-"):
            parts.append(word)
            index = start + length
        else:
            index = start
    return parts


def short_name(name: str) -> str:
    """The kernel name without ``void``, template arguments and parameters.

    Itanium-mangled names (``_ZN7ck_tile6kentry...``) keep their most telling identifier:
    the first one a family pattern matches, else the first.
    """
    text = name.strip()
    if text.startswith("_Z"):
        parts = [p for p in _mangled_parts(text) if len(p) > 2]
        telling = [p for p in parts if classify(p)[0] != "other"]
        return (telling or parts or [text])[0]
    text = text.removeprefix("void ").strip()
    bare = _outside_brackets(text)
    family = classify(text)[0]
    if family != "other" and classify(bare)[0] != family:
        # a generic wrapper (cutlass::device_kernel<flash::FlashAttnFwdSm90<...>>): name the
        # template argument that says what the kernel is
        inner = next((w for w in re.findall(r"[A-Za-z_][\w:]*", text) if classify(w)[0] == family), None)
        return inner or bare
    return bare


def _outside_brackets(text: str) -> str:
    """``text`` without anything inside ``<...>`` or ``(...)``."""
    depth, out = 0, []
    for char in text:
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out).strip() or text

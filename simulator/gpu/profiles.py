"""Kernel profiles: how a family of attention kernels uses a GPU, loaded from YAML.

A profile says how the kernels are formed from a cascade (``fusion``), how the SM's
pipes overlap (``overlap``), the achievable fraction of each peak (``efficiency``), the
tile sizes per head dimension (``tiles``), the kernel's on-chip layout (``kernel``),
fixed overheads (``overheads``) and memory-system assumptions (``memory``). Built-in
profiles live in ``simulator/profiles/*.yaml``; a path to a YAML file works wherever a
name does. Every number is written ``{value: ..., source: ...}``: the source says what
it was fit to or where it comes from. A profile written by ``einsim calibrate`` also
names the profile it was fitted from (``based_on``), so kernel families that map to the
base profile map to it too.

Examples
--------
>>> flash3 = load_profile("flash3")
>>> flash3.fusion, flash3.streams
('fused', 2.0)
>>> flash3.tile_for(128)
(128, 128)
>>> sorted(list_profiles())[:3]
['amd-fmha', 'cutlass-fmha', 'flash2']
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any

from simulator.errors import SpecError
from simulator.yamlio import read_yaml

__all__ = [
    "FUSIONS",
    "PIPE_RESOURCES",
    "KernelProfile",
    "TileRule",
    "auto_profile",
    "check_profile",
    "list_profiles",
    "load_profile",
    "profile_search_path",
]

#: How kernels are formed: one fused traversal kernel per query tile, or one kernel per
#: contraction with the element-wise work between contractions in its own kernel.
FUSIONS = ("fused", "unfused")
#: Resources whose efficiency a profile gives (``launch`` is a fixed overhead).
PIPE_RESOURCES = ("tensor", "exp", "fp32", "smem", "dram")

_TOP_KEYS = frozenset({"name", "based_on", "architectures", "title", "source", "fusion", "overlap",
                       "efficiency", "mma_path",
                       "tiles", "kernel", "overheads", "memory", "decode", "dequant", "notes"})
_NUMBER_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "overlap": ("streams",),
    "efficiency": PIPE_RESOURCES,
    "kernel": ("kv_stages", "threads_per_cta", "registers_per_thread", "operand_read_rows",
               "min_q_tile"),
    "overheads": ("cta_cycles", "launch_s", "masked_tile_cost", "input_copies"),
    "memory": ("l2_usable_fraction", "dram_latency_s", "intermediate_bytes"),
    "decode": ("max_splits", "split_below_wave_fraction"),
    "dequant": ("fp8", "int8", "int4"),
})
#: Numbers a profile may give (default when absent): ``overheads.mask_passes`` = element-wise
#: passes over the full score matrix that a mask adds in an unfused execution;
#: ``memory.page_overhead_bytes`` = DRAM time of one KV page gather, in bytes' worth.
_OPTIONAL_NUMBERS: Mapping[str, float] = MappingProxyType({
    "overheads.mask_passes": 0.0, "memory.page_overhead_bytes": 0.0,
    # FP8 inputs: extra shared-memory passes over each V tile (an in-kernel transpose) and
    # FP32-pipe ops per score element to bring P into the FP8 MMA operand layout
    "kernel.fp8_v_transpose_passes": 0.0, "kernel.fp8_p_layout_ops": 0.0,
    # Blackwell (FA4): a fraction of the exps emulated on the FMA pipes, at so many FP32-pipe
    # ops each, instead of the MUFU
    "kernel.exp_emulated_fraction": 0.0, "kernel.exp_emulation_ops": 0.0,
    # threads that make one of the ``streams`` instruction streams (FA2: one warp on each of
    # the 4 schedulers); 0: the streams are the kernel's own, whatever shares the SM
    "overlap.stream_threads": 0.0,
    # a masked step's extra time per score element of its tile, in units of one element's
    # exp-pipe (MUFU) time: mask work that scales with the tile's scores, not its head dim
    "overheads.masked_element_cost": 0.0,
    # of the ``input_copies``, those that transpose (PyTorch's K rearrange to (b h) d s), and
    # the fraction of the DRAM peak such a strided copy reaches
    "overheads.transposed_copies": 0.0, "memory.transpose_copy_fraction": 0.0,
})
#: Sections only fused (tiled) kernels need.
_FUSED_ONLY = frozenset({"kernel", "decode", "tiles"})
_FLAG_KEYS = MappingProxyType({
    "kernel": ("q_operand_from_smem", "mma_accumulate", "pack_gqa"),
})
#: Flags a profile may give (default when absent): ``kernel.mask_every_tile`` = the kernel
#: masks every visited tile unless no tile is partly masked (NATTEN's Blackwell FNA).
#: ``kernel.grid_order_dispatch`` = the hardware hands out the CTAs in grid order (no
#: longest-first tile scheduler), so unequal CTAs (a causal mask) leave a tail.
#: ``kernel.conditional_rescale`` = the kernel rescales the output accumulator only when the
#: running max grows past a threshold (FA4), so the per-step rescale is not paid.
_OPTIONAL_FLAGS: Mapping[str, bool] = MappingProxyType({"kernel.mask_every_tile": False,
                                                        "kernel.grid_order_dispatch": False,
                                                        "kernel.even_specialised": False,
                                                        "kernel.conditional_rescale": False})
_CTA_PAIRS = ("", "always", "dense")
_FRACTIONS = frozenset({"efficiency", "l2_usable_fraction", "exp_emulated_fraction"})
_ZERO_OK = frozenset({"cta_cycles", "launch_s", "masked_tile_cost", "input_copies", "mask_passes",
                      "page_overhead_bytes", "fp8_v_transpose_passes", "fp8_p_layout_ops",
                      "exp_emulated_fraction", "exp_emulation_ops", "stream_threads", "masked_element_cost",
                      "transposed_copies", "transpose_copy_fraction",
                      "dram_latency_s", "fp8", "int8", "int4"})


@dataclass(frozen=True)
class TileRule:
    """Tiles for head dims up to ``max_head_dim``: ``q`` query rows x ``kv`` keys.

    ``threads`` is the CTA size this tile runs with (0: the profile's
    ``kernel.threads_per_cta``); warps then split the query rows (FlashAttention-2).
    ``cta_pair`` is when two CTAs on two SMs run as one MMA of twice the rows, each
    holding and reading half of every K/V tile (Blackwell's 2-CTA tcgen05 mode): ``""``
    never, ``"always"``, or ``"dense"`` (unmasked problems of more than one query tile).
    ``pair_exp_emulated`` is the fraction of exps emulated on the FMA pipes when the pair
    runs (FA4 tunes it per configuration; -1: the profile's ``kernel.exp_emulated_fraction``).
    """

    max_head_dim: int
    q: int
    kv: int
    threads: int = 0
    cta_pair: str = ""
    pair_exp_emulated: float = -1.0


@dataclass(frozen=True)
class KernelProfile:
    """A validated kernel profile; see the module docstring for the YAML schema.

    Attributes
    ----------
    name, title : str
        Identity.
    fusion : {"fused", "unfused"}
        ``fused``: one kernel per pass group, all groups in one kernel when the M fiber
        fits on chip; ``unfused``: each contraction its own kernel (PyTorch style).
    streams : float
        Independent instruction streams per SM that interleave the ``serial`` pipes
        (1 = serial like FlashAttention-2, 2 = FlashAttention-3 ping-pong).
    serial : tuple of str
        Pipes issued by the same warps; their times add up before dividing by ``streams``.
    efficiency : mapping of str to float
        Achievable fraction of each peak (tensor, exp, fp32, smem, dram).
    tiles : mapping of str to tuple of TileRule
        ``"default"`` and optional per-architecture rules, sorted by ``max_head_dim``.
    numbers : mapping of str to float
        Every other number by its key path (``"kernel.kv_stages"`` ...).
    flags : mapping of str to bool
        Boolean kernel properties (``"kernel.pack_gqa"`` ...).
    mma_path : mapping of str to float
        Per architecture (lower case), the fraction of the tensor-core peak the kernel's
        MMA instruction family can reach (``mma.sync`` on Hopper: about 2/3); 1 where
        absent. It multiplies ``efficiency["tensor"]``.
    sources : mapping of str to str
        The ``source`` of every number, by key path.
    based_on : str
        The profile a calibrated profile was fitted from (``einsim calibrate``), else "".
    architectures : tuple of str
        The (lower-case) GPU architectures whose instructions the kernel needs
        (``flash3``: Hopper's wgmma and TMA); empty = any.
    """

    name: str
    title: str
    fusion: str
    streams: float
    serial: tuple[str, ...]
    efficiency: Mapping[str, float] = field(hash=False)
    tiles: Mapping[str, tuple[TileRule, ...]] = field(hash=False)
    numbers: Mapping[str, float] = field(hash=False)
    flags: Mapping[str, bool] = field(hash=False)
    mma_path: Mapping[str, float] = field(default_factory=dict, hash=False)
    sources: Mapping[str, str] = field(default_factory=dict, hash=False, repr=False)
    path: str = field(default="", compare=False, repr=False)
    based_on: str = ""
    architectures: tuple[str, ...] = ()

    def with_values(self, changes: Mapping[str, float]) -> KernelProfile:
        """A copy with some numbers replaced (``"efficiency.tensor"``, ``"overheads.cta_cycles"``).

        Keys are ``"overlap.streams"``, ``"efficiency.<resource>"``,
        ``"mma_path.<architecture>"`` or any key of ``numbers``. Used to fit a profile and to
        sweep its numbers; the sources of the replaced numbers say ``"override"``.

        Raises
        ------
        SpecError
            For an unknown key.

        Examples
        --------
        >>> load_profile("flash3").with_values({"efficiency.dram": 0.5}).efficiency["dram"]
        0.5
        """
        efficiency, numbers, streams = dict(self.efficiency), dict(self.numbers), self.streams
        mma = dict(self.mma_path)
        for key, value in changes.items():
            section, _, leaf = key.partition(".")
            if key == "overlap.streams":
                streams = float(value)
            elif section == "mma_path" and leaf:
                mma[leaf.lower()] = float(value)
            elif section == "efficiency" and leaf in efficiency:
                efficiency[leaf] = float(value)
            elif key in numbers:
                numbers[key] = float(value)
            else:
                known = ["overlap.streams"] + [f"efficiency.{k}" for k in efficiency] + list(numbers)
                raise SpecError(f"profile '{self.name}': unknown number '{key}'; known: "
                                f"{', '.join(known)}")
        sources = {**self.sources, **{key: "override" for key in changes}}
        return dataclasses.replace(self, streams=streams, efficiency=MappingProxyType(efficiency),
                                   numbers=MappingProxyType(numbers), mma_path=MappingProxyType(mma),
                                   sources=MappingProxyType(sources))

    def with_tile_rules(self, **changes: Any) -> KernelProfile:
        """A copy with every tile rule's fields replaced (``cta_pair=""``, ``pair_exp_emulated``).

        Examples
        --------
        >>> unpaired = load_profile("flash4").with_tile_rules(cta_pair="")
        >>> {rule.cta_pair for rules in unpaired.tiles.values() for rule in rules}
        {''}
        """
        tiles = {key: tuple(dataclasses.replace(rule, **changes) for rule in rules)
                 for key, rules in self.tiles.items()}
        return dataclasses.replace(self, tiles=MappingProxyType(tiles))

    def tensor_fraction(self, architecture: str) -> float:
        """``mma_path`` fraction for an architecture (1.0 when the profile gives none).

        Examples
        --------
        >>> load_profile("flash2").tensor_fraction("Hopper") < 1.0
        True
        >>> load_profile("flash2").tensor_fraction("Ampere")
        1.0
        """
        return self.mma_path.get(architecture.lower(), 1.0)

    def number(self, key: str) -> float:
        """A number by key path, e.g. ``"overheads.launch_s"``."""
        return self.numbers[key]

    def flag(self, key: str) -> bool:
        """A boolean property by key path, e.g. ``"kernel.pack_gqa"``."""
        return self.flags[key]

    def tile_rules(self, architecture: str = "", dtype: str = "") -> tuple[TileRule, ...]:
        """Tile rules for an architecture and input dtype.

        Looks up ``"<architecture> <dtype>"`` (e.g. ``hopper fp8``), then the architecture,
        then ``default``.

        Examples
        --------
        >>> flash3 = load_profile("flash3")
        >>> flash3.tile_rules("Hopper", "fp8")[-1].kv, flash3.tile_rules("Hopper", "fp16")[-1].kv
        (128, 80)
        """
        if not self.tiles:
            raise SpecError(f"kernel profile '{self.name}' has no tiles (it does not tile)")
        arch = architecture.lower()
        for key in (f"{arch} {dtype.lower()}", arch):
            if key in self.tiles:
                return self.tiles[key]
        return self.tiles["default"]

    def tile_for(self, head_dim: int, architecture: str = "", dtype: str = "") -> tuple[int, int]:
        """``(q_tile, kv_tile)`` for one head dim (the last rule covers larger ones).

        Examples
        --------
        >>> load_profile("flash3").tile_for(64)
        (192, 128)
        """
        rules = self.tile_rules(architecture, dtype)
        rule = next((r for r in rules if head_dim <= r.max_head_dim), rules[-1])
        return rule.q, rule.kv

    def __str__(self) -> str:
        lines = [f"{self.name}: {self.title}", f"  fusion {self.fusion}, {self.streams:g} "
                 f"stream(s) over {'+'.join(self.serial) or '-'}"]
        lines.append("  efficiency " + ", ".join(f"{k} {v:g}" for k, v in self.efficiency.items()))
        for arch, rules in self.tiles.items():
            text = ", ".join(f"d<={r.max_head_dim}: {r.q}x{r.kv}" for r in rules)
            lines.append(f"  tiles ({arch}) {text}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- parsing


def _fail(label: str, key: str, expected: str, got: Any) -> SpecError:
    """The one-line error for key ``key`` of profile file ``label``."""
    return SpecError(f"{label}: key '{key}': expected {expected}; got {got!r}")


def _mapping(label: str, doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A required mapping section."""
    node = doc.get(key)
    if not isinstance(node, Mapping):
        raise _fail(label, key, "a mapping", node)
    return node


def _quantity(label: str, key: str, node: Any) -> tuple[float, str]:
    """Validate ``{value: number, source: text}`` and return both."""
    if not isinstance(node, Mapping) or set(node) - {"value", "source", "note"}:
        raise _fail(label, key, "a mapping {value: ..., source: ...}", node)
    value, source = node.get("value"), node.get("source")
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value):
        raise _fail(label, f"{key}.value", "a finite number", value)
    leaf = key.rsplit(".", 1)[-1]
    if value < 0 or (value == 0 and leaf not in _ZERO_OK):
        raise _fail(label, f"{key}.value", "a positive number", value)
    if (key.startswith("efficiency.") or leaf in _FRACTIONS) and value > 1:
        raise _fail(label, f"{key}.value", "a fraction in (0, 1]", value)
    if not isinstance(source, str) or not source.strip():
        raise _fail(label, f"{key}.source", "a non-empty citation string", source)
    return float(value), source.strip()


def _numbers(label: str, doc: Mapping[str, Any], fused: bool,
             ) -> tuple[dict[str, float], dict[str, str]]:
    """Read every ``{value, source}`` number of the numeric sections."""
    numbers: dict[str, float] = {}
    sources: dict[str, str] = {}
    for section, keys in _NUMBER_KEYS.items():
        if not fused and section in _FUSED_ONLY and section not in doc:
            continue
        node = _mapping(label, doc, section)
        optional = {k.partition(".")[2] for k in _OPTIONAL_NUMBERS if k.startswith(f"{section}.")}
        optional_flags = {k.partition(".")[2] for k in _OPTIONAL_FLAGS if k.startswith(f"{section}.")}
        allowed = set(keys) | optional | optional_flags | set(_FLAG_KEYS.get(section, ())) | (
            {"serial"} if section == "overlap" else set())
        unknown = sorted(set(node) - allowed)
        if unknown:
            raise SpecError(f"{label}: unknown key '{section}.{unknown[0]}'; expected one of "
                            f"{', '.join(sorted(allowed))}")
        for key in keys:
            if key not in node:
                raise SpecError(f"{label}: missing key '{section}.{key}'")
            path = f"{section}.{key}"
            numbers[path], sources[path] = _quantity(label, path, node[key])
        for key in sorted(optional):
            path = f"{section}.{key}"
            if key in node:
                numbers[path], sources[path] = _quantity(label, path, node[key])
            else:
                numbers[path], sources[path] = _OPTIONAL_NUMBERS[path], "assumed: not given (the default)"
    return numbers, sources


def _flags(label: str, doc: Mapping[str, Any]) -> dict[str, bool]:
    """Read the boolean kernel properties."""
    flags = {}
    for section, keys in _FLAG_KEYS.items():
        if section not in doc:
            continue
        for key in keys:
            value = doc[section].get(key)
            if not isinstance(value, bool):
                raise _fail(label, f"{section}.{key}", "true or false", value)
            flags[f"{section}.{key}"] = value
    for path, default in _OPTIONAL_FLAGS.items():
        section, _, key = path.partition(".")
        value = (doc.get(section) or {}).get(key, default)
        if not isinstance(value, bool):
            raise _fail(label, path, "true or false", value)
        flags[path] = value
    return flags


def _rules(label: str, key: str, node: Any) -> tuple[TileRule, ...]:
    """Read a list of ``{max_head_dim, q, kv}`` rules, sorted by head dim."""
    if not isinstance(node, list) or not node:
        raise _fail(label, key, "a non-empty list of {max_head_dim, q, kv}", node)
    rules = []
    for index, item in enumerate(node):
        where = f"{key}[{index}]"
        if not isinstance(item, Mapping) or not {"max_head_dim", "q", "kv"} <= set(item) <= {
                "max_head_dim", "q", "kv", "threads", "cta_pair", "pair_exp_emulated"}:
            raise _fail(label, where, "a mapping with keys max_head_dim, q, kv (and optional threads, "
                        "cta_pair, pair_exp_emulated)", item)
        emulated = item.get("pair_exp_emulated", -1.0)
        if "pair_exp_emulated" in item and (isinstance(emulated, bool) or not isinstance(
                emulated, (int, float)) or not 0 <= emulated <= 1 or not item.get("cta_pair")):
            raise _fail(label, f"{where}.pair_exp_emulated", "a fraction in [0, 1] on a rule with a cta_pair",
                        emulated)
        if item.get("cta_pair", "") not in _CTA_PAIRS:
            raise _fail(label, f"{where}.cta_pair", " or ".join(repr(v) for v in _CTA_PAIRS[1:]),
                        item["cta_pair"])
        values = [item[k] for k in ("max_head_dim", "q", "kv")] + [item.get("threads", 32)]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values) or \
                values[3] % 32:
            raise _fail(label, where, "positive integers (threads a multiple of 32)", item)
        rules.append(TileRule(*values[:3], item.get("threads", 0), item.get("cta_pair", ""),
                              float(emulated)))
    return tuple(sorted(rules, key=lambda r: r.max_head_dim))


def _tiles(label: str, doc: Mapping[str, Any]) -> tuple[dict[str, tuple[TileRule, ...]], str]:
    """Read the ``tiles`` section: a source, ``default`` rules and per-architecture rules."""
    node = _mapping(label, doc, "tiles")
    source = node.get("source")
    if not isinstance(source, str) or not source.strip():
        raise _fail(label, "tiles.source", "a non-empty citation string", source)
    if "default" not in node:
        raise SpecError(f"{label}: missing key 'tiles.default'")
    tiles = {str(arch).lower(): _rules(label, f"tiles.{arch}", rules)
             for arch, rules in node.items() if arch != "source"}
    return tiles, source.strip()


def _mma_path(label: str, doc: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """Read the optional per-architecture MMA-path fractions."""
    node = doc.get("mma_path", {})
    if not isinstance(node, Mapping):
        raise _fail(label, "mma_path", "a mapping of architecture to {value, source}", node)
    values, sources = {}, {}
    for arch, quantity in node.items():
        key = f"mma_path.{arch}"
        value, sources[key] = _quantity(label, key, quantity)
        if value > 1:
            raise _fail(label, f"{key}.value", "a fraction in (0, 1]", value)
        values[str(arch).lower()] = value
    return values, sources


def _serial(label: str, doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The pipes whose times add up within one instruction stream."""
    serial = doc["overlap"].get("serial")
    if not isinstance(serial, list) or not set(serial) <= set(PIPE_RESOURCES):
        raise _fail(label, "overlap.serial", f"a list drawn from {', '.join(PIPE_RESOURCES)}",
                    serial)
    return tuple(serial)


def _text(label: str, doc: Mapping[str, Any], key: str) -> str:
    """A required non-empty string."""
    value = doc.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(label, key, "a non-empty string", value)
    return value.strip()


def _parse(label: str, doc: Any, path: str) -> KernelProfile:
    """Validate a loaded YAML document and build the :class:`KernelProfile`."""
    if not isinstance(doc, Mapping):
        raise SpecError(f"{label}: expected a mapping of profile fields at the top level; "
                        f"got {type(doc).__name__}")
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise SpecError(f"{label}: unknown key '{unknown[0]}'; expected one of "
                        f"{', '.join(sorted(_TOP_KEYS))}")
    fusion = doc.get("fusion")
    if fusion not in FUSIONS:
        raise _fail(label, "fusion", f"one of {', '.join(FUSIONS)}", fusion)
    numbers, sources = _numbers(label, doc, fusion == "fused")
    tiles: dict[str, tuple[TileRule, ...]] = {}
    if fusion == "fused" or "tiles" in doc:
        tiles, sources["tiles"] = _tiles(label, doc)
    if numbers["overlap.streams"] < 1:
        raise _fail(label, "overlap.streams.value", "a number >= 1", numbers["overlap.streams"])
    efficiency = {r: numbers.pop(f"efficiency.{r}") for r in PIPE_RESOURCES}
    mma_path, mma_sources = _mma_path(label, doc)
    sources.update(mma_sources)
    return KernelProfile(
        name=_text(label, doc, "name"), title=_text(label, doc, "title"), fusion=fusion,
        streams=numbers.pop("overlap.streams"), serial=_serial(label, doc),
        efficiency=MappingProxyType(efficiency), tiles=MappingProxyType(tiles),
        numbers=MappingProxyType(numbers), flags=MappingProxyType(_flags(label, doc)),
        mma_path=MappingProxyType(mma_path), sources=MappingProxyType(sources), path=path,
        based_on=str(doc.get("based_on") or ""), architectures=_architectures(label, doc),
    )


def _architectures(label: str, doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The optional ``architectures`` list, lower-cased."""
    node = doc.get("architectures", [])
    if not isinstance(node, list) or not all(isinstance(a, str) for a in node):
        raise _fail(label, "architectures", "a list of architecture names", node)
    return tuple(a.lower() for a in node)


def auto_profile(gpu: Any) -> str:
    """The profile ``--kernel auto`` uses on a GPU (``simulator/data/auto_profiles.yaml``).

    Examples
    --------
    >>> from simulator.hardware import load_gpu
    >>> auto_profile(load_gpu("a100-sxm4-80gb")), auto_profile(load_gpu("h100"))
    ('flash2', 'flash3')
    """
    doc = _auto_table()
    entry = doc["architectures"].get(gpu.architecture.lower(), doc["default"])
    return entry["profile"]


@functools.cache
def _auto_table() -> dict[str, Any]:
    path = files("simulator") / "data" / "auto_profiles.yaml"
    return read_yaml(Path(str(path)), "auto profile table")


def check_profile(gpu: Any, profile: KernelProfile) -> None:
    """Raise when the kernel needs instructions the GPU's architecture lacks.

    Examples
    --------
    >>> from simulator.hardware import load_gpu
    >>> check_profile(load_gpu("a100-sxm4-80gb"), load_profile("flash3"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: kernel profile 'flash3' needs hopper instructions; ...
    """
    if profile.architectures and gpu.architecture.lower() not in profile.architectures:
        fitting = [name for name in list_profiles() if _runs_on(name, gpu.architecture.lower())]
        raise SpecError(f"kernel profile '{profile.name}' needs {'/'.join(profile.architectures)} "
                        f"instructions; {gpu.name} is {gpu.architecture} - use --kernel auto "
                        f"({auto_profile(gpu)} here) or a profile for {gpu.architecture}: "
                        f"{', '.join(fitting)}")


def _runs_on(name: str, architecture: str) -> bool:
    """Whether a listed profile runs on an architecture (a profile that does not load: no)."""
    try:
        needs = load_profile(name).architectures
    except SpecError:
        return False
    return not needs or architecture in needs


def _read_yaml(path: Path) -> Any:
    """Parse a kernel profile file (errors as one-line SpecErrors)."""
    return read_yaml(path, "kernel profile")


@functools.lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int) -> KernelProfile:
    """Load one file; keyed on its modification time so edits are seen."""
    del mtime_ns  # only part of the cache key
    resolved = Path(path)
    return _parse(resolved.name, _read_yaml(resolved), path)


def _load_file(path: Path) -> KernelProfile:
    """Load ``path`` through the cache."""
    resolved = path.expanduser().resolve()
    if not resolved.is_file():
        raise SpecError(f"{path}: kernel profile file not found")
    return _load_cached(str(resolved), resolved.stat().st_mtime_ns)


def profile_search_path() -> Path:
    """The directory of the built-in profiles.

    Examples
    --------
    >>> profile_search_path().name
    'profiles'
    """
    return Path(str(files("simulator") / "profiles"))


def list_profiles() -> list[str]:
    """Names of the built-in kernel profiles, sorted.

    Examples
    --------
    >>> {"flash2", "flash3", "unfused"} <= set(list_profiles())
    True
    """
    return sorted(p.stem for p in profile_search_path().glob("*.yaml"))


def load_profile(name_or_path: str | os.PathLike[str] | KernelProfile) -> KernelProfile:
    """Load a kernel profile by built-in name or path to a YAML file.

    Parameters
    ----------
    name_or_path : str, path-like or KernelProfile
        ``"flash3"``, ``"flash2"``, ``"unfused"`` ... or ``"./my_profile.yaml"``; a
        :class:`KernelProfile` is returned as it is.

    Returns
    -------
    KernelProfile

    Raises
    ------
    SpecError
        For an unknown name (the message lists the known ones), a missing file,
        malformed YAML, a missing or unknown key, or an out-of-range number.

    Examples
    --------
    >>> load_profile("unfused").fusion
    'unfused'
    >>> load_profile("flash9")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: unknown kernel profile 'flash9'; known: amd-fmha, cutlass-fmha, ...
    """
    if isinstance(name_or_path, KernelProfile):
        return name_or_path
    text = os.fspath(name_or_path)
    if not isinstance(name_or_path, str) or "/" in text or text.endswith((".yaml", ".yml")):
        return _load_file(Path(text))
    path = profile_search_path() / f"{text.strip().lower()}.yaml"
    if not path.is_file():
        raise SpecError(f"unknown kernel profile '{text}'; known: {', '.join(list_profiles())} "
                        "(or give a path to a .yaml file)")
    return _load_file(path)

"""GPU specifications: load and validate the YAML catalogue into frozen :class:`GPUSpec` objects.

Built-in specs live in ``hardware_specs/gpus/*.yaml``; directories listed in the environment
variable ``EINSIM_HW_PATH`` (colon-separated) are searched first, so a user can add or override
a GPU by dropping a YAML file there. Wherever a name is accepted, a path to a YAML file works too.

Every number in a spec file is written as ``{value: ..., unit: ..., source: ...}``; the loader
converts it to base SI units (Hz, bytes, bytes/s, watts) or to per-SM, per-clock rates, and
rejects a missing key, an unknown unit, a non-numeric, non-positive or non-finite value, an
unknown key or malformed YAML with a one-line :class:`~simulator.errors.SpecError`.

Examples
--------
>>> h100 = load_gpu("H100")
>>> h100.name, h100.sm_count
('h100-sxm5', 132)
>>> round(h100.peak_tensor_flops["fp16"] / 1e12, 1)   # 132 SM x 4096 FLOP/clk x 1.83 GHz
989.4
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
from typing import Any, NamedTuple

from simulator.errors import SpecError
from simulator.yamlio import read_yaml

__all__ = [
    "ENV_VAR",
    "TENSOR_DTYPES",
    "UNITS",
    "GPUSpec",
    "SpecRow",
    "gpu_search_path",
    "list_gpus",
    "load_gpu",
]

#: Environment variable holding extra GPU-spec directories (colon-separated, searched first).
ENV_VAR = "EINSIM_HW_PATH"

#: Tensor-core data types a spec may list, in display order.
TENSOR_DTYPES = ("fp64", "tf32", "fp16", "bf16", "fp8", "fp6", "int8", "fp4", "int4")

_BYTES = {
    "B": 1, "KB": 10**3, "KiB": 2**10, "MB": 10**6, "MiB": 2**20,
    "GB": 10**9, "GiB": 2**30, "TB": 10**12, "TiB": 2**40,
}
#: Accepted units per quantity kind, each mapped to its factor to the base unit.
UNITS: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "sm": {"SM": 1},
    "thread": {"thread": 1},
    "cta": {"CTA": 1},
    "frequency": {"Hz": 1, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9},
    "bytes": _BYTES,
    "bandwidth": {"B/s": 1, "MB/s": 1e6, "GB/s": 1e9, "TB/s": 1e12, "GiB/s": 2**30},
    "tensor_rate": {"FLOP/clk/SM": 1, "OP/clk/SM": 1},
    "flop_rate": {"FLOP/clk/SM": 1},
    "result_rate": {"result/clk/SM": 1},
    "smem_rate": {"B/clk/SM": 1},
    "register_file": {"reg32": 4, "B": 1, "KiB": 2**10},
    "power": {"W": 1, "kW": 1e3},
})
_BASE_UNIT = {
    "sm": "SM", "thread": "thread", "cta": "CTA", "frequency": "Hz", "bytes": "B",
    "bandwidth": "B/s", "tensor_rate": "FLOP/clk/SM", "flop_rate": "FLOP/clk/SM",
    "result_rate": "result/clk/SM", "smem_rate": "B/clk/SM", "register_file": "B", "power": "W",
}
_INTEGER_KINDS = frozenset({"sm", "thread", "cta", "bytes", "register_file"})
_QUANTITY_KEYS = frozenset({"value", "unit", "source", "note"})


class _Field(NamedTuple):
    """One scalar quantity of the schema: YAML key path, unit kind, attribute, required."""

    path: str
    kind: str
    attr: str
    required: bool = True


_FIELDS = (
    _Field("sm_count", "sm", "sm_count"),
    _Field("clocks.boost", "frequency", "boost_clock_hz"),
    _Field("clocks.tensor", "frequency", "tensor_clock_hz"),
    _Field("clocks.base", "frequency", "base_clock_hz", False),
    _Field("cuda_core.fp32", "flop_rate", "fp32_flop_per_clk_per_sm"),
    _Field("cuda_core.exp", "result_rate", "exp_per_clk_per_sm"),
    _Field("shared_memory.bandwidth", "smem_rate", "smem_bytes_per_clk_per_sm"),
    _Field("shared_memory.capacity_per_sm", "bytes", "smem_bytes_per_sm"),
    _Field("shared_memory.max_per_cta", "bytes", "smem_bytes_per_cta"),
    _Field("registers.per_sm", "register_file", "register_bytes_per_sm"),
    _Field("tmem.per_sm", "bytes", "tmem_bytes_per_sm", False),
    _Field("limits.max_threads_per_sm", "thread", "max_threads_per_sm", False),
    _Field("limits.max_ctas_per_sm", "cta", "max_ctas_per_sm", False),
    _Field("l2.capacity", "bytes", "l2_bytes"),
    _Field("dram.bandwidth", "bandwidth", "dram_bytes_per_s"),
    _Field("dram.capacity", "bytes", "dram_bytes"),
    _Field("power.tdp", "power", "tdp_watts", False),
)
_TENSOR_SECTIONS = (
    ("tensor_core.dense", "tensor_flop_per_clk_per_sm", True),
    ("tensor_core.sparse_2to4", "sparse_tensor_flop_per_clk_per_sm", False),
)
_TEXT_KEYS = ("name", "aliases", "architecture", "compute_capability", "references", "notes")


def _allowed_keys() -> dict[str, frozenset[str]]:
    """Map each YAML section path ('' = top level) to the keys allowed in it."""
    section2keys: dict[str, set[str]] = {"": set(_TEXT_KEYS), "dram": {"type"}}
    for path in [f.path for f in _FIELDS] + [s[0] for s in _TENSOR_SECTIONS]:
        parts = path.split(".")
        for depth in range(len(parts)):
            section2keys.setdefault(".".join(parts[:depth]), set()).add(parts[depth])
    return {section: frozenset(keys) for section, keys in section2keys.items()}


_SECTION2KEYS = _allowed_keys()


class SpecRow(NamedTuple):
    """One quantity of a spec for display: key path, value in base units, unit, source."""

    key: str
    value: float
    unit: str
    source: str


@dataclass(frozen=True)
class GPUSpec:
    """A GPU in base SI units (Hz, bytes, bytes/s, W) plus per-SM, per-clock rates.

    Throughput properties (``peak_tensor_flops``, ``fp32_flops``, ``exp_ops_per_s``,
    ``smem_bytes_per_s``) multiply per-SM rates by ``sm_count`` and ``tensor_clock_hz``, the
    clock the vendor's tensor peaks assume (also the clock FlashAttention-3 pins for its
    H100 benchmarks). Vendor CUDA-core (FP32) headlines assume the boost clock instead:
    ``spec.at_clock(spec.boost_clock_hz).fp32_flops`` reproduces them.

    ``tensor_flop_per_clk_per_sm`` holds dense rates (dtype -> FLOP/clk/SM, INT counted as
    OP); ``sparse_tensor_flop_per_clk_per_sm`` holds the opt-in 2:4 structured-sparse rates.
    ``sources`` maps attribute names (``"tensor_flop_per_clk_per_sm.fp16"`` for a dtype
    entry) to the citation given in the YAML.

    Examples
    --------
    >>> a100 = load_gpu("a100-sxm4-80gb")
    >>> a100.register_count_per_sm, a100.smem_bytes_per_sm // 1024
    (65536, 164)
    >>> round(a100.exp_ops_per_s / 1e12, 2)   # 108 SM x 16 /clk x 1.41 GHz
    2.44
    """

    name: str
    aliases: tuple[str, ...]
    architecture: str
    compute_capability: str | None
    sm_count: int
    boost_clock_hz: float
    tensor_clock_hz: float
    tensor_flop_per_clk_per_sm: Mapping[str, float] = field(hash=False)
    sparse_tensor_flop_per_clk_per_sm: Mapping[str, float] = field(hash=False)
    fp32_flop_per_clk_per_sm: float
    exp_per_clk_per_sm: float
    smem_bytes_per_clk_per_sm: float
    smem_bytes_per_sm: int
    smem_bytes_per_cta: int
    register_bytes_per_sm: int
    l2_bytes: int
    dram_bytes_per_s: float
    dram_bytes: int
    base_clock_hz: float | None = None
    tmem_bytes_per_sm: int | None = None
    max_threads_per_sm: int | None = None
    max_ctas_per_sm: int | None = None
    tdp_watts: float | None = None
    dram_type: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict, hash=False, repr=False)
    path: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        for attr in ("tensor_flop_per_clk_per_sm", "sparse_tensor_flop_per_clk_per_sm",
                     "sources"):
            object.__setattr__(self, attr, MappingProxyType(dict(getattr(self, attr))))
        object.__setattr__(self, "aliases", tuple(self.aliases))

    def __str__(self) -> str:
        fp16 = self.peak_tensor_flops.get("fp16", 0.0)
        return (f"{self.name}: {self.architecture}, {self.sm_count} SMs, "
                f"{fp16 / 1e12:.1f} TFLOP/s dense FP16, {self.dram_bytes_per_s / 1e12:.2f} TB/s")

    @property
    def register_count_per_sm(self) -> int:
        """Number of 32-bit registers per SM."""
        return self.register_bytes_per_sm // 4

    @property
    def peak_tensor_flops(self) -> dict[str, float]:
        """Dense tensor-core peak per dtype, FLOP/s (OP/s for integer types)."""
        scale = self.sm_count * self.tensor_clock_hz
        return {dtype: rate * scale for dtype, rate in self.tensor_flop_per_clk_per_sm.items()}

    @property
    def peak_sparse_tensor_flops(self) -> dict[str, float]:
        """2:4 structured-sparse tensor-core peak per dtype, FLOP/s."""
        scale = self.sm_count * self.tensor_clock_hz
        return {d: r * scale for d, r in self.sparse_tensor_flop_per_clk_per_sm.items()}

    @property
    def fp32_flops(self) -> float:
        """FP32 CUDA-core peak (FMA = 2 FLOP) at ``tensor_clock_hz``, FLOP/s."""
        return self.fp32_flop_per_clk_per_sm * self.sm_count * self.tensor_clock_hz

    @property
    def exp_ops_per_s(self) -> float:
        """Exp-unit (MUFU/SFU) results per second at ``tensor_clock_hz``."""
        return self.exp_per_clk_per_sm * self.sm_count * self.tensor_clock_hz

    @property
    def smem_bytes_per_s(self) -> float:
        """Aggregate shared-memory bandwidth over all SMs at ``tensor_clock_hz``, B/s."""
        return self.smem_bytes_per_clk_per_sm * self.sm_count * self.tensor_clock_hz

    def tensor_flops(self, dtype: str, sparse: bool = False) -> float:
        """Tensor-core peak for one dtype in FLOP/s.

        Parameters
        ----------
        dtype : str
            A key of ``tensor_flop_per_clk_per_sm`` such as ``"fp16"`` or ``"fp8"``.
        sparse : bool, optional
            Use the 2:4 structured-sparse rate instead of the dense one.

        Returns
        -------
        float
            ``rate x sm_count x tensor_clock_hz``.

        Raises
        ------
        SpecError
            If the GPU has no tensor-core path for ``dtype``.

        Examples
        --------
        >>> round(load_gpu("b200").tensor_flops("fp4") / 1e15, 2)  # 148 x 32768 x 1.856 GHz
        9.0
        >>> load_gpu("a100").tensor_flops("fp8")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        simulator.errors.SpecError: GPU 'a100-sxm4-80gb' has no dense fp8 tensor-core rate; ...
        """
        table = self.peak_sparse_tensor_flops if sparse else self.peak_tensor_flops
        if dtype not in table:
            mode = "2:4 sparse" if sparse else "dense"
            raise SpecError(f"GPU '{self.name}' has no {mode} {dtype} tensor-core rate; "
                            f"known: {', '.join(table)}")
        return table[dtype]

    def at_clock(self, clock_hz: float) -> GPUSpec:
        """Return a copy whose throughput properties assume ``clock_hz``.

        Examples
        --------
        >>> h100 = load_gpu("h100")
        >>> round(h100.at_clock(h100.boost_clock_hz).fp32_flops / 1e12, 1)  # vendor 66.9
        66.9
        """
        if not (isinstance(clock_hz, (int, float)) and math.isfinite(clock_hz) and clock_hz > 0):
            raise SpecError(f"GPU '{self.name}': clock must be a positive number of Hz, "
                            f"got {clock_hz!r}")
        return dataclasses.replace(self, tensor_clock_hz=float(clock_hz))

    def rows(self) -> list[SpecRow]:
        """All quantities in YAML-key order with base units and sources, for display."""
        rows = []
        for spec_field in _FIELDS:
            value = getattr(self, spec_field.attr)
            if value is not None:
                source = self.sources.get(spec_field.attr, "")
                rows.append(SpecRow(spec_field.path, value, _BASE_UNIT[spec_field.kind], source))
        for section, attr, _ in _TENSOR_SECTIONS:
            for dtype, rate in getattr(self, attr).items():
                source = self.sources.get(f"{attr}.{dtype}", "")
                rows.append(SpecRow(f"{section}.{dtype}", rate, "FLOP/clk/SM", source))
        return rows

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready document: snake_case keys, base SI units, derived peaks, sources."""
        document: dict[str, Any] = {
            "name": self.name, "aliases": list(self.aliases),
            "architecture": self.architecture, "compute_capability": self.compute_capability,
            "dram_type": self.dram_type,
        }
        for spec_field in _FIELDS:
            document[spec_field.attr] = getattr(self, spec_field.attr)
        for _, attr, _ in _TENSOR_SECTIONS:
            document[attr] = dict(getattr(self, attr))
        document.update(
            register_count_per_sm=self.register_count_per_sm,
            peak_tensor_flops=self.peak_tensor_flops,
            peak_sparse_tensor_flops=self.peak_sparse_tensor_flops,
            fp32_flops=self.fp32_flops, exp_ops_per_s=self.exp_ops_per_s,
            smem_bytes_per_s=self.smem_bytes_per_s, sources=_nest(self.sources),
        )
        return document


def _nest(flat: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``{"a.b": x}`` into ``{"a": {"b": x}}`` (one level, for the JSON sources)."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, tail = key.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = value
        else:
            nested[key] = value
    return nested


# --------------------------------------------------------------------------- parsing


def _fail(label: str, path: str, expected: str, got: Any) -> SpecError:
    """Build the one-line error for key ``path`` of file ``label``."""
    return SpecError(f"{label}: key '{path}': expected {expected}; got {got!r}")


def _lookup(doc: Mapping[str, Any], path: str) -> Any:
    """Return the value at dotted ``path`` or None when any part is missing."""
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _check_keys(label: str, doc: Mapping[str, Any]) -> None:
    """Reject unknown keys (typos) and non-mapping sections anywhere in the schema."""
    for section, allowed in _SECTION2KEYS.items():
        node = _lookup(doc, section) if section else doc
        if node is None:
            continue
        if not isinstance(node, Mapping):
            raise _fail(label, section, "a mapping", node)
        for key in node:
            if key not in allowed:
                where = f"{section}.{key}" if section else str(key)
                raise SpecError(f"{label}: unknown key '{where}'; expected one of "
                                f"{', '.join(sorted(allowed))}")


#: The largest value a spec quantity may give in its own unit (specs give ~1e5 at most).
_MAX_VALUE = 1e15


def _number(label: str, path: str, value: Any, integer: bool) -> float:
    """Check that ``value`` is a positive finite number (an integer if ``integer``)."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or value <= 0:
        raise _fail(label, f"{path}.value", "a positive number", value)
    if value > _MAX_VALUE:  # keeps every product the model forms far inside int64 and float
        raise _fail(label, f"{path}.value", f"a number at most {_MAX_VALUE:.0e} in its unit", value)
    if integer and value != int(value):
        raise _fail(label, f"{path}.value", "an integer", value)
    return float(value)


def _quantity(label: str, doc: Mapping[str, Any], spec_field: _Field) -> tuple[Any, str]:
    """Read one ``{value, unit, source[, note]}`` node; return (base-unit value, citation).

    An optional ``note`` is appended to the citation after " | note: ".
    """
    node, path = _lookup(doc, spec_field.path), spec_field.path
    if node is None:
        if spec_field.required:
            raise SpecError(f"{label}: missing key '{path}': expected "
                            "{value: <number>, unit: <unit>, source: <text>}")
        return None, ""
    if not isinstance(node, Mapping):
        raise _fail(label, path, "a mapping {value, unit, source}", node)
    for key in ("value", "unit", "source"):
        if key not in node:
            raise SpecError(f"{label}: missing key '{path}.{key}'")
    extra = set(node) - _QUANTITY_KEYS
    if extra:
        raise SpecError(f"{label}: unknown key '{path}.{sorted(extra)[0]}'; expected one of "
                        f"{', '.join(sorted(_QUANTITY_KEYS))}")
    source = _source(label, path, node)
    if node.get("note") is not None:
        source = f"{source} | note: {str(node['note']).strip()}"
    return _convert(label, path, node, spec_field.kind), source


def _convert(label: str, path: str, node: Mapping[str, Any], kind: str) -> Any:
    """Multiply the node's value by its unit factor; integers stay integers."""
    units = UNITS[kind]
    if node["unit"] not in units:
        raise _fail(label, f"{path}.unit", f"one of {', '.join(units)}", node["unit"])
    integer_in = kind in ("sm", "thread", "cta")
    value = _number(label, path, node["value"], integer_in) * units[node["unit"]]
    return int(round(value)) if kind in _INTEGER_KINDS else value


def _source(label: str, path: str, node: Mapping[str, Any]) -> str:
    """Return the non-empty ``source`` text of a quantity node."""
    source = node["source"]
    if not isinstance(source, str) or not source.strip():
        raise _fail(label, f"{path}.source", "a non-empty citation string", source)
    return source.strip()


def _tensor_rates(label: str, doc: Mapping[str, Any], section: str, required: bool,
                  ) -> tuple[dict[str, float], dict[str, str]]:
    """Read a dtype -> rate mapping (dense or 2:4 sparse)."""
    node = _lookup(doc, section)
    if node is None:
        if required:
            raise SpecError(f"{label}: missing key '{section}': expected a mapping of "
                            f"dtype ({', '.join(TENSOR_DTYPES)}) to FLOP/clk/SM")
        return {}, {}
    if not isinstance(node, Mapping) or not node:
        raise _fail(label, section, "a non-empty mapping of dtype to rate", node)
    rates, sources = {}, {}
    for dtype in node:
        if dtype not in TENSOR_DTYPES:
            raise SpecError(f"{label}: unknown key '{section}.{dtype}'; expected one of "
                            f"{', '.join(TENSOR_DTYPES)}")
        value, source = _quantity(label, doc, _Field(f"{section}.{dtype}", "tensor_rate", ""))
        rates[dtype], sources[dtype] = value, source
    return rates, sources


def _text(label: str, doc: Mapping[str, Any], key: str, required: bool) -> str | None:
    """Read a top-level non-empty string (numbers such as 9.0 are accepted as text)."""
    value = doc.get(key)
    if value is None and not required:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _fail(label, key, "a non-empty string", value)
    return value.strip()


def _dram_type(label: str, doc: Mapping[str, Any]) -> str | None:
    """Read the optional free-text ``dram.type`` (e.g. HBM3e)."""
    value = doc["dram"].get("type")
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise _fail(label, "dram.type", "a memory type such as 'HBM3'", value)
    return value


def _aliases(label: str, doc: Mapping[str, Any]) -> tuple[str, ...]:
    """Read the optional ``aliases`` list of strings."""
    aliases = doc.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise _fail(label, "aliases", "a list of names", aliases)
    return tuple(aliases)


def _parse(label: str, doc: Any, path: str) -> GPUSpec:
    """Validate a loaded YAML document and build the :class:`GPUSpec`."""
    if not isinstance(doc, Mapping):
        raise SpecError(f"{label}: expected a mapping of GPU fields at the top level; "
                        f"got {type(doc).__name__}")
    _check_keys(label, doc)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for spec_field in _FIELDS:
        values[spec_field.attr], source = _quantity(label, doc, spec_field)
        if source:
            sources[spec_field.attr] = source
    for section, attr, required in _TENSOR_SECTIONS:
        values[attr], dtype2source = _tensor_rates(label, doc, section, required)
        sources.update({f"{attr}.{dtype}": text for dtype, text in dtype2source.items()})
    if values["smem_bytes_per_cta"] > values["smem_bytes_per_sm"]:
        raise _fail(label, "shared_memory.max_per_cta", "at most capacity_per_sm",
                    values["smem_bytes_per_cta"])
    return GPUSpec(
        name=_text(label, doc, "name", True) or "", aliases=_aliases(label, doc),
        architecture=_text(label, doc, "architecture", True) or "",
        compute_capability=_text(label, doc, "compute_capability", False),
        dram_type=_dram_type(label, doc), sources=sources, path=path,
        **values,
    )


def _read_yaml(path: Path) -> Any:
    """Parse a GPU spec file (errors as one-line SpecErrors)."""
    return read_yaml(path, "GPU spec")


@functools.lru_cache(maxsize=128)
def _load_cached(path: str, mtime_ns: int) -> GPUSpec:
    """Load and validate one file; keyed on the modification time so edits are seen."""
    del mtime_ns  # only part of the cache key
    resolved = Path(path)
    return _parse(resolved.name, _read_yaml(resolved), path)


def _load_file(path: Path) -> GPUSpec:
    """Load ``path`` through the cache keyed on its resolved location."""
    resolved = path.expanduser().resolve()
    if not resolved.is_file():
        raise SpecError(f"{path}: GPU spec file not found")
    return _load_cached(str(resolved), resolved.stat().st_mtime_ns)


# --------------------------------------------------------------------------- lookup


def gpu_search_path() -> tuple[Path, ...]:
    """Directories searched for GPU YAML files: ``$EINSIM_HW_PATH`` entries, then built-ins.

    Examples
    --------
    >>> gpu_search_path()[-1].name
    'gpus'
    """
    user_dirs = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    builtin = Path(str(files("hardware_specs") / "gpus"))
    return (*[d for d in user_dirs if d.is_dir()], builtin)


def _normalize(name: str) -> str:
    """Case-fold a GPU name and treat '_' and ' ' as '-'."""
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def _catalogue() -> dict[str, GPUSpec]:
    """Map every normalized file stem, name and alias to its spec (earlier dirs win)."""
    key2spec: dict[str, GPUSpec] = {}
    for directory in gpu_search_path():
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            spec = _load_file(path)
            for key in (path.stem, spec.name, *spec.aliases):
                key2spec.setdefault(_normalize(key), spec)
    return key2spec


def _looks_like_path(name: str | os.PathLike[str]) -> bool:
    """True for PathLike objects and strings with a separator or a YAML suffix."""
    text = os.fspath(name)
    return (not isinstance(name, str) or os.sep in text or "/" in text
            or text.lower().endswith((".yaml", ".yml")))


def list_gpus() -> list[str]:
    """Names of all GPUs on the search path, sorted.

    Returns
    -------
    list of str
        Canonical names (the ``name:`` field); aliases are not repeated.

    Examples
    --------
    >>> [n for n in list_gpus() if n.startswith("h")]
    ['h100-sxm5', 'h200', 'h800']
    """
    return sorted({spec.name for spec in _catalogue().values()})


def load_gpu(name_or_path: str | os.PathLike[str]) -> GPUSpec:
    """Load a GPU spec by built-in name, alias (case-insensitive) or path to a YAML file.

    Parameters
    ----------
    name_or_path : str or path-like
        ``"h100"``, ``"H100-SXM5"``, ``"b200"``... or ``"./my_gpu.yaml"``.

    Returns
    -------
    GPUSpec
        The validated spec, cached on the resolved file path and modification time.

    Raises
    ------
    SpecError
        For an unknown name (the message lists the known ones), a missing file, malformed
        YAML, a missing key, an unknown unit or a non-positive value.

    Examples
    --------
    >>> load_gpu("h100") is load_gpu("H100_SXM5")
    True
    >>> load_gpu("b200").tmem_bytes_per_sm
    262144
    >>> load_gpu("v100")   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: unknown GPU 'v100'; known: a100-sxm4-40gb, ...
    """
    if _looks_like_path(name_or_path):
        return _load_file(Path(name_or_path))
    catalogue = _catalogue()
    spec = catalogue.get(_normalize(str(name_or_path)))
    if spec is None:
        known = ", ".join(sorted({s.name for s in catalogue.values()}))
        raise SpecError(f"unknown GPU '{name_or_path}'; known: {known} "
                        "(or give a path to a .yaml file)")
    return spec

"""Spatial-array architectures: load and validate ``hardware_specs/accelerators/*.yaml``.

An :class:`Architecture` is data: arrays of PEs (a 2-D array and a 1-D array on FuseMax and
FLAT), the op kinds each PE supports with their cycle cost and the energy actions they
perform, per-PE register accesses, a global buffer, DRAM, a clock, a word size, energy per
action and area per unit. Every number carries a ``source:``.

Examples
--------
>>> arch = load_architecture("fusemax-cloud")
>>> arch.array("2d").pes, arch.array("1d").pes, arch.buffer_bytes / 2**20
(65536, 256, 16.0)
>>> arch.array("2d").cycles("exp"), arch.array("2d").supports("div")
(6.0, False)
>>> small = arch.with_overrides(rows=16, cols=16, pes_1d=16)
>>> small.array("2d").pes, small.array("1d").pes
(256, 16)
>>> arch.gemm_pipeline, arch.with_overrides(gemm_pipeline="scale-sim").gemm_pipeline
('fusemax', 'scale-sim')
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from simulator.errors import SpecError
from simulator.spatial._spec import (
    check_keys,
    expect_list,
    expect_mapping,
    quantity_with_source,
    read_yaml,
    resolve_yaml,
)

__all__ = [
    "ARCH_DIR",
    "GEMM_PIPELINES",
    "Architecture",
    "FusedOps",
    "OpCost",
    "PEArray",
    "array_cycles",
    "list_architectures",
    "load_architecture",
]

#: Directory of the built-in architecture YAML files.
ARCH_DIR = Path(str(files("hardware_specs"))) / "accelerators"

_TOP_REQUIRED = ("name", "clock", "word", "buffer", "dram", "actions", "units", "arrays")
_TOP_OPTIONAL = ("title", "aliases", "notes", "references", "gemm_pipeline")

#: How the 2-D array's fill and drain show up in a GEMM's cycles (key ``gemm_pipeline``;
#: :func:`simulator.spatial.gemm.gemm_cycles`): ``fusemax`` (the default) pays one fill/drain
#: per GEMM, ``folds · K + fill_drain``, as the FuseMax artifact's linear layers do;
#: ``scale-sim`` exposes it on every fold, SCALE-Sim's output-stationary count
#: ``folds · (K + rows + cols − 2) − 1``.
GEMM_PIPELINES = ("fusemax", "scale-sim")


@dataclass(frozen=True)
class OpCost:
    """How a PE executes one op kind: cycles per op and the energy actions it performs."""

    kind: str
    cycles: float
    actions: tuple[tuple[str, float], ...]
    source: str


@dataclass(frozen=True)
class FusedOps:
    """A group of op kinds one PE issues together at ``cycles`` (e.g. FLAT's exp(a - b))."""

    ops: tuple[str, ...]
    cycles: float
    source: str


@dataclass(frozen=True, eq=False)
class PEArray:
    """One array of identical PEs.

    ``shape`` is ``(rows, cols)`` for a 2-D array and ``(pes,)`` for a 1-D array; entries
    may be numpy arrays when a sweep overrides them.
    """

    name: str
    shape: tuple[Any, ...]
    ops: tuple[OpCost, ...]
    fused: tuple[FusedOps, ...] = ()
    registers: float = 0.0
    register_reads: float = 0.0
    register_writes: float = 0.0
    pe_units: tuple[tuple[str, float], ...] = ()
    fill_drain_per_row: float = 0.0

    @property
    def pes(self) -> Any:
        """Number of PEs (an int, or an array under a sweep override)."""
        out: Any = 1
        for extent in self.shape:
            out = out * extent
        return out

    @property
    def op_kinds(self) -> tuple[str, ...]:
        """Supported op kinds, in YAML order."""
        return tuple(op.kind for op in self.ops)

    def supports(self, kind: str) -> bool:
        """Whether a PE of this array can execute ``kind``."""
        return kind in self.op_kinds

    def op(self, kind: str) -> OpCost:
        """The cost record of one op kind (KeyError if unsupported)."""
        for op in self.ops:
            if op.kind == kind:
                return op
        raise KeyError(kind)

    def cycles(self, kind: str) -> float:
        """Cycles one PE spends on one op of ``kind``."""
        return self.op(kind).cycles

    @property
    def fill_drain_cycles(self) -> Any:
        """Output-stationary fill plus drain of one tile (scales with the rows)."""
        return self.fill_drain_per_row * self.shape[0]


@dataclass(frozen=True, eq=False)
class Architecture:
    """A spatial accelerator in base SI units (Hz, bytes, bytes/s, J, m²).

    Attributes
    ----------
    name, title : str
    clock_hz, word_bytes : float
    buffer_bytes : float or ndarray
        Global-buffer capacity.
    buffer_read_j, buffer_write_j : float
        Energy per word read from / written to the global buffer.
    buffer_area_per_byte : float
        m² per byte of global buffer (area scales with the capacity).
    dram_bytes_per_s : float or ndarray
    dram_j_per_byte : float
    action_energy : tuple of (str, float)
        Joules per action (``mac``, ``add``, ``max``, ``div``, ``exp``, ``register_read``…).
    unit_area : tuple of (str, float)
        m² per unit named in the arrays' ``pe_units``.
    arrays : tuple of PEArray
    quantities : tuple of (str, float, str, str)
        ``(key path, value in base units, unit kind, citation)`` of every number.
    path : str
        The YAML file.
    gemm_pipeline : str
        One of :data:`GEMM_PIPELINES`: how fill and drain add to a GEMM's cycles.
    """

    name: str
    title: str
    clock_hz: Any
    word_bytes: float
    buffer_bytes: Any
    buffer_read_j: float
    buffer_write_j: float
    buffer_area_per_byte: float
    dram_bytes_per_s: Any
    dram_j_per_byte: float
    action_energy: tuple[tuple[str, float], ...]
    unit_area: tuple[tuple[str, float], ...]
    arrays: tuple[PEArray, ...]
    quantities: tuple[tuple[str, Any, str, str], ...] = ()
    aliases: tuple[str, ...] = ()
    path: str = field(default="", compare=False)
    gemm_pipeline: str = "fusemax"

    def array(self, name: str) -> PEArray:
        """The array called ``name``; SpecError listing the arrays otherwise."""
        for array in self.arrays:
            if array.name == name:
                return array
        raise SpecError(f"{self.name}: no array '{name}'; arrays: "
                        f"{', '.join(a.name for a in self.arrays)}")

    @property
    def array_2d(self) -> PEArray:
        """The first 2-D array (the one the tiling maps M0 × P0 onto)."""
        for array in self.arrays:
            if len(array.shape) == 2:
                return array
        raise SpecError(f"{self.name}: no 2-D array (an array with rows and cols)")

    def energy(self, action: str) -> float:
        """Joules per action; SpecError if the table lacks it."""
        table = dict(self.action_energy)
        if action not in table:
            raise SpecError(f"{Path(self.path).name}: key 'actions.{action}': missing energy "
                            f"per action (used by an op); known: {', '.join(table)}")
        return table[action]

    def with_overrides(self, rows: Any = None, cols: Any = None, pes_1d: Any = None,
                       buffer_bytes: Any = None, dram_bytes_per_s: Any = None,
                       clock_hz: Any = None, gemm_pipeline: str | None = None) -> Architecture:
        """A copy with a different 2-D array shape, 1-D size, buffer, bandwidth, clock or GEMM pipeline.

        Numeric values may be numpy arrays (one entry per design point of a sweep);
        ``gemm_pipeline`` is one of :data:`GEMM_PIPELINES` for the whole copy.

        Raises
        ------
        SpecError
            On a non-positive number or an unknown GEMM pipeline.
        """
        arrays = []
        for array in self.arrays:
            shape = array.shape
            if len(shape) == 2 and array is self.array_2d:
                shape = (shape[0] if rows is None else rows, shape[1] if cols is None else cols)
            elif len(shape) == 1 and pes_1d is not None:
                shape = (pes_1d,)
            arrays.append(dataclasses.replace(array, shape=shape))
        changes = {"arrays": tuple(arrays)}
        for key, value in (("buffer_bytes", buffer_bytes), ("dram_bytes_per_s", dram_bytes_per_s),
                           ("clock_hz", clock_hz)):
            if value is not None:
                _check_positive(value, f"override '{key}'")
                changes[key] = value
        for value, key in ((rows, "rows"), (cols, "cols"), (pes_1d, "pes_1d")):
            if value is not None:
                _check_positive(value, f"override '{key}'")
        if gemm_pipeline is not None:
            changes["gemm_pipeline"] = _gemm_pipeline(gemm_pipeline, "override 'gemm_pipeline'")
        return dataclasses.replace(self, **changes)

    def area_m2(self) -> Any:
        """Area of the arrays (PEs × unit areas) plus the global buffer."""
        unit2area = dict(self.unit_area)
        total: Any = self.buffer_bytes * self.buffer_area_per_byte
        for array in self.arrays:
            per_pe = sum(unit2area[unit] * count for unit, count in array.pe_units)
            total = total + array.pes * per_pe
        return total

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (base SI units) with the sources."""
        return {
            "name": self.name, "title": self.title, "path": self.path,
            "clock_hz": self.clock_hz, "word_bytes": self.word_bytes,
            "gemm_pipeline": self.gemm_pipeline,
            "buffer_bytes": self.buffer_bytes, "dram_bytes_per_s": self.dram_bytes_per_s,
            "area_m2": self.area_m2(),
            "arrays": [{"name": a.name, "shape": list(a.shape), "pes": a.pes,
                        "ops": {op.kind: {"cycles": op.cycles, "actions": dict(op.actions)}
                                for op in a.ops},
                        "fused": [{"ops": list(f.ops), "cycles": f.cycles} for f in a.fused],
                        "registers": a.registers} for a in self.arrays],
            "action_energy_j": dict(self.action_energy), "unit_area_m2": dict(self.unit_area),
            "quantities": [{"key": k, "value": v, "kind": kind, "source": src}
                           for k, v, kind, src in self.quantities],
        }


def _gemm_pipeline(value: Any, what: str) -> str:
    """Check a ``gemm_pipeline`` value (one of :data:`GEMM_PIPELINES`); ``what`` names it."""
    if not isinstance(value, str) or value not in GEMM_PIPELINES:
        raise SpecError(f"{what}: expected one of {', '.join(GEMM_PIPELINES)}; got {value!r}")
    return value


def _check_positive(value: Any, what: str) -> None:
    """Overrides must be positive and finite (scalars or arrays)."""
    array = np.asarray(value, dtype=float)
    if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise SpecError(f"{what}: expected positive numbers; got {value!r}")


def array_cycles(ops: Mapping[str, Any], array: PEArray) -> Any:
    """PE-cycles one Einsum's op counts take on an array (fused groups charged once).

    Examples
    --------
    >>> from simulator.spatial.arch import load_architecture
    >>> flat_1d = load_architecture("flat-cloud").array("1d")
    >>> array_cycles({"add": 10.0, "exp": 10.0}, flat_1d)   # exp(a - b): 1 cycle, not 2
    10.0
    >>> array_cycles({"add": 10.0, "exp": 10.0}, load_architecture("fusemax-cloud").array("2d"))
    70.0
    """
    total: Any = 0.0
    for kind, count in ops.items():
        total = total + count * array.cycles(kind)
    for group in array.fused:
        if all(k in ops for k in group.ops):
            together = ops[group.ops[0]]
            for kind in group.ops[1:]:
                together = np.minimum(together, ops[kind])
            total = total - together * (sum(array.cycles(k) for k in group.ops) - group.cycles)
    return float(total) if np.ndim(total) == 0 else total


# --------------------------------------------------------------------------- loading


def list_architectures() -> list[str]:
    """Names of the built-in architectures.

    Examples
    --------
    >>> list_architectures()
    ['flat-cloud', 'fusemax-cloud']
    """
    return sorted(p.stem for p in ARCH_DIR.glob("*.yaml"))


def load_architecture(name_or_path: str | os.PathLike[str]) -> Architecture:
    """Load an architecture by name (``fusemax-cloud``) or YAML path.

    Raises
    ------
    SpecError
        Unknown name, malformed YAML, a missing or unknown key, a bad unit or value.
    """
    path = resolve_yaml(name_or_path, [ARCH_DIR], "architecture", list_architectures())
    return _load_cached(str(path.resolve()), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int) -> Architecture:
    """Parse one file (cached on path and modification time)."""
    file = Path(path)
    return _parse(read_yaml(file), file.name, path)


def _parse(doc: Mapping[str, Any], label: str, path: str) -> Architecture:
    """Build an Architecture from a YAML document."""
    check_keys(doc, label, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    quantities: list[tuple[str, float, str, str]] = []

    def q(node: Any, kind: str, key: str, allow_zero: bool = False) -> float:
        value, source = quantity_with_source(node, kind, label, key, allow_zero)
        quantities.append((key, value, kind, source))
        return value

    clock = q(doc["clock"], "frequency", "clock")
    word = q(doc["word"], "bits", "word") / 8
    buffer = _buffer(expect_mapping(doc["buffer"], label, "buffer"), label, q, word)
    dram = expect_mapping(doc["dram"], label, "dram")
    check_keys(dram, label, "dram", ("bandwidth", "access_width", "access_energy"))
    bandwidth = q(dram["bandwidth"], "bandwidth", "dram.bandwidth")
    dram_j_per_byte = (q(dram["access_energy"], "energy", "dram.access_energy", True)
                       / (q(dram["access_width"], "bits", "dram.access_width") / 8))
    actions = _table(doc["actions"], "energy", "actions", label, q)
    units = _table(doc["units"], "area", "units", label, q)
    arrays = _arrays(doc["arrays"], label, q, dict(actions), dict(units))
    aliases = doc.get("aliases") or []
    return Architecture(
        name=str(doc["name"]), title=str(doc.get("title", "")), clock_hz=clock,
        word_bytes=word, buffer_bytes=buffer["capacity"], buffer_read_j=buffer["read"],
        buffer_write_j=buffer["write"], buffer_area_per_byte=buffer["area"],
        dram_bytes_per_s=bandwidth, dram_j_per_byte=dram_j_per_byte, action_energy=actions,
        unit_area=units, arrays=arrays, quantities=tuple(quantities),
        aliases=tuple(str(a) for a in aliases), path=path,
        gemm_pipeline=_gemm_pipeline(doc.get("gemm_pipeline", "fusemax"),
                                    f"{label}: key 'gemm_pipeline'"))


def _buffer(node: Mapping[str, Any], label: str, q: Any, word: float) -> dict[str, float]:
    """Capacity, per-word read/write energy and area per byte of the global buffer."""
    check_keys(node, label, "buffer", ("capacity", "access_width", "read_energy",
                                       "write_energy", "area"))
    capacity = q(node["capacity"], "bytes", "buffer.capacity")
    words_per_access = q(node["access_width"], "bits", "buffer.access_width") / 8 / word
    return {
        "capacity": capacity,
        "read": q(node["read_energy"], "energy", "buffer.read_energy", True) / words_per_access,
        "write": q(node["write_energy"], "energy", "buffer.write_energy", True) / words_per_access,
        "area": q(node["area"], "area", "buffer.area") / capacity,
    }


def _table(node: Any, kind: str, key: str, label: str, q: Any) -> tuple[tuple[str, float], ...]:
    """A name → quantity table (energy per action, area per unit)."""
    node = expect_mapping(node, label, key)
    if not node:
        raise SpecError(f"{label}: key '{key}': expected at least one entry")
    return tuple((str(name), q(value, kind, f"{key}.{name}", kind == "energy"))
                 for name, value in node.items())


def _arrays(node: Any, label: str, q: Any, actions: dict[str, float],
            units: dict[str, float]) -> tuple[PEArray, ...]:
    """Parse every array."""
    node = expect_mapping(node, label, "arrays")
    if not node:
        raise SpecError(f"{label}: key 'arrays': expected at least one array")
    return tuple(_array(str(name), expect_mapping(body, label, f"arrays.{name}"), label, q,
                        actions, units) for name, body in node.items())


def _array(name: str, node: Mapping[str, Any], label: str, q: Any, actions: dict[str, float],
           units: dict[str, float]) -> PEArray:
    """Parse one array: shape, ops, fused groups, registers, PE units, fill/drain."""
    key = f"arrays.{name}"
    shape_keys = ("rows", "cols") if "rows" in node or "cols" in node else ("pes",)
    check_keys(node, label, key, shape_keys + ("ops", "registers", "register_accesses",
                                               "pe_units"), ("fused", "fill_drain", "notes"))
    shape = tuple(int(q(node[k], "count", f"{key}.{k}")) for k in shape_keys)
    ops = _ops(expect_mapping(node["ops"], label, f"{key}.ops"), label, key, q, actions)
    kinds = {op.kind for op in ops}
    fused = tuple(_fused(item, label, f"{key}.fused[{i}]", kinds, q)
                  for i, item in enumerate(node.get("fused") or []))
    accesses = expect_mapping(node["register_accesses"], label, f"{key}.register_accesses")
    check_keys(accesses, label, f"{key}.register_accesses", ("reads", "writes"))
    pe_units = _pe_units(node["pe_units"], label, f"{key}.pe_units", units)
    fill = node.get("fill_drain")
    return PEArray(
        name=name, shape=shape, ops=ops, fused=fused,
        registers=q(node["registers"], "count", f"{key}.registers"),
        register_reads=q(accesses["reads"], "count", f"{key}.register_accesses.reads", True),
        register_writes=q(accesses["writes"], "count", f"{key}.register_accesses.writes", True),
        pe_units=pe_units,
        fill_drain_per_row=0.0 if fill is None else q(fill, "count", f"{key}.fill_drain"))


def _ops(node: Mapping[str, Any], label: str, key: str, q: Any,
         actions: dict[str, float]) -> tuple[OpCost, ...]:
    """Parse ``ops: {kind: {cycles, actions, source}}``."""
    if not node:
        raise SpecError(f"{label}: key '{key}.ops': expected at least one op kind")
    out = []
    for kind, body in node.items():
        path = f"{key}.ops.{kind}"
        body = expect_mapping(body, label, path)
        check_keys(body, label, path, ("cycles", "actions", "source"), ("note",))
        cycles = q({"value": body["cycles"], "unit": "cycle", "source": body["source"]},
                   "cycles", f"{path}.cycles")
        used = expect_mapping(body["actions"], label, f"{path}.actions")
        for action, count in used.items():
            if action not in actions:
                raise SpecError(f"{label}: key '{path}.actions.{action}': unknown action; "
                                f"expected one of {', '.join(actions)}")
            if isinstance(count, bool) or not isinstance(count, (int, float)) or count < 0:
                raise SpecError(f"{label}: key '{path}.actions.{action}': expected a "
                                f"non-negative count; got {count!r}")
        out.append(OpCost(str(kind), cycles, tuple((str(a), float(c)) for a, c in used.items()),
                          str(body["source"])))
    return tuple(out)


def _fused(node: Any, label: str, path: str, kinds: set[str], q: Any) -> FusedOps:
    """Parse one ``{ops: [...], cycles, source}`` fused group."""
    node = expect_mapping(node, label, path)
    check_keys(node, label, path, ("ops", "cycles", "source"), ("note",))
    ops = expect_list(node["ops"], label, f"{path}.ops")
    for kind in ops:
        if kind not in kinds:
            raise SpecError(f"{label}: key '{path}.ops': op '{kind}' is not among the array's "
                            f"ops ({', '.join(sorted(kinds))})")
    cycles = q({"value": node["cycles"], "unit": "cycle", "source": node["source"]}, "cycles",
               f"{path}.cycles")
    return FusedOps(tuple(str(k) for k in ops), cycles, str(node["source"]))


def _pe_units(node: Any, label: str, path: str, units: dict[str, float]
              ) -> tuple[tuple[str, float], ...]:
    """Parse ``pe_units: {units: {name: count}, source}``: the units one PE is built from."""
    node = expect_mapping(node, label, path)
    check_keys(node, label, path, ("units", "source"), ("note",))
    counts = expect_mapping(node["units"], label, f"{path}.units")
    out = []
    for unit, count in counts.items():
        if unit not in units:
            raise SpecError(f"{label}: key '{path}.units.{unit}': unknown unit; expected one "
                            f"of {', '.join(units)}")
        if isinstance(count, bool) or not isinstance(count, (int, float)) or count <= 0:
            raise SpecError(f"{label}: key '{path}.units.{unit}': expected a positive count; "
                            f"got {count!r}")
        out.append((str(unit), float(count)))
    return tuple(out)

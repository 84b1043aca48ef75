"""Bindings: which Einsum runs on which array, in which pipeline stage and phase.

A :class:`Binding` is a tuple of :class:`Phase` objects run one after another; tensors
that cross a phase boundary go through DRAM (the unfused baseline has three phases,
fused designs one). A phase is a tuple of :class:`Stage` objects; within a stage the
arrays run in parallel. A phase's ``schedule`` says how stages combine per tile
(TeAAL's rule): ``pipelined`` — epochs interleave tiles, so every array is busy
back to back and the phase takes the *max* over arrays; ``sequential`` — one tile is
produced and consumed before the next starts, so the stages *add up*, plus an
optional stall per tile (a fill/drain the binding does not hide).

Examples
--------
>>> import einsum
>>> from simulator.spatial.arch import load_architecture
>>> cascade, arch = einsum.load("attention-3pass"), load_architecture("flat-cloud")
>>> binding = auto_binding(cascade, arch)
>>> binding.array_of("QK"), binding.array_of("GM"), binding.array_of("A")
('2d', '1d', '1d')
>>> validate_binding(binding, cascade, arch, "auto")
>>> [p.einsums for p in auto_binding(cascade, arch, split_phases=True).phases]
[('QK',), ('GM', 'SN', 'SD', 'A'), ('AV',)]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import einsum
from einsum.graph import cascade_graph, forward_order
from einsum.model import Cascade
from simulator.errors import SpecError
from simulator.spatial._spec import (
    check_keys,
    expect_list,
    expect_mapping,
    quantity_with_source,
)
from simulator.spatial.arch import Architecture

__all__ = [
    "SCHEDULES",
    "Binding",
    "Phase",
    "Stage",
    "auto_binding",
    "einsum_op_kinds",
    "parse_binding",
    "validate_binding",
]

#: How the stages of a phase combine per tile.
SCHEDULES = ("pipelined", "sequential")


@dataclass(frozen=True)
class Stage:
    """Arrays running in parallel: ``((array, (einsum labels…)), …)``."""

    array2einsums: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def einsums(self) -> tuple[str, ...]:
        """Every label in the stage."""
        return tuple(label for _, labels in self.array2einsums for label in labels)


@dataclass(frozen=True)
class Phase:
    """Stages run on the arrays, then intermediates crossing to a later phase go to DRAM.

    ``stall`` is ``None``, ``"fill_drain"`` (the 2-D array's fill/drain per tile is not
    hidden) or a number of cycles per tile.
    """

    name: str
    schedule: str
    stages: tuple[Stage, ...]
    stall: str | float | None = None
    stall_source: str = ""

    @property
    def einsums(self) -> tuple[str, ...]:
        """Every label bound in this phase, stage by stage."""
        return tuple(label for stage in self.stages for label in stage.einsums)


@dataclass(frozen=True)
class Binding:
    """An ordered tuple of phases (see the module docstring)."""

    phases: tuple[Phase, ...]
    source: str = ""

    def array_of(self, label: str) -> str:
        """The array an Einsum is bound to (KeyError if unbound)."""
        for phase in self.phases:
            for stage in phase.stages:
                for array, labels in stage.array2einsums:
                    if label in labels:
                        return array
        raise KeyError(label)

    @property
    def einsums(self) -> tuple[str, ...]:
        """Every bound label."""
        return tuple(label for phase in self.phases for label in phase.einsums)


# --------------------------------------------------------------------------- parsing


def parse_binding(node: Any, label: str) -> Binding:
    """Parse the ``binding:`` section of a design YAML (structure only; see validate).

    Raises
    ------
    SpecError
        On a missing or unknown key, an unknown schedule or a malformed stage.
    """
    node = expect_mapping(node, label, "binding")
    check_keys(node, label, "binding", ("phases", "source"))
    phases = tuple(_phase(item, label, f"binding 'phases[{i}]'", f"binding.phases[{i}]")
                   for i, item in enumerate(expect_list(node["phases"], label, "binding.phases")))
    return Binding(phases, str(node["source"]))


def _phase(node: Any, label: str, where: str, path: str) -> Phase:
    """Parse one phase mapping."""
    node = expect_mapping(node, label, path)
    check_keys(node, label, path, ("name", "schedule", "stages"), ("stall_per_tile", "note"))
    schedule = node["schedule"]
    if schedule not in SCHEDULES:
        raise SpecError(f"{label}: {where}.schedule: expected one of {', '.join(SCHEDULES)}; "
                        f"got {schedule!r}")
    stages = []
    for i, stage in enumerate(expect_list(node["stages"], label, f"{path}.stages")):
        stage = expect_mapping(stage, label, f"{path}.stages[{i}]")
        pairs = []
        for array, labels in stage.items():
            labels = expect_list(labels, label, f"{path}.stages[{i}].{array}")
            pairs.append((str(array), tuple(str(x) for x in labels)))
        stages.append(Stage(tuple(pairs)))
    stall, stall_source = _stall(node.get("stall_per_tile"), label, f"{path}.stall_per_tile")
    return Phase(str(node["name"]), schedule, tuple(stages), stall, stall_source)


def _stall(node: Any, label: str, path: str) -> tuple[str | float | None, str]:
    """``fill_drain`` or ``{value, unit: cycle, source}``."""
    if node is None:
        return None, ""
    if node == "fill_drain":
        return "fill_drain", "the 2-D array's fill/drain (architecture YAML)"
    value, source = quantity_with_source(node, "cycles", label, path, allow_zero=True)
    return value, source


# --------------------------------------------------------------------------- validation


def einsum_op_kinds(cascade: Cascade) -> dict[str, tuple[str, ...]]:
    """Op kinds each Einsum performs (empty for copies and initialisations).

    Examples
    --------
    >>> einsum_op_kinds(einsum.load("attention-3pass"))["SN"]
    ('add', 'exp')
    """
    return {e.label: tuple(kind for kind, _ in e.ops) for e in einsum.op_counts(cascade).per_einsum}


def validate_binding(binding: Binding, cascade: Cascade, arch: Architecture, label: str) -> None:
    """Check a binding against a cascade and an architecture.

    Every Einsum that computes must be bound exactly once, to an existing array whose PEs
    support all of its op kinds; no Einsum may read a tensor produced in a later stage
    (sequential phases) or a later phase.

    Raises
    ------
    SpecError
        With the file, the binding key path and the offending Einsum, e.g.
        ``fusemax.yaml: binding 'phases[0].stages[0].2d': Einsum 'AV' needs div but
        array '2d' supports mac, mul, add, max, exp``.
    """
    kinds = einsum_op_kinds(cascade)
    where2label = _check_labels(binding, cascade, arch, label, kinds)
    for where, (array_name, name) in where2label.items():
        array = arch.array(array_name)
        missing = [k for k in kinds[name] if not array.supports(k)]
        if missing:
            raise SpecError(f"{label}: binding '{where}': Einsum '{name}' needs "
                            f"{', '.join(missing)} but array '{array_name}' supports "
                            f"{', '.join(array.op_kinds)}")
    unbound = [name for name, used in kinds.items() if used and name not in binding.einsums]
    if unbound:
        raise SpecError(f"{label}: binding: Einsum '{unbound[0]}' of {cascade.name} computes "
                        f"({', '.join(kinds[unbound[0]])}) but is bound to no array")
    _check_order(binding, cascade, label)


def _check_labels(binding: Binding, cascade: Cascade, arch: Architecture, label: str,
                  kinds: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, str]]:
    """Arrays exist, labels exist and are bound once; return key path → (array, label)."""
    seen: dict[str, str] = {}
    out: dict[str, tuple[str, str]] = {}
    arrays = [a.name for a in arch.arrays]
    for p, phase in enumerate(binding.phases):
        for s, stage in enumerate(phase.stages):
            for array, labels in stage.array2einsums:
                where = f"phases[{p}].stages[{s}].{array}"
                if array not in arrays:
                    raise SpecError(f"{label}: binding '{where}': unknown array '{array}'; "
                                    f"{arch.name} has {', '.join(arrays)}")
                for name in labels:
                    if name not in kinds:
                        raise SpecError(f"{label}: binding '{where}': unknown Einsum '{name}'; "
                                        f"{cascade.name} has {', '.join(kinds)}")
                    if name in seen:
                        raise SpecError(f"{label}: binding '{where}': Einsum '{name}' is "
                                        f"already bound at '{seen[name]}'")
                    seen[name] = where
                    out[f"{where}[{labels.index(name)}]"] = (array, name)
    return out


def _check_order(binding: Binding, cascade: Cascade, label: str) -> None:
    """No forward dependency may point from a later phase, or a later sequential stage."""
    graph = cascade_graph(cascade)
    position = {}
    for p, phase in enumerate(binding.phases):
        for s, stage in enumerate(phase.stages):
            for name in stage.einsums:
                position[name] = (p, s if phase.schedule == "sequential" else 0)
    for producer, consumer, data in graph.edges(data=True):
        if not data["forward"] or producer not in position or consumer not in position:
            continue
        if position[producer] > position[consumer]:
            p, s = position[consumer]
            raise SpecError(f"{label}: binding 'phases[{p}].stages[{s}]': Einsum '{consumer}' "
                            f"reads {data['tensor']}, produced by '{producer}' in a later "
                            f"{'phase' if position[producer][0] > p else 'stage'}")


# --------------------------------------------------------------------------- automatic


def auto_binding(cascade: Cascade, arch: Architecture, schedule: str = "pipelined",
                 split_phases: bool = False, stall: str | float | None = None) -> Binding:
    """Bind a cascade by rule: per-element work on the 2-D array, the rest where it fits.

    An Einsum whose iteration space covers whole keys (the pass rank, or several of the
    ranks that partition it: ``M``, or ``M1`` and ``M0``)
    goes to the 2-D array if its PEs support every op; otherwise (per-row work, or an op
    the 2-D array lacks, such as divide) to the first other array that supports it. With
    ``split_phases`` each run of consecutive Einsums on one array becomes a phase (the
    unfused baseline); a ``sequential`` schedule gets one stage per dependency depth.

    Raises
    ------
    SpecError
        If no array supports an Einsum's ops.
    """
    return _auto_binding(cascade, arch.name, _array_table(arch), schedule, split_phases, stall)


def _array_table(arch: Architecture) -> tuple[tuple[str, bool, tuple[str, ...]], ...]:
    """(name, is the 2-D array, op kinds) per array: the hashable part auto-binding needs."""
    primary = arch.array_2d.name
    return tuple((a.name, a.name == primary, a.op_kinds) for a in arch.arrays)


@lru_cache(maxsize=128)
def _auto_binding(cascade: Cascade, arch_name: str, arrays: tuple[tuple[str, bool, tuple], ...],
                  schedule: str, split_phases: bool, stall: Any) -> Binding:
    """Cached body of :func:`auto_binding`."""
    kinds = einsum_op_kinds(cascade)
    graph = cascade_graph(cascade)
    rank = einsum.pass_analysis(cascade).rank
    placed: list[tuple[str, str]] = []
    for name in forward_order(graph):
        if not kinds.get(name):
            continue
        element = _covers_rank(cascade, graph.nodes[name]["einsum"], rank)
        fits = [(n, primary) for n, primary, ops in arrays if set(kinds[name]) <= set(ops)]
        if not fits:
            raise SpecError(f"auto binding: no array of {arch_name} supports Einsum '{name}' "
                            f"(needs {', '.join(kinds[name])})")
        choice = next((n for n, primary in fits if primary == element), fits[0][0])
        placed.append((name, choice))
    runs = _runs(placed) if split_phases else [placed]
    phases = tuple(Phase(f"phase{i + 1}" if split_phases else "attention", schedule,
                         _stages(run, graph, schedule), stall)
                   for i, run in enumerate(runs))
    return Binding(phases, "auto binding (simulator.spatial.binding.auto_binding)")


def _covers_rank(cascade: Cascade, node: Any, rank: str) -> bool:
    """True if the Einsum iterates over whole keys (the pass rank, or several of its parts)."""
    ranks = {cascade.rank_of(v) for v in node.iteration_vars}
    family = ranks & (cascade.family(rank) if rank else frozenset())
    return rank in family or len(family) >= 2


def _runs(placed: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Split (label, array) pairs into runs of the same array."""
    runs: list[list[tuple[str, str]]] = []
    for name, array in placed:
        if runs and runs[-1][-1][1] == array:
            runs[-1].append((name, array))
        else:
            runs.append([(name, array)])
    return runs


def _stages(run: list[tuple[str, str]], graph: Any, schedule: str) -> tuple[Stage, ...]:
    """One stage (pipelined) or one stage per dependency depth (sequential)."""
    names = {name for name, _ in run}
    depth: dict[str, int] = {}
    for name, _ in run:
        parents = [u for u, _, d in graph.in_edges(name, data=True) if d["forward"] and u in names]
        depth[name] = 0 if schedule == "pipelined" else 1 + max((depth[u] for u in parents),
                                                                default=-1)
    stages = []
    for level in range(max(depth.values()) + 1):
        array2labels: dict[str, list[str]] = {}
        for name, array in run:
            if depth[name] == level:
                array2labels.setdefault(array, []).append(name)
        stages.append(Stage(tuple((a, tuple(ls)) for a, ls in array2labels.items())))
    return tuple(stages)

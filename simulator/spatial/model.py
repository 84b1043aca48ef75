"""The spatial-array cost model: cascade + architecture + binding + tiling → cycles, bytes, joules.

Per phase of the binding:

1. **compute** — for each array and stage, the cycles are
   ``Σ_einsum Σ_kind count × cycles(kind) / PEs`` (op counts from the cascade, evaluated
   at tile-padded sizes; fused op groups such as FLAT's exp(a − b) are charged once).
   A ``pipelined`` phase takes the max over arrays of their summed stages; a
   ``sequential`` phase the sum over stages of the max over arrays, plus a stall per
   ``M0 × P0`` tile (``M0`` keys of the key rank × ``P0`` queries, ranks found by role,
   :func:`simulator.binding.bind`);
2. **memory** — DRAM words from :mod:`simulator.spatial.traffic` with the resident
   query blocks and spills of :mod:`simulator.spatial.tiling`, divided by the bandwidth;
3. ``latency = max(compute, memory)`` (the artifact's roofline-style overlap), summed
   over phases; energy = actions × energy per action (:mod:`simulator.spatial.energy`).

Every input may be a numpy array (one entry per design point) — sequence lengths, head
dims, array shape, buffer, bandwidth — so a sweep evaluates thousands of points at once.

Examples
--------
>>> import einsum
>>> from simulator.spatial.arch import load_architecture
>>> from simulator.spatial.binding import auto_binding
>>> from simulator.spatial.tiling import ResidencyRule
>>> c, arch = einsum.load("attention-1pass"), load_architecture("fusemax-cloud")
>>> r = evaluate(c, auto_binding(c, arch), arch, ResidencyRule("divisor"),
...              {"E": 64, "F": 64, "M": 4096, "P": 4096}, instances=64 * 12)
>>> int(r.cycles_per_tile), round(float(r.utilization["array_2d"]), 3)  # 1-D: 138 + AV divide
(142, 0.965)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import einsum
from einsum.model import Cascade
from simulator.binding import RankBinding, bind
from simulator.errors import SimulatorError, SpecError
from simulator.spatial.arch import Architecture, array_cycles
from simulator.spatial.binding import Binding, Phase
from simulator.spatial.energy import EnergyTally, phase_energy
from simulator.spatial.tiling import Residency, ResidencyRule, residency
from simulator.spatial.traffic import PhasePlan, phase_plans

__all__ = ["AccelResult", "PhaseResult", "evaluate", "tile_sizes"]


@dataclass(frozen=True, eq=False)
class PhaseResult:
    """One phase: times (s), cycles, DRAM bytes, residency and per-array busy time."""

    name: str
    latency_s: Any
    compute_s: Any
    memory_s: Any
    cycles: Any
    dram_bytes: Any
    busy_s: dict[str, Any]
    residency: Residency
    spill_fraction: Any
    bound: Any
    ops: Any = 0.0


def _bound(busy_s: Mapping[str, Any], compute_s: Any, memory_s: Any) -> Any:
    """``dram`` where memory time is at least compute time, else the busiest array."""
    names = list(busy_s)
    shape = np.broadcast(compute_s, memory_s, *busy_s.values()).shape
    stacked = np.stack([np.broadcast_to(busy_s[n], shape) for n in names])
    busiest = np.asarray(names)[np.argmax(stacked, axis=0)]
    out = np.where(np.asarray(memory_s) >= np.asarray(compute_s), "dram", busiest)
    return out.item() if out.ndim == 0 else out


@dataclass(frozen=True, eq=False)
class AccelResult:
    """The outputs of :func:`evaluate` (numpy arrays under vectorised inputs).

    Attributes
    ----------
    latency_s, compute_s, memory_s : float or ndarray
        Total latency (Σ phases of max(compute, memory)) and its parts.
    busy_s, utilization : dict
        Per array (keys ``array_<name>``): busy time and busy fraction of the latency
        (useful work only, padding excluded).
    dram_bytes, buffer_bytes, buffer_need_bytes : float or ndarray
        DRAM traffic; buffer used and needed to hold every fiber (max over phases).
    spill_fraction : float or ndarray
        Fraction of held pass-rank fibers sent to DRAM (0 for 1-pass cascades).
    resident_queries, kv_reads : float or ndarray
        Queries kept resident and times K/V are read (main phase).
    tiles, cycles_per_tile : float or ndarray
        ``M0 × P0`` tiles and compute cycles per tile.
    energy : EnergyTally
        Energy per component (J).
    passes : int
    phases : tuple of PhaseResult
    macs : float or ndarray
        Useful multiply-accumulates of the cascade's contractions (exact sizes, filter
        densities applied, all instances): ``2 × macs`` FLOPs.
    """

    latency_s: Any
    compute_s: Any
    memory_s: Any
    busy_s: dict[str, Any]
    utilization: dict[str, Any]
    dram_bytes: Any
    buffer_bytes: Any
    buffer_need_bytes: Any
    spill_fraction: Any
    resident_queries: Any
    kv_reads: Any
    tiles: Any
    cycles_per_tile: Any
    energy: EnergyTally
    passes: int
    phases: tuple[PhaseResult, ...] = field(default=())
    macs: Any = 0.0

    @property
    def energy_j(self) -> Any:
        """Total energy."""
        return self.energy.total

    @property
    def bound(self) -> Any:
        """``dram`` where memory time is at least compute time, else the busiest array."""
        return _bound(self.busy_s, self.compute_s, self.memory_s)


def tile_sizes(cascade: Cascade, sizes: Mapping[str, Any], m0: Any, p0: Any,
               densities: Mapping[str, Any] | None = None) -> tuple[dict, dict]:
    """Rank sizes padded to whole ``M0 × P0`` tiles (for time) and exact (for useful work).

    The ranks are found by role (:func:`simulator.binding.bind`): the query rank is padded
    to whole query tiles of ``p0``, the key rank to whole chunks of ``m0`` keys; the inner
    part of the key partition is the chunk (``m0``) and its innermost outer part counts
    chunks (outer shards keep their sizes), whole ones when padded, exactly
    ``keys / chunk`` for useful work.

    Examples
    --------
    >>> pad, real = tile_sizes(einsum.load("attention-1pass"), {"M": 1000, "P": 300,
    ...                        "E": 64, "F": 64}, 256, 256)
    >>> pad["M1"], pad["P"], real["M1"]
    (4.0, 512.0, 3.90625)
    """
    ranks = bind(cascade)
    common = {**sizes, **dict(densities or {})}
    if ranks.key_inner is not None:
        common[ranks.key_inner] = m0
    pad, real = dict(common), dict(common)
    if ranks.key is not None:
        keys = sizes[ranks.key]
        pad[ranks.key] = np.ceil(np.divide(keys, m0)) * m0
        if ranks.key_outer:
            # the innermost outer part counts chunks; outer ones (shards) keep their sizes
            chunk = m0
            for rank in ranks.key_outer[:-1]:
                chunk = chunk * sizes[rank]
            count = ranks.key_outer[-1]
            pad[count] = np.ceil(np.divide(keys, chunk))
            real[count] = np.divide(keys, chunk)
            pad[ranks.key] = pad[count] * chunk
    if ranks.query is not None:
        pad[ranks.query] = np.ceil(np.divide(sizes[ranks.query], p0)) * p0
    for symbol in (d.symbol for d in einsum.op_counts(cascade).densities):
        pad.setdefault(symbol, 1.0)
        real.setdefault(symbol, 1.0)
    return _scalars(pad), _scalars(real)


def _scalars(values: dict[str, Any]) -> dict[str, Any]:
    """Turn 0-d arrays into floats (so scalar inputs give scalar outputs)."""
    return {k: (float(v) if np.ndim(v) == 0 and not isinstance(v, str) else v)
            for k, v in values.items()}


def evaluate(cascade: Cascade, binding: Binding, arch: Architecture, rule: ResidencyRule,
             sizes: Mapping[str, Any], instances: Any = 1,
             densities: Mapping[str, Any] | None = None) -> AccelResult:
    """Evaluate a bound cascade on an architecture (see the module docstring).

    Parameters
    ----------
    cascade, binding, arch, rule
        What runs, where, on what, and how queries stay resident.
    sizes : mapping
        The cascade's rank sizes, by its own rank names (numbers or numpy arrays); the
        key tile and chunk counts follow from the array (:func:`tile_sizes`).
    instances : float or ndarray
        Independent (batch × head) instances the cascade runs for, beyond its own batch
        and head ranks.
    densities : mapping, optional
        Values of the cascade's filter-density symbols (default 1).

    Raises
    ------
    SpecError
        If a rank the op counts or data plans use has no size.
    SimulatorError
        If the buffer cannot hold the fixed state of one resident block.
    """
    array2d = arch.array_2d
    m0, p0 = array2d.shape
    ranks = bind(cascade)
    _check_roles(cascade, ranks, sizes)
    pad, real = tile_sizes(cascade, sizes, m0, p0, densities)
    plans = phase_plans(cascade, binding)
    _check_sizes(cascade, plans, real)
    ops_pad, ops_real = _ops(cascade, pad), _ops(cascade, real)
    chunks = pad[ranks.key] / m0 if ranks.key is not None else 1.0
    query_pad = pad[ranks.query] if ranks.query is not None else p0
    tiles = instances * chunks * query_pad / p0
    query_real = real[ranks.query] if ranks.query is not None else 1.0
    queries = query_real * _instance_product(ranks, real) * instances
    results, tallies = [], []
    for phase, plan in zip(binding.phases, plans, strict=True):
        result, tally = _phase(phase, plan, arch, rule, _Work(ops_pad, ops_real, pad, real,
                                                            instances, tiles, queries, m0, p0,
                                                            query_real))
        results.append(result)
        tallies.append(tally)
    macs = sum((ops.get("mac", 0.0) for ops in ops_real.values()), 0.0) * instances
    return _combine(cascade, tuple(results), tallies, tiles, arch, macs)


def _check_roles(cascade: Cascade, ranks: RankBinding, sizes: Mapping[str, Any]) -> None:
    """The query and key ranks need sizes before the tiles can be laid out."""
    missing = [r for r in (ranks.query, ranks.key) if r is not None and r not in sizes]
    if missing:
        raise SpecError(f"cascade '{cascade.name}': no size for its query/key rank(s) "
                        f"{', '.join(missing)}; give them with "
                        f"{' '.join(f'--size {r}=VALUE' for r in missing)}")


def _check_sizes(cascade: Cascade, plans: tuple[PhasePlan, ...], sizes: Mapping[str, Any]) -> None:
    """Every rank the op counts and data plans use must have a size."""
    needed: set[str] = set()
    for entry in einsum.op_counts(cascade).per_einsum:
        for _, poly in entry.ops:
            needed |= poly.symbols
    for plan in plans:
        for poly in (plan.q_inputs, plan.kv_inputs, plan.kv_chunk, plan.q_tile, plan.cross_in,
                     plan.outputs, plan.spill_write, plan.spill_read, plan.state, *plan.live):
            needed |= poly.symbols
    missing = sorted(needed - set(sizes))
    if missing:
        raise SpecError(f"cascade '{cascade.name}': no size for rank(s) {', '.join(missing)}; "
                        f"give them with {' '.join(f'--size {r}=VALUE' for r in missing)} "
                        "(predict_accel(..., sizes={...}))")


def _instance_product(ranks: RankBinding, sizes: Mapping[str, Any]) -> Any:
    """Product of the batch/head ranks the cascade itself iterates over (1 if none)."""
    out: Any = 1.0
    for rank in ranks.instance:
        out = out * sizes[rank]
    return out


def _ops(cascade: Cascade, sizes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Op counts per Einsum label and kind, evaluated."""
    return {e.label: {kind: poly.evaluate(sizes) for kind, poly in e.ops}
            for e in einsum.op_counts(cascade).per_einsum}


@dataclass(frozen=True, eq=False)
class _Work:
    """Evaluated op counts and sizes shared by every phase."""

    ops_pad: dict[str, dict[str, Any]]
    ops_real: dict[str, dict[str, Any]]
    pad: dict[str, Any]
    real: dict[str, Any]
    instances: Any
    tiles: Any
    queries: Any  # all queries: the query rank x batch/head ranks inside the cascade x instances
    m0: Any
    p0: Any
    query_size: Any  # queries per instance (the query rank's size)


def _stage_cycles(phase: Phase, arch: Architecture, ops: dict[str, dict[str, Any]],
                  instances: Any) -> list[dict[str, Any]]:
    """Per stage: array name → cycles of the Einsums bound to it."""
    out = []
    for stage in phase.stages:
        array2cycles: dict[str, Any] = {}
        for name, labels in stage.array2einsums:
            array = arch.array(name)
            pe_cycles = sum((array_cycles(ops[label], array) for label in labels), 0.0)
            array2cycles[name] = array2cycles.get(name, 0.0) + pe_cycles * instances / array.pes
        out.append(array2cycles)
    return out


def _compute_cycles(phase: Phase, stages: list[dict[str, Any]], arch: Architecture,
                    tiles: Any) -> Any:
    """Combine stage cycles by the phase's schedule and add the per-tile stall."""
    if phase.schedule == "pipelined":
        per_array: dict[str, Any] = {}
        for stage in stages:
            for name, cycles in stage.items():
                per_array[name] = per_array.get(name, 0.0) + cycles
        total = _max(per_array.values())
    else:
        total = sum((_max(stage.values()) for stage in stages), 0.0)
    stall = phase.stall
    if stall == "fill_drain":
        stall = arch.array_2d.fill_drain_cycles
    return total + (stall or 0.0) * tiles


def _max(values: Any) -> Any:
    """Elementwise max of scalars/arrays (0 for none)."""
    out: Any = 0.0
    for value in values:
        out = np.maximum(out, value)
    return out


def _phase(phase: Phase, plan: PhasePlan, arch: Architecture, rule: ResidencyRule,
           work: _Work) -> tuple[PhaseResult, EnergyTally]:
    """Evaluate one phase: compute, residency, traffic, latency, energy."""
    stages = _stage_cycles(phase, arch, work.ops_pad, work.instances)
    cycles = _compute_cycles(phase, stages, arch, work.tiles)
    useful = _stage_cycles(phase, arch, work.ops_real, work.instances)
    busy = {f"array_{a.name}": sum((s.get(a.name, 0.0) for s in useful), 0.0) / arch.clock_hz
            for a in arch.arrays}
    real = work.real
    fixed = _max(p.evaluate(real) for p in plan.fixed)
    held = _max(p.evaluate(real) for p in plan.held)
    res = residency(rule, buffer_bytes=arch.buffer_bytes, word_bytes=arch.word_bytes,
                    chunk_words=work.m0 * plan.kv_chunk.evaluate(real), fixed_words=fixed,
                    held_words=held, queries=work.query_size, p0=work.p0)
    _check_overflow(res, phase, arch)
    spill = 1.0 - res.on_chip_fraction
    words = _dram_words(plan, real, res, spill, work)
    dram_bytes = (words[0] + words[1]) * arch.word_bytes
    compute_s = cycles / arch.clock_hz
    memory_s = dram_bytes / arch.dram_bytes_per_s
    latency = np.maximum(compute_s, memory_s)
    tally = phase_energy(arch, phase, work.ops_real, work.instances, words,
                         _buffer_words(plan, real, res, work))
    ops = sum((count for label in phase.einsums for count in work.ops_real[label].values()), 0.0)
    result = PhaseResult(phase.name, latency, compute_s, memory_s, cycles, dram_bytes, busy, res,
                         spill, _bound(busy, compute_s, memory_s), ops * work.instances)
    return result, tally


def _check_overflow(res: Residency, phase: Phase, arch: Architecture) -> None:
    """Raise if the buffer cannot hold one resident block's fixed state."""
    overflow = np.asarray(res.overflow)
    if overflow.any():
        index = int(np.argmax(overflow.ravel()))
        need = float(np.ravel(np.broadcast_to(res.need_bytes, overflow.shape))[index])
        capacity = float(np.ravel(np.broadcast_to(arch.buffer_bytes, overflow.shape))[index])
        raise SimulatorError(f"{arch.name}: phase '{phase.name}': buffer overflow: the "
                             f"{capacity / 2**20:g} MiB global buffer cannot hold the K/V chunk "
                             f"and the state of one resident query block ({need / 2**20:.3g} "
                             f"MiB needed)" + (f" at design point {index}" if overflow.ndim
                                               else ""))


def _dram_words(plan: PhasePlan, real: dict[str, Any], res: Residency, spill: Any,
                work: _Work) -> tuple[Any, Any]:
    """(words read, words written) per phase, all instances."""
    reads = (plan.q_inputs.evaluate(real) + plan.kv_inputs.evaluate(real) * res.blocks
             + plan.cross_in.evaluate(real)) * work.instances
    reads = reads + spill * plan.spill_read.evaluate(real) * work.queries
    writes = plan.outputs.evaluate(real) * work.instances
    writes = writes + spill * plan.spill_write.evaluate(real) * work.queries
    return reads, writes


def _buffer_words(plan: PhasePlan, real: dict[str, Any], res: Residency,
                  work: _Work) -> tuple[Any, Any]:
    """(reads, writes) of the global buffer besides DRAM staging: operands, state, fibers."""
    operands = work.tiles * (work.p0 * plan.q_tile.evaluate(real)
                             + work.m0 * plan.kv_chunk.evaluate(real))
    state = work.tiles * work.p0 * plan.state.evaluate(real)
    kept = res.on_chip_fraction * work.queries
    reads = operands + state + kept * plan.spill_read.evaluate(real)
    writes = state + kept * plan.spill_write.evaluate(real)
    return reads, writes


def _combine(cascade: Cascade, phases: tuple[PhaseResult, ...], tallies: list[EnergyTally],
             tiles: Any, arch: Architecture, macs: Any) -> AccelResult:
    """Sum phases into one result."""
    latency = sum((p.latency_s for p in phases), 0.0)
    busy = {name: sum((p.busy_s[name] for p in phases), 0.0) for name in phases[0].busy_s}
    main = max(phases, key=lambda p: float(np.max(p.cycles)))
    spill = _max(p.spill_fraction for p in phases)
    return AccelResult(
        latency_s=latency, compute_s=sum((p.compute_s for p in phases), 0.0),
        memory_s=sum((p.memory_s for p in phases), 0.0), busy_s=busy,
        utilization={name: value / latency for name, value in busy.items()},
        dram_bytes=sum((p.dram_bytes for p in phases), 0.0),
        buffer_bytes=_max(p.residency.buffer_bytes for p in phases),
        buffer_need_bytes=_max(p.residency.need_bytes for p in phases),
        spill_fraction=spill, resident_queries=main.residency.queries,
        kv_reads=main.residency.blocks, tiles=tiles,
        cycles_per_tile=sum((p.cycles for p in phases), 0.0) / tiles,
        energy=EnergyTally.total_of(tallies), passes=einsum.pass_analysis(cascade).passes,
        phases=phases, macs=macs)

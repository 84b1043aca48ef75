"""Energy: actions × energy per action, for bound Einsums, registers, buffer and DRAM.

* **compute** — each op kind of an Einsum performs the actions its array lists
  (FuseMax's exp = 6 ``mac`` actions, FLAT's exp = 1 ``exp`` action), per op;
* **registers** — every busy PE-cycle reads and writes the PE's register file as often
  as the architecture says;
* **buffer** — every DRAM word is staged through the global buffer (one write on the way
  in, one read on the way out), plus the operand, state and held-fiber accesses the
  model counts;
* **dram** — bytes × energy per byte.

Leakage is not modelled (the reference gives no static power).

Examples
--------
>>> t = EnergyTally(compute={"array_2d": 2.0}, register=0.5, buffer=0.25, dram=1.0)
>>> t.total
3.75
>>> EnergyTally.total_of([t, t]).compute["array_2d"]
4.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.spatial.arch import Architecture, PEArray, array_cycles
from simulator.spatial.binding import Phase

__all__ = ["EnergyTally", "op_energy", "phase_energy"]


@dataclass(frozen=True, eq=False)
class EnergyTally:
    """Energy per component in joules (numbers or numpy arrays)."""

    compute: dict[str, Any] = field(default_factory=dict)
    register: Any = 0.0
    buffer: Any = 0.0
    dram: Any = 0.0

    @property
    def total(self) -> Any:
        """Sum of every component."""
        return sum(self.compute.values(), 0.0) + self.register + self.buffer + self.dram

    def as_dict(self) -> dict[str, Any]:
        """Flat ``{compute_<array>, register, buffer, dram, total}`` in joules."""
        out = {f"compute_{k.removeprefix('array_')}": v for k, v in self.compute.items()}
        out.update(register=self.register, buffer=self.buffer, dram=self.dram, total=self.total)
        return out

    @staticmethod
    def total_of(tallies: Iterable[EnergyTally]) -> EnergyTally:
        """Component-wise sum."""
        compute: dict[str, Any] = {}
        register: Any = 0.0
        buffer: Any = 0.0
        dram: Any = 0.0
        for tally in tallies:
            for name, value in tally.compute.items():
                compute[name] = compute.get(name, 0.0) + value
            register, buffer, dram = (register + tally.register, buffer + tally.buffer,
                                      dram + tally.dram)
        return EnergyTally(compute, register, buffer, dram)


def op_energy(ops: Mapping[str, Any], array: PEArray, arch: Architecture) -> Any:
    """Joules of one Einsum's op counts on an array (actions × energy per action).

    Examples
    --------
    >>> from simulator.spatial.arch import load_architecture
    >>> arch = load_architecture("fusemax-cloud")
    >>> round(op_energy({"exp": 1.0, "add": 1.0}, arch.array("2d"), arch) * 1e12, 2)  # 6 MAC + add
    111.3
    """
    total: Any = 0.0
    for kind, count in ops.items():
        per_op = sum(n * arch.energy(action) for action, n in array.op(kind).actions)
        total = total + count * per_op
    return total


def phase_energy(arch: Architecture, phase: Phase, ops: Mapping[str, Mapping[str, Any]],
                 instances: Any, dram_words: tuple[Any, Any],
                 buffer_words: tuple[Any, Any]) -> EnergyTally:
    """Energy of one phase from its useful op counts and its traffic.

    Parameters
    ----------
    arch : Architecture
    phase : Phase
        Which Einsums run on which array.
    ops : mapping
        Op counts per Einsum label and kind (one instance).
    instances : float or ndarray
        Instances the counts are multiplied by.
    dram_words, buffer_words : (reads, writes)
        Word traffic of DRAM and of the buffer (besides staging).
    """
    compute: dict[str, Any] = {}
    register: Any = 0.0
    for stage in phase.stages:
        for name, labels in stage.array2einsums:
            array = arch.array(name)
            key = f"array_{name}"
            for label in labels:
                compute[key] = compute.get(key, 0.0) + op_energy(ops[label], array, arch) * instances
                pe_cycles = array_cycles(ops[label], array) * instances
                register = register + pe_cycles * (array.register_reads * arch.energy("register_read")
                                                   + array.register_writes
                                                   * arch.energy("register_write"))
    dram_reads, dram_writes = dram_words
    buffer_reads, buffer_writes = buffer_words
    buffer = ((buffer_reads + dram_writes) * arch.buffer_read_j
              + (buffer_writes + dram_reads) * arch.buffer_write_j)
    dram = (dram_reads + dram_writes) * arch.word_bytes * arch.dram_j_per_byte
    return EnergyTally(compute, register, buffer, dram)

"""Dense GEMMs on the 2-D array: the linear layers of an end-to-end transformer layer.

``C[m, n] = Σ_k A[m, k] · B[k, n]`` runs output-stationary: each ``rows × cols`` output
tile (a *fold*; ``folds = ceil(m/rows) · ceil(n/cols)``) accumulates for ``k`` cycles.
How the array's fill and drain add to that is the architecture's ``gemm_pipeline``
(:func:`gemm_cycles`):

* ``fusemax`` (default): ``folds · k`` plus the array's ``fill_drain`` (1 cycle per row on
  FuseMax and FLAT) once per GEMM — consecutive folds run back to back, so only the first
  fill and the last drain show (the designs' ``linear.hide_fill_drain``; the artifact's
  GEMM cycles are Timeloop's, which charge none) — or once per fold if a design says not;
* ``scale-sim``: ``folds · (k + rows + cols − 2) − 1``, SCALE-Sim's stall-free
  output-stationary count (``systolic_compute_os.py``): every fold is skewed in over
  ``rows − 1`` cycles and drained over ``cols − 1`` before the next starts; SCALE-Sim
  reports the index of the last cycle, hence the ``− 1``.

The smaller operand stays resident in chunks of half the buffer and the larger one is
re-read once per chunk; latency is ``max(compute, memory)`` per GEMM, summed over GEMMs.
The busy time (``macs / PEs``) and the energy do not depend on the pipeline, so a mode
with more cycles has a longer compute time and, where compute bound, a lower utilisation.

Examples
--------
>>> from simulator.spatial.arch import load_architecture
>>> arch = load_architecture("fusemax-cloud")
>>> g = gemm(arch, 1024, 256, 768)
>>> int(g.cycles), bool(g.compute_s < g.memory_s)  # 4 tiles x 768 cycles + one 256-cycle fill/drain
(3328, True)
>>> int(gemm(arch.with_overrides(gemm_pipeline="scale-sim"), 1024, 256, 768).cycles)  # 4 x (768 + 510) - 1
5111
>>> [layer.name for layer in linear_layers(768, 12, 64, 3072, tokens=64 * 1024)]
['q_proj', 'k_proj', 'v_proj', 'out_proj', 'ffn1', 'ffn2']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from simulator.spatial.arch import Architecture
from simulator.spatial.energy import EnergyTally, op_energy

__all__ = ["GemmResult", "LinearLayer", "gemm", "gemm_cycles", "linear_layers", "linear_stack"]


class LinearLayer(NamedTuple):
    """One linear layer as a GEMM: ``m`` rows (tokens), ``n`` outputs, ``k`` inputs."""

    name: str
    m: Any
    n: Any
    k: Any


@dataclass(frozen=True, eq=False)
class GemmResult:
    """Time, traffic, utilisation and energy of one GEMM (or a sum of GEMMs)."""

    name: str
    latency_s: Any
    compute_s: Any
    memory_s: Any
    cycles: Any
    macs: Any
    dram_bytes: Any
    busy_s: Any
    energy: EnergyTally

    @property
    def utilization(self) -> Any:
        """Busy fraction of the 2-D array over the latency."""
        return self.busy_s / self.latency_s


def linear_layers(d_model: Any, heads: Any, head_dim: Any, ffn_hidden: Any,
                  tokens: Any) -> tuple[LinearLayer, ...]:
    """The six GEMMs of one transformer layer (fusemax.md §5.2, artifact accel/matmul.py).

    Q, K, V projections (``k = D``, ``n = E·H``), the output projection (``k = E·H``,
    ``n = D``), FFN1 (``k = D``, ``n = S``) and FFN2 (``k = S``, ``n = D``), each over
    ``m = B·P`` tokens. Layer norms and nonlinearities are ignored (§5.2).
    """
    inner = heads * head_dim
    return (LinearLayer("q_proj", tokens, inner, d_model),
            LinearLayer("k_proj", tokens, inner, d_model),
            LinearLayer("v_proj", tokens, inner, d_model),
            LinearLayer("out_proj", tokens, d_model, inner),
            LinearLayer("ffn1", tokens, ffn_hidden, d_model),
            LinearLayer("ffn2", tokens, d_model, ffn_hidden))


def gemm_cycles(arch: Architecture, m: Any, n: Any, k: Any, hide_fill_drain: bool = True) -> Any:
    """Cycles of one output-stationary GEMM on the 2-D array, by ``arch.gemm_pipeline``.

    Parameters
    ----------
    arch : Architecture
        Its 2-D array's ``rows × cols`` and ``fill_drain``, and its ``gemm_pipeline``.
    m, n, k : int or ndarray
        Output rows, output columns, reduction depth.
    hide_fill_drain : bool
        ``fusemax`` mode only: pay the array's fill/drain once per GEMM (True) or once per
        fold. The ``scale-sim`` count fixes it per fold (it ignores the flag and the
        array's ``fill_drain`` key).

    Returns
    -------
    float or ndarray
        ``folds · k + fill_drain`` (``fusemax``; ``folds · (k + fill_drain)`` without
        hiding) or ``folds · (k + rows + cols − 2) − 1`` (``scale-sim``), with
        ``folds = ceil(m / rows) · ceil(n / cols)``.

    Examples
    --------
    >>> from simulator.spatial.arch import load_architecture
    >>> small = load_architecture("fusemax-cloud").with_overrides(rows=4, cols=4)
    >>> float(gemm_cycles(small, 6, 8, 10))   # 2 x 2 folds x 10 + one 4-cycle fill/drain
    44.0
    >>> float(gemm_cycles(small.with_overrides(gemm_pipeline="scale-sim"), 6, 8, 10))
    63.0
    """
    array = arch.array_2d
    rows, cols = array.shape
    folds = np.ceil(np.divide(m, rows)) * np.ceil(np.divide(n, cols))
    if arch.gemm_pipeline == "scale-sim":
        # SCALE-Sim starts a fold only once the previous one has drained; a ragged fold is
        # padded with null operands, so it takes as long as a full one.
        return folds * np.add(k, rows + cols - 2) - 1
    return folds * k + array.fill_drain_cycles * (1 if hide_fill_drain else folds)


def gemm(arch: Architecture, m: Any, n: Any, k: Any, hide_fill_drain: bool = True,
         name: str = "gemm") -> GemmResult:
    """Model one output-stationary GEMM on the architecture's 2-D array.

    Parameters
    ----------
    arch : Architecture
    m, n, k : int or ndarray
        Output rows, output columns, reduction depth.
    hide_fill_drain : bool
        Pay the fill/drain once per GEMM (True) or once per output tile; applies to the
        ``fusemax`` GEMM pipeline only (see :func:`gemm_cycles`).
    name : str

    Returns
    -------
    GemmResult

    Examples
    --------
    >>> from simulator.spatial.arch import load_architecture
    >>> arch = load_architecture("fusemax-cloud").with_overrides(dram_bytes_per_s=1e15)
    >>> once, per_fold = (gemm(arch.with_overrides(gemm_pipeline=p), 4096, 4096, 64)
    ...                   for p in ("fusemax", "scale-sim"))
    >>> [(int(g.cycles), round(float(g.utilization), 3)) for g in (once, per_fold)]
    [(16640, 0.985), (146943, 0.111)]
    """
    array = arch.array_2d
    rows, cols = array.shape
    tiles = np.ceil(np.divide(m, rows)) * np.ceil(np.divide(n, cols))
    cycles = gemm_cycles(arch, m, n, k, hide_fill_drain)
    macs = np.multiply(np.multiply(m, n), k) * 1.0
    a_words, b_words, c_words = np.multiply(m, k), np.multiply(k, n), np.multiply(m, n)
    small, large = np.minimum(a_words, b_words), np.maximum(a_words, b_words)
    chunks = np.maximum(np.ceil(small * arch.word_bytes / (arch.buffer_bytes / 2)), 1)
    reads, writes = large * chunks + small, c_words
    dram_bytes = (reads + writes) * arch.word_bytes
    compute_s = cycles / arch.clock_hz
    memory_s = dram_bytes / arch.dram_bytes_per_s
    busy_s = macs / array.pes / arch.clock_hz
    register = macs * (array.register_reads * arch.energy("register_read")
                       + array.register_writes * arch.energy("register_write"))
    buffer = ((tiles * (rows + cols) * k + writes) * arch.buffer_read_j
              + reads * arch.buffer_write_j)
    energy = EnergyTally({f"array_{array.name}": op_energy({"mac": macs}, array, arch)}, register,
                         buffer, dram_bytes * arch.dram_j_per_byte)
    return GemmResult(name, np.maximum(compute_s, memory_s), compute_s, memory_s, cycles, macs,
                      dram_bytes, busy_s, energy)


def linear_stack(arch: Architecture, layers: tuple[LinearLayer, ...],
                 hide_fill_drain: bool = True) -> GemmResult:
    """Run GEMMs one after another: times, traffic and energy add up.

    Examples
    --------
    >>> from simulator.spatial.arch import load_architecture
    >>> arch = load_architecture("fusemax-cloud")
    >>> total = linear_stack(arch, linear_layers(768, 12, 64, 3072, tokens=64 * 1024))
    >>> round(float(total.latency_s) * 1e3, 2), round(float(total.utilization), 3)
    (7.53, 1.0)
    """
    parts = [gemm(arch, layer.m, layer.n, layer.k, hide_fill_drain, layer.name)
             for layer in layers]
    return GemmResult(
        "linear", sum((g.latency_s for g in parts), 0.0), sum((g.compute_s for g in parts), 0.0),
        sum((g.memory_s for g in parts), 0.0), sum((g.cycles for g in parts), 0.0),
        sum((g.macs for g in parts), 0.0), sum((g.dram_bytes for g in parts), 0.0),
        sum((g.busy_s for g in parts), 0.0), EnergyTally.total_of(g.energy for g in parts))

"""Dense GEMMs on the 2-D array: the linear layers of an end-to-end transformer layer.

``C[m, n] = Σ_k A[m, k] · B[k, n]`` runs output-stationary: each ``rows × cols`` output
tile accumulates for ``k`` cycles, so ``cycles = ceil(m/rows) · ceil(n/cols) · k`` plus
the array's fill/drain — once per GEMM if the mapping double-buffers the accumulators
(``hide_fill_drain``, as the artifact's Timeloop mappings assume), else once per tile.
The smaller operand stays resident in chunks of half the buffer and the larger one is
re-read once per chunk; latency is ``max(compute, memory)`` per GEMM, summed over GEMMs.

Examples
--------
>>> from simulator.spatial.arch import load_architecture
>>> arch = load_architecture("fusemax-cloud")
>>> g = gemm(arch, 1024, 256, 768)
>>> int(g.cycles), bool(g.compute_s < g.memory_s)  # 4 tiles x 768 cycles + one 256-cycle fill/drain
(3328, True)
>>> [layer.name for layer in linear_layers(768, 12, 64, 3072, tokens=64 * 1024)]
['q_proj', 'k_proj', 'v_proj', 'out_proj', 'ffn1', 'ffn2']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from simulator.spatial.arch import Architecture
from simulator.spatial.energy import EnergyTally, op_energy

__all__ = ["GemmResult", "LinearLayer", "gemm", "linear_layers", "linear_stack"]


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


def gemm(arch: Architecture, m: Any, n: Any, k: Any, hide_fill_drain: bool = True,
         name: str = "gemm") -> GemmResult:
    """Model one output-stationary GEMM on the architecture's 2-D array.

    Parameters
    ----------
    arch : Architecture
    m, n, k : int or ndarray
        Output rows, output columns, reduction depth.
    hide_fill_drain : bool
        Pay the fill/drain once per GEMM (True) or once per output tile.
    name : str

    Returns
    -------
    GemmResult
    """
    array = arch.array_2d
    rows, cols = array.shape
    tiles = np.ceil(np.divide(m, rows)) * np.ceil(np.divide(n, cols))
    fill = array.fill_drain_cycles * (1 if hide_fill_drain else tiles)
    cycles = tiles * k + fill
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

"""The generic model on tiny hand-computable cases, then FuseMax/FLAT/Unfused goldens.

Toy machine (conftest.TOY_ARCH): 2x2 2-D array, 2-PE 1-D array, 1 GHz, exp = 4 cycles
(4 MAC actions), 1 pJ per action, 10 pJ per DRAM word, 2 GB/s. Problem: attention-3pass
with E = F = 2, M = P = 4, one instance, so M0 = P0 = 2 and there are 4 tiles.
"""

from __future__ import annotations

import numpy as np
import pytest

import einsum
from simulator.errors import SimulatorError
from simulator.spatial import evaluate, load_architecture, load_design
from simulator.spatial.binding import Binding, Phase, Stage
from simulator.spatial.designs import Workload, design_attention
from simulator.spatial.tiling import ResidencyRule

CASCADE = einsum.load("attention-3pass")
SIZES = {"E": 2, "F": 2, "M": 4, "P": 4}
PIPELINED = Binding((Phase("all", "pipelined", (
    Stage((("2d", ("QK", "AV")), ("1d", ("GM", "SN", "SD", "A")))),)),))
SEQUENTIAL = Binding((Phase("all", "sequential", (
    Stage((("2d", ("QK",)),)), Stage((("1d", ("GM", "SN", "SD", "A")),)),
    Stage((("2d", ("AV",)),))), stall=3.0),))
CLIP = ResidencyRule("clip")


@pytest.fixture
def toy(toy_path):
    return load_architecture(toy_path)


def test_hand_computed_pipelined(toy):
    r = evaluate(CASCADE, PIPELINED, toy, CLIP, SIZES)
    # 2-D: QK + AV = 32 + 32 MACs on 4 PEs = 16 cycles; 1-D: GM 16 + SN (16 add + 16 exp x 4)
    # + SD 16 + A 16 = 128 PE-cycles on 2 PEs = 64 cycles; pipelined -> max = 64 ns
    assert r.busy_s["array_2d"] == pytest.approx(16e-9)
    assert r.busy_s["array_1d"] == pytest.approx(64e-9)
    assert r.compute_s == pytest.approx(64e-9) and r.tiles == 4
    # DRAM: Q 8 + K 8 + V 8 words read, AV 8 written = 64 B at 2 GB/s = 32 ns
    assert r.dram_bytes == 64 and r.memory_s == pytest.approx(32e-9)
    assert r.latency_s == pytest.approx(64e-9) and r.bound == "array_1d"
    assert r.utilization["array_2d"] == pytest.approx(0.25)
    # energy: 64 MAC + (16 max + 16 add + 16 exp x 4 MAC + 16 add + 16 div) = 192 pJ compute,
    # 32 DRAM words x 10 pJ = 320 pJ
    assert r.energy.compute["array_2d"] == pytest.approx(64e-12)
    assert r.energy.compute["array_1d"] == pytest.approx(128e-12)
    assert r.energy.dram == pytest.approx(320e-12) and r.energy_j == pytest.approx(512e-12)
    assert r.passes == 3 and r.spill_fraction == 0 and r.resident_queries == 4


def test_hand_computed_sequential_with_stall(toy):
    r = evaluate(CASCADE, SEQUENTIAL, toy, CLIP, SIZES)
    # stages add up: 8 + 64 + 8 cycles, plus 3 stall cycles x 4 tiles
    assert r.compute_s == pytest.approx(92e-9)
    assert r.cycles_per_tile == pytest.approx(23)


def test_fused_ops_are_charged_once(toy_doc, dump_yaml, tmp_path):
    toy_doc["arrays"]["1d"]["fused"] = [{"ops": ["add", "exp"], "cycles": 1, "source": "t"}]
    arch = load_architecture(dump_yaml(tmp_path / "fused.yaml", toy_doc))
    r = evaluate(CASCADE, PIPELINED, arch, CLIP, SIZES)
    assert r.busy_s["array_1d"] == pytest.approx(32e-9)   # SN: 16 cycles instead of 80


@pytest.mark.parametrize("capacity, min_fraction, dram_bytes", [
    (1024, 0.0, 64),     # everything fits
    (64, 0.0, 96),       # 4 rows: 3/4 of QK+SN fit, 1/4 of 16 words/query spills: +32 B
    (64, 0.8, 192),      # less than 80% fits: all of it goes off chip: +128 B
])
def test_spills_follow_the_passes(toy_doc, dump_yaml, tmp_path, capacity, min_fraction,
                                  dram_bytes):
    toy_doc["buffer"]["capacity"] = {"value": capacity, "unit": "B", "source": "t"}
    arch = load_architecture(dump_yaml(tmp_path / "small.yaml", toy_doc))
    rule = ResidencyRule("clip", min_queries=4, min_on_chip_fraction=min_fraction)
    r = evaluate(CASCADE, PIPELINED, arch, rule, SIZES)
    assert r.dram_bytes == pytest.approx(dram_bytes)
    assert (r.spill_fraction > 0) == (dram_bytes > 64)


def test_buffer_overflow_is_detected(toy_doc, dump_yaml, tmp_path):
    toy_doc["buffer"]["capacity"] = {"value": 16, "unit": "B", "source": "t"}
    arch = load_architecture(dump_yaml(tmp_path / "tiny.yaml", toy_doc))
    with pytest.raises(SimulatorError, match="phase 'all': buffer overflow: the .* MiB global "
                                             "buffer cannot hold the K/V chunk"):
        evaluate(CASCADE, PIPELINED, arch, CLIP, SIZES)


def test_vectorised_equals_pointwise():
    design = load_design("fusemax")
    seq = np.array([1000, 4096, 70000])
    heads = np.array([12, 16, 8])
    dims = np.array([64, 128, 64])
    vector = design_attention(design, Workload(64, heads, dims, dims, seq, seq))
    for i in range(3):
        one = design_attention(design, Workload(64, int(heads[i]), int(dims[i]), int(dims[i]),
                                                int(seq[i]), int(seq[i])))
        assert vector.latency_s[i] == pytest.approx(one.latency_s)
        assert vector.energy_j[i] == pytest.approx(one.energy_j)
        assert vector.dram_bytes[i] == pytest.approx(one.dram_bytes)


# --------------------------------------------------------------------------- goldens


def test_fusemax_tile_is_137_cycles_on_2d_and_138_on_1d():
    # fm §4.3/§4.4: 2-D per tile E (BQK) + 1 (LM) + 7 (SLN) + 1 (SLD) + F (SLNV);
    # 1-D per tile 1 (RM) + 7 (PRM) + 1 (SPD) + 1 (RD) + F (SPNV) + F (RNV)
    r = design_attention(load_design("fusemax"), Workload(1, 1, 64, 64, 2**20, 2**20))
    clock = 940e6
    assert r.busy_s["array_2d"] * clock / r.tiles == pytest.approx(137, rel=1e-3)
    assert r.cycles_per_tile == pytest.approx(138, rel=1e-3)
    assert r.utilization["array_2d"] == pytest.approx(137 / 138, rel=1e-3)


def test_fusemax_dram_traffic_is_section_4_5():
    # B·H·2·(P·E + P·F + P2·(M·E + M·F)) with P2 = 8 at 256K (E = F = 64)
    p = 2**18
    r = design_attention(load_design("fusemax"), Workload(64, 12, 64, 64, p, p))
    assert r.kv_reads == 8 and r.resident_queries == 32768
    assert r.dram_bytes == 64 * 12 * 2 * (p * 128 + 8 * p * 128)


def test_flat_softmax_is_four_cycles_per_element_on_the_1d_array():
    p = 16384
    r = design_attention(load_design("flat"), Workload(64, 12, 64, 64, p, p))
    assert r.compute_s == pytest.approx(64 * 12 * 4 * p * p / 256 / 940e6)
    assert r.passes == 3 and r.spill_fraction == 0


def test_unfused_traffic_materialises_qk_and_a():
    p, e = 16384, 64
    r = design_attention(load_design("unfused"), Workload(1, 1, e, e, p, p))
    words = 4 * p * p + 4 * e * p   # QK write+read, A write+read; Q, K, V, AV once
    assert r.dram_bytes == 2 * words
    assert len(r.phases) == 3 and r.latency_s == pytest.approx(sum(ph.latency_s
                                                                   for ph in r.phases))

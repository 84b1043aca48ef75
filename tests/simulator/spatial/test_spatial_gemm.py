"""Dense GEMMs on the 2-D array (toy machine: 2x2 array, 1 GHz, 2 GB/s, 1 KiB buffer)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.spatial import gemm, linear_layers, linear_stack, load_architecture


@pytest.fixture
def toy(toy_path):
    return load_architecture(toy_path)


def test_output_stationary_cycles_and_fill_drain(toy):
    g = gemm(toy, 4, 6, 10)
    # 2 x 3 output tiles of 2x2, 10 cycles each, one 2-cycle fill/drain (1 cycle per row)
    assert g.cycles == 62 and g.macs == 240
    assert gemm(toy, 4, 6, 10, hide_fill_drain=False).cycles == 6 * 10 + 6 * 2
    # A 40 + B 60 + C 24 words = 248 B; both operands fit in half the buffer
    assert g.dram_bytes == 248 and g.memory_s == pytest.approx(124e-9)
    assert g.latency_s == pytest.approx(124e-9)
    assert g.utilization == pytest.approx(60e-9 / 124e-9)
    assert g.energy.compute["array_2d"] == pytest.approx(240e-12)


def test_large_operands_are_reread_per_resident_chunk(toy):
    g = gemm(toy, 64, 64, 16)   # A, B: 1024 words = 2 KiB each: 4 chunks of 512 B
    assert g.dram_bytes == 2 * (1024 * 4 + 1024 + 64 * 64)


def test_linear_layers_of_bert_and_vectorised_stack():
    layers = linear_layers(768, 12, 64, 3072, tokens=65536)
    assert [(layer.n, layer.k) for layer in layers] == [(768, 768)] * 4 + [(3072, 768),
                                                                            (768, 3072)]
    arch = load_architecture("fusemax-cloud")
    both = linear_stack(arch, linear_layers(768, 12, 64, 3072, tokens=np.array([65536, 262144])))
    one = linear_stack(arch, layers)
    assert both.latency_s[0] == pytest.approx(one.latency_s)
    assert both.macs[1] == 4 * one.macs

"""Residency rules: FuseMax's P1 divisor rule (fusemax.md §4.5) and FLAT's row blocks (§5.1)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.spatial.tiling import ResidencyRule, largest_divisor_at_most, residency

MIB = 2**20
FLAT_RULE = ResidencyRule("clip", 256, 1024, 0.375)   # experiments/fusemax/designs/flat.yaml


def fusemax(e, p=2**20):
    return residency(ResidencyRule("divisor"), buffer_bytes=16 * MIB, word_bytes=2,
                     chunk_words=256 * 2 * e, fixed_words=2 * e + 2, held_words=0,
                     queries=p, p0=256)


@pytest.mark.parametrize("e, p1", [(64, 128), (128, 64)])
def test_fusemax_p1_rule(e, p1):
    # §4.5: cap 251 -> P1 = 128 for E=F=64; cap 126 -> P1 = 64 for E=F=128
    res = fusemax(e)
    assert res.queries == p1 * 256 and res.blocks == 2**20 / (p1 * 256)
    assert res.on_chip_fraction == 1.0 and not res.overflow


def test_divisor_rule_never_exceeds_the_queries():
    res = fusemax(64, p=1024)
    assert res.queries == 1024 and res.blocks == 1


@pytest.mark.parametrize("tokens, spilled", [(65536, (0.0, 0.01)), (131072, (0.45, 0.55)),
                                             (262144, (1.0, 1.0)), (1048576, (1.0, 1.0))])
def test_flat_regimes(tokens, spilled):
    # §5.1: on chip up to 64K, ~50% spilled at 128K, off chip from 256K
    res = residency(FLAT_RULE, buffer_bytes=32 * MIB, word_bytes=2, chunk_words=256 * 128,
                    fixed_words=65, held_words=tokens, queries=tokens, p0=256)
    low, high = spilled
    assert low <= 1 - float(res.on_chip_fraction) <= high


def test_fully_offchip_blocks_are_sized_by_the_fixed_state():
    res = residency(FLAT_RULE, buffer_bytes=32 * MIB, word_bytes=2, chunk_words=256 * 128,
                    fixed_words=65, held_words=2**20, queries=2**20, p0=256)
    assert res.on_chip_fraction == 0 and res.queries == 1024


def test_vectorised_matches_scalar_and_overflow_is_flagged():
    buffers = np.array([16 * MIB, 1 * MIB, 1000.0])
    res = residency(ResidencyRule("divisor"), buffer_bytes=buffers, word_bytes=2,
                    chunk_words=256 * 128, fixed_words=130, held_words=0, queries=65536, p0=256)
    for i, buffer in enumerate(buffers):
        one = residency(ResidencyRule("divisor"), buffer_bytes=buffer, word_bytes=2,
                        chunk_words=256 * 128, fixed_words=130, held_words=0, queries=65536,
                        p0=256)
        assert res.queries[i] == one.queries and res.overflow[i] == one.overflow
    assert res.overflow.tolist() == [False, False, True]


def test_largest_divisor():
    assert largest_divisor_at_most(12, 5) == 4
    assert largest_divisor_at_most(np.array([12, 7, 64]), np.array([5, 6, 100])).tolist() == [4, 1, 64]

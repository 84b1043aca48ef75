"""Phase plans: one phase reproduces einsum.live_footprint; split phases go through DRAM."""

from __future__ import annotations

import pytest

import einsum
from simulator.spatial import auto_binding, load_architecture
from simulator.spatial.binding import Binding, Phase, Stage
from simulator.spatial.traffic import phase_plans

CASCADES = ["attention-3pass", "attention-2pass-deferred", "attention-2pass-partitioned",
            "attention-1pass", "attention-1pass-causal", "cascade1", "cascade2", "cascade3"]
SIZES = {"E": 64, "F": 32, "M": 4096, "P": 512, "M0": 256, "M1": 16, "K": 100, "I": 100}


def single_phase(cascade):
    labels = tuple(e.label for e in cascade.einsums)
    return Binding((Phase("all", "pipelined", (Stage((("any", labels),)),)),))


@pytest.mark.parametrize("name", CASCADES)
def test_one_phase_live_words_equal_the_cascade_footprint(name):
    cascade = einsum.load(name)
    plan = phase_plans(cascade, single_phase(cascade))[0]
    footprint = einsum.live_footprint(cascade)
    sizes = einsum.resolve_sizes(cascade, {k: v for k, v in SIZES.items()})
    assert max(p.evaluate(sizes) for p in plan.live) == pytest.approx(footprint.evaluate(sizes))
    assert plan.spill_read.evaluate(sizes) == pytest.approx(footprint.reread.evaluate(sizes))
    assert plan.spill_write.evaluate(sizes) == pytest.approx(footprint.spilled.evaluate(sizes))


def test_one_pass_plan_is_fusemax_section_4_5():
    cascade = einsum.load("attention-1pass")
    plan = phase_plans(cascade, single_phase(cascade))[0]
    assert str(plan.q_inputs) == "E*P" and str(plan.kv_inputs) == "E*M + F*M"
    assert str(plan.kv_chunk) == "E + F" and str(plan.outputs) == "F*P"
    assert [str(p) for p in plan.live] == ["E + F + 2"] and plan.held_tensors == ()
    assert str(plan.state) == "F + 2"   # RM, RD, RNV read and written per tile


def test_unfused_phases_write_and_read_intermediates():
    cascade = einsum.load("attention-3pass")
    plans = phase_plans(cascade, auto_binding(cascade, load_architecture("flat-cloud"),
                                              split_phases=True))
    qk, softmax, av = plans
    assert (str(qk.outputs), str(qk.kv_inputs), str(qk.cross_in)) == ("M*P", "E*M", "0")
    assert (str(softmax.cross_in), str(softmax.outputs)) == ("M*P", "M*P")
    # QK comes from DRAM (re-read once if it does not stay on chip), SN is produced here
    assert softmax.held_tensors == ("QK", "SN")
    assert (str(softmax.spill_read), str(softmax.spill_write)) == ("2*M", "M")
    assert (str(av.cross_in), str(av.kv_inputs), str(av.outputs)) == ("M*P", "F*M", "F*P")

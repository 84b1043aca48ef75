"""Designs and ``predict_accel``: the five paper designs, the record shape, options, errors."""

from __future__ import annotations

import math

import pytest
import yaml

import einsum
from simulator.errors import SimulatorError, SpecError
from simulator.prediction import Prediction
from simulator.spatial import list_designs, load_accelerator, load_design, predict_accel
from simulator.spatial.designs import DESIGN_DIR
from simulator.workload import AttentionProblem, problem_from_model

BERT_16K = problem_from_model("bert-base", batch=64, seq_q=16384)


@pytest.mark.parametrize("name", ["unfused", "flat", "cascade", "architecture", "fusemax"])
def test_every_design_predicts_a_full_record(name):
    pred = predict_accel(name, None, BERT_16K)
    assert isinstance(pred, Prediction) and pred.profile == name
    assert set(pred.utilization) >= {"array_2d", "array_1d"}
    assert 0 < pred.utilization["array_2d"] <= 1 and 0 < pred.utilization["array_1d"] <= 1
    assert pred.time_s > 0 and pred.energy_j > 0 and pred.area_m2 > 0 and pred.dram_bytes > 0
    assert pred.flops == BERT_16K.flops
    assert pred.tflops_per_s == pytest.approx(pred.flops / pred.time_s / 1e12)
    assert pred.bound in pred.resource_times_s
    assert pred.passes == (3 if name in ("flat", "unfused") else 1)
    assert pred.kernels and all(k.time_s > 0 for k in pred.kernels)
    assert math.isclose(sum(k.time_s for k in pred.kernels), pred.time_s)
    assert pred.as_dict()["extra"]["cycles_per_tile"] > 0


def test_design_list_and_speed_ordering():
    assert list_designs() == ["architecture", "cascade", "flat", "fusemax", "unfused"]
    times = {n: predict_accel(n, None, BERT_16K).time_s for n in list_designs()}
    assert times["fusemax"] < times["architecture"] < times["cascade"] < times["flat"] \
        < times["unfused"]


def test_flat_spills_from_256k():
    for tokens, spilled in ((65536, False), (262144, True)):
        pred = predict_accel("flat", None, problem_from_model("bert-base", 64, tokens))
        assert (pred.extra["spill_fraction"] > 0.5) == spilled
    assert predict_accel("fusemax", None, problem_from_model("bert-base", 64, 2**20)).spilled is False


def test_architecture_names_and_other_cascades_bind_automatically():
    pred = predict_accel("fusemax-cloud", "attention-3pass", BERT_16K)
    assert pred.hardware == "fusemax-cloud" and pred.passes == 3
    assert load_accelerator("fusemax-cloud").binding is None
    two_pass = predict_accel("fusemax", einsum.load("attention-2pass-deferred"), BERT_16K)
    assert two_pass.passes == 2 and two_pass.cascade == "attention-2pass-deferred"


def test_causal_problem_halves_the_filtered_work():
    causal = AttentionProblem(64, 12, 12, 16384, 16384, 64, causal=True)
    full = predict_accel("fusemax", "attention-1pass", BERT_16K)
    half = predict_accel("fusemax", "attention-1pass-causal", causal)
    # the filter (rho_BQK = 1/2) applies to the per-element Einsums on the 2-D array; the
    # cascade's per-row Einsums (RM, PRM, ... on the 1-D array) carry no filter, so the
    # 1-D array still bounds the time (a known limit of op-count-level masking)
    assert half.resource_times_s["array_2d"] == pytest.approx(
        full.resource_times_s["array_2d"] / 2, rel=0.01)
    assert half.bound == "array_1d"


def test_overrides_change_the_hardware():
    small = predict_accel("fusemax", None, BERT_16K, array="128x128")
    base = predict_accel("fusemax", None, BERT_16K)
    assert small.extra["array_shape"] == [128, 128] and small.extra["pes_1d"] == [128]
    assert small.time_s == pytest.approx(4 * base.time_s, rel=0.01)
    assert small.area_m2 < base.area_m2
    slow = predict_accel("flat", None, problem_from_model("bert-base", 64, 2**18),
                         dram_bytes_per_s=100e9)
    assert slow.bound == "dram"


def test_end_to_end_scope_adds_the_linear_layers():
    attention = predict_accel("fusemax", None, BERT_16K)
    layer = predict_accel("fusemax", None, BERT_16K, scope="end_to_end", model="bert-base")
    assert layer.time_s > attention.time_s and layer.kernels[-1].name == "linear"
    with pytest.raises(SpecError, match="needs option 'model'"):
        predict_accel("fusemax", None, BERT_16K, scope="end_to_end")


@pytest.mark.parametrize("opts, message", [
    ({"colour": "red"}, "unknown option 'colour'"),
    ({"array": "big"}, "option 'array': expected ROWSxCOLS"),
    ({"scope": "kernel"}, "option 'scope': expected attention or end_to_end"),
])
def test_bad_options(opts, message):
    with pytest.raises(SpecError, match=message):
        predict_accel("fusemax", None, BERT_16K, **opts)


def test_unknown_accelerator_and_buffer_overflow():
    with pytest.raises(SpecError, match="unknown accelerator 'tpu'; designs: architecture"):
        predict_accel("tpu", None, BERT_16K)
    with pytest.raises(SimulatorError, match="buffer overflow"):
        predict_accel("fusemax", None, BERT_16K, buffer_bytes=32 * 1024)


def test_design_yaml_errors_name_the_file(tmp_path):
    doc = yaml.safe_load((DESIGN_DIR / "fusemax.yaml").read_text())
    doc["tiling"]["resident"]["rule"] = "greedy"
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SpecError, match="mine.yaml: key 'tiling.resident.rule': expected one of"):
        load_design(path)
    doc["cascade"] = "attention-9pass"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(einsum.EinsumError, match="attention-9pass"):
        load_design(path)


def test_cascades_with_extra_ranks_need_sizes():
    with pytest.raises(SpecError, match=r"size of rank 'MB', which the workload does not fix; "
                                        "give it with --size MB=VALUE"):
        predict_accel("fusemax", "attention-1pass-block", BERT_16K)
    pred = predict_accel("fusemax", "attention-1pass-block", BERT_16K, sizes={"QB": 64, "KB": 64},
                         densities={"rho_BQK": 0.25})
    full = predict_accel("fusemax", None, BERT_16K)
    assert pred.resource_times_s["array_2d"] == pytest.approx(
        full.resource_times_s["array_2d"] / 4, rel=0.01)

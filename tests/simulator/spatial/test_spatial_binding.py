"""Bindings: validation errors, the dependency rule, and auto-binding goldens."""

from __future__ import annotations

import pytest
import yaml

import einsum
from simulator.errors import SpecError
from simulator.spatial import auto_binding, load_architecture, load_design, validate_binding
from simulator.spatial.binding import Binding, Phase, Stage, parse_binding
from simulator.spatial.designs import DESIGN_DIR


def binding(*stages, schedule="pipelined"):
    return Binding((Phase("p", schedule, tuple(Stage(tuple(s.items())) for s in stages)),))


FUSEMAX = load_architecture("fusemax-cloud")
ONE_PASS = einsum.load("attention-1pass")
TWO_D = ("BQK", "LM", "SLN", "SLD", "SLNV")
ONE_D = ("RM", "PRM", "SPD", "SPNV", "RD", "RNV")

BAD = [
    ({"2d": TWO_D + ("AV",), "1d": ONE_D},
     "x.yaml: binding 'phases[0].stages[0].2d[5]': Einsum 'AV' needs div but array '2d' "
     "supports mac, mul, add, max, exp"),
    ({"2d": TWO_D, "1d": ONE_D + ("AV",), "3d": ("BK",)},
     "binding 'phases[0].stages[0].3d': unknown array '3d'; fusemax-cloud has 2d, 1d"),
    ({"2d": TWO_D + ("QK",), "1d": ONE_D + ("AV",)},
     "binding 'phases[0].stages[0].2d': unknown Einsum 'QK'"),
    ({"2d": TWO_D + ("RM",), "1d": ONE_D + ("AV",)},
     "Einsum 'RM' is already bound at 'phases[0].stages[0].2d'"),
    ({"2d": TWO_D, "1d": ONE_D},
     "binding: Einsum 'AV' of attention-1pass computes (div) but is bound to no array"),
]


@pytest.mark.parametrize("stage, message", BAD)
def test_invalid_bindings_raise_one_line_errors(stage, message):
    with pytest.raises(SpecError) as info:
        validate_binding(binding(stage), ONE_PASS, FUSEMAX, "x.yaml")
    assert message in str(info.value)


def test_sequential_stages_must_respect_dependencies():
    ok = binding({"2d": ("BQK", "LM")}, {"1d": ("RM",)}, {"2d": ("SLN", "SLD", "SLNV"),
                 "1d": ("PRM", "SPD", "SPNV", "RD", "RNV", "AV")}, schedule="sequential")
    validate_binding(ok, ONE_PASS, FUSEMAX, "x.yaml")
    bad = binding({"1d": ("RM",)}, {"2d": ("BQK", "LM")}, {"2d": ("SLN", "SLD", "SLNV"),
                  "1d": ("PRM", "SPD", "SPNV", "RD", "RNV", "AV")}, schedule="sequential")
    with pytest.raises(SpecError, match=r"stages\[0\]': Einsum 'RM' reads LM, produced by 'LM' "
                                        "in a later stage"):
        validate_binding(bad, ONE_PASS, FUSEMAX, "x.yaml")


def test_parse_rejects_bad_structure():
    with pytest.raises(SpecError, match="schedule: expected one of pipelined, sequential"):
        parse_binding({"source": "s", "phases": [{"name": "a", "schedule": "eager",
                                                  "stages": [{"2d": ["QK"]}]}]}, "x.yaml")
    with pytest.raises(SpecError, match="key 'binding.phases': expected a non-empty list"):
        parse_binding({"source": "s", "phases": []}, "x.yaml")


@pytest.mark.parametrize("name", ["fusemax", "flat", "cascade", "unfused"])
def test_auto_binding_reproduces_the_yaml_bindings(name):
    design = load_design(name)
    cascade, arch = design.load_cascade(), design.load_architecture()
    auto = auto_binding(cascade, arch, split_phases=len(design.binding.phases) > 1)
    for label in design.binding.einsums:
        assert auto.array_of(label) == design.binding.array_of(label), label
    assert [len(p.einsums) for p in auto.phases] == [len(p.einsums) for p in design.binding.phases]


def test_auto_binding_sequential_stages_follow_dependency_depth():
    auto = auto_binding(ONE_PASS, FUSEMAX, schedule="sequential")
    stages = [dict(s.array2einsums) for s in auto.phases[0].stages]
    assert stages[:3] == [{"2d": ("BQK",)}, {"2d": ("LM",)}, {"1d": ("RM",)}]
    assert stages == [dict(s.array2einsums) for s in load_design("architecture").binding
                      .phases[0].stages]


def test_auto_binding_fails_when_no_array_supports_an_op():
    arch = load_architecture("flat-cloud")
    cascade = einsum.parse("inputs: A[i]\nB[i] = sigmoid(A[i])\n", "sig")
    with pytest.raises(SpecError, match="no array of flat-cloud supports Einsum 'B' "
                                        r"\(needs sigmoid\)"):
        auto_binding(cascade, arch)


def test_design_files_report_the_file_name(tmp_path):
    doc = yaml.safe_load((DESIGN_DIR / "fusemax.yaml").read_text())
    doc["binding"]["phases"][0]["stages"][0]["2d"].append("AV")
    doc["binding"]["phases"][0]["stages"][0]["1d"].remove("AV")
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SpecError, match=r"^mine.yaml: binding 'phases\[0\].stages\[0\].2d\[5\]': "
                                        "Einsum 'AV' needs div but array '2d'"):
        load_design(path)

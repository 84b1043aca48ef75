"""Architecture YAML: built-ins, every number sourced, validation errors name file and key."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from simulator.errors import SpecError
from simulator.spatial import list_architectures, load_architecture
from simulator.spatial.arch import ARCH_DIR, array_cycles

# (edit, fragment expected in the one-line error)
BAD_EDITS = [
    (lambda d: d.pop("clock"), "toy.yaml: missing key 'clock'"),
    (lambda d: d["clock"].update(unit="furlong"), "key 'clock.unit': expected one of"),
    (lambda d: d["clock"].update(value=-3), "key 'clock.value': expected a positive number"),
    (lambda d: d["clock"].pop("source"), "missing key 'clock.source'"),
    (lambda d: d["clock"].update(source=" "), "key 'clock.source': expected a non-empty citation"),
    (lambda d: d.update(colour="red"), "unknown key 'colour'"),
    (lambda d: d["arrays"]["2d"]["ops"]["mac"]["actions"].update(teleport=1),
     "key 'arrays.2d.ops.mac.actions.teleport': unknown action"),
    (lambda d: d["arrays"]["2d"]["pe_units"]["units"].update(laser=1),
     "key 'arrays.2d.pe_units.units.laser': unknown unit"),
    (lambda d: d["arrays"]["1d"].update(fused=[{"ops": ["add", "sqrt"], "cycles": 1,
                                                "source": "x"}]),
     "key 'arrays.1d.fused[0].ops': op 'sqrt' is not among the array's ops"),
    (lambda d: d["arrays"]["2d"].pop("cols"), "missing key 'arrays.2d.cols'"),
    (lambda d: d["arrays"]["2d"]["ops"].update(mac={"cycles": 0, "actions": {}, "source": "x"}),
     "key 'arrays.2d.ops.mac.cycles.value': expected a positive number"),
]


def test_builtins_load_with_the_cloud_configuration():
    assert list_architectures() == ["flat-cloud", "fusemax-cloud"]
    fusemax, flat = load_architecture("fusemax-cloud"), load_architecture("FLAT_cloud")
    for arch in (fusemax, flat):
        assert arch.array("2d").shape == (256, 256) and arch.array("1d").pes == 256
        assert arch.clock_hz == 940e6 and arch.word_bytes == 2
        assert arch.dram_bytes_per_s == 400 * 2**30
    assert fusemax.buffer_bytes == 16 * 2**20 and flat.buffer_bytes == 32 * 2**20


def test_op_costs_follow_the_paper():
    fusemax, flat = load_architecture("fusemax-cloud"), load_architecture("flat-cloud")
    assert fusemax.array("2d").cycles("exp") == 6 and not fusemax.array("2d").supports("div")
    assert fusemax.array("1d").supports("div")
    assert dict(fusemax.array("2d").op("exp").actions) == {"mac": 6.0}
    assert flat.array("2d").op_kinds == ("mac", "mul")
    # exp(a - b) = one exp + one add: 7 cycles on FuseMax, 1 on FLAT's exp unit
    assert array_cycles({"exp": 1.0, "add": 1.0}, fusemax.array("2d")) == 7
    assert array_cycles({"exp": 1.0, "add": 1.0}, flat.array("1d")) == 1
    assert array_cycles({"exp": 1.0, "add": 3.0}, flat.array("1d")) == 3


def test_every_number_in_the_builtin_yaml_has_a_source():
    def walk(node, path):
        if isinstance(node, dict):
            if "value" in node or "cycles" in node:
                assert str(node.get("source", "")).strip(), path
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    for file in ARCH_DIR.glob("*.yaml"):
        walk(yaml.safe_load(file.read_text()), file.name)


@pytest.mark.parametrize("edit, fragment", BAD_EDITS)
def test_bad_yaml_is_a_one_line_spec_error(tmp_path, toy_doc, dump_yaml, edit, fragment):
    edit(toy_doc)
    path = dump_yaml(tmp_path / "toy.yaml", toy_doc)
    with pytest.raises(SpecError) as info:
        load_architecture(path)
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_malformed_yaml_and_unknown_name(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken.yaml: line \d+, column \d+: malformed YAML"):
        load_architecture(path)
    with pytest.raises(SpecError, match="unknown architecture 'tpu'; known: flat-cloud"):
        load_architecture("tpu")


def test_overrides_scale_pes_area_and_accept_arrays(toy_path):
    arch = load_architecture(toy_path)
    assert arch.area_m2() == pytest.approx(1e-6 + 4 * 100e-12 + 2 * 1000e-12)
    big = arch.with_overrides(rows=4, cols=8, pes_1d=8, buffer_bytes=2048)
    assert big.array("2d").pes == 32 and big.array("1d").pes == 8
    assert big.area_m2() == pytest.approx(2e-6 + 32 * 100e-12 + 8 * 1000e-12)
    assert big.array("2d").fill_drain_cycles == 4
    swept = arch.with_overrides(rows=np.array([2, 4]), cols=np.array([2, 4]))
    assert swept.array("2d").pes.tolist() == [4, 16]
    with pytest.raises(SpecError, match="override 'rows': expected positive numbers"):
        arch.with_overrides(rows=0)

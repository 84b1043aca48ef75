"""``einsim accel`` and ``einsim accel show`` through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from simulator.cli import app

runner = CliRunner()
NAMES = ["architecture", "cascade", "flat", "fusemax", "unfused", "flat-cloud", "fusemax-cloud"]


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_list_prints_every_design_and_architecture():
    result = invoke("accel")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["name", "kind", "architecture", "cascade"]
    assert [line.split()[0] for line in lines[1:len(NAMES) + 1]] == NAMES


def test_list_json():
    result = invoke("accel", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    by_name = {a["name"]: a for a in doc["accelerators"]}
    assert set(by_name) == set(NAMES)
    assert by_name["fusemax"]["buffer_bytes"] == 16 * 2**20
    assert by_name["flat"]["cascade"] == "attention-3pass"
    assert by_name["fusemax-cloud"]["kind"] == "architecture"


def test_show_design_text_has_binding_and_sources():
    result = invoke("accel", "show", "fusemax")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "cascade: attention-1pass (1 pass(es))" in out
    assert "stage 1: 2d: BQK, LM, SLN, SLD, SLNV; 1d: RM, PRM, SPD, SPNV, RD, RNV, AV" in out
    assert "fm §6.6 [A ERT]: fp16 MAC 17.16 pJ" in out
    assert "array 2d (256x256 = 65536 PEs)" in out


@pytest.mark.parametrize("name", ["architecture", "unfused", "flat-cloud"])
def test_show_json(name):
    result = invoke("accel", "show", name, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["architecture"]["arrays"][0]["pes"] == 65536
    assert all(q["source"] for q in doc["architecture"]["quantities"])
    if name == "architecture":
        assert doc["binding"]["phases"][0]["stall_per_tile"] == "fill_drain"
    if name == "unfused":
        assert [p["name"] for p in doc["binding"]["phases"]] == ["qk", "softmax", "av"]


def test_errors_are_one_line_exit_2(tmp_path):
    result = invoke("accel", "show", "tpu")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().startswith("einsim: error: unknown accelerator 'tpu'")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbinding: {}\n")
    result = invoke("accel", "show", str(bad))
    assert result.exit_code == 2 and "bad.yaml: missing key" in result.stderr


@pytest.mark.parametrize("args", [("accel", "--help"), ("accel", "show", "--help"),
                                  ("reproduce", "--help"), ("reproduce", "fusemax", "--help")])
def test_every_command_has_help(args):
    result = invoke(*args)
    assert result.exit_code == 0 and len(result.stdout.strip()) > 40

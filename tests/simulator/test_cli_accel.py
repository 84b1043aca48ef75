"""``einsim accel`` and ``einsim accel show`` through typer's CliRunner."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from einsum.library import library_path
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


# --------------------------------------------------------------------------- predict --accel

SHAPE = ("--heads", "12", "--head-dim", "64", "--seq-q", "4096", "--batch", "4")


def predict_json(*args: str) -> dict:
    result = invoke("predict", "--accel", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_predict_accel_takes_sizes_for_the_cascades_own_ranks():
    doc = predict_json("fusemax", "--cascade", "mla-decode", "--size", "C=512", "--size", "R=64",
                       "--heads", "128", "--seq-q", "1", "--seq-kv", "8192", "--batch", "4")
    assert doc["problem"]["sizes"] == {"C": 512, "R": 64}
    latent = 4 * (512 + 64) * 8192 * 2  # the shared latent cache, once per batch
    assert latent <= doc["dram_bytes"] < 1.05 * latent
    window = predict_json("fusemax", "--cascade", "attention-1pass-window", "--size", "W=256",
                          *SHAPE)
    dense = predict_json("fusemax", "--cascade", "attention-1pass", *SHAPE)
    assert window["flops"] < dense["flops"] / 10


def test_predict_accel_missing_size_is_one_line_exit_2():
    result = invoke("predict", "--accel", "fusemax", "--cascade", "attention-1pass-window", *SHAPE)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "--size W=VALUE" in result.stderr


def test_predict_accel_prices_a_renamed_cascade_file_like_the_original(tmp_path):
    names = {"m": "x", "m0": "x0", "m1": "x1", "M": "X", "M0": "X0", "M1": "X1", "p": "q",
             "P": "N", "e": "d", "E": "D", "f": "g", "F": "G"}
    text = re.sub(r"#.*", "", library_path("attention-1pass").read_text(encoding="utf-8"))
    path = tmp_path / "renamed.cas"
    path.write_text("# name: renamed\n" + re.sub(r"\b\w+\b", lambda t: names.get(t[0], t[0]),
                                                 text), encoding="utf-8")
    for design in ("fusemax", "flat"):
        renamed = predict_json(design, "--cascade", str(path), *SHAPE)
        original = predict_json(design, "--cascade", "attention-1pass", *SHAPE)
        for key in ("time_s", "energy_j", "dram_bytes", "flops"):
            assert renamed[key] == pytest.approx(original[key], rel=1e-12), key

"""Roofline: ceilings from the specs and the op mix, points, PNG output and the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.errors import SpecError
from simulator.hardware import load_gpu
from simulator.roofline import plot_roofline, roofline
from simulator.workload import AttentionProblem

runner = CliRunner()
PROBLEM = AttentionProblem(batch=4, heads=16, kv_heads=16, seq_q=4096, seq_kv=4096,
                           head_dim_qk=128)


def test_one_ceiling_per_resource():
    rf = roofline("h100", "attention-1pass", PROBLEM)
    h100 = load_gpu("h100")
    assert [c.resource for c in rf.ceilings] == ["tensor", "exp", "fp32", "dram", "smem"]
    assert rf.ceiling("dram").value == h100.dram_bytes_per_s
    assert rf.ceiling("smem").value == pytest.approx(h100.smem_bytes_per_s)
    # exp ceiling: MUFU rate x FLOP per exp (4 d per score, a little less for rescales)
    per_exp = rf.ceiling("exp").value / h100.exp_ops_per_s
    assert 0.95 * 4 * 128 < per_exp <= 4 * 128
    assert rf.ceiling("tensor").value == pytest.approx(h100.tensor_flops("fp16"))


def test_points_lie_under_their_roofs():
    rf = roofline("h100", "attention-3pass", PROBLEM, profile="unfused")
    kinds = {p.kind for p in rf.points}
    assert {"problem", "kernel", "einsum"} <= kinds
    dram = rf.ceiling("dram").value
    for point in rf.points:
        if point.kind in ("problem", "kernel"):
            assert point.flops_per_s <= dram * point.intensity * (1 + 1e-9)


def test_png_written(tmp_path):
    path = plot_roofline(roofline("b200", "attention-1pass", PROBLEM), tmp_path / "rf.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_bad_output_path(tmp_path):
    rf = roofline("h100", "attention-1pass", PROBLEM)
    with pytest.raises(SpecError, match=".png"):
        plot_roofline(rf, tmp_path / "rf.svg")
    with pytest.raises(SpecError, match="does not exist"):
        plot_roofline(rf, tmp_path / "missing" / "rf.png")


def test_cli_writes_png_and_json(tmp_path):
    out = tmp_path / "h100.png"
    result = runner.invoke(app, ["roofline", "--hw", "h100", "--cascade", "attention-1pass",
                                 "--model", "llama-3-8b", "--seq-q", "4096", "--out", str(out),
                                 "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert out.exists() and doc["out"] == str(out)
    assert {c["resource"] for c in doc["ceilings"]} == {"tensor", "exp", "fp32", "dram", "smem"}


def test_cli_errors_are_one_line(tmp_path):
    result = runner.invoke(app, ["roofline", "--hw", "h100", "--cascade", "attention-1pass",
                                 "--heads", "8", "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "give the head dim" in result.stderr
    result = runner.invoke(app, ["roofline", "--hw", "h100", "--cascade", "attention-1pass",
                                 "--model", "llama-3-8b", "--seq-q", "512",
                                 "--out", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and ".png" in result.stderr and "\n" not in result.stderr.strip()

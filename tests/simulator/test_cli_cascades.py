"""The cascade commands through typer's CliRunner: JSON contracts and bad input."""

import json

import pytest
from typer.testing import CliRunner

from simulator.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def test_cascades_lists_builtins_with_passes():
    result = run("cascades", "--json")
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.stdout)["cascades"]}
    assert rows["attention-3pass"]["passes"] == 3 and rows["attention-1pass"]["passes"] == 1
    assert all(r["passes"] == r["expected_passes"] for r in rows.values())


def test_passes_json_contract():
    doc = json.loads(run("passes", "attention-3pass", "--json").stdout)
    assert {"cascade", "rank", "passes", "groups", "barriers", "live_footprint"} <= set(doc)
    assert doc["passes"] == 3 and doc["rank"] == "m"
    assert doc["barriers"][0] == {"from": "GM", "to": "SN", "tensor": "GM"}
    assert "M" in doc["live_footprint"]


def test_passes_accepts_a_file(tmp_path):
    path = tmp_path / "mine.cas"
    path.write_text("Y = A[k] * B[k]\nZ = Y * A[k]\n")
    doc = json.loads(run("passes", str(path), "--rank", "k", "--json").stdout)
    assert doc["passes"] == 2 and doc["cascade"] == "mine"


def test_show_text_and_json():
    text = run("show", "attention-1pass").stdout
    assert "loop-carried" in text and "mac: E*M0*M1*P" in text
    doc = json.loads(run("show", "attention-1pass-causal", "--json").stdout)
    assert doc["op_counts"]["BQK"]["mac"] == "E*M0*M1*P*rho_BQK"


def test_check_json_and_sizes():
    result = run("check", "attention-1pass", "--size", "M=40", "--size", "M0=7", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["ok"] and doc["max_abs_error"] < 1e-9 and doc["sizes"]["M1"] == 6


@pytest.mark.parametrize("args, fragment", [
    (["passes", "no-such"], "no built-in cascade"),
    (["check", "attention-1pass", "--size", "M=x"], "expected NAME=INTEGER"),
    (["check", "attention-1pass", "--size", "E=0"], ""),
])
def test_bad_input_one_line_exit_2(args, fragment):
    result = run(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("einsim: error:") and fragment in lines[0]
    assert "Traceback" not in result.output


def test_bad_cascade_file(tmp_path):
    path = tmp_path / "bad.cas"
    path.write_text("QK[m,p] = Q[e,p] * K[e,m]\nR[0] = 0\nR[i+1] = R[i] + QK[i,p]\n")
    result = run("passes", str(path))
    assert result.exit_code == 2
    assert f"{path}:3:1: iterative rank variable 'i' has no stopping condition" in result.stderr


def _commands(group, prefix=()):
    import typer.main

    click_group = typer.main.get_command(group)
    stack = [(prefix, click_group)]
    while stack:
        path, command = stack.pop()
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            stack.append((path + (name,), sub))


def test_every_command_has_help():
    for path, command in _commands(app):
        assert command.help or command.short_help, f"command {' '.join(path)} lacks help"
        result = run(*path, "--help")
        assert result.exit_code == 0, path

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


TRAP = """inputs: Q[e,p], K[e,m], BIAS[m,p]
QK[m,p] = Q[e,p] * K[e,m]
S[m,p]  = QK[m,p] : m <= p
T[m,p]  = S[m,p] + BIAS[m,p]
GM[p]   = T[m,p] :: max(m)
"""


@pytest.fixture
def trap(tmp_path):
    path = tmp_path / "trap.cas"
    path.write_text(TRAP)
    return path


def test_lint_text_prints_file_line_code_message(trap):
    result = run("lint", str(trap))
    assert result.exit_code == 0
    (line,) = result.stdout.strip().splitlines()
    assert line.startswith(f"{trap}:4: union-undoes-filter: T (line 4): ")
    assert "'T[m,p] = S[m,p] + BIAS[m,p] : m <= p'" in line


def test_lint_clean_builtin_says_no_warnings():
    result = run("lint", "attention-1pass-causal")
    assert result.exit_code == 0 and result.stdout.strip() == "no warnings"


def test_lint_json(trap):
    doc = json.loads(run("lint", str(trap), "--json").stdout)
    assert doc["cascade"] == "trap"
    (warning,) = doc["warnings"]
    assert set(warning) == {"code", "einsum", "line", "message"}
    assert (warning["code"], warning["einsum"], warning["line"]) == ("union-undoes-filter", "T", 4)
    assert json.loads(run("lint", "attention-3pass", "--json").stdout)["warnings"] == []


def test_lint_strict_exit_codes(trap):
    assert run("lint", str(trap), "--strict").exit_code == 1
    assert run("lint", str(trap), "--strict", "--json").exit_code == 1
    assert run("lint", "attention-1pass", "--strict").exit_code == 0


def test_lint_bad_file_one_line_exit_2(tmp_path):
    path = tmp_path / "bad.cas"
    path.write_text("QK[m,p] = Q[e,p] * K[e,m\n")
    result = run("lint", str(path))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"einsim: error: {path}:1:")
    assert "Traceback" not in result.output
    assert run("lint", "no-such").exit_code == 2


def test_passes_and_show_carry_the_warnings(trap):
    for command in ("passes", "show"):
        doc = json.loads(run(command, str(trap), "--json").stdout)
        assert [w["code"] for w in doc["warnings"]] == ["union-undoes-filter"]
        assert json.loads(run(command, "attention-1pass", "--json").stdout)["warnings"] == []
        text = run(command, str(trap)).stdout
        assert f"{trap}:4: union-undoes-filter: T (line 4)" in text.splitlines()[-1]
        assert "union-undoes-filter" not in run(command, "attention-1pass").stdout


@pytest.mark.parametrize("header, fragment", [
    ("", "names no direct definition"),
    ("# reference: no-such-ref\n", "'# reference: no-such-ref' header names no known reference"),
])
def test_check_without_a_known_reference_says_how_to_add_one(tmp_path, header, fragment):
    import einsum

    path = tmp_path / "mine.cas"
    path.write_text(header + "Y = A[k] * B[k]\n")
    result = run("check", str(path))
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert fragment in line and "'# reference: NAME'" in line
    assert all(name in line for name in einsum.REFERENCES)
    assert "register_reference" in line and "einsum/reference.py" in line


def test_passes_json_reports_both_splits_of_the_backward():
    doc = json.loads(run("passes", "attention-backward-fa2", "--json").stdout)
    splits = {s["rank"]: s for s in doc["splits"]}
    assert splits["m"]["accumulated"] == ["DQ"] and set(splits["m"]["local"]) == {"DK", "DV"}
    assert splits["p"]["passes"] == 1 and doc["passes"] == 1

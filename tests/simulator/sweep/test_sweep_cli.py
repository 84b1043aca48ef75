"""``einsim sweep``: options, JSON document, one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from simulator.cli import sweep as sweep_cli

SPEC_TEXT = """\
name: cli-test
evaluator: synthetic
axes:
  units: [1, 2, 4]
  work: [1.0e+11, 1.0e+12]
objectives:
  - {column: latency, sense: min}
  - {column: energy, sense: min}
pareto_by: [work]
"""


@pytest.fixture(scope="module")
def app():
    """A bare app with only the sweep command (other commands are tested elsewhere)."""
    app = typer.Typer(add_completion=False, rich_markup_mode=None)

    @app.callback()
    def main() -> None:
        """Test app."""

    sweep_cli.register(app)
    return app


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "cli.yaml"
    path.write_text(SPEC_TEXT)
    return path


def invoke(app, *args):
    return CliRunner().invoke(app, ["sweep", *map(str, args)])


def test_help_lists_every_option(app):
    result = invoke(app, "--help")
    assert result.exit_code == 0
    for option in ("--out", "--executor", "--scheduler", "--workers", "--resume", "--quiet", "--json"):
        assert option in result.output


def test_json_document(app, spec_file, tmp_path):
    result = invoke(app, spec_file, "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["points"] == 6 and document["grid_points"] == 6
    assert 0 < document["pareto_points"] <= 6
    assert document["out_dir"] == str(tmp_path / "out")
    assert document["objectives"] == [
        {"column": "latency", "sense": "min"},
        {"column": "energy", "sense": "min"},
    ]
    assert document["pareto_by"] == ["work"]
    assert document["elapsed_s"] > 0
    assert (tmp_path / "out" / "points.csv").exists()


def test_text_output_and_resume(app, spec_file, tmp_path):
    first = invoke(app, spec_file, "--out", tmp_path, "--executor", "inprocess")
    assert first.exit_code == 0
    assert first.stdout.startswith("sweep 'cli-test': 6 grid points")
    again = invoke(app, spec_file, "--out", tmp_path, "--resume", "--json")
    assert json.loads(again.stdout)["chunks_skipped"] == 1
    assert invoke(app, spec_file, "--out", tmp_path, "--quiet").stdout == ""


def test_builtin_spec_by_name_is_resolved_and_validated(app, tmp_path):
    # The spec is found and probed before the executor is chosen, so this fails late.
    result = invoke(app, "synthetic", "--out", tmp_path, "--executor", "threads")
    assert result.exit_code == 2 and "--executor: expected one of" in result.stderr


BAD_INVOCATIONS = [
    (["nope.yaml"], "nope.yaml: no such sweep spec file or built-in"),
    (["SPEC", "--executor", "threads"], "--executor: expected one of auto, inprocess, processes, dask"),
    (["SPEC", "--executor", "processes", "--workers", "0"], "--workers: expected a positive integer"),
]


@pytest.mark.parametrize("args,message", BAD_INVOCATIONS, ids=[m.split(":")[0] for _, m in BAD_INVOCATIONS])
def test_bad_invocations_exit_2_in_one_line(app, spec_file, tmp_path, args, message):
    args = [str(spec_file) if a == "SPEC" else a for a in args]
    result = invoke(app, *args, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"einsim: error: {message}")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_bad_spec_keeps_earlier_results(app, spec_file, tmp_path):
    out = tmp_path / "out"
    assert invoke(app, spec_file, "--out", out, "--quiet").exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    spec_file.write_text(SPEC_TEXT.replace("sense: min}\npareto", "sense: least}\npareto"))
    result = invoke(app, spec_file, "--out", out)
    assert result.exit_code == 2
    assert result.stderr == (
        f"einsim: error: {spec_file}: key 'objectives[1].sense': expected 'min' or 'max', got 'least'\n"
    )
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_registered_in_the_real_app():
    from simulator.cli import app as real_app

    result = CliRunner().invoke(real_app, ["sweep", "--help"])
    assert result.exit_code == 0 and "--resume" in result.output


def test_auto_executor_takes_processes_for_large_grids_on_several_cpus(monkeypatch):
    from simulator.sweep import executors

    monkeypatch.setattr(executors.os, "cpu_count", lambda: 2)
    assert executors.resolve_executor("auto", executors.AUTO_PROCESS_POINTS) == "processes"
    assert executors.resolve_executor("auto", executors.AUTO_PROCESS_POINTS - 1) == "inprocess"
    monkeypatch.setattr(executors.os, "cpu_count", lambda: 1)
    assert executors.resolve_executor("auto", 10**6) == "inprocess"
    assert executors.resolve_executor("dask", 1) == "dask"

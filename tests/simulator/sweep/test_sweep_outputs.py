"""Sweep outputs: tidy points table, sorted Pareto tables, summary facts, plots and hooks."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from simulator.sweep.engine import evaluate_sweep, run_sweep
from simulator.sweep.registry import register_evaluator
from simulator.sweep.report import format_value, markdown_table
from simulator.sweep.spec import parse_spec
from simulator.sweep.synthetic import SYNTHETIC_DEFAULTS, evaluate_synthetic

SPEC = {
    "name": "outputs-test",
    "evaluator": "synthetic",
    "axes": {
        "hardware": ["b", "a"],
        "bandwidth": [1.0e11, 1.0e13],
        "units": [1, 2, 4, 8],
        "traffic": [1.0e8, 1.0e10],
        "layout": [{"kind": "dense"}, {"kind": "window", "size": [16, 16]}],
    },
    "zip": [["hardware", "bandwidth"]],
    "objectives": [{"column": "latency", "sense": "min"}, {"column": "tflops_per_s", "sense": "max"},
                   {"column": "area", "sense": "min"}],
    "pareto_by": ["hardware", "layout"],
    "constraints": ["units <= 4"],
    "chunk_size": 7,
}  # fmt: skip
HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None


def make_spec(**changes):
    return parse_spec({**SPEC, **changes}, "outputs-test.yaml")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    result = run_sweep(make_spec(), out, progress=False)
    return out, result


def test_points_table_is_tidy_and_in_grid_order(swept):
    out, result = swept
    points = pd.read_csv(out / "points.csv")
    assert list(points.columns[:6]) == ["point", "hardware", "bandwidth", "units", "traffic", "layout"]
    assert list(points.columns[-2:]) == ["feasible", "pareto"]
    assert points["point"].tolist() == list(range(32))
    assert points["layout"].iloc[1] == '{"kind":"window","size":[16,16]}'
    assert len(points) == result.report.points == 32
    assert points["feasible"].sum() == result.report.feasible == 24
    assert points["pareto"].sum() == result.report.pareto


def test_pareto_csv_is_sorted_by_group_then_first_objective(swept):
    out, _ = swept
    pareto = pd.read_csv(out / "pareto.csv")
    points = pd.read_csv(out / "points.csv")
    assert sorted(pareto["point"]) == points.loc[points["pareto"], "point"].tolist()
    keys = list(zip(pareto["hardware"], pareto["layout"], pareto["latency"]))
    assert keys == sorted(keys)
    assert pareto["hardware"].iloc[0] == "a"


def test_pareto_markdown_shows_varying_columns_only(swept):
    out, _ = swept
    text = (out / "pareto.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| point"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[:6] == ["point", "hardware", "layout", "bandwidth", "units", "traffic"]
    assert "work" not in columns and "feasible" not in columns and "pareto" not in columns
    assert {"latency", "tflops_per_s", "area"} <= set(columns)


def test_summary_names_counts_best_points_and_bounds(swept):
    out, _ = swept
    text = (out / "summary.md").read_text()
    points = pd.read_csv(out / "points.csv")
    assert "grid points: 32; after filters: 32; feasible: 24" in text
    feasible = points[points["feasible"]]
    best = feasible.loc[feasible["latency"].idxmin()]
    assert f"| latency | min | {format_value(best['latency'])} | {best['point']} |" in text
    counts = points.groupby(["hardware", "bound"]).size().unstack(fill_value=0)
    for hardware, row in counts.iterrows():
        cells = " | ".join(str(int(row.get(b, 0))) for b in ("compute", "memory"))
        assert f"| {hardware} | {cells} |" in text
    assert ("points.parquet" in text) == HAVE_PYARROW or "pyarrow is not installed" in text


def test_plots_are_written(swept):
    out, result = swept
    names = {p.name for p in result.report.files}
    assert {"pareto_front.png", "roofline_a.png", "roofline_b.png"} <= names
    for name in ("pareto_front.png", "roofline_a.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["outputs"] == [p.name for p in result.report.files]


@pytest.mark.skipif(not HAVE_PYARROW, reason="pyarrow is not installed")
def test_parquet_matches_csv(swept):
    out, result = swept
    assert result.report.parquet
    parquet = pd.read_parquet(out / "points.parquet")
    csv = pd.read_csv(out / "points.csv")
    assert parquet["point"].tolist() == csv["point"].tolist()
    assert np.array_equal(parquet["latency"].to_numpy(), csv["latency"].to_numpy())


@pytest.mark.skipif(HAVE_PYARROW, reason="pyarrow is installed")
def test_missing_pyarrow_is_mentioned(swept):
    out, result = swept
    assert not result.report.parquet and not (out / "points.parquet").exists()
    assert "points.parquet not written: pyarrow is not installed" in (out / "summary.md").read_text()


_HOOK_CALLS = []


def _hook(points, out_dir):
    _HOOK_CALLS.append(len(points))
    path = out_dir / "custom.png"
    path.write_bytes(b"png")
    return [path]


register_evaluator("test-hooked", evaluate_synthetic, defaults=SYNTHETIC_DEFAULTS, plot_hooks=[_hook])


def test_plot_hooks_replace_the_generic_roofline(tmp_path):
    result = run_sweep(make_spec(evaluator="test-hooked", objectives=["latency"]), tmp_path, progress=False)
    names = {p.name for p in result.report.files}
    assert "custom.png" in names
    assert not any(name.startswith("roofline_") for name in names)
    assert "pareto_front.png" not in names  # one objective: no front to draw
    assert _HOOK_CALLS[-1] == 32


def test_written_pareto_flags_equal_in_memory_flags(swept):
    out, _ = swept
    table = evaluate_sweep(make_spec())
    assert pd.read_csv(out / "points.csv")["pareto"].tolist() == table["pareto"].tolist()


def test_markdown_table_limits_rows():
    text = markdown_table(pd.DataFrame({"x": range(5)}), max_rows=2)
    assert text.splitlines()[-1] == "… 3 more rows in the CSV file."
    assert text.count("\n| ") == 3  # separator + two rows

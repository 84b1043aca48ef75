"""Sweep pictures and winners: ceilings, winners table, identical files across executors."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from simulator.hardware import load_gpu
from simulator.pareto import Objective
from simulator.sweep.ceilings import gpu_ceilings
from simulator.sweep.engine import run_sweep
from simulator.sweep.plots import best_hardware_png, pareto_front_png
from simulator.sweep.spec import parse_spec
from simulator.sweep.winners import natural_order, winners_table
from simulator.workload import get_model

ATTENTION = {
    "name": "figures-test",
    "evaluator": "attention",
    "axes": {"hardware": ["h100-sxm5", "b200", "l40s"], "model": ["llama-3-8b"],
             "phase": ["prefill", "decode"], "batch": [1, 16], "seq_len": [1024, 8192, 2048],
             "mask": ["dense", "window"], "window": [None, 1024]},
    "zip": [["phase", "batch"], ["mask", "window"]],
    "objectives": [{"column": "time_s", "sense": "min"}, {"column": "power_w", "sense": "min"}],
    "pareto_by": ["model", "phase", "seq_len", "mask"],
}  # fmt: skip


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    spec = parse_spec(ATTENTION, "figures-test.yaml")
    here = tmp_path_factory.mktemp("here")
    there = tmp_path_factory.mktemp("there")
    run_sweep(spec, here, progress=False)
    run_sweep(spec, there, progress=False, executor="processes", workers=2)
    return here, there


def naive_winners(points: pd.DataFrame, by: list[str]) -> dict[tuple, tuple[str, str | None, float]]:
    """Winner, runner-up and margin per group by plain loops."""
    out = {}
    feasible = points[points["feasible"]]
    for key in {tuple(r) for r in feasible[by].itertuples(index=False)}:
        part = feasible[(feasible[by] == pd.Series(key, index=by)).all(axis=1)]
        best = {hw: rows["time_s"].min() for hw, rows in part.groupby("hardware")}
        ranked = sorted(best, key=lambda hw: (best[hw], hw))
        runner = ranked[1] if len(ranked) > 1 else None
        out[key] = (ranked[0], runner, best[runner] / best[ranked[0]] if runner else np.nan)
    return out


def test_every_file_is_identical_across_executors(swept):
    here, there = swept
    names = sorted(p.name for p in here.iterdir() if p.is_file() and p.name != "manifest.json")
    assert {"best_hardware.png", "pareto_front.png", "roofline_b200.png", "summary.md"} <= set(names)
    for name in names:
        assert (here / name).read_bytes() == (there / name).read_bytes(), name


def test_winners_match_a_naive_search(swept):
    here, _ = swept
    points = pd.read_csv(here / "points.csv")
    by = ATTENTION["pareto_by"]
    table = winners_table(points, Objective("time_s"), by)
    expected = naive_winners(points, by)
    assert len(table) == len(expected)
    for row in table.itertuples(index=False):
        winner, runner, margin = expected[tuple(getattr(row, c) for c in by)]
        assert row.winner == winner and row.runner_up == runner
        assert row.margin == pytest.approx(margin)
    summary = (here / "summary.md").read_text()
    assert "## Winner per workload" in summary and "Best point per objective" not in summary


def test_groups_in_numeric_not_string_order(swept):
    here, _ = swept
    summary = (here / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| llama-3-8b | decode | ")]
    lengths = [int(line.split(" | ")[2]) for line in rows]
    assert lengths == sorted(lengths) and len(set(lengths)) == 3
    assert natural_order(["llama-3-70b", "llama-3-8b", 131072, 16384, 2048]) == [
        2048, 16384, 131072, "llama-3-8b", "llama-3-70b"]


def test_blank_array_and_window_and_integer_passes(swept):
    here, _ = swept
    points = pd.read_csv(here / "points.csv", dtype=str, keep_default_na=False)
    assert set(points.loc[points["mask"] == "dense", "window"]) == {""}
    assert set(points.loc[points["mask"] == "window", "window"]) == {"1024"}
    assert set(points["passes"]) <= {"1", "2", "3"}


def test_points_lie_under_their_gpus_ceilings(swept):
    here, _ = swept
    points = pd.read_csv(here / "points.csv")
    for hardware, rows in points.groupby("hardware"):
        ceilings = gpu_ceilings(hardware, rows)
        gpu = load_gpu(hardware)
        flat = {c.label: c.value for c in ceilings if c.kind == "flat"}
        assert flat["tensor fp16"] == gpu.tensor_flops("fp16")
        assert flat[f"exp, E={get_model('llama-3-8b').head_dim}"] == gpu.exp_ops_per_s * 4 * 128
        roof = np.minimum(min(flat.values()), gpu.dram_bytes_per_s * rows["arithmetic_intensity"])
        assert (rows["tflops_per_s"] * 1e12 <= roof * (1 + 1e-9)).all()


def test_power_is_the_gpus_tdp(swept):
    here, _ = swept
    points = pd.read_csv(here / "points.csv")
    for hardware, rows in points.groupby("hardware"):
        assert set(rows["power_w"]) == {load_gpu(hardware).tdp_watts}


@pytest.mark.parametrize("by", [[], ["seq_len"], ["kind", "seq_len"], ["layout"]])
def test_front_figure_draws_any_grouping(by):
    rng = np.random.default_rng(0)
    rows = [{"seq_len": s, "kind": k, "layout": {"w": s // 2}, "hardware": h,
             "t": float(rng.uniform(1, 2)), "q": float(rng.uniform(1, 2)), "feasible": True}
            for s, k, h in itertools.product([2048, 1024, 16384], ["a", "b"], ["x", "y", "z"])]
    frame = pd.DataFrame(rows)
    data = pareto_front_png(frame, frame, [Objective("t"), Objective("q")], by, title="test")
    assert data[:4] == b"\x89PNG"
    winners = winners_table(frame, Objective("t"), by)
    if by:
        assert best_hardware_png(winners, by, Objective("t"), title="test")[:4] == b"\x89PNG"

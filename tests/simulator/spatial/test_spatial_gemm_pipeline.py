"""The architecture's ``gemm_pipeline``: FuseMax's fill/drain once vs SCALE-Sim's per fold.

``scale-sim`` must equal SCALE-Sim's stall-free output-stationary count
``folds · (K + R + C − 2) − 1`` (``systolic_compute_os.py``: per fold, ``K`` operand rows
plus ``C − 1`` drain rows, skewed over ``R − 1`` more; the reported total is the index of
the last cycle). It is checked against that closed form, computed here, and against a
cycle-by-cycle simulation of an output-stationary array's wavefront written here.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from simulator.cli import app
from simulator.errors import SpecError
from simulator.spatial import (
    GEMM_PIPELINES,
    design_end_to_end,
    gemm,
    gemm_cycles,
    linear_layers,
    linear_stack,
    load_architecture,
    load_design,
    predict_accel,
)
from simulator.spatial.designs import Workload
from simulator.spatial.sweep import evaluate_spatial
from simulator.workload import problem_from_model


def scale_sim_os(m: int, k: int, n: int, rows: int, cols: int) -> int:
    """SCALE-Sim's OS closed form, in integers (independent of the model's numpy code)."""
    folds = math.ceil(m / rows) * math.ceil(n / cols)
    return folds * (k + rows + cols - 2) - 1


def simulate_os(a: np.ndarray, b: np.ndarray, rows: int, cols: int) -> tuple[int, np.ndarray]:
    """Cycle-by-cycle wavefront of an output-stationary ``rows × cols`` systolic array.

    Row ``i`` of a fold's A tile enters PE ``(i, 0)`` skewed by ``i`` cycles and moves one PE
    right per cycle; column ``j`` of the B tile enters PE ``(0, j)`` skewed by ``j`` and
    moves one PE down per cycle; a PE multiply-accumulates in a cycle where both operands
    sit in it. A fold ends when every PE has seen its ``K`` pairs and the next fold starts
    on the following cycle (back to back). A ragged fold is padded with zero operands, as
    SCALE-Sim pads it with null requests, so it keeps the full array's schedule.

    Returns the 0-based index of the last cycle in which any PE computed, and ``A @ B``.
    """
    m, k = a.shape
    n = b.shape[1]
    out = np.zeros((m, n), dtype=a.dtype)
    start, last = 0, -1
    for r0, c0 in itertools.product(range(0, m, rows), range(0, n, cols)):
        tile_a = np.zeros((rows, k), dtype=a.dtype)
        tile_b = np.zeros((k, cols), dtype=b.dtype)
        tile_a[:min(rows, m - r0)] = a[r0:r0 + rows]
        tile_b[:, :min(cols, n - c0)] = b[:, c0:c0 + cols]
        reg_a = [[None] * cols for _ in range(rows)]
        reg_b = [[None] * cols for _ in range(rows)]
        acc = np.zeros((rows, cols), dtype=a.dtype)
        seen = np.zeros((rows, cols), dtype=int)
        t = 0
        while (seen < k).any():
            # shift right / down, then inject the skewed edges
            reg_a = [[(tile_a[i, t - i] if 0 <= t - i < k else None)] + reg_a[i][:-1]
                     for i in range(rows)]
            reg_b = [[(tile_b[t - j, j] if 0 <= t - j < k else None) for j in range(cols)]] + reg_b[:-1]
            for i, j in itertools.product(range(rows), range(cols)):
                if reg_a[i][j] is not None and reg_b[i][j] is not None:
                    acc[i, j] += reg_a[i][j] * reg_b[i][j]
                    seen[i, j] += 1
                    last = start + t
            t += 1
            assert t < 10 * (k + rows + cols), "wavefront never completes"
        out[r0:r0 + rows, c0:c0 + cols] = acc[:min(rows, m - r0), :min(cols, n - c0)]
        start += t
    return last, out


@pytest.fixture(scope="module")
def fusemax():
    return load_architecture("fusemax-cloud")


def shaped(arch, rows, cols, pipeline):
    return arch.with_overrides(rows=rows, cols=cols, gemm_pipeline=pipeline)


# ---------------------------------------------------------------------------- the closed form


GRID = list(itertools.product([1, 5, 16, 17, 33], [1, 3, 64], [1, 7, 16, 40], [1, 2, 4, 16],
                              [1, 3, 8, 16]))


def test_scale_sim_mode_is_scale_sims_closed_form_on_a_grid(fusemax):
    ragged = 0
    for m, k, n, rows, cols in GRID:
        arch = shaped(fusemax, rows, cols, "scale-sim")
        expected = scale_sim_os(m, k, n, rows, cols)
        assert gemm_cycles(arch, m, n, k) == expected, (m, k, n, rows, cols)
        assert gemm(arch, m, n, k).cycles == expected
        ragged += m % rows != 0 or n % cols != 0
    assert ragged > len(GRID) // 2  # most points have a partial last fold


def test_scale_sim_mode_vectorises(fusemax):
    arch = shaped(fusemax, 16, 8, "scale-sim")
    m, k = np.array([5, 17, 64]), np.array([3, 64, 100])
    got = gemm_cycles(arch, m, 40, k)
    assert got.tolist() == [scale_sim_os(int(a), int(b), 40, 16, 8) for a, b in zip(m, k)]


def test_scale_sim_mode_ignores_hide_fill_drain_and_the_fill_drain_key(toy_doc, dump_yaml,
                                                                       tmp_path):
    toy_doc["gemm_pipeline"] = "scale-sim"
    toy_doc["arrays"]["2d"]["fill_drain"]["value"] = 7
    arch = load_architecture(dump_yaml(tmp_path / "toy.yaml", toy_doc))
    expected = scale_sim_os(4, 10, 6, 2, 2)  # 6 folds x (10 + 2) - 1
    assert expected == 71
    assert gemm_cycles(arch, 4, 6, 10) == gemm_cycles(arch, 4, 6, 10, False) == expected


# ------------------------------------------------------------------- the brute-force wavefront


@pytest.mark.parametrize("m, k, n, rows, cols", [
    (1, 1, 1, 1, 1), (2, 3, 2, 2, 2), (4, 5, 6, 2, 3), (5, 2, 7, 3, 2), (3, 4, 3, 4, 4),
    (7, 1, 5, 3, 4), (6, 6, 1, 2, 1), (1, 5, 9, 1, 4), (8, 3, 8, 4, 4), (9, 2, 4, 4, 3),
])
def test_scale_sim_mode_matches_a_cycle_simulation(fusemax, m, k, n, rows, cols):
    rng = np.random.default_rng(m * 1000 + k * 100 + n * 10 + rows + cols)
    a = rng.integers(-5, 6, (m, k))
    b = rng.integers(-5, 6, (k, n))
    last, product = simulate_os(a, b, rows, cols)
    np.testing.assert_array_equal(product, a @ b)  # the wavefront computes the GEMM
    assert gemm_cycles(shaped(fusemax, rows, cols, "scale-sim"), m, n, k) == last


def test_the_simulation_sees_each_fold_take_k_plus_skew_cycles():
    # one fold on a 3 x 4 array: its last PE (2, 3) finishes K + 2 + 3 cycles after the start
    last, _ = simulate_os(np.ones((3, 5)), np.ones((5, 4)), 3, 4)
    assert last + 1 == 5 + 2 + 3
    # ragged: 4 x 5 outputs on 3 x 4 = 4 folds, each as long as a full one
    last, _ = simulate_os(np.ones((4, 5)), np.ones((5, 5)), 3, 4)
    assert last + 1 == 4 * (5 + 2 + 3)


# ------------------------------------------------------------------------ the default mode


def test_default_is_fusemax_and_unchanged(fusemax, toy_path, toy_doc, dump_yaml, tmp_path):
    assert GEMM_PIPELINES == ("fusemax", "scale-sim")
    assert fusemax.gemm_pipeline == "fusemax"
    assert load_architecture("flat-cloud").gemm_pipeline == "fusemax"
    implicit = load_architecture(toy_path)  # the toy YAML has no gemm_pipeline key
    toy_doc["gemm_pipeline"] = "fusemax"
    explicit = load_architecture(dump_yaml(tmp_path / "explicit.yaml", toy_doc))
    assert implicit.gemm_pipeline == "fusemax"
    for m, k, n, rows, cols in GRID:
        folds = math.ceil(m / rows) * math.ceil(n / cols)
        arch = shaped(fusemax, rows, cols, None)
        assert gemm_cycles(arch, m, n, k) == folds * k + rows  # fill_drain: 1 cycle per row
        assert gemm_cycles(arch, m, n, k, False) == folds * (k + rows)
    assert gemm(implicit, 4, 6, 10).cycles == gemm(explicit, 4, 6, 10).cycles == 62


# ---------------------------------------------------------------------------------- properties

dims = st.integers(1, 5000)
array_side = st.integers(3, 512)


@settings(max_examples=300, deadline=None)
@given(m=dims, n=dims, k=dims, dk=st.integers(0, 5000), rows=array_side, cols=array_side,
       hide=st.booleans())
def test_scale_sim_costs_at_least_the_default_and_both_grow_with_k(fusemax, m, n, k, dk, rows,
                                                                   cols, hide):
    default = gemm_cycles(shaped(fusemax, rows, cols, "fusemax"), m, n, k, hide)
    per_fold = gemm_cycles(shaped(fusemax, rows, cols, "scale-sim"), m, n, k, hide)
    assert per_fold >= default
    for pipeline in GEMM_PIPELINES:
        arch = shaped(fusemax, rows, cols, pipeline)
        assert gemm_cycles(arch, m, n, k + dk, hide) >= gemm_cycles(arch, m, n, k, hide)


def test_tiny_arrays_are_the_exception_to_scale_sim_costing_more(fusemax):
    # With cols <= 2 a single fold's skew (rows + cols - 2, minus SCALE-Sim's 1) is shorter
    # than the default's rows-cycle fill/drain: why the property above draws cols >= 3.
    assert gemm_cycles(shaped(fusemax, 2, 2, "scale-sim"), 2, 2, 10) == 11
    assert gemm_cycles(shaped(fusemax, 2, 2, "fusemax"), 2, 2, 10) == 12


# ------------------------------------------------------------- time, utilisation and energy


def test_the_mode_moves_time_and_utilisation_together_and_leaves_energy(fusemax):
    fast_dram = fusemax.with_overrides(dram_bytes_per_s=1e18)  # compute bound
    once = gemm(fast_dram, 4096, 3072, 768)
    per_fold = gemm(fast_dram.with_overrides(gemm_pipeline="scale-sim"), 4096, 3072, 768)
    assert per_fold.cycles == scale_sim_os(4096, 768, 3072, 256, 256) > once.cycles
    for g in (once, per_fold):
        assert g.compute_s == pytest.approx(g.cycles / 940e6) and g.latency_s == g.compute_s
        # busy / latency = MACs / (PEs x cycles): SCALE-Sim's "Overall Util %" / 100
        assert g.utilization == pytest.approx(g.macs / (256 * 256 * g.cycles))
    assert per_fold.busy_s == once.busy_s and per_fold.macs == once.macs
    assert per_fold.utilization / once.utilization == pytest.approx(once.cycles / per_fold.cycles)
    assert per_fold.dram_bytes == once.dram_bytes
    assert per_fold.energy.as_dict() == once.energy.as_dict()  # no leakage term


def test_a_memory_bound_gemm_does_not_see_the_mode(fusemax):
    slow_dram = fusemax.with_overrides(dram_bytes_per_s=1e9)
    once = gemm(slow_dram, 4096, 3072, 768)
    per_fold = gemm(slow_dram.with_overrides(gemm_pipeline="scale-sim"), 4096, 3072, 768)
    assert per_fold.compute_s > once.compute_s
    assert per_fold.latency_s == once.latency_s == once.memory_s
    assert per_fold.utilization == once.utilization


def test_end_to_end_linear_layers_follow_the_mode_and_attention_does_not(fusemax):
    design = load_design("fusemax")
    workload = Workload.from_model("bert-base", 64, 4096)
    once = design_end_to_end(design, workload, fusemax)
    per_fold = design_end_to_end(design, workload, fusemax.with_overrides(gemm_pipeline="scale-sim"))
    assert per_fold.attention.latency_s == once.attention.latency_s
    layers = linear_layers(768, 12, 64, 3072, tokens=64 * 4096)
    expected = sum(scale_sim_os(layer.m, layer.k, layer.n, 256, 256) for layer in layers)
    assert per_fold.linear.cycles == expected
    assert once.linear.cycles == linear_stack(fusemax, layers).cycles
    assert per_fold.latency_s > once.latency_s
    assert per_fold.utilization["array_2d"] < once.utilization["array_2d"]
    assert per_fold.energy_j == pytest.approx(once.energy_j)


# ---------------------------------------------------------------- where a user sets the mode


@pytest.mark.parametrize("value", ["scalesim", "SCALE-SIM", "once", 3, True, {"mode": "fusemax"}])
def test_bad_gemm_pipeline_is_a_one_line_spec_error(tmp_path, toy_doc, dump_yaml, value):
    toy_doc["gemm_pipeline"] = value
    path = dump_yaml(tmp_path / "toy.yaml", toy_doc)
    with pytest.raises(SpecError) as info:
        load_architecture(path)
    message = str(info.value)
    assert message.startswith("toy.yaml: key 'gemm_pipeline': expected one of fusemax, scale-sim;")
    assert "\n" not in message


def test_bad_gemm_pipeline_exits_2_from_the_cli(tmp_path, toy_doc, dump_yaml):
    toy_doc["gemm_pipeline"] = "per-fold"
    path = dump_yaml(tmp_path / "bad.yaml", toy_doc)
    result = CliRunner().invoke(app, ["accel", "show", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "bad.yaml: key 'gemm_pipeline': expected one of fusemax, scale-sim; got 'per-fold'" \
        in result.stderr


def test_cli_accel_show_json_reports_the_mode():
    result = CliRunner().invoke(app, ["accel", "show", "fusemax-cloud", "--json"])
    assert result.exit_code == 0, result.output
    assert '"gemm_pipeline": "fusemax"' in result.stdout


def test_override_and_predict_option(fusemax):
    with pytest.raises(SpecError, match="override 'gemm_pipeline': expected one of fusemax, "
                                        "scale-sim; got 'fast'"):
        fusemax.with_overrides(gemm_pipeline="fast")
    problem = problem_from_model("bert-base", 64, 4096)
    default = predict_accel("fusemax", None, problem, scope="end_to_end", model="bert-base")
    same = predict_accel("fusemax", None, problem, scope="end_to_end", model="bert-base",
                         gemm_pipeline="fusemax")
    per_fold = predict_accel("fusemax", None, problem, scope="end_to_end", model="bert-base",
                             gemm_pipeline="scale-sim")
    assert same.time_s == default.time_s and same.energy_j == default.energy_j
    assert per_fold.extra["linear_s"] > default.extra["linear_s"]
    assert per_fold.time_s - default.time_s == pytest.approx(
        per_fold.extra["linear_s"] - default.extra["linear_s"])
    assert per_fold.utilization["array_2d"] < default.utilization["array_2d"]
    attention = predict_accel("fusemax", None, problem, gemm_pipeline="scale-sim")
    assert attention.time_s == predict_accel("fusemax", None, problem).time_s
    with pytest.raises(SpecError, match="override 'gemm_pipeline'"):
        predict_accel("fusemax", None, problem, gemm_pipeline="nope")


def test_sweep_column_groups_rows_by_mode():
    import pandas as pd

    chunk = pd.DataFrame({"gemm_pipeline": ["scale-sim", "fusemax", "scale-sim"],
                          "scope": "end_to_end", "seq_len": [4096, 4096, 16384]}, index=[4, 9, 2])
    out = evaluate_spatial(chunk)
    assert list(out.index) == [4, 9, 2]
    for _, row in out.iterrows():
        pred = predict_accel("fusemax", None, problem_from_model("bert-base", 64, row["seq_len"]),
                             scope="end_to_end", model="bert-base",
                             gemm_pipeline=row["gemm_pipeline"])
        assert row["latency"] == pytest.approx(pred.time_s)
    assert out.loc[4, "latency"] > out.loc[9, "latency"]
    plain = evaluate_spatial(chunk.drop(columns="gemm_pipeline"))
    assert plain.loc[9, "latency"] == out.loc[9, "latency"]


# ------------------------------------------------------------ the README's numbers stay true


def test_readme_example_numbers(fusemax):
    ffn1 = {p: gemm(fusemax.with_overrides(gemm_pipeline=p), 64 * 4096, 3072, 768)
            for p in GEMM_PIPELINES}
    assert [int(ffn1[p].cycles) for p in GEMM_PIPELINES] == [9_437_440, 15_704_063]
    assert [round(float(ffn1[p].latency_s) * 1e3, 1) for p in GEMM_PIPELINES] == [10.0, 16.7]
    assert [round(float(ffn1[p].utilization), 2) for p in GEMM_PIPELINES] == [1.0, 0.6]
    lengths = np.array([1024, 4096, 16384, 65536, 262144, 1048576])
    means = {}
    for pipeline in GEMM_PIPELINES:
        latency = {}
        for name in ("fusemax", "flat", "unfused"):
            design = load_design(name)
            arch = design.load_architecture().with_overrides(gemm_pipeline=pipeline)
            latency[name] = np.concatenate([
                design_end_to_end(design, Workload.from_model(model, 64, lengths), arch).latency_s
                for model in ("bert-base", "trxl-wt103", "t5-small", "xlm")])
        means[pipeline] = (round(float(np.mean(latency["flat"] / latency["fusemax"])), 2),
                           round(float(np.mean(latency["unfused"] / latency["fusemax"])), 2))
    assert means == {"fusemax": (5.3, 7.6), "scale-sim": (5.08, 7.22)}

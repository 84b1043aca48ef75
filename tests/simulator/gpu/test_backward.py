"""The backward-pass model: its work against independent counts, its FLOP convention, its
kernels, the DeepSeek FA3 profile (held out), the CLI's --pass and the sweep's pass column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import simulator
from experiments.validation.fa3_backward import comparison
from simulator.cli import app
from simulator.design_space import ATTENTION_DEFAULTS, evaluate_attention
from simulator.errors import SpecError
from simulator.gpu import predict
from simulator.gpu.backward import predict_backward, predict_pass
from simulator.gpu.backward_profiles import load_backward_profile
from simulator.workload import AttentionProblem

runner = CliRunner()


def _problem(seq=2048, causal=False, e=128, f=128, batch=2, heads=8):
    return AttentionProblem(batch=batch, heads=heads, kv_heads=heads, seq_q=seq, seq_kv=seq,
                            head_dim_qk=e, head_dim_v=f, dtype="bf16", causal=causal)


def _visited_tiles(seq, q_tile, kv_tile, causal):
    """Brute force: (query tile, key tile) blocks with at least one unmasked pair."""
    p, m = np.arange(seq)[:, None], np.arange(seq)[None, :]
    keep = m <= p if causal else np.ones((seq, seq), bool)
    count = 0
    for i in range(0, seq, q_tile):
        for j in range(0, seq, kv_tile):
            count += bool(keep[i:i + q_tile, j:j + kv_tile].any())
    return count


@pytest.mark.parametrize("hw,causal,e,f", [("h100", False, 128, 128), ("h100", True, 192, 128),
                                          ("a100", True, 64, 64), ("h800", False, 96, 96)])
def test_main_kernel_work_is_the_backward_cascade_on_visited_tiles(hw, causal, e, f):
    problem = _problem(seq=1000, causal=causal, e=e, f=f)
    bwd = predict_backward(hw, "attention-1pass", problem)
    q_tile, kv_tile = bwd.extra["tile"]
    tiles = _visited_tiles(1000, q_tile, kv_tile, causal)
    instances = problem.batch * problem.heads
    # five GEMMs of a Bq x Bkv step: S, dK over E; dP, dV over F; dQ over E
    assert bwd.extra["main_tensor_flop"] == pytest.approx(
        instances * tiles * 2 * (3 * e + 2 * f) * q_tile * kv_tile)
    # every visited step reduces its FP32 dQ partial (Bq x E) into dQ_accum
    assert bwd.extra["dq_accum_l2_bytes"] == pytest.approx(instances * tiles * q_tile * e * 4)


def test_flop_convention_and_fwdbwd_sum():
    problem = _problem(causal=True)
    fwd = predict("h100", "attention-1pass", problem)
    bwd = predict_pass("h100", "attention-1pass", problem, "bwd")
    both = predict_pass("h100", "attention-1pass", problem, "fwdbwd")
    assert bwd.flops == pytest.approx(2.5 * fwd.flops)
    assert both.flops == pytest.approx(3.5 * fwd.flops)
    assert both.time_s == pytest.approx(fwd.time_s + bwd.time_s)
    assert [k.name for k in both.kernels][-3:] == ["bwd-preprocess", "bwd-dq-dk-dv",
                                                   "bwd-dq-convert"]
    assert predict_pass("h100", "attention-1pass", problem, "fwd") == fwd


def test_streaming_kernels_move_at_least_their_tensors():
    problem = _problem(seq=4096)
    bwd = predict_backward("h100", "attention-1pass", problem)
    pre, main, convert = bwd.kernels
    rows = problem.batch * problem.heads * problem.seq_q
    assert pre.dram_bytes >= rows * (2 * 128 * 2 + 4)          # read O and dO, write D
    assert convert.dram_bytes >= rows * 128 * (4 + 2)          # FP32 dQ_accum in, bf16 dQ out
    # Q, K, V, dO read and dK, dV written at least once
    assert main.dram_bytes >= problem.batch * problem.heads * 4096 * 128 * 2 * 6
    assert pre.bound == "dram" and convert.bound == "dram"
    assert bwd.bound == main.bound


def test_causal_backward_costs_about_half():
    dense = predict_backward("h100", "attention-1pass", _problem(seq=8192))
    causal = predict_backward("h100", "attention-1pass", _problem(seq=8192, causal=True))
    assert 0.45 < causal.kernels[1].time_s / dense.kernels[1].time_s < 0.65


def test_deepseek_fa3_profile_within_15_percent():
    """Held out: nothing in the backward profile was fitted to these rows."""
    table = comparison()
    assert set(table.kernel) == {"fa3-forward", "fa3-bwd-preprocess", "fa3-bwd-main",
                                 "fa3-bwd-dq-convert"}
    assert (table.error.abs() < 0.15).all(), table


def test_profiles_without_a_backward_and_bad_files(tmp_path):
    with pytest.raises(SpecError, match="no backward profile for kernel profile 'unfused'"):
        predict_backward("h100", "attention-3pass", _problem(), profile="unfused")
    text = load_backward_profile("flash3").sources["dq_accum.l2_bytes_per_clk_per_sm"]
    assert text.startswith("assumed:")
    bad = tmp_path / "bad.yaml"
    shipped = Path(simulator.__file__).parent / "profiles" / "backward" / "flash3.yaml"
    bad.write_text(shipped.read_text().replace('{value: 24, source:', '{value: 24, sauce:'))
    with pytest.raises(SpecError, match="bad.yaml: key 'dq_accum.l2_bytes_per_clk_per_sm.source'"):
        load_backward_profile(str(bad))


def test_cli_pass_option():
    shape = ["--hw", "h800", "--cascade", "attention-1pass", "--causal", "--heads", "16",
             "--seq-q", "2048", "--head-dim", "128", "--dtype", "bf16"]
    plain = runner.invoke(app, ["predict", *shape])
    forward = runner.invoke(app, ["predict", *shape, "--pass", "fwd"])
    assert plain.exit_code == 0 and plain.stdout == forward.stdout
    result = runner.invoke(app, ["predict", *shape, "--pass", "bwd", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [k["name"] for k in doc["kernels"]] == ["bwd-preprocess", "bwd-dq-dk-dv",
                                                   "bwd-dq-convert"]
    assert doc["extra"]["pass"] == "bwd" and doc["time_s"] > 0
    bad = runner.invoke(app, ["predict", *shape, "--pass", "backward"])
    assert bad.exit_code == 2 and bad.stderr.startswith("einsim: error: --pass: expected one of")


def test_sweep_pass_column():
    rows = pd.DataFrame({"training_pass": ["fwd", "bwd", "fwdbwd", "bwd"],
                         "mask": ["causal", "causal", "causal", "window"], "seq_len": 4096,
                         "window": 1024})
    for name, value in ATTENTION_DEFAULTS.items():
        rows[name] = rows.get(name, value)
    out = evaluate_attention(rows)
    plain = evaluate_attention(rows.drop(columns="training_pass").iloc[:1])
    assert out["time_s"][0] == plain["time_s"][0]
    assert out["time_s"][2] == pytest.approx(out["time_s"][0] + out["time_s"][1])
    assert out["flops"][1] == pytest.approx(2.5 * out["flops"][0])
    assert out["time_s"][3] < 0.6 * out["time_s"][1]    # a 1024-key window of 4096 keys
    rows.loc[0, "training_pass"] = "sideways"
    with pytest.raises(SpecError, match="column 'training_pass'"):
        evaluate_attention(rows)


def test_sweep_spec_with_a_training_pass_axis(tmp_path):
    from simulator.sweep.engine import evaluate_sweep

    spec = tmp_path / "passes.yaml"
    spec.write_text("name: passes\nevaluator: attention\naxes:\n  hardware: [h100]\n"
                    "  seq_len: [2048]\n  mask: [causal]\n  training_pass: [fwd, bwd, fwdbwd]\n"
                    "objectives:\n  - {column: time_s, sense: min}\npareto_by: [training_pass]\n")
    table = evaluate_sweep(spec).set_index("training_pass")
    assert table.loc["fwdbwd", "time_s"] == pytest.approx(table.loc["fwd", "time_s"]
                                                          + table.loc["bwd", "time_s"])

"""The `attention` sweep evaluator and the built-in default sweep (the README's main job)."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.design_space import ATTENTION_DEFAULTS, evaluate_attention
from simulator.errors import SpecError
from simulator.gpu import mask_counts, predict, predict_batch
from simulator.sparsity import SparsityConfig, TileConfig, count_tiles
from simulator.workload import AttentionProblem, get_model


def rows(**columns):
    frame = pd.DataFrame(columns)
    for name, value in ATTENTION_DEFAULTS.items():
        if name not in frame:
            frame[name] = value
    return frame


def test_gpu_rows_equal_the_gpu_model():
    out = evaluate_attention(rows(hardware=["h100-sxm5", "a100-sxm4-80gb"], seq_len=[8192, 8192],
                                  mask=["causal", "dense"]))
    shape = get_model("llama-3-8b")
    for i, (hw, causal) in enumerate((("h100-sxm5", True), ("a100-sxm4-80gb", False))):
        pred = predict_batch(hw, "attention-1pass", batch=1, heads=shape.heads,
                             kv_heads=shape.kv_heads, seq_q=8192, seq_kv=8192,
                             head_dim=shape.head_dim, causal=causal)
        assert out["time_s"][i] == pytest.approx(float(pred.time_s))
    assert out["kind"].tolist() == ["gpu", "gpu"]


def test_decode_window_is_dense_attention_over_the_window():
    out = evaluate_attention(rows(phase=["decode", "decode"], batch=[8, 8], mask=["window", "dense"],
                                  window=[4096, 4096], seq_len=[65536, 4096]))
    assert out["time_s"][0] == pytest.approx(out["time_s"][1])
    assert (out["seq_q"] == 1).all()


def test_masked_path_with_a_smaller_kernel_key_tile():
    """L40S fits only 64-key tiles at d128: a mask counted in 128-key tiles must not halve
    the work (a full-width window costs what dense attention costs)."""
    problem = AttentionProblem(1, 64, 8, 8192, 8192, 128)
    config = SparsityConfig.sliding_window_1d(8192, 8192)
    masks = mask_counts(count_tiles(config, TileConfig(128, 128)))
    masked = predict("l40s", "attention-1pass", problem, masks=masks).time_s
    causal = predict("l40s", "attention-1pass",
                     AttentionProblem(1, 64, 8, 8192, 8192, 128, causal=True)).time_s
    assert masked == pytest.approx(causal, rel=0.1)


def test_accelerator_rows_use_the_array_column():
    out = evaluate_attention(rows(hardware=["fusemax"] * 2, array=[128, 256], seq_len=[65536] * 2,
                                  model=["bert-base"] * 2, batch=[64, 64]))
    assert out["kind"].tolist() == ["accelerator"] * 2
    assert out["time_s"][0] / out["time_s"][1] == pytest.approx(4.0, rel=0.05)  # 4x fewer PEs
    assert out["area_m2"][0] < out["area_m2"][1] and np.isfinite(out["energy_j"]).all()


@pytest.mark.parametrize("change, fragment", [
    ({"phase": ["later"]}, "column 'phase'"),
    ({"mask": ["strided"]}, "column 'mask'"),
    ({"hardware": ["fusemax"], "array": [0]}, "column 'array'"),
    ({"hardware": ["fusemax"], "array": [64], "phase": ["decode"]}, "dense prefill"),
])
def test_bad_rows(change, fragment):
    with pytest.raises(SpecError, match=fragment):
        evaluate_attention(rows(**change))


def test_default_sweep_is_the_main_job(tmp_path):
    result = CliRunner().invoke(app, ["sweep", "--out", str(tmp_path / "results"), "--quiet",
                                      "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["name"] == "default-attention" and doc["points"] > 1000
    assert {"points", "pareto_points", "out_dir", "elapsed_s", "objectives", "pareto_by"} <= set(doc)
    points = pd.read_csv(tmp_path / "results" / "points.csv")
    assert set(points["hardware"]) == {"a100-sxm4-80gb", "l40s", "h100-sxm5", "h200", "b200",
                                       "fusemax"}
    assert set(points["mask"]) == {"dense", "causal", "window"}
    assert (points["time_s"] > 0).all()
    for name in ("pareto.csv", "pareto.md", "summary.md", "pareto_front.png", "best_hardware.png",
                 "roofline_h100-sxm5.png"):
        assert (tmp_path / "results" / name).exists()
    # the default objectives trade off: a front holds several devices, not one point
    fronts = points[points["pareto"]].groupby(doc["pareto_by"]).size()
    assert fronts.median() >= 3
    gpu = points["kind"] == "gpu"
    assert points.loc[gpu, "array"].isna().all() and (points.loc[~gpu, "array"] > 0).all()
    assert points.loc[points["mask"] != "window", "window"].isna().all()


def test_rows_priced_as_a_grid_equal_rows_priced_alone():
    """A group whose rows fill a batch × length grid is priced on the grid; each row must
    get what it gets when priced alone (or among too few rows to make a grid)."""
    batch, seq = np.meshgrid([1, 2, 8, 32], [512, 3000, 16384], indexing="ij")
    frame = rows(batch=batch.ravel(), seq_len=seq.ravel(), phase=["prefill", "decode"] * 6,
                 mask=["causal"] * 12)
    together = evaluate_attention(frame.sample(frac=1.0, random_state=3))
    for _, row in together.iterrows():
        alone = evaluate_attention(rows(batch=[row["batch"]], seq_len=[row["seq_len"]],
                                        phase=[row["phase"]], mask=["causal"]))
        for name in ("time_s", "flops", "dram_bytes", "buffer_bytes", "bound", "spilled"):
            assert alone[name].iloc[0] == row[name], name

"""DRAM capacity (issue 11): a problem that cannot be resident in the GPU's memory is flagged.

Footprints are recomputed here from the shapes alone (B·Hkv·M·(E+F) cached elements,
B·H·P·E queries, B·H·P·M scores), not from the model's tensor moves.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from simulator.cli import app
from simulator.gpu import predict, predict_batch
from simulator.hardware import load_gpu
from simulator.sweep.engine import evaluate_sweep
from simulator.sweep.spec import parse_spec
from simulator.workload import KV_DTYPES, AttentionProblem

H100 = load_gpu("h100")
FP16 = 2
MEG = 1 << 20


def _kv_bytes(batch, kv_heads, seq_kv, e, f, kv_dtype="fp16"):
    fmt = KV_DTYPES[kv_dtype]
    return batch * kv_heads * seq_kv * ((e + f) * fmt.bits / 8 + 2 * fmt.metadata_bytes)


def test_a_million_token_cache_at_batch_64_does_not_fit_an_h100():
    problem = AttentionProblem(batch=64, heads=32, kv_heads=8, seq_q=1, seq_kv=MEG, head_dim_qk=128)
    kv = 64 * 8 * MEG * (128 + 128) * FP16
    assert kv == problem.kv_cache_bytes == _kv_bytes(64, 8, MEG, 128, 128)
    q = o = 64 * 32 * 1 * 128 * FP16
    pred = predict("h100", "attention-1pass", problem, profile="flash3")
    assert pred.fits_in_memory is False
    assert pred.resident_bytes == kv + q + o
    assert pred.capacity == "needs 275 GB of DRAM, h100-sxm5 has 80 GB — not feasible"
    assert pred.time_s > 0  # still priced: flagged, not dropped


def test_a_quantised_cache_counts_its_metadata():
    problem = AttentionProblem(batch=16, heads=32, kv_heads=8, seq_q=1, seq_kv=MEG, head_dim_qk=128,
                               kv_dtype="int4")
    pred = predict("h100", "attention-1pass", problem, profile="flash3")
    kv = 16 * 8 * MEG * 2 * (128 * 0.5 + 4)
    assert kv == problem.kv_cache_bytes
    assert pred.resident_bytes == pytest.approx(kv + 2 * 16 * 32 * 128 * FP16, rel=1e-12)
    assert pred.fits_in_memory is True and pred.capacity is None  # 17.2 GB


def test_an_ordinary_problem_fits():
    problem = AttentionProblem(batch=4, heads=32, kv_heads=8, seq_q=4096, seq_kv=4096, head_dim_qk=128)
    pred = predict("h100", "attention-1pass", problem, profile="flash3")
    q = o = 4 * 32 * 4096 * 128 * FP16
    assert pred.fits_in_memory is True and pred.capacity is None
    assert pred.resident_bytes == _kv_bytes(4, 8, 4096, 128, 128) + q + o


def test_unfused_3pass_is_flagged_by_its_score_matrix_where_the_1pass_fits():
    problem = AttentionProblem(batch=8, heads=8, kv_heads=8, seq_q=65536, seq_kv=65536, head_dim_qk=128)
    fused = predict("h100", "attention-1pass", problem, profile="flash3")
    inputs = 3 * 8 * 8 * 65536 * 128 * FP16  # Q, K, V
    out = 8 * 8 * 65536 * 128 * FP16
    assert fused.fits_in_memory is True and fused.resident_bytes == inputs + out  # 4.3 GB
    unfused = predict("h100", "attention-3pass", problem, profile="unfused")
    scores = 8 * 8 * 65536 * 65536 * FP16  # B·H·P·M at the intermediate bytes: 550 GB
    assert unfused.fits_in_memory is False and "not feasible" in unfused.capacity
    # the softmax holds the scores and the probabilities at once; PyTorch also keeps one
    # rearranged copy of Q, K and V (the unfused profile's input copies)
    assert unfused.resident_bytes == 2 * scores + 2 * inputs + out
    # a 3-pass at that length cannot hold the M fiber on chip, so a fused profile spills too
    spilled = predict("h100", "attention-3pass", problem, profile="flash3")
    assert spilled.spilled is True and spilled.fits_in_memory is False


def test_the_3pass_that_holds_its_fiber_needs_no_intermediates():
    problem = AttentionProblem(batch=1, heads=8, kv_heads=8, seq_q=512, seq_kv=512, head_dim_qk=64)
    held = predict("h100", "attention-3pass", problem, profile="flash3")
    one = predict("h100", "attention-1pass", problem, profile="flash3")
    assert held.spilled is False and held.resident_bytes == one.resident_bytes


def test_predict_batch_arrays_mix_true_and_false():
    seq = np.array([4096, 65536, MEG, MEG])
    batch = np.array([64, 64, 8, 64])
    pred = predict_batch("h100", "attention-1pass", batch=batch, heads=32, kv_heads=8, seq_q=1,
                         seq_kv=seq, head_dim=128, profile="flash3")
    expected = _kv_bytes(batch, 8, seq, 128, 128) + 2 * batch * 32 * 128 * FP16
    np.testing.assert_array_equal(pred.resident_bytes, expected)
    assert pred.fits_in_memory.tolist() == [True, True, True, False]
    assert pred.fits_in_memory.tolist() == (expected <= H100.dram_bytes).tolist()
    assert pred.capacity is None  # batches carry the flags; notes are for one problem
    assert pred.row(3).fits_in_memory is False


def test_causal_rows_of_a_batch_keep_their_flags():
    pred = predict_batch("h100", "attention-3pass", batch=8, heads=8, seq_q=np.array([4096, 65536]),
                         seq_kv=np.array([4096, 65536]), head_dim=128, causal=np.array([True, False]),
                         profile="unfused")
    assert pred.fits_in_memory.tolist() == [True, False]


def test_a_bigger_gpu_fits_what_a_smaller_one_does_not():
    kw = dict(batch=16, heads=32, kv_heads=8, seq_q=1, seq_kv=MEG, head_dim=128, profile="auto")
    assert _kv_bytes(16, 8, MEG, 128, 128) / 1e9 == pytest.approx(68.7, abs=0.05)
    assert predict_batch("l40s", "attention-1pass", **kw).fits_in_memory.item() is False  # 48 GB
    assert predict_batch("h200", "attention-1pass", **kw).fits_in_memory.item() is True  # 141 GB


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 128), kv_heads=st.sampled_from([1, 8, 32]),
       seq=st.integers(1, 1 << 21), more=st.integers(1, 1 << 21),
       kv_dtype=st.sampled_from(["fp16", "fp8", "int4"]))
def test_fits_in_memory_is_monotone_in_seq_kv(batch, kv_heads, seq, more, kv_dtype):
    """A longer KV cache never turns a problem that does not fit into one that does."""
    pred = predict_batch("h100", "attention-1pass", batch=batch, heads=32, kv_heads=kv_heads, seq_q=1,
                         seq_kv=np.array([seq, seq + more]), head_dim=128, kv_dtype=kv_dtype,
                         profile="flash3", detail=False)
    assert pred.resident_bytes[0] < pred.resident_bytes[1]
    assert not (pred.fits_in_memory[1] and not pred.fits_in_memory[0])
    assert pred.resident_bytes[1] >= _kv_bytes(batch, kv_heads, seq + more, 128, 128, kv_dtype)


# --------------------------------------------------------------------------- CLI


runner = CliRunner()
BIG = ["--hw", "h100", "--cascade", "attention-1pass", "--kernel", "flash3", "--batch", "64",
       "--heads", "32", "--kv-heads", "8", "--seq-q", "1", "--seq-kv", str(MEG), "--head-dim", "128"]


def test_cli_text_prints_a_capacity_line_and_exits_0():
    result = runner.invoke(app, ["predict", *BIG])
    assert result.exit_code == 0, result.output
    assert "capacity: needs 275 GB of DRAM, h100-sxm5 has 80 GB — not feasible" in result.stdout
    ok = runner.invoke(app, ["predict", *BIG[:-5], "4096", "--head-dim", "128"])
    assert ok.exit_code == 0 and "capacity" not in ok.stdout


def test_cli_json_carries_the_flag_and_the_note():
    result = runner.invoke(app, ["predict", *BIG, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["fits_in_memory"] is False
    assert doc["resident_bytes"] == 64 * 8 * MEG * 256 * 2 + 2 * 64 * 32 * 128 * 2
    assert doc["capacity"].endswith("not feasible")
    fits = json.loads(runner.invoke(app, ["predict", *BIG[:-5], "4096", "--head-dim", "128",
                                          "--json"]).stdout)
    assert fits["fits_in_memory"] is True and fits["capacity"] is None


# --------------------------------------------------------------------------- sweeps


def test_a_sweep_point_that_does_not_fit_is_infeasible_and_off_the_front():
    spec = parse_spec({
        "name": "capacity", "evaluator": "attention",
        "axes": {"hardware": ["h100-sxm5"], "phase": ["decode"], "batch": [64],
                 "seq_len": [4096, 65536, MEG], "profile": ["flash3"]},
        "objectives": ["time_s", "dram_bytes"], "pareto_by": ["seq_len"]})
    table = evaluate_sweep(spec)
    assert table["fits_in_memory"].tolist() == [True, True, False]
    assert table["feasible"].tolist() == [True, True, False]
    # alone in its comparison group, the 1M-token point would be its own front
    assert table["pareto"].tolist() == [True, True, False]
    expected = _kv_bytes(64, 8, MEG, 128, 128) + 2 * 64 * 32 * 128 * FP16
    assert table["resident_bytes"].iloc[2] == expected and table["memory_bytes"].iloc[2] == 80e9


def test_constraints_still_narrow_the_feasible_rows():
    spec = parse_spec({
        "name": "capacity", "evaluator": "attention",
        "axes": {"hardware": ["h100-sxm5"], "phase": ["decode"], "batch": [64],
                 "seq_len": [4096, 65536, MEG], "profile": ["flash3"]},
        "objectives": ["time_s"], "pareto_by": ["seq_len"], "constraints": ["seq_len > 4096"]})
    table = evaluate_sweep(spec)
    assert table["feasible"].tolist() == [False, True, False]


def test_accelerator_rows_are_not_capacity_checked():
    from simulator.design_space import ATTENTION_DEFAULTS, evaluate_attention

    frame = pd.DataFrame({"hardware": ["fusemax"], "array": [128], "seq_len": [65536],
                          "model": ["bert-base"], "batch": [64]})
    for name, value in ATTENTION_DEFAULTS.items():
        if name not in frame:
            frame[name] = value
    out = evaluate_attention(frame)
    assert out["fits_in_memory"].tolist() == [True] and out["feasible"].tolist() == [True]
    assert np.isnan(out["resident_bytes"]).all()

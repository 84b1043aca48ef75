"""``einsim predict``: JSON contract, options, --accel, and one-line errors with exit 2."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from simulator.cli import app

runner = CliRunner()
SHAPE = ["--batch", "4", "--heads", "16", "--seq-q", "4096", "--seq-kv", "4096", "--head-dim",
         "128"]
REQUIRED_KEYS = {"time_s", "flops", "tflops_per_s", "bound", "resource_times_s", "utilization",
                 "passes", "buffer_bytes", "dram_bytes"}


def _json(*args: str) -> dict:
    result = runner.invoke(app, ["predict", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _error(*args: str) -> str:
    result = runner.invoke(app, ["predict", *args])
    assert result.exit_code == 2, result.output
    stderr = result.stderr.strip()
    assert stderr.startswith("einsim: error: ") and "\n" not in stderr, stderr
    assert "Traceback" not in result.output
    return stderr


def test_help_documents_every_option():
    result = runner.invoke(app, ["predict", "--help"])
    assert result.exit_code == 0
    for option in ["--hw", "--accel", "--cascade", "--model", "--batch", "--heads", "--kv-heads",
                   "--seq-q", "--seq-kv", "--head-dim", "--dtype", "--causal", "--layout",
                   "--window", "--stride", "--dilation", "--q-tile", "--kv-tile", "--kv-tiling",
                   "--kernel", "--json"]:
        assert option in result.stdout


def test_json_contract():
    doc = _json("--hw", "h100", "--cascade", "attention-1pass", *SHAPE)
    assert REQUIRED_KEYS <= set(doc)
    assert doc["flops"] == 4 * 4 * 16 * 4096**2 * 128
    assert doc["bound"] == "tensor" and doc["passes"] == 1 and doc["spilled"] is False
    assert set(doc["resource_times_s"]) == {"tensor", "exp", "fp32", "smem", "dram", "launch"}
    assert doc["kernels"][0]["tile"] == [128, 128] and doc["problem"]["heads"] == 16
    assert doc["tflops_per_s"] == pytest.approx(doc["flops"] / doc["time_s"] / 1e12)


def test_text_output():
    result = runner.invoke(app, ["predict", "--hw", "h100", "--cascade", "attention-3pass",
                                 "--kernel", "unfused", *SHAPE])
    assert result.exit_code == 0, result.output
    assert "bound by dram" in result.stdout and "kernel gemm-QK" in result.stdout


def test_model_and_causal_cascade_implies_causal():
    doc = _json("--hw", "b200", "--cascade", "attention-1pass-causal", "--model", "llama-3-8b",
                "--seq-q", "8192")
    assert doc["problem"]["causal"] is True and doc["problem"]["kv_heads"] == 8
    assert doc["mask"] == "causal"
    # FLOPs from the cascade's contractions: 2 (E + F) per unmasked pair, 8192*8193/2 pairs
    assert doc["flops"] == 2 * 256 * 32 * (8192 * 8193 // 2)


def test_gna_layout_mask():
    doc = _json("--hw", "h100", "--cascade", "attention-1pass", "--heads", "24",
                "--head-dim", "128", "--layout", "30x48x80", "--window", "18x24x24",
                "--stride", "16x8x8", "--q-tile", "4x8x8", "--kv-tile", "2x8x8")
    dense = _json("--hw", "h100", "--cascade", "attention-1pass", "--heads", "24",
                  "--head-dim", "128", "--layout", "30x48x80", "--q-tile", "4x8x8",
                  "--kv-tile", "2x8x8")
    assert 9 < dense["time_s"] / doc["time_s"] <= 900 / 81 + 1e-6
    assert doc["kernels"][0]["tile"] == [256, 128]


def test_window_on_sliding_window_cascade():
    shape = ["--heads", "32", "--kv-heads", "8", "--head-dim", "128", "--seq-q", "32768"]
    doc = _json("--hw", "h100", "--cascade", "attention-1pass-window", *shape, "--size", "W=4096")
    full = _json("--hw", "h100", "--cascade", "attention-1pass", *shape, "--causal")
    assert doc["time_s"] < full["time_s"] / 3 and doc["mask"] == "filter"
    # --window on the dense cascade chooses its window variant: the same filter, the same price
    flag = _json("--hw", "h100", "--cascade", "attention-1pass", *shape, "--window", "4096")
    assert flag["time_s"] == doc["time_s"] and flag["problem"]["sizes"] == {"W": 4096}


def test_mask_flag_contradicting_the_cascade_names_both():
    stderr = _error("--hw", "h100", "--cascade", "attention-1pass-causal", *SHAPE,
                    "--window", "1024")
    assert "--window" in stderr and "attention-1pass-causal" in stderr
    assert "BQK: m1*M0 + m0 <= p + M - P" in stderr


def test_decode_with_quantised_kv():
    doc = _json("--hw", "h100", "--cascade", "decode-splitk", "--model", "llama-3-8b",
                "--seq-q", "1", "--seq-kv", "65536", "--kv-dtype", "int4")
    assert doc["spilled"] is True and [k["name"] for k in doc["kernels"]] == ["split-kv", "merge"]
    assert doc["extra"]["splits"] > 1


def test_accel_branch():
    doc = _json("--accel", "fusemax", "--model", "bert-base", "--batch", "64", "--seq-q", "4096")
    assert REQUIRED_KEYS <= set(doc) and doc["profile"] == "fusemax"


def test_accel_branch_without_spatial_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "simulator.spatial", None)
    stderr = _error("--accel", "fusemax", "--model", "bert-base", "--seq-q", "512")
    assert "simulator.spatial" in stderr


@pytest.mark.parametrize("args, fragment", [
    (["--hw", "h100", "--cascade", "attention-1pass", *SHAPE, "--kernel", "flash9"],
     "unknown kernel profile 'flash9'"),
    (["--hw", "h100", "--cascade", "attention-1pass", *SHAPE, "--layout", "30xAx80"],
     "--layout: expected 1 to 3 positive integers"),
    (["--hw", "h100", "--cascade", "attention-1pass", "--heads", "8"], "give the head dim"),
    (["--cascade", "attention-1pass", *SHAPE], "exactly one of --hw"),
    (["--hw", "h100", "--accel", "fusemax", "--cascade", "attention-1pass", *SHAPE],
     "exactly one of --hw"),
    (["--hw", "h100", *SHAPE], "--hw needs --cascade"),
    (["--hw", "v100", "--cascade", "attention-1pass", *SHAPE], "unknown GPU 'v100'"),
    (["--hw", "h100", "--cascade", "no-such-cascade", *SHAPE], "no-such-cascade"),
    (["--hw", "h100", "--cascade", "attention-1pass", *SHAPE, "--dtype", "fp7"], "dtype"),
    (["--hw", "a100", "--cascade", "attention-1pass", *SHAPE, "--dtype", "fp8"], "no dense fp8"),
    (["--hw", "h100", "--cascade", "attention-1pass", *SHAPE, "--kernel", "unfused"],
     "iterative"),
    (["--hw", "h100", "--cascade", "attention-1pass-window", *SHAPE], "--size W="),
    (["--hw", "h100", "--cascade", "attention-1pass", *SHAPE, "--layout", "1000"],
     "--layout: 1000 tokens"),
    (["--hw", "h100", "--cascade", "attention-1pass-causal", *SHAPE, "--window", "32x32"],
     "contradict cascade"),
    (["--hw", "h100", "--cascade", "attention-1pass", *SHAPE, "--size", "C"], "NAME=VALUE"),
    (["--hw", "h100", "--cascade", "attention-1pass", *SHAPE, "--size", "C=-1"],
     "positive integer"),
    (["--hw", "h100", "--cascade", "attention-1pass", *SHAPE, "--kv-tiling", "sideways"],
     "--kv-tiling"),
    (["--hw", "h100", "--cascade", "moba-attention", *SHAPE, "--size", "PB=128", "--size",
      "MB=128"], "--tensor BM=FILE"),
    (["--hw", "h100", "--cascade", "moba-attention", *SHAPE, "--size", "PB=128", "--size",
      "MB=128", "--density", "BM=2"], "fraction in (0, 1]"),
    (["--hw", "h100", "--cascade", "moba-attention", *SHAPE, "--size", "PB=128", "--size",
      "MB=128", "--tensor", "BM=/no/such/mask.npy"], "--tensor BM=/no/such/mask.npy"),
])
def test_bad_input_is_one_line_exit_2(args, fragment):
    assert fragment in _error(*args)


def test_sizes_tensors_and_densities(tmp_path):
    mask = tmp_path / "mask.npy"
    import numpy as np

    np.save(mask, np.ones((32, 32)))
    shape = [*SHAPE, "--size", "PB=128", "--size", "MB=128"]
    full = _json("--hw", "h100", "--cascade", "moba-attention", *shape, "--tensor", f"BM={mask}")
    causal = _json("--hw", "h100", "--cascade", "attention-1pass-causal", *SHAPE)
    assert full["flops"] == causal["flops"] and full["problem"]["sizes"] == {"PB": 128, "MB": 128}
    quarter = _json("--hw", "h100", "--cascade", "moba-attention", *shape, "--density", "BM=0.25")
    assert quarter["flops"] == causal["flops"] / 4
    mla = _json("--hw", "h100", "--cascade", "mla-decode", "--seq-q", "1", "--seq-kv", "32768",
                "--batch", "64", "--heads", "128", "--size", "C=512", "--size", "R=64")
    assert mla["problem"]["kv_heads"] == 1 and mla["problem"]["head_dim"] == 576
    assert mla["dram_bytes"] == pytest.approx(64 * 32768 * 576 * 2, rel=0.01)

"""``einsim speedup``: options, JSON contract, errors and the ``--hw`` hook."""

from __future__ import annotations

import json
import sys
import types

import pytest
from typer.testing import CliRunner

from simulator.cli import app

runner = CliRunner()


def _json(*args: str) -> dict:
    result = runner.invoke(app, ["speedup", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_help_documents_every_option():
    result = runner.invoke(app, ["speedup", "--help"])
    assert result.exit_code == 0
    for option in ["--layout", "--window", "--stride", "--dilation", "--causal", "--q-tile",
                   "--kv-tile", "--kv-tiling", "--hw", "--json", "--seq-q", "--causal-dims"]:
        assert option in result.stdout


def test_hunyuan_block_sparse_json():
    doc = _json("--layout", "30x48x80", "--window", "18x24x24", "--stride", "16x8x8",
                "--q-tile", "4x8x8", "--kv-tile", "2x8x8")
    assert doc["block_sparse"] is True and doc["kernel_block_sparse"] is True
    assert doc["flop_bound"] == pytest.approx(115200 / 10368)
    assert doc["tile_bound"] == pytest.approx(900 / 81)
    assert doc["tile_bound_total"] == pytest.approx(900 / 81)
    assert (doc["n_kv_tiles"], doc["max_visited"], doc["total_partial"]) == (900, 81, 0)
    assert doc["tiling"] == "multi-dimensional" and doc["layout"] == [30, 48, 80]


def test_defaults_are_dense_with_blackwell_tiles():
    doc = _json("--layout", "30x48x80")
    assert doc["window"] == [30, 48, 80]
    assert (doc["q_tile"], doc["kv_tile"]) == ([8, 4, 8], [4, 4, 8])
    assert doc["flop_bound"] == doc["tile_bound"] == doc["tile_bound_total"] == 1.0


def test_single_numbers_apply_to_every_dimension_and_flatten_tiles():
    doc = _json("--layout", "256x256", "--window", "80", "--q-tile", "256", "--kv-tile", "128")
    assert doc["window"] == [80, 80] and doc["tiling"] == "flattened"
    assert doc["kernel_block_sparse"] is None
    assert doc["tile_bound"] == pytest.approx(3.2)


def test_llm_causal_32k():
    doc = _json("--layout", "32768", "--causal", "--q-tile", "128", "--kv-tile", "128")
    assert doc["unmasked_pairs"] == 32768 * 32769 // 2
    assert doc["tile_bound"] == 1.0
    assert doc["tile_bound_total"] == pytest.approx(65536 / 32896)
    assert doc["total_partial"] == 256 and doc["block_sparse"] is False


def test_sliding_window_with_kv_cache():
    doc = _json("--layout", "32768", "--window", "4096", "--causal", "--seq-q", "1",
                "--q-tile", "128", "--kv-tile", "128", "--kv-tiling", "dynamic")
    assert doc["seq_q"] == 1 and doc["unmasked_pairs"] == 4096
    assert doc["total_visited"] == 32 and doc["dense_tiles"] == 256


def test_causal_dims_per_dimension():
    doc = _json("--layout", "8x16x16", "--window", "4x8x8", "--causal-dims", "1x0x0")
    assert doc["causal"] == [True, False, False]


def test_text_report():
    result = runner.invoke(app, ["speedup", "--layout", "1024", "--causal", "--q-tile", "128"])
    assert result.exit_code == 0
    assert "visited tiles:        36 of 64 dense" in result.stdout
    assert "tiles (total work):   1.78x" in result.stdout


BAD = [
    (["--layout", "30x"], "--layout: expected 1 to 3 positive integers"),
    (["--layout", "30", "--window", "31"], "window: expected window <= layout extent"),
    (["--layout", "30", "--window", "8", "--stride", "9"], "stride: expected 1 <= stride <= window"),
    (["--layout", "8x8", "--window", "2x2x2"], "window: expected 2 value(s)"),
    (["--layout", "64", "--kv-tiling", "halo"], "kv_tiling: expected 'static' or 'dynamic'"),
    (["--layout", "64", "--seq-q", "8"], "seq_q: seq_q != seq_kv is supported only"),
    (["--layout", "64", "--seq-q", "8x8"], "--seq-q: expected one positive integer"),
    (["--layout", "8x8", "--causal-dims", "yes"], "--causal-dims: expected 0/1"),
    (["--layout", "8x8x8", "--q-tile", "4x4"], "q_tile: expected rank 1"),
    (["--layout", "0"], "--layout: expected integers >= 1"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_values_are_one_line_errors(args, message):
    result = runner.invoke(app, ["speedup", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("einsim: error: ")
    assert message in lines[0]
    assert result.stdout == ""


def test_hw_without_gpu_model_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "simulator.gpu", None)
    result = runner.invoke(app, ["speedup", "--layout", "1024", "--hw", "h100", "--json"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "einsim: error: `--hw` needs the GPU model (simulator.gpu), which is not available yet"
    )


def test_hw_hook_adds_predicted(monkeypatch):
    fake = types.ModuleType("simulator.gpu")
    fake.predict_sparse_speedup = lambda hw, counts: 1.5 if hw == "h100" else 0.0
    monkeypatch.setitem(sys.modules, "simulator.gpu", fake)
    doc = _json("--layout", "1024", "--causal", "--hw", "h100")
    assert doc["predicted"] == 1.5
    text = runner.invoke(app, ["speedup", "--layout", "1024", "--hw", "h100"]).stdout
    assert "predicted speedup on h100: 1.5" in text


def test_seq_q_is_the_total_query_count_of_a_layout():
    doc = _json("--layout", "30x48x80", "--window", "18x24x24", "--q-tile", "4x4x8", "--kv-tile", "2x4x16")
    assert doc["seq_q"] == doc["seq_kv"] == 30 * 48 * 80
    assert doc["dense_pairs"] == doc["seq_q"] * doc["seq_kv"]

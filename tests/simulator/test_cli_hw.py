"""Tests for ``einsim hw`` and ``einsim models`` through typer's CliRunner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from simulator.cli import app

runner = CliRunner()
BUILTIN_DIR = Path(__file__).resolve().parents[2] / "hardware_specs" / "gpus"
# gpus_peers_traces.md A.2 dense FP16 TFLOPS; h800 = H100 SXM5 (NVIDIA H800 product brief),
# mi300x from the AMD Instinct MI300X data sheet (not in the reference)
VENDOR_FP16_TFLOPS = {"a100-sxm4-40gb": 312, "a100-sxm4-80gb": 312, "l40s": 362.05,
                      "h100-sxm5": 989.4, "h200": 989.4, "b200": 2250, "gb200": 2500,
                      "h800": 989.4, "mi300x": 1307.4}


def invoke(*args: str):
    return runner.invoke(app, list(args))


def assert_user_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    stderr = result.stderr.strip()
    assert stderr.startswith("einsim: error: ") and "\n" not in stderr, stderr
    assert "Traceback" not in result.output and result.stdout == ""
    for fragment in fragments:
        assert fragment in stderr, (fragment, stderr)
    return stderr


def bad_yaml(tmp_path: Path, edit) -> Path:
    doc = yaml.safe_load((BUILTIN_DIR / "h100-sxm5.yaml").read_text())
    edit(doc)
    path = tmp_path / "mygpu.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def snake_case_keys(node) -> bool:
    if isinstance(node, dict):
        return all(re.fullmatch(r"[a-z0-9_]+", k) and snake_case_keys(v) for k, v in node.items())
    if isinstance(node, list):
        return all(snake_case_keys(v) for v in node)
    return True


# --------------------------------------------------------------------------- hw


def test_hw_lists_every_gpu_in_a_table():
    result = invoke("hw")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["name", "architecture", "SMs"]
    for name in VENDOR_FP16_TFLOPS:
        assert any(line.startswith(name + " ") for line in lines), name
    h100 = next(line for line in lines if line.startswith("h100-sxm5"))
    assert "989.4" in h100 and "1978.9" in h100 and "3.35" in h100 and "228 KiB" in h100


def test_hw_json_is_one_document_in_si_units():
    result = invoke("hw", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert snake_case_keys(document)
    gpus = {g["name"]: g for g in document["gpus"]}
    assert set(gpus) == set(VENDOR_FP16_TFLOPS)
    for name, tflops in VENDOR_FP16_TFLOPS.items():
        assert gpus[name]["fp16_dense_flops"] == pytest.approx(tflops * 1e12, rel=0.02)
    assert gpus["a100-sxm4-80gb"]["fp8_dense_flops"] is None
    assert gpus["h100-sxm5"]["l2_bytes"] == 50 * 2**20
    assert gpus["h100-sxm5"]["boost_clock_hz"] == 1.98e9


def test_hw_show_text_has_values_and_sources():
    result = invoke("hw", "show", "H100")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("h100-sxm5: Hopper")
    assert re.search(r"sm_count\s+132 SM\s+gpus_peers_traces\.md A\.1 \[O,S2\]", out)
    assert re.search(r"clocks\.tensor\s+1\.83 GHz", out)
    assert "tensor fp16 dense: 989.4 TFLOP/s" in out
    assert "66.91 TFLOP/s at the boost clock" in out


def test_hw_show_json_has_all_fields():
    result = invoke("hw", "show", "b200", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert snake_case_keys(document)
    assert document["sm_count"] == 148 and document["tmem_bytes_per_sm"] == 256 * 1024
    assert document["dram_bytes_per_s"] == pytest.approx(7.7e12)
    assert document["tensor_flop_per_clk_per_sm"]["fp4"] == 32768
    assert document["sparse_tensor_flop_per_clk_per_sm"]["fp16"] == 16384
    assert document["exp_per_clk_per_sm"] == 16
    assert "S8" in document["sources"]["exp_per_clk_per_sm"]


def test_hw_show_accepts_a_path(tmp_path):
    path = bad_yaml(tmp_path, lambda d: d.update(name="custom-gpu"))
    result = invoke("hw", "show", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "custom-gpu"


def test_output_is_deterministic():
    assert invoke("hw", "--json").stdout == invoke("hw", "--json").stdout
    assert invoke("hw", "show", "l40s").stdout == invoke("hw", "show", "l40s").stdout


# --------------------------------------------------------------------------- errors


def test_unknown_gpu_is_a_user_error():
    assert_user_error(invoke("hw", "show", "v100"), "unknown GPU 'v100'", "h100-sxm5", "b200")


def _set_negative(doc):
    doc["dram"]["bandwidth"]["value"] = -3350


def _drop_l2(doc):
    del doc["l2"]["capacity"]


def _wrong_unit(doc):
    doc["dram"]["bandwidth"]["unit"] = "GB"


@pytest.mark.parametrize(("edit", "fragments"), [
    (_set_negative, ["mygpu.yaml", "'dram.bandwidth.value'", "positive number", "-3350"]),
    (_drop_l2, ["mygpu.yaml", "missing key 'l2.capacity'"]),
    (_wrong_unit, ["mygpu.yaml", "'dram.bandwidth.unit'", "B/s, MB/s, GB/s, TB/s", "'GB'"]),
])
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_bad_gpu_yaml_is_a_user_error(tmp_path, edit, fragments, json_flag):
    path = bad_yaml(tmp_path, edit)
    assert_user_error(invoke("hw", "show", str(path), *json_flag), *fragments)


def test_malformed_yaml_is_a_user_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [h100\nsm_count: 3\n")
    assert_user_error(invoke("hw", "show", str(path)), "broken.yaml", "malformed YAML")


def test_bad_file_on_search_path_breaks_listing_cleanly(tmp_path, monkeypatch):
    bad_yaml(tmp_path, _wrong_unit)
    monkeypatch.setenv("EINSIM_HW_PATH", str(tmp_path))
    assert_user_error(invoke("hw"), "mygpu.yaml", "'dram.bandwidth.unit'")


# --------------------------------------------------------------------------- models


def test_models_table_and_json():
    result = invoke("models")
    assert result.exit_code == 0, result.output
    llama = next(line for line in result.stdout.splitlines() if line.startswith("llama-3-8b"))
    assert llama.split()[1:8] == ["4096", "32", "8", "4", "128", "14336", "32"]
    assert "MLA" in result.stdout and "layout 30x48x80" in result.stdout
    document = json.loads(invoke("models", "--json").stdout)
    assert snake_case_keys(document)
    assert len(document["models"]) == 13
    deepseek = next(m for m in document["models"] if m["name"] == "deepseek-v3")
    assert deepseek["mla"]["kv_lora_rank"] == 512


def test_models_show_one_and_config_path(tmp_path):
    result = invoke("models", "Llama-3-70B", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["group_size"] == 8
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"hidden_size": 768, "num_attention_heads": 12,
                                  "num_hidden_layers": 12}))
    result = invoke("models", str(config), "--json")
    assert json.loads(result.stdout)["head_dim"] == 64


def test_models_errors(tmp_path):
    assert_user_error(invoke("models", "gpt-5"), "unknown model 'gpt-5'", "llama-3-8b")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"num_attention_heads": 12, "num_hidden_layers": 12}))
    assert_user_error(invoke("models", str(config)), str(config), "missing key 'hidden_size'")


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize(("args", "summary"), [
    (["hw", "--help"], "GPU specs"),
    (["hw", "show", "--help"], "Print every field of one GPU spec"),
    (["models", "--help"], "List the model-shape catalogue"),
])
def test_every_command_has_help(args, summary):
    result = invoke(*args)
    assert result.exit_code == 0 and summary in result.stdout
    assert "--json" in result.stdout and "Print one JSON document" in result.stdout


def test_commands_are_listed_in_top_level_help():
    out = invoke("--help").stdout
    assert re.search(r"\bhw\b", out) and re.search(r"\bmodels\b", out)


def test_l2_is_listed_in_mib_for_every_gpu():
    result = runner.invoke(app, ["hw"])
    assert result.exit_code == 0
    gpus = json.loads(runner.invoke(app, ["hw", "--json"]).output)["gpus"]
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:] if line.strip()}
    for gpu in gpus:
        expected = f"{gpu['l2_bytes'] / 2**20:.4g} MiB"
        assert f" {expected} " in rows[gpu["name"]], (gpu["name"], expected)

"""The layer model: GEMM work and bytes against direct counts, memory and the largest batch
against brute force, the HF config reader (MoE), the CLI contract and the QServe table."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.errors import SpecError
from simulator.hardware import load_gpu
from simulator.layer import PRECISIONS, layer_spec, layer_step, max_batch, memory_bytes, precision
from simulator.layer.kernels import gemm
from simulator.layer.serving import serving_throughput

runner = CliRunner()

# Llama-3-8B from its config.json: hidden 4096, 32 heads, 8 KV heads of 128, FFN 14336.
LLAMA3_8B_PARAMS_PER_LAYER = 4096 * (32 + 2 * 8) * 128 + 32 * 128 * 4096 + 3 * 4096 * 14336


@pytest.mark.parametrize("m", [1, 17, 4096])
@pytest.mark.parametrize("name", sorted(PRECISIONS))
def test_gemm_flops_and_bytes(m, name):
    prec = PRECISIONS[name]
    cost = gemm(load_gpu("a100"), "g", m, 6144, 4096, prec)
    assert cost.flops == 2 * m * 6144 * 4096
    bits = {"fp16": 16, "int8": 8, "int4": 4}[prec.weight]
    assert cost.dram_bytes >= 6144 * 4096 * bits / 8      # the weights at least once
    assert cost.time_s >= cost.dram_bytes / load_gpu("a100").dram_bytes_per_s


def test_layer_gemm_flops_are_the_parameter_count():
    step = layer_step("h100", "llama-3-8b", "prefill", 512, 2)
    per_layer = sum(k.flops for k in step.kernels if k.kind == "gemm" and k.count == 32)
    assert per_layer == 2 * 1024 * LLAMA3_8B_PARAMS_PER_LAYER
    assert layer_spec("llama-3-8b").weight_params_per_layer == LLAMA3_8B_PARAMS_PER_LAYER
    lm_head = next(k for k in step.kernels if k.name == "lm-head")
    assert lm_head.flops == 2 * 2 * 128256 * 4096 and lm_head.count == 1


def test_memory_and_largest_batch_by_brute_force():
    spec, prec = layer_spec("llama-3-8b"), PRECISIONS["w4a8kv4"]
    weights, kv, _ = memory_bytes(spec, prec, "decode", 1536, 3)
    assert kv == pytest.approx(3 * 1536 * 32 * 2 * 8 * (128 * 0.5 + 4))   # KV4 + FP16 scale/zero
    # layers in 4 bits + a 2-byte scale/zero per 128 weights; FP16 embedding and LM head
    assert weights == pytest.approx(32 * LLAMA3_8B_PARAMS_PER_LAYER * (0.5 + 2 / 128)
                                    + 2 * 128256 * 4096 * 2)
    capacity = layer_step("a100", spec, "decode", 1536, 1, prec).capacity_bytes
    best = max_batch("a100", spec, 1536, prec)
    assert sum(memory_bytes(spec, prec, "decode", 1536, best)) <= capacity
    assert sum(memory_bytes(spec, prec, "decode", 1536, best + 1)) > capacity
    assert max_batch("l40s", "qwen1.5-72b", 1536, "fp16") == 0


def test_attention_share_and_fit():
    short = layer_step("h100", "llama-3-8b", "prefill", 1024, 1)
    long = layer_step("h100", "llama-3-8b", "prefill", 32768, 1)
    assert 0 < short.attention_share < long.attention_share < 1
    decode = [layer_step("h100", "llama-3-8b", "decode", 4096, b) for b in (1, 16, 64)]
    assert decode[0].time_s < decode[1].time_s < decode[2].time_s
    assert decode[0].fits and not layer_step("h100", "llama-3-8b", "decode", 131072, 64).fits
    assert all(k.bound in ("tensor", "fp32", "dram", "exp", "smem", "launch")
               for k in decode[1].kernels)


def test_quantised_kv_shrinks_decode_attention_on_a_bandwidth_bound_gpu():
    fp16 = layer_step("l40s", "llama-3-8b", "decode", 4096, 32, precision("fp16"))
    kv4 = layer_step("l40s", "llama-3-8b", "decode", 4096, 32, precision("fp16", kv_dtype="int4"))
    att = {s.precision.kv: next(k for k in s.kernels if k.kind == "attention") for s in (fp16, kv4)}
    assert att["int4"].time_s < 0.5 * att["fp16"].time_s
    assert kv4.kv_cache_bytes < 0.3 * fp16.kv_cache_bytes


def test_moe_from_a_config_json(tmp_path):
    config = {"hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
              "intermediate_size": 14336, "num_hidden_layers": 32, "hidden_act": "silu",
              "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": 32000}
    path = tmp_path / "mixtral" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(config))
    spec = layer_spec(str(path))
    assert (spec.experts, spec.active_experts, spec.mlp, spec.vocab) == (8, 2, "gated", 32000)
    step = layer_step("h100", str(path), "prefill", 1024, 1)
    up = next(k for k in step.kernels if k.name == "mlp-up")
    assert up.flops == pytest.approx(2 * 1024 * 2 * (2 * 14336) * 4096, rel=0.01)  # 2 experts/token
    assert any(k.name == "moe-router" for k in step.kernels)


def test_precision_errors():
    with pytest.raises(SpecError, match="--act-dtype"):
        precision("int8", "fp16")
    with pytest.raises(SpecError, match="--kv-dtype"):
        precision("fp16", kv_dtype="int2")
    with pytest.raises(SpecError, match="--phase"):
        layer_step("h100", "llama-3-8b", "train", 1024, 1)


def test_cli_layer_json_contract():
    result = runner.invoke(app, ["layer", "--hw", "h100", "--model", "llama-3-8b", "--phase",
                                 "decode", "--seq-len", "4096", "--batch", "8", "--weight-dtype",
                                 "int4", "--act-dtype", "int8", "--kv-dtype", "int4", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"time_s", "attention_share", "memory_bytes", "fits", "kernels"} <= set(doc)
    assert doc["precision"]["name"] == "W4A8KV4" and doc["fits"] is True
    assert {"name", "kind", "time_s", "bound"} <= set(doc["kernels"][0])
    assert doc["time_s"] == pytest.approx(sum(k["time_s"] * k["count"] for k in doc["kernels"]))
    bad = runner.invoke(app, ["layer", "--hw", "h100", "--model", "llama-9"])
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1


def test_reproduce_qserve_json():
    result = runner.invoke(app, ["reproduce", "qserve", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["rows"]) == 16 and len(doc["speedups"]) == 4
    assert {"gpu", "model", "precision", "batch", "tokens_per_s"} <= set(doc["rows"][0])
    rows = {(r["gpu"], r["model"], r["system"]): r for r in doc["rows"]}
    for gpu in ("a100-sxm4-80gb", "l40s"):   # 4-bit weights and KV fit more sequences
        assert rows[(gpu, "llama-3-8b", "w4a8kv4")]["batch"] >= rows[(gpu, "llama-3-8b", "fp16")]["batch"]


def test_serving_point_matches_its_steps():
    point = serving_throughput("l40s", "llama-3-8b", "w8a8")
    decode = layer_step("l40s", "llama-3-8b", "decode", 1024 + 256, point.batch, "w8a8")
    assert point.decode_step_s == decode.time_s
    assert point.tokens_per_s == pytest.approx(point.batch * 512 / (point.prefill_s + 512 * decode.time_s))


def test_serving_sweep_evaluator():
    import pandas as pd

    from simulator.layer.sweep import SERVING_DEFAULTS, evaluate_serving
    from simulator.sweep.registry import get_evaluator

    assert get_evaluator("serving").evaluate is evaluate_serving
    rows = pd.DataFrame({"hardware": ["l40s", "l40s", "l40s"], "model": ["llama-3-8b",
                         "llama-3-8b", "qwen1.5-72b"], "precision": ["w8a8", "w8a8", "fp16"]})
    for name, value in SERVING_DEFAULTS.items():
        rows[name] = rows.get(name, value)
    out = evaluate_serving(rows)
    assert out["tokens_per_s"][0] == serving_throughput("l40s", "llama-3-8b", "w8a8").tokens_per_s
    assert out["tokens_per_s"][1] == out["tokens_per_s"][0]
    assert out["feasible"].tolist() == [True, True, False]       # 144 GB of FP16 weights
    rows.loc[0, "precision"] = "w2a2"
    with pytest.raises(SpecError, match="column 'precision'"):
        evaluate_serving(rows)

"""Tests for simulator.workload: AttentionProblem, the model catalogue and HF config import.

Model rows are typed in from ../shared/reference/models.md; KV byte rules and MLA numbers
from attention_variants.md sections 7 and 17; FLOP conventions from gpus_peers_traces.md C.1.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import SpecError
from simulator.workload import (
    INPUT_DTYPES,
    KV_DTYPES,
    AttentionProblem,
    ModelShape,
    causal_fraction,
    get_model,
    list_models,
    load_hf_config,
    problem_from_model,
)

# models.md: name -> (d_model, H, Hkv, E, S (ffn), L)
MODELS_MD = {
    "bert-base": (768, 12, 12, 64, 3072, 12),
    "trxl-wt103": (1024, 16, 16, 64, 4096, 18),
    "t5-small": (512, 8, 8, 64, 2048, 6),
    "xlm": (2048, 16, 16, 128, 8192, 12),
    "llama-2-7b": (4096, 32, 32, 128, 11008, 32),
    "llama-3-8b": (4096, 32, 8, 128, 14336, 32),
    "llama-3-70b": (8192, 64, 8, 128, 28672, 80),
    "mistral-7b": (4096, 32, 8, 128, 14336, 32),
    "qwen1.5-72b": (8192, 64, 64, 128, 24576, 80),
    "deepseek-v3": (7168, 128, 128, 192, 18432, 61),
    "flux-4k": (3072, 24, 24, 128, None, 57),
    "hunyuanvideo": (3072, 24, 24, 128, None, None),
    "cosmos-7b": (4096, 32, 32, 128, None, None),
}
LAYOUTS = {"flux-4k": (256, 256), "hunyuanvideo": (30, 48, 80), "cosmos-7b": (16, 44, 80)}
QUERY_NAMES = ["llama-3-8b", "Llama-3-70B", "qwen1.5-72b", "bert-base", "xlm", "t5-small",
               "trxl-wt103", "mistral-7b", "llama-2-7b", "deepseek-v3", "flux-4k",
               "hunyuanvideo", "cosmos-7b", "LLAMA_3_8B", "Mistral-7B-v0.1"]

sizes = st.integers(min_value=1, max_value=4096)
dims = st.sampled_from([32, 64, 96, 128, 192, 256])


# --------------------------------------------------------------------------- FLOPs


@given(b=st.integers(1, 64), h=st.integers(1, 128), p=sizes, m=sizes, e=dims)
def test_noncausal_flops_is_fa_convention(b, h, p, m, e):
    problem = AttentionProblem(b, h, 1, p, m, e)
    assert problem.flops == 4 * b * h * p * m * e


@given(b=st.integers(1, 64), h=st.integers(1, 128), n=sizes, e=dims)
def test_causal_square_flops_is_half(b, h, n, e):
    problem = AttentionProblem(b, h, h, n, n, e, causal=True)
    assert problem.flops == 4 * b * h * n * n * e / 2


@given(p=sizes, m=sizes, e=dims, f=dims)
def test_flops_with_different_head_dims(p, m, e, f):
    problem = AttentionProblem(2, 8, 2, p, m, e, head_dim_v=f)
    assert problem.flops == 2 * 2 * 8 * p * m * (e + f)


def test_fa_benchmark_sweep_flops():
    # C.1: 16k tokens total, hidden 2048, heads = 2048 / d; FLOPs = 4 * seqlen^2 * d * H * B
    for seqlen in (512, 1024, 2048, 4096, 8192, 16384):
        for head_dim in (64, 128, 256):
            batch, heads = 16384 // seqlen, 2048 // head_dim
            problem = AttentionProblem(batch, heads, heads, seqlen, seqlen, head_dim)
            assert problem.flops == 4 * 16384 * seqlen * 2048


@given(p=sizes, m=sizes)
def test_causal_fraction_bounds_and_visible_pairs(p, m):
    fraction = causal_fraction(p, m)
    assert 0 < fraction <= 1
    # exact bottom-right-aligned count, differs from the FA convention only by the half diagonal
    visible = sum(min(m, max(0, i + m - p + 1)) for i in range(p))
    half_diagonal = min(p, m) / 2
    assert fraction * p * m == pytest.approx(visible - half_diagonal)


def test_causal_fraction_special_cases_and_arrays():
    assert causal_fraction(1, 8192) == pytest.approx(1 - 1 / 16384)  # decode sees all keys
    assert causal_fraction(4096, 4096) == 0.5
    np.testing.assert_allclose(causal_fraction(np.array([1, 2, 4]), np.array([4, 4, 2])),
                               [0.875, 0.75, 0.25])


def test_sparsity_is_opaque_and_ignored_by_flops():
    base = AttentionProblem(1, 8, 8, 128, 128, 64)
    with_sparsity = dataclasses.replace(base, sparsity={"window": 16})
    assert with_sparsity.flops == base.flops
    assert hash(with_sparsity) == hash(base)  # unhashable sparsity still allows hashing


# --------------------------------------------------------------------------- bytes


@pytest.mark.parametrize("head_dim", [64, 128, 256])
def test_int4_kv_bytes_follow_qserve_rule(head_dim):
    problem = AttentionProblem(1, 32, 8, 1, 1024, head_dim, kv_dtype="int4")
    assert problem.kv_bytes_per_element == pytest.approx(0.5 + 4 / head_dim)
    assert problem.k_bytes_per_element == problem.v_bytes_per_element


def test_kv_byte_table():
    def per_element(kv_dtype):
        return AttentionProblem(1, 1, 1, 1, 1, 128, kv_dtype=kv_dtype).kv_bytes_per_element

    assert per_element("int4") == 0.53125                   # 17(c): 0.53125 B at E = 128
    assert per_element("int8") == pytest.approx(1.03, abs=0.002)  # 17(c): KV8 ~ 1.03 B
    assert per_element("fp16") == per_element("bf16") == 2
    assert per_element("fp8") == 1 + 2 / 128
    assert 2 / per_element("int4") == pytest.approx(3.76, abs=0.01)  # "3.76x smaller than FP16"


def test_kv_cache_bytes_llama3_8b():
    problem = problem_from_model("llama-3-8b", batch=4, seq_q=1, seq_kv=8192)
    # per layer: B * Hkv * M * (E + F) * 2 bytes
    assert problem.kv_cache_bytes == 4 * 8 * 8192 * 256 * 2
    assert problem.group_size == 4 and problem.input_bytes_per_element == 2


def test_kv_dtype_defaults_to_input_dtype_and_aliases():
    problem = AttentionProblem(1, 4, 4, 8, 8, 64, dtype="BFloat16")
    assert problem.dtype == problem.kv_dtype == "bf16"
    assert AttentionProblem(1, 4, 4, 8, 8, 64, dtype="FP8").kv_dtype == "fp8"
    assert set(INPUT_DTYPES) <= set(KV_DTYPES)


@given(e=dims, f=dims, kv=st.sampled_from(sorted(KV_DTYPES)), m=sizes)
def test_kv_bytes_consistency(e, f, kv, m):
    problem = AttentionProblem(2, 8, 4, 1, m, e, head_dim_v=f, kv_dtype=kv)
    elements_k, elements_v = 2 * 4 * m * e, 2 * 4 * m * f
    total = elements_k * problem.k_bytes_per_element + elements_v * problem.v_bytes_per_element
    assert problem.kv_cache_bytes == pytest.approx(total)
    assert problem.kv_bytes_per_element >= KV_DTYPES[kv].bits / 8


# --------------------------------------------------------------------------- validation

BAD_PROBLEMS = [
    ({"heads": 32, "kv_heads": 5}, r"heads \(32\) is not divisible by kv_heads \(5\)"),
    ({"seq_q": 0}, r"key 'seq_q': expected a positive integer; got 0"),
    ({"batch": -1}, r"key 'batch'"),
    ({"head_dim_qk": 64.0}, r"key 'head_dim_qk'"),
    ({"seq_kv": True}, r"key 'seq_kv'"),
    ({"head_dim_v": 0}, r"key 'head_dim_v'"),
    ({"dtype": "fp12"}, r"key 'dtype': expected one of fp32, fp16, bf16, fp8, int8; got 'fp12'"),
    ({"kv_dtype": "int3"}, r"key 'kv_dtype': expected one of .*int4; got 'int3'"),
    ({"dtype": "int4"}, r"key 'dtype'"),
    ({"causal": "yes"}, r"key 'causal': expected true or false"),
    ({"shared_kv": True, "head_dim_v": 256}, r"shared_kv needs head_dim_v"),
]


@pytest.mark.parametrize(("change", "pattern"), BAD_PROBLEMS)
def test_bad_problem_raises_one_line_spec_error(change, pattern):
    fields = {"batch": 1, "heads": 32, "kv_heads": 8, "seq_q": 16, "seq_kv": 16,
              "head_dim_qk": 128, **change}
    with pytest.raises(SpecError, match=pattern) as info:
        AttentionProblem(**fields)
    assert "\n" not in str(info.value)


def test_problem_is_frozen():
    problem = AttentionProblem(1, 1, 1, 1, 1, 64)
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.batch = 2  # type: ignore[misc]
    assert problem.head_dim_v == 64 and "E=64" in str(problem)


# --------------------------------------------------------------------------- catalogue


def test_catalogue_matches_models_md():
    assert list_models() == list(MODELS_MD)
    for name, (d_model, heads, kv_heads, head_dim, ffn, layers) in MODELS_MD.items():
        model = get_model(name)
        assert (model.d_model, model.heads, model.kv_heads, model.head_dim, model.ffn_hidden,
                model.layers) == (d_model, heads, kv_heads, head_dim, ffn, layers), name
        assert model.source.startswith("models.md"), name
        assert model.token_layout == LAYOUTS.get(name)


@pytest.mark.parametrize("query", QUERY_NAMES)
def test_catalogue_names_are_case_insensitive(query):
    assert get_model(query).name.replace("_", "-").lower() in MODELS_MD


def test_special_model_fields():
    assert get_model("mistral-7b").sliding_window == 4096
    assert get_model("llama-3-8b").group_size == 4 and get_model("llama-3-70b").group_size == 8
    assert get_model("flux-4k").tokens == 256 * 256
    assert get_model("cosmos-7b").tokens == 16 * 44 * 80
    deepseek = get_model("deepseek-v3")
    assert deepseek.is_mla and deepseek.head_dim == 128 + 64 and deepseek.head_dim_v == 128
    assert (deepseek.mla.kv_lora_rank, deepseek.mla.q_lora_rank) == (512, 1536)
    assert not get_model("llama-2-7b").is_mla


def test_unknown_model_lists_known():
    with pytest.raises(SpecError, match=r"unknown model 'gpt-5'; known: bert-base, .*cosmos-7b"):
        get_model("gpt-5")


def test_mla_absorbed_cache_and_flops():
    # 7(c): cache 576 values/token/layer; BF16 x 61 layers ~ 70.3 KB/token; 56.9x below MHA
    decode = problem_from_model("deepseek-v3", batch=1, seq_q=1, seq_kv=1, dtype="bf16")
    assert decode.kv_cache_bytes * 61 == pytest.approx(70.3e3, rel=1e-3)
    mha = AttentionProblem(1, 128, 128, 1, 1, 128, dtype="bf16")  # 2 H d_h = 32768 values
    assert mha.kv_cache_bytes / decode.kv_cache_bytes == pytest.approx(56.9, abs=0.05)
    # absorbed decode attention FLOPs per key: 2 H (d_c + d_R) + 2 H d_c = 278,528
    decode = problem_from_model("deepseek-v3", seq_q=1, seq_kv=4096)
    assert decode.flops == 278_528 * 4096
    # naive prefill: 2 H M P (d_nope + d_R + d_v), halved when causal
    prefill = problem_from_model("deepseek-v3", seq_q=1024, causal=True, mla_form="naive")
    assert prefill.flops == 2 * 128 * 1024 * 1024 * (128 + 64 + 128) / 2
    assert prefill.kv_heads == 128
    with pytest.raises(SpecError, match="mla_form"):
        problem_from_model("deepseek-v3", seq_q=1, mla_form="fused")


def test_problem_from_model_defaults():
    flux = problem_from_model("flux-4k", batch=2)
    assert (flux.seq_q, flux.seq_kv, flux.heads, flux.head_dim_qk) == (65536, 65536, 24, 128)
    llama = problem_from_model("Llama-3-8B", batch=1, seq_q=1, seq_kv=4096, kv_dtype="int4")
    assert llama.kv_dtype == "int4" and llama.dtype == "fp16"
    with pytest.raises(SpecError, match="has no token layout; give seq_q"):
        problem_from_model("bert-base")
    shape = ModelShape("tiny", d_model=64, heads=4, kv_heads=2, head_dim=16)
    assert problem_from_model(shape, seq_q=8).group_size == 2


def test_bad_model_shape():
    with pytest.raises(SpecError, match=r"model 'bad': heads \(6\) is not divisible"):
        ModelShape("bad", d_model=64, heads=6, kv_heads=4, head_dim=16)
    with pytest.raises(SpecError, match="token_layout"):
        ModelShape("bad", d_model=64, heads=4, kv_heads=4, head_dim=16, token_layout=(0, 4))


# --------------------------------------------------------------------------- HF configs


def write_config(tmp_path, config, folder="model"):
    directory = tmp_path / folder
    directory.mkdir(exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(config))
    return path


LLAMA3_8B_CONFIG = {
    "_name_or_path": "meta-llama/Meta-Llama-3-8B", "hidden_size": 4096,
    "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
    "num_hidden_layers": 32, "rope_theta": 500000.0,
}


def test_llama_config_matches_catalogue(tmp_path):
    shape = load_hf_config(write_config(tmp_path, LLAMA3_8B_CONFIG))
    catalogue = get_model("llama-3-8b")
    assert dataclasses.replace(shape, name=catalogue.name) == catalogue
    assert shape.name == "meta-llama/Meta-Llama-3-8B"


def test_bert_and_t5_style_configs(tmp_path):
    bert = load_hf_config(write_config(tmp_path, {
        "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072,
        "num_hidden_layers": 12}, "bert"))
    assert (bert.name, bert.kv_heads, bert.head_dim, bert.ffn_hidden) == ("bert", 12, 64, 3072)
    t5 = load_hf_config(write_config(tmp_path, {
        "d_model": 512, "num_heads": 8, "d_kv": 64, "d_ff": 2048, "num_layers": 6}, "t5"))
    assert (t5.d_model, t5.heads, t5.head_dim, t5.layers) == (512, 8, 64, 6)


def test_sliding_window_and_explicit_head_dim(tmp_path):
    config = {**LLAMA3_8B_CONFIG, "sliding_window": 4096, "head_dim": 256}
    assert load_hf_config(write_config(tmp_path, config)).sliding_window == 4096
    assert load_hf_config(write_config(tmp_path, config)).head_dim == 256
    disabled = {**config, "use_sliding_window": False}
    assert load_hf_config(write_config(tmp_path, disabled)).sliding_window is None


def test_deepseek_style_mla_config(tmp_path):
    config = {"hidden_size": 7168, "num_attention_heads": 128, "num_key_value_heads": 128,
              "intermediate_size": 18432, "num_hidden_layers": 61, "kv_lora_rank": 512,
              "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
              "v_head_dim": 128}
    shape = load_hf_config(write_config(tmp_path, config))
    catalogue = get_model("deepseek-v3")
    assert (shape.head_dim, shape.head_dim_v, shape.mla) == (192, 128, catalogue.mla)


def test_get_model_and_problem_accept_config_paths(tmp_path):
    path = write_config(tmp_path, LLAMA3_8B_CONFIG)
    assert get_model(str(path)).kv_heads == 8
    assert problem_from_model(path, seq_q=16).group_size == 4


BAD_CONFIGS = [
    ({k: v for k, v in LLAMA3_8B_CONFIG.items() if k != "hidden_size"},
     r"config\.json: missing key 'hidden_size' \(also accepted: d_model"),
    ({k: v for k, v in LLAMA3_8B_CONFIG.items() if k != "num_attention_heads"},
     r"missing key 'num_attention_heads'"),
    ({k: v for k, v in LLAMA3_8B_CONFIG.items() if k != "num_hidden_layers"},
     r"missing key 'num_hidden_layers'"),
    ({**LLAMA3_8B_CONFIG, "num_key_value_heads": 5},
     r"key 'num_key_value_heads': expected a divisor of the heads \(32\); got 5"),
    ({**LLAMA3_8B_CONFIG, "num_attention_heads": 0},
     r"key 'num_attention_heads': expected a positive integer; got 0"),
    ({**LLAMA3_8B_CONFIG, "hidden_size": 4100},
     r"missing key 'head_dim' and hidden size \(4100\) is not divisible"),
    ({**LLAMA3_8B_CONFIG, "kv_lora_rank": 512}, r"key 'qk_nope_head_dim'"),
]


@pytest.mark.parametrize(("config", "pattern"), BAD_CONFIGS)
def test_bad_config_names_file_and_key(tmp_path, config, pattern):
    path = write_config(tmp_path, config)
    with pytest.raises(SpecError, match=pattern) as info:
        load_hf_config(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_malformed_and_missing_config(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"hidden_size": 12,')
    with pytest.raises(SpecError, match=r"malformed JSON"):
        load_hf_config(path)
    path.write_text("[1, 2]")
    with pytest.raises(SpecError, match=r"expected a JSON object"):
        load_hf_config(path)
    with pytest.raises(SpecError, match="not found"):
        load_hf_config(tmp_path / "missing" / "config.json")


def test_group_size_property_holds_for_catalogue():
    for name in list_models():
        model = get_model(name)
        assert model.heads == model.group_size * model.kv_heads
        assert math.prod(model.token_layout or (1,)) == (model.tokens or 1)

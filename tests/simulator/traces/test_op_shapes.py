"""Shapes from recorded CPU-op arguments, one case per op schema.

Argument lists follow the op schemas in PyTorch's native_functions.yaml; the aiter case
quotes the recorded arguments of sglang_Qwen3-8B_prefilldecode.json.gz (TraceLens, MIT).
"""

import pytest

from simulator.traces.op_shapes import batch_from_ranges, extract, refine_from_kernel, torch_dtype
from simulator.traces.record import AttentionShape

BF16 = "c10::BFloat16"


def _args(dims, concrete, types=None):
    return {"Input Dims": dims, "Concrete Inputs": concrete,
            "Input type": types or [BF16] * 3 + ["Scalar"] * (len(concrete) - 3)}


def _tuple(shape):
    return (shape.batch, shape.heads, shape.kv_heads, shape.seq_q, shape.seq_kv, shape.head_dim,
            shape.head_dim_v, shape.causal)


def test_flash_forward_bshd_gqa_and_window():
    dims = [[2, 300, 32, 128], [2, 900, 8, 128], [2, 900, 8, 128]] + [[]] * 12
    concrete = ["", "", "", "", "", "300", "900", "0.", "True", "False", "", "127", "0", "", ""]
    shape = extract("aten::_flash_attention_forward", _args(dims, concrete), ())
    assert _tuple(shape) == (2, 32, 8, 300, 900, 128, 128, True)
    assert shape.window == 128


def test_flash_forward_varlen_uniform_and_ragged():
    dims = [[4096, 16, 64], [4096, 16, 64], [4096, 16, 64], [5], [5]] + [[]] * 10
    concrete = ["", "", "", "", "", "1024", "1024", "0.", "False", "False", "", "-1", "-1", "", ""]
    shape = extract("aten::_flash_attention_forward", _args(dims, concrete), ())
    assert _tuple(shape) == (4, 16, 16, 1024, 1024, 64, 64, False) and shape.note == ""
    concrete[5] = concrete[6] = "2000"
    ragged = extract("aten::_flash_attention_forward", _args(dims, concrete), ())
    assert ragged.seq_q == 1024 and "mean lengths" in ragged.note


def test_sdpa_ops_bhsd_with_their_causal_positions():
    dims = [[8, 16, 2048, 64], [8, 4, 4096, 64], [8, 4, 4096, 96]]
    flash = extract("aten::_scaled_dot_product_flash_attention",
                    _args(dims + [[]] * 4, ["", "", "", "0.", "True", "False", ""]), ())
    assert _tuple(flash) == (8, 16, 4, 2048, 4096, 64, 96, True)
    efficient = extract("aten::_scaled_dot_product_efficient_attention",
                        _args(dims + [[8, 1, 2048, 4096]] + [[]] * 4,
                              ["", "", "", "", "True", "0.", "True", ""]),
                        ())
    assert efficient.causal and "mask" in efficient.note
    cudnn = extract("aten::_scaled_dot_product_cudnn_attention",
                    _args(dims + [[]] * 6, ["", "", "", "", "False", "0.", "False", "False", ""]), ())
    assert not cudnn.causal and cudnn.note == ""
    outer = extract("aten::scaled_dot_product_attention",
                    _args(dims + [[]] * 5, ["", "", "", "", "0.", "True", "", "True"]), ())
    assert outer.causal


def test_efficient_forward_mask_types():
    dims = [[2, 512, 8, 64]] * 3 + [[]] * 11
    for mask_type, causal in (("0", False), ("1", True), ("2", True)):
        concrete = ["", "", "", "", "", "", "", "", "0.", mask_type, "False", "", "", ""]
        assert extract("aten::_efficient_attention_forward", _args(dims, concrete), ()).causal is causal


def test_aiter_paged_prefill_as_recorded():
    args = {"Concrete Inputs": ["", "", "", "", "", "", "1024", "1024", "0.", "0.088388347648318447", "0.",
                                "False", "True", "-1", "-1", "0", "False", "False"] + [""] * 12,
            "Input type": [BF16] * 3 + ["int"] * 3 + ["Scalar"] * 12 + [""] * 12,
            "Input Dims": [[15360, 32, 128], [835874, 8, 128], [835874, 8, 128], [16], [16], [15616]]
            + [[]] * 24}
    shape = extract("aiter::mha_batch_prefill", args, ())
    assert _tuple(shape) == (15, 32, 8, 1024, 1024, 128, 128, True)
    assert shape.paged and shape.window is None


def test_vllm_needs_the_step_annotation():
    args = _args([[888, 8, 64], [888, 1, 64], [888, 1, 64], [888, 8, 64]], [""] * 7,
                 ["c10::Float8_e4m3fn", BF16, BF16, BF16, "", "", ""])
    assert extract("vllm::unified_attention_with_output", args, ()) is None
    shape = extract("vllm::unified_attention_with_output", args,
                    ("execute_context_2(888_788544)_generation_0(0)",))
    assert _tuple(shape) == (2, 8, 1, 444, 444, 64, 64, True) and shape.dtype == "fp8"
    # a decode step does not say how long each request's cache is: no shape
    assert extract("vllm::unified_attention_with_output", args,
                   ("execute_context_0(0_0)_generation_32(32)",)) is None


def test_serving_step_names():
    assert batch_from_ranges(["ProfilerStep#3", "step[DECODE bs=32]"])[:2] == (0, 32)
    assert batch_from_ranges(["step[EXTEND bs=15 toks=15360]"])[:2] == (15, 0)
    assert batch_from_ranges(["ProfilerStep#3"]) is None


def test_malformed_arguments_give_no_shape_rather_than_an_error():
    assert extract("aten::_scaled_dot_product_flash_attention", {"Input Dims": "junk"}, ()) is None
    assert extract("aten::_flash_attention_forward", {"Input Dims": [[1, 2]]}, ()) is None
    assert extract("aten::unknown_op", {}, ()) is None


@pytest.mark.parametrize("name, expected", [("c10::BFloat16", "bf16"), ("c10::Half", "fp16"),
                                            ("float", "fp32"), ("c10::Float8_e4m3fn", "fp8"), ("int", None)])
def test_torch_dtypes(name, expected):
    assert torch_dtype(name) == expected


def test_kernel_name_facts_only_for_trtllm_names():
    shape = AttentionShape(1, 8, 1, 888, 888, 64, causal=True)
    assert refine_from_kernel(shape, "flash_fwd_kernel") is shape
    bf16 = refine_from_kernel(shape, "fmhaSm100aKernel_QkvBfloat16OBfloat16H64PagedKvCausal")
    assert bf16.kv_dtype == "bf16"

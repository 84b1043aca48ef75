"""Workload manifests, launch grouping and kernel-family classification."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import TraceError
from simulator.traces.families import classify, is_attention, profile_for, short_name
from simulator.traces.groups import group_launches
from simulator.traces.load import load_trace
from simulator.traces.manifest import apply_manifest, load_manifest, parse_manifest
from simulator.traces.record import KernelLaunch

DATA = Path(__file__).parents[2] / "data" / "traces" / "kineto"
DECODE_MANIFEST = """source: "Qwen3-8B config: 32 heads, 8 KV heads, head dim 128; 32785 tokens / 32 requests"
launches:
  - kernel: 'paged_attention_ll4mi_QKV'
    range: 'step\\[DECODE bs=32\\]'
    batch: 32
    heads: 32
    kv_heads: 8
    seq_q: 1
    seq_kv: 1025
    head_dim: 128
    causal: true
  - kernel: 'never_matches_anything'
    batch: 1
    heads: 1
    seq_q: 1
    seq_kv: 1
    head_dim: 64
"""


def test_manifest_prices_a_cuda_graph_replay(tmp_path):
    path = tmp_path / "decode.yaml"
    path.write_text(DECODE_MANIFEST)
    trace = load_trace(DATA / "sglang_Qwen3-8B_decode.json.gz", manifest=path)
    forward = [launch for launch in trace.attention() if "QKV" in launch.kernel]
    assert len(forward) == 36 and all(launch.shape_source == "manifest" for launch in forward)
    assert forward[0].shape.kv_heads == 8 and forward[0].shape.seq_kv == 1025
    # the combine kernel did not match the rule: still unlinked; the unused rule is reported
    assert any("36 attention launches still have no shape" in note for note in trace.notes)
    assert any("line 12" in note and "matched no launch" in note for note in trace.notes)


def test_manifest_does_not_replace_linked_shapes_unless_told(tmp_path):
    text = ("launches:\n  - {kernel: 'flash_fwd', batch: 1, heads: 1, seq_q: 7, seq_kv: 7, head_dim: 64%s}\n")
    trace = load_trace(DATA / "h100_gaunernst_bert-small-uncased__1016001.json.gz")
    kept = apply_manifest(trace, parse_manifest(text % "", "m.yaml"))
    assert {launch.shape.seq_q for launch in kept.attention()} == {141}
    replaced = apply_manifest(trace, parse_manifest(text % ", override: true", "m.yaml"))
    assert {launch.shape.seq_q for launch in replaced.attention()} == {7}


@pytest.mark.parametrize("body, message", [
    ("launches:\n  - {kernel: a, batch: 1, heads: 1, seq_q: 1, seq_kv: 1, head_dim: 8, colour: red}\n",
     "m.yaml:2: launches[0]: unknown key 'colour'"),
    ("launches:\n  - {kernel: a, batch: 1, heads: 1, seq_q: 1, seq_kv: 1}\n", "missing key 'head_dim'"),
    ("launches:\n  - {batch: 1, heads: 1, seq_q: 1, seq_kv: 1, head_dim: 8}\n", "needs 'kernel' or 'range'"),
    ("launches:\n  - {kernel: '(', batch: 1, heads: 1, seq_q: 1, seq_kv: 1, head_dim: 8}\n",
     "not a regular expression"),
    ("launches:\n  - {kernel: a, batch: 0, heads: 1, seq_q: 1, seq_kv: 1, head_dim: 8}\n",
     "positive integer"),
    ("launches:\n  - {kernel: a, batch: 1, heads: 6, kv_heads: 4, seq_q: 1, seq_kv: 1, head_dim: 8}\n",
     "not divisible"),
    ("launches:\n  - {kernel: a, batch: 1, heads: 1, seq_q: 1, seq_kv: 1, head_dim: 8, dtype: fp7}\n",
     "key 'dtype'"),
    ("launches: {}\n", "'launches' list"),
    ("shapes: []\nlaunches: []\n", "unknown key 'shapes'"),
    ("launches: [\n", "not valid YAML"),
])
def test_bad_manifests_are_one_line_errors(body, message):
    with pytest.raises(TraceError) as err:
        parse_manifest(body, "m.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_manifest_file_errors(tmp_path):
    with pytest.raises(TraceError, match="manifest file not found"):
        load_manifest(tmp_path / "none.yaml")


@given(st.lists(st.tuples(st.integers(1, 1000), st.integers(1, 5)), min_size=1, max_size=30))
def test_group_median_is_the_median_of_the_expanded_launches(samples):
    launches = [KernelLaunch("k", "fa2", d * 1e-6, instances=w) for d, w in samples]
    group = group_launches(launches)[0]
    expanded = [d * 1e-6 for d, w in samples for _ in range(w)]
    assert group.count == len(expanded)
    assert group.median_s == pytest.approx(float(np.median(expanded)))
    assert group.min_s == min(expanded) and group.max_s == max(expanded)
    assert group.total_s == pytest.approx(sum(expanded))


def test_groups_split_by_shape_and_skip_non_attention():
    trace = load_trace(DATA / "h100_Qwen_Qwen1.5-0.5B-Chat__1016005.json.gz")
    groups = group_launches(trace.launches)
    assert [(g.count, g.shape_source) for g in groups] == [(24, "cpu_op:aten::_flash_attention_forward"),
                                                          (10, "unlinked")]
    assert len(group_launches(trace.launches, attention_only=False)) > 10


def test_every_fixture_attention_kernel_is_classified_and_gemms_are_not_attention():
    families = set()
    for path in sorted(DATA.glob("*.json.gz")):
        for launch in load_trace(path).launches:
            family, role = classify(launch.kernel)
            if "gemm" in launch.kernel.lower() or launch.kernel.startswith("nvjet"):
                assert family == "gemm", launch.kernel
            if is_attention(family):
                families.add(family)
    assert families == {"fa2", "trtllm-fmha", "triton", "paged-decode"}


@pytest.mark.parametrize("name, family, role", [
    ("cutlass::device_kernel<flash::enable_sm90_or_later<flash::FlashAttnFwdSm90<...>>>(P)", "fa3",
     "forward"),
    ("flash::FlashAttnFwdCombine<...>", "fa3", "combine"),
    ("flash_fwd_splitkv_combine_kernel<...>", "fa2", "combine"),
    ("void flash_bwd_dq_dk_dv_loop_kernel<...>", "fa2", "backward"),
    ("cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_3_64x64x128_4x1x1_kernel0_0", "cudnn",
     "forward"),
    ("fmha_cutlassF_bf16_aligned_64x128_rf_sm80", "mem-efficient", "forward"),
    ("_ZN7ck_tile6kentryILi2ENS_38FmhaBatchPrefillWithPagedKVCacheKernelE", "ck", "forward"),
    ("flashinfer::BatchPrefillWithPagedKVCacheKernel<...>", "flashinfer", "forward"),
    ("flash::FlashAttentionForwardSm100", "fa4", "forward"),
    ("_attn_fwd", "triton", "forward"),
    ("void at::native::vectorized_elementwise_kernel<4>", "other", "aux"),
])
def test_classification_of_documented_names(name, family, role):
    assert classify(name) == (family, role)


def test_short_names_and_profiles():
    assert short_name("_ZN7ck_tile6kentryILi2ENS_38FmhaBatchPrefillWithPagedKVCacheKernelE") == \
        "FmhaBatchPrefillWithPagedKVCacheKernel"
    assert short_name("attn_fwd") == "attn_fwd"
    assert profile_for("fa3", "nvidia") == "flash3" and profile_for("ck", "amd") == "amd-fmha"
    assert profile_for("gemm", "nvidia") is None

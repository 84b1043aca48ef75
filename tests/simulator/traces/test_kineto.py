"""The Kineto importer against the real TraceLens captures (tests/data/traces/kineto).

Expected shapes and counts are those ../shared/traces/README.md lists, found there by
hand-linking each kernel to its CPU op.
"""

import gzip
import json
import shutil
from pathlib import Path

import pytest

from simulator.errors import TraceError
from simulator.traces.groups import group_launches
from simulator.traces.kineto import read_kineto
from simulator.traces.load import load_trace

DATA = Path(__file__).parents[2] / "data" / "traces" / "kineto"


def _trace(name):
    return load_trace(DATA / f"{name}.json.gz")


def _linked(trace):
    return [launch for launch in trace.attention() if launch.has_shape]


# name: (family, linked, total attention launches, (B, H, Hkv, Sq, Skv, D, causal, dtype), median us)
EXPECTED = {
    "h100_Qwen_Qwen1.5-0.5B-Chat__1016005": ("fa2", 24, 34, (16, 16, 16, 559, 559, 64, True, "bf16"), 113.8),
    "h100_Falconsai_nsfw_image_detection__1016002": ("fa2", 12, 12, (4, 12, 12, 197, 197, 64, False, "bf16"),
                                                     10.2),
    "h100_gaunernst_bert-small-uncased__1016001": ("fa2", 4, 4, (1, 8, 8, 141, 141, 64, False, "bf16"), 9.1),
    "mi300_gaunernst_bert-small-uncased__1016001": ("triton", 4, 4, (1, 8, 8, 141, 141, 64, False, "bf16"),
                                                    27.3),
    "torch_compile_triton_trace": ("triton", 1, 1, (8, 16, 16, 4096, 4096, 128, False, "bf16"), 3684),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_traces_link_the_documented_shapes(name):
    family, linked, total, shape, median_us = EXPECTED[name]
    trace = _trace(name)
    attention = trace.attention()
    assert len(attention) == total
    assert len(_linked(trace)) == linked
    assert {launch.family for launch in attention} == {family}
    shapes = {(s.batch, s.heads, s.kv_heads, s.seq_q, s.seq_kv, s.head_dim, s.causal, s.dtype)
              for s in (launch.shape for launch in _linked(trace))}
    assert shapes == {shape}
    group = next(g for g in group_launches(trace.launches) if g.shape is not None)
    assert group.count == linked
    assert group.median_s * 1e6 == pytest.approx(median_us, rel=0.01)


def test_h100_trace_device_and_launch_geometry():
    trace = _trace("h100_Qwen_Qwen1.5-0.5B-Chat__1016005")
    assert trace.gpu.name == "NVIDIA H100 80GB HBM3"
    assert (trace.gpu.sm_count, trace.gpu.compute_capability, trace.gpu.vendor) == (132, "9.0", "nvidia")
    launch = _linked(trace)[0]
    assert launch.grid == (5, 16, 16) and launch.block == (128, 1, 1)   # ceil(559 / 128) query tiles
    assert launch.registers == 255 and launch.shared_memory == 49152
    assert launch.shape_source == "cpu_op:aten::_flash_attention_forward"
    # the 10 launches before the CPU window stay, unlinked, with the same grid
    unlinked = [launch for launch in trace.attention() if not launch.has_shape]
    assert len(unlinked) == 10 and {u.grid for u in unlinked} == {(5, 16, 16)}
    assert all(u.shape_source == "unlinked" for u in unlinked)
    assert any("10 of 34" in note for note in trace.notes)


def test_b200_vllm_shape_from_op_and_step_annotation():
    trace = _trace("b200_eager_trace")
    launches = _linked(trace)
    assert len(launches) == 36 and {launch.family for launch in launches} == {"trtllm-fmha"}
    shape = launches[0].shape
    assert (shape.batch, shape.heads, shape.kv_heads, shape.seq_q, shape.head_dim) == (1, 8, 1, 888, 64)
    assert shape.causal and shape.dtype == "fp8" and shape.kv_dtype == "fp8" and shape.paged
    assert trace.gpu.sm_count == 148
    sliding = [launch for launch in launches if "Sliding" in launch.kernel]
    assert len(sliding) == 18 and all("sliding window" in launch.shape.note for launch in sliding)


def test_cuda_graph_replay_is_unlinked_but_keeps_its_step_annotation():
    trace = _trace("sglang_Qwen3-8B_decode")
    attention = trace.attention()
    assert len(attention) == 72 and not any(launch.has_shape for launch in attention)
    roles = {group.role: group.count for group in group_launches(trace.launches)}
    assert roles == {"forward": 36, "combine": 36}
    assert all("step[DECODE bs=32]" in launch.ranges for launch in attention)


def test_plain_json_reads_like_gzip(tmp_path):
    source = DATA / "h100_gaunernst_bert-small-uncased__1016001.json.gz"
    plain = tmp_path / "bert.json"
    with gzip.open(source, "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert read_kineto(plain).launches == read_kineto(source).launches


def _write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name, data, message", [
    ("cut.json.gz", gzip.compress(b'{"traceEvents": []}' * 50)[:40], "truncated or corrupt gzip"),
    ("text.json", b"{ this is not json", "not JSON"),
    ("number.json", b'{"traceEvents": 5}', "traceEvents"),
    ("noevents.json", json.dumps({"schemaVersion": 1}).encode(), "traceEvents"),
    ("empty.json", b"", "empty file"),
])
@pytest.mark.parametrize("streaming", [True, False])
def test_bad_traces_are_one_line_errors(tmp_path, monkeypatch, name, data, message, streaming):
    import simulator.traces.kineto as kineto

    if not streaming:
        monkeypatch.setattr(kineto, "_ijson", lambda: None)
    path = _write(tmp_path, name, data)
    with pytest.raises(TraceError) as err:
        load_trace(path)
    text = str(err.value)
    assert message in text and name in text and "\n" not in text


def test_the_json_array_form_is_a_list_of_events(tmp_path):
    event = {"ph": "X", "cat": "kernel", "name": "attn_fwd", "ts": 1.0, "dur": 2.5, "args": {}}
    trace = load_trace(_write(tmp_path, "array.json", json.dumps([event, 1, "x"]).encode()))
    assert [launch.family for launch in trace.launches] == ["triton"]
    assert trace.launches[0].duration_s == pytest.approx(2.5e-6)


def test_missing_and_folder_paths(tmp_path):
    with pytest.raises(TraceError, match="not found"):
        load_trace(tmp_path / "absent.json")
    with pytest.raises(TraceError, match="not a file"):
        load_trace(tmp_path)


def test_events_of_other_kinds_and_odd_fields_are_tolerated(tmp_path):
    doc = {"traceEvents": [
        {"ph": "M", "name": "process_name"}, "not an event", {"ph": "X", "cat": "kernel"},
        {"ph": "X", "cat": "kernel", "name": "flash_fwd_kernel", "ts": 1.0, "dur": 2.0,
         "args": {"grid": "[4,2,1]", "block": "[128,1,1]", "correlation": 3}},
        {"ph": "X", "cat": "kernel", "name": "Kernel", "ts": 5.0, "dur": 1.0, "args": {}},
    ]}
    path = _write(tmp_path, "odd.json", json.dumps(doc).encode())
    trace = read_kineto(path)
    assert [launch.kernel for launch in trace.launches] == ["flash_fwd_kernel", "Kernel"]
    assert trace.launches[0].grid == (4, 2, 1) and trace.launches[0].shape_source == "unlinked"
    assert trace.gpu.name == ""


def test_streamed_and_whole_document_parses_agree(monkeypatch):
    """With ijson the events stream and the tail members are recovered; without it json.load."""
    import simulator.traces.kineto as kineto

    path = DATA / "h100_Qwen_Qwen1.5-0.5B-Chat__1016005.json.gz"   # deviceProperties after traceEvents
    streamed = read_kineto(path)
    monkeypatch.setattr(kineto, "_ijson", lambda: None)
    whole = read_kineto(path)
    assert streamed.launches == whole.launches and streamed.gpu == whole.gpu
    assert streamed.tool_version == whole.tool_version == "schemaVersion 1"


def test_tail_members_skip_boundaries_inside_the_last_event():
    from simulator.traces.kineto import _tail_members

    tail = b'"grid": [1, 2, 3], "block": [4, 5, 6]}], "schemaVersion": 1, "deviceProperties": [{"id": 0}]}'
    assert _tail_members(tail) == {"schemaVersion": 1, "deviceProperties": [{"id": 0}]}
    assert _tail_members(b'"a": 1}]}') == {}

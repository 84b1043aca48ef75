"""Tests for simulator.hardware: the GPU YAML catalogue, its loader and validator.

Expected numbers are typed in from ../shared/reference/gpus_peers_traces.md Part A (the
vendor headline tables A.1/A.2 and the per-SM table A.3), *not* read from the YAML files,
so the per-SM rates x SM count x clock in the YAML are checked against independent data.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.errors import SpecError
from simulator.hardware import ENV_VAR, UNITS, GPUSpec, gpu_search_path, list_gpus, load_gpu

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "hardware_specs" / "gpus"
# GPUs with rows in the reference's Part A (the vendor tables below cover exactly these);
# h800 and mi300x are checked against their own documents in test_gpu_catalogue_amd.py.
REFERENCE_GPUS = ["a100-sxm4-40gb", "a100-sxm4-80gb", "b200", "gb200", "h100-sxm5", "h200", "l40s"]
BUILTINS = sorted([*REFERENCE_GPUS, "h800", "mi300x"])

# Reference A.2: vendor dense peaks, TFLOPS (TOPS for int8). B200 tf32 is NVIDIA's rounded
# 1,100 (the 2:1 FP16:TF32 architecture gives 1,125, 2.3 % off), hence the 2.5 % tolerance.
VENDOR_DENSE_TFLOPS = {
    "a100-sxm4-40gb": {"fp16": 312, "bf16": 312, "tf32": 156, "int8": 624},
    "a100-sxm4-80gb": {"fp16": 312, "bf16": 312, "tf32": 156, "int8": 624},
    "l40s": {"fp16": 362.05, "tf32": 183, "fp8": 733, "int8": 733},
    "h100-sxm5": {"fp16": 989.4, "bf16": 989.4, "tf32": 494.7, "fp8": 1978.9, "int8": 1978.9},
    "h200": {"fp16": 989.4, "tf32": 494.7, "fp8": 1978.9, "int8": 1978.9},
    "b200": {"fp16": 2250, "tf32": 1100, "fp8": 4500, "fp6": 4500, "int8": 4500, "fp4": 9000},
    "gb200": {"fp16": 2500, "tf32": 1250, "fp8": 5000, "int8": 5000, "fp4": 10000},
}
# Reference A.2: vendor sparse (2:4) FP16 peaks, TFLOPS.
VENDOR_SPARSE_FP16_TFLOPS = {
    "a100-sxm4-40gb": 624, "a100-sxm4-80gb": 624, "l40s": 733, "h100-sxm5": 1978.9,
    "h200": 1978.9, "b200": 4500, "gb200": 5000,
}
# Reference A.2: FP32 CUDA-core peaks (TFLOPS), quoted at the boost clock.
VENDOR_FP32_TFLOPS = {
    "a100-sxm4-40gb": 19.5, "a100-sxm4-80gb": 19.5, "l40s": 91.6, "h100-sxm5": 66.9,
    "h200": 66.9, "b200": 75, "gb200": 80,
}
# Reference A.1: SMs, DRAM GB/s, DRAM GB, smem KB/SM (CC table), TDP W.
VENDOR_A1 = {
    "a100-sxm4-40gb": (108, 1555, 40, 164, 400),
    "a100-sxm4-80gb": (108, 2039, 80, 164, 400),
    "l40s": (142, 864, 48, 100, 350),
    "h100-sxm5": (132, 3350, 80, 228, 700),
    "h200": (132, 4800, 141, 228, 700),
    "b200": (148, 7700, 180, 228, 1000),
    "gb200": (148, 8000, 186, 228, 1200),
}
# Reference A.3: device exp rate (T exp/s) at the clock the reference uses, and the
# "tensor FLOPs per MUFU op" column.
EXP_RATES = [("a100", 1.41e9, 2.44), ("l40s", 2.52e9, 5.7), ("h100", 1.83e9, 3.9),
             ("b200", 1.86e9, 4.4)]
FLOPS_PER_EXP = {"a100": 128, "l40s": 64, "h100": 256, "h200": 256, "b200": 512, "gb200": 512}


def close(actual: float, expected: float, rel: float) -> bool:
    return math.isclose(actual, expected, rel_tol=rel)


# --------------------------------------------------------------------------- catalogue


def test_list_gpus_is_the_builtin_set():
    assert list_gpus() == BUILTINS


@pytest.mark.parametrize("name", REFERENCE_GPUS)
def test_dense_fp16_peak_reproduces_vendor_headline(name):
    spec = load_gpu(name)
    recomputed = spec.sm_count * spec.tensor_flop_per_clk_per_sm["fp16"] * spec.tensor_clock_hz
    assert close(recomputed, VENDOR_DENSE_TFLOPS[name]["fp16"] * 1e12, 0.02)
    assert spec.peak_tensor_flops["fp16"] == pytest.approx(recomputed)


@pytest.mark.parametrize("name", REFERENCE_GPUS)
def test_every_dense_dtype_peak_within_tolerance(name):
    spec = load_gpu(name)
    for dtype, tflops in VENDOR_DENSE_TFLOPS[name].items():
        assert close(spec.tensor_flops(dtype), tflops * 1e12, 0.025), dtype


@pytest.mark.parametrize("name", REFERENCE_GPUS)
def test_sparse_is_twice_dense_and_matches_vendor(name):
    spec = load_gpu(name)
    assert set(spec.sparse_tensor_flop_per_clk_per_sm) == set(spec.tensor_flop_per_clk_per_sm)
    for dtype, rate in spec.tensor_flop_per_clk_per_sm.items():
        assert spec.sparse_tensor_flop_per_clk_per_sm[dtype] == 2 * rate
    sparse = spec.tensor_flops("fp16", sparse=True)
    assert close(sparse, VENDOR_SPARSE_FP16_TFLOPS[name] * 1e12, 0.02)


@pytest.mark.parametrize("name", REFERENCE_GPUS)
def test_fp32_headline_at_boost_clock(name):
    spec = load_gpu(name)
    at_boost = spec.at_clock(spec.boost_clock_hz)
    assert close(at_boost.fp32_flops, VENDOR_FP32_TFLOPS[name] * 1e12, 0.02)
    per_sm = spec.fp32_flop_per_clk_per_sm
    assert at_boost.fp32_flops == spec.sm_count * per_sm * spec.boost_clock_hz


@pytest.mark.parametrize("name", REFERENCE_GPUS)
def test_structure_and_memory_match_table_a1(name):
    spec = load_gpu(name)
    sms, dram_gbs, dram_gb, smem_kb, tdp = VENDOR_A1[name]
    assert spec.sm_count == sms
    assert spec.dram_bytes_per_s == pytest.approx(dram_gbs * 1e9)
    assert spec.dram_bytes == dram_gb * 10**9
    assert spec.smem_bytes_per_sm == smem_kb * 1024
    assert spec.smem_bytes_per_cta == (smem_kb - 1) * 1024
    assert spec.tdp_watts == tdp
    assert spec.register_count_per_sm == 65536 and spec.register_bytes_per_sm == 256 * 1024
    assert spec.exp_per_clk_per_sm == 16 and spec.smem_bytes_per_clk_per_sm == 128
    assert spec.boost_clock_hz >= spec.tensor_clock_hz


@pytest.mark.parametrize(("name", "clock_hz", "texp_per_s"), EXP_RATES)
def test_exp_rate_matches_table_a3(name, clock_hz, texp_per_s):
    assert close(load_gpu(name).at_clock(clock_hz).exp_ops_per_s, texp_per_s * 1e12, 0.02)


def test_h100_defaults_reproduce_fa3_numbers():
    h100 = load_gpu("h100")  # FA3 pins 1830 MHz: 3.9 T exp/s, smem 128 B x 132 x 1.83 GHz
    assert close(h100.exp_ops_per_s, 3.9e12, 0.02)
    assert h100.smem_bytes_per_s == pytest.approx(128 * 132 * 1.83e9)


@pytest.mark.parametrize(("name", "ratio"), FLOPS_PER_EXP.items())
def test_tensor_flops_per_exp_op(name, ratio):
    spec = load_gpu(name)
    assert close(spec.tensor_flop_per_clk_per_sm["fp16"] / spec.exp_per_clk_per_sm, ratio, 0.01)


@pytest.mark.parametrize(("name", "head_dim", "ratio"),
                         [("h100", 64, 1.0), ("h100", 128, 0.5), ("h100", 256, 0.25),
                          ("b200", 64, 2.0), ("b200", 128, 1.0), ("a100", 128, 0.25),
                          ("l40s", 128, 0.125)])
def test_attention_exp_bound_ratio(name, head_dim, ratio):
    # A.3: t_exp / t_mma = F / (64 d) with 4d FLOPs and one exp per score element
    spec = load_gpu(name)
    t_mma = 4 * head_dim / spec.peak_tensor_flops["fp16"]
    t_exp = 1 / spec.exp_ops_per_s
    assert t_exp / t_mma == pytest.approx(ratio)


def test_fp8_and_fp4_availability_by_generation():
    assert "fp8" not in load_gpu("a100").tensor_flop_per_clk_per_sm
    for name in ("l40s", "h100", "h200", "b200"):
        assert "fp8" in load_gpu(name).tensor_flop_per_clk_per_sm
    assert {n for n in BUILTINS if "fp4" in load_gpu(n).tensor_flop_per_clk_per_sm} == {
        "b200", "gb200"}
    with pytest.raises(SpecError, match="has no dense fp8 tensor-core rate"):
        load_gpu("a100").tensor_flops("fp8")


def test_tmem_only_on_blackwell():
    for name in BUILTINS:
        spec = load_gpu(name)
        expected = 128 * 512 * 4 if spec.architecture == "Blackwell" else None
        assert spec.tmem_bytes_per_sm == expected


def test_register_file_totals_match_reference():
    assert load_gpu("h100").register_bytes_per_sm * 132 == 132 * 256 * 1024  # 33.8 MB
    assert load_gpu("a100").register_bytes_per_sm * 108 == 108 * 256 * 1024  # 27.0 MB


def test_h200_differs_from_h100_only_in_memory():
    h100, h200 = load_gpu("h100"), load_gpu("h200")
    same = ["sm_count", "tensor_clock_hz", "tensor_flop_per_clk_per_sm", "l2_bytes",
            "smem_bytes_per_sm", "fp32_flop_per_clk_per_sm"]
    assert all(getattr(h100, f) == getattr(h200, f) for f in same)
    assert h200.dram_bytes_per_s / h100.dram_bytes_per_s == pytest.approx(4800 / 3350)


def test_every_number_has_a_source_in_the_yaml():
    def walk(node, path):
        if isinstance(node, dict):
            if "value" in node:
                assert isinstance(node.get("source"), str) and node["source"].strip(), path
                assert node["unit"], path
            for key, child in node.items():
                walk(child, f"{path}.{key}")

    files = sorted(BUILTIN_DIR.glob("*.yaml"))
    assert len(files) == len(BUILTINS)
    for file in files:
        walk(yaml.safe_load(file.read_text()), file.name)
        spec = load_gpu(file)
        assert all(row.source for row in spec.rows()), file.name


def test_names_and_aliases_are_unique_across_files():
    seen: dict[str, str] = {}
    for name in BUILTINS:
        spec = load_gpu(name)
        for key in (spec.name, *spec.aliases):
            norm = key.lower().replace("_", "-")
            assert seen.setdefault(norm, spec.name) == spec.name, key


# --------------------------------------------------------------------------- lookup


@pytest.mark.parametrize(("query", "name"),
                         [("H100", "h100-sxm5"), ("h100", "h100-sxm5"), ("H100_SXM5", "h100-sxm5"),
                          ("a100", "a100-sxm4-80gb"), ("A100-40GB", "a100-sxm4-40gb"),
                          ("B200", "b200"), ("gb200-nvl72", "gb200"), ("L40S", "l40s"),
                          ("h200 sxm", "h200")])
def test_lookup_by_alias_case_insensitive(query, name):
    assert load_gpu(query).name == name


def test_lookup_is_cached():
    assert load_gpu("h100") is load_gpu("H100-SXM")


def test_load_by_path(tmp_path):
    target = tmp_path / "copy.yaml"
    target.write_text((BUILTIN_DIR / "h100-sxm5.yaml").read_text())
    assert load_gpu(target) == load_gpu("h100")
    assert load_gpu(str(target)).path == str(target.resolve())


def test_unknown_name_lists_known_names():
    with pytest.raises(SpecError) as info:
        load_gpu("v100")
    message = str(info.value)
    assert "unknown GPU 'v100'" in message and "\n" not in message
    assert all(name in message for name in BUILTINS)


def test_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load_gpu(tmp_path / "nope.yaml")


def write_variant(directory: Path, name: str, edit=None, filename: str | None = None) -> Path:
    doc = yaml.safe_load((BUILTIN_DIR / "h100-sxm5.yaml").read_text())
    doc["name"], doc["aliases"] = name, [name.upper()]
    if edit:
        edit(doc)
    path = directory / (filename or f"{name}.yaml")
    path.write_text(yaml.safe_dump(doc))
    return path


def test_user_directory_on_env_path(tmp_path, monkeypatch):
    write_variant(tmp_path, "my-gpu", lambda d: d["sm_count"].update(value=66))
    monkeypatch.setenv(ENV_VAR, f"/does/not/exist:{tmp_path}")
    assert gpu_search_path()[0] == tmp_path
    assert "my-gpu" in list_gpus()
    assert load_gpu("MY-GPU").sm_count == 66


def test_edited_file_is_reloaded(tmp_path):
    path = write_variant(tmp_path, "x")
    assert load_gpu(path).sm_count == 132
    write_variant(tmp_path, "x", lambda d: d["sm_count"].update(value=100))
    import os

    os.utime(path, ns=(1, 10**18))  # force a different mtime even on coarse filesystems
    assert load_gpu(path).sm_count == 100


# --------------------------------------------------------------------------- validation


def _set(path: str, value):
    def edit(doc):
        *parents, last = path.split(".")
        node = doc
        for part in parents:
            node = node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return edit


_DELETE = object()

BAD_SPECS = [
    ("negative", _set("sm_count.value", -1),
     r"key 'sm_count\.value': expected a positive number; got -1"),
    ("zero", _set("dram.bandwidth.value", 0), r"key 'dram\.bandwidth\.value': expected a positive"),
    ("text", _set("l2.capacity.value", "big"),
     r"key 'l2\.capacity\.value': expected a positive number; got 'big'"),
    ("bool", _set("cuda_core.exp.value", True), r"key 'cuda_core\.exp\.value'"),
    ("nan", _set("clocks.boost.value", float("nan")), r"key 'clocks\.boost\.value'"),
    ("fractional SMs", _set("sm_count.value", 132.5),
     r"key 'sm_count\.value': expected an integer"),
    ("wrong unit", _set("dram.bandwidth.unit", "GB"),
     r"key 'dram\.bandwidth\.unit': expected one of B/s, MB/s, GB/s, TB/s, GiB/s; got 'GB'"),
    ("rate unit", _set("tensor_core.dense.fp16.unit", "TFLOPS"), r"tensor_core\.dense\.fp16\.unit"),
    ("missing section", _set("dram", _DELETE), r"missing key 'dram\.bandwidth'"),
    ("missing quantity", _set("clocks.tensor", _DELETE), r"missing key 'clocks\.tensor'"),
    ("missing source", _set("l2.capacity.source", _DELETE), r"missing key 'l2\.capacity\.source'"),
    ("empty source", _set("l2.capacity.source", " "), r"key 'l2\.capacity\.source'"),
    ("missing dense", _set("tensor_core.dense", _DELETE), r"missing key 'tensor_core\.dense'"),
    ("unknown dtype", _set("tensor_core.dense.fp12", {"value": 1, "unit": "FLOP/clk/SM",
                                                      "source": "x"}),
     r"unknown key 'tensor_core\.dense\.fp12'"),
    ("typo", _set("dram.bandwith", 1), r"unknown key 'dram\.bandwith'"),
    ("scalar quantity", _set("sm_count", 132), r"key 'sm_count': expected a mapping"),
    ("missing name", _set("name", _DELETE), r"key 'name': expected a non-empty string"),
    ("cta > sm", _set("shared_memory.max_per_cta.value", 300),
     r"key 'shared_memory\.max_per_cta': expected at most capacity_per_sm"),
]


@pytest.mark.parametrize(("label", "edit", "pattern"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_bad_spec_gives_one_line_error_naming_file_and_key(tmp_path, label, edit, pattern):
    path = write_variant(tmp_path, "bad", edit)
    with pytest.raises(SpecError) as info:
        load_gpu(path)
    message = str(info.value)
    assert message.startswith("bad.yaml: ") and "\n" not in message
    assert re.search(pattern, message), message


@pytest.mark.parametrize("text", ["name: [unclosed\n", "sm_count: {value: 1,\n", "- a\n- b\n", ""])
def test_malformed_yaml(tmp_path, text):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_gpu(path)
    assert str(info.value).startswith("broken.yaml") and "\n" not in str(info.value)


@settings(max_examples=40, deadline=None)
@given(value=st.floats(min_value=1e-3, max_value=1e6, allow_nan=False),
       unit=st.sampled_from(sorted(UNITS["bandwidth"])))
def test_bandwidth_unit_conversion(tmp_path_factory, value, unit):
    directory = tmp_path_factory.mktemp("units")
    path = write_variant(directory, "u", _set("dram.bandwidth", {"value": value, "unit": unit,
                                                                 "source": "test"}))
    assert load_gpu(path).dram_bytes_per_s == pytest.approx(value * UNITS["bandwidth"][unit])


@settings(max_examples=50, deadline=None)
@given(clock_hz=st.floats(min_value=1e8, max_value=5e9), name=st.sampled_from(BUILTINS))
def test_all_throughputs_scale_linearly_with_clock(clock_hz, name):
    spec = load_gpu(name)
    pinned = spec.at_clock(clock_hz)
    scale = clock_hz / spec.tensor_clock_hz
    assert pinned.exp_ops_per_s == pytest.approx(spec.exp_ops_per_s * scale)
    assert pinned.smem_bytes_per_s == pytest.approx(spec.smem_bytes_per_s * scale)
    for dtype, flops in spec.peak_tensor_flops.items():
        assert pinned.peak_tensor_flops[dtype] == pytest.approx(flops * scale)
    assert pinned.dram_bytes_per_s == spec.dram_bytes_per_s  # DRAM has its own clock


def test_at_clock_rejects_nonsense():
    with pytest.raises(SpecError, match="positive number of Hz"):
        load_gpu("h100").at_clock(-1)


# --------------------------------------------------------------------------- object


def test_spec_is_frozen_and_read_only():
    spec = load_gpu("h100")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.sm_count = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.tensor_flop_per_clk_per_sm["fp16"] = 1  # type: ignore[index]
    assert isinstance(hash(spec), int)


def test_to_dict_is_json_with_snake_case_keys_and_si_units():
    document = json.loads(json.dumps(load_gpu("b200").to_dict()))

    def keys(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield key
                yield from keys(value)

    assert all(re.fullmatch(r"[a-z0-9_]+", key) for key in keys(document))
    assert document["boost_clock_hz"] == 1.98e9
    assert document["l2_bytes"] == 126 * 10**6
    assert document["tmem_bytes_per_sm"] == 262144
    assert document["sources"]["tensor_flop_per_clk_per_sm"]["fp16"].startswith("A.3")
    assert document["peak_tensor_flops"]["fp4"] == pytest.approx(148 * 32768 * 1.856e9)


def test_rows_cover_every_field():
    spec = load_gpu("l40s")
    keys = {row.key for row in spec.rows()}
    assert {"sm_count", "clocks.base", "dram.bandwidth", "tensor_core.sparse_2to4.fp8"} <= keys
    assert "tmem.per_sm" not in keys
    assert isinstance(spec, GPUSpec) and "l40s" in str(spec)


# The "Adding a GPU" example of the README: only the required keys.
MINIMAL_SPEC = """
name: my-gpu
aliases: [MyGPU]
architecture: Hopper
sm_count: {value: 114, unit: SM, source: "deviceQuery multiProcessorCount"}
clocks:
  boost: {value: 1755, unit: MHz, source: "nvidia-smi -q, max SM clock"}
  tensor: {value: 1620, unit: MHz, source: "[D] vendor 756 TFLOPS / (114 x 4096)"}
tensor_core:
  dense:
    fp16: {value: 4096, unit: FLOP/clk/SM, source: "[D] vendor 756 TFLOPS dense"}
cuda_core:
  fp32: {value: 256, unit: FLOP/clk/SM, source: "CUDA guide, CC 9.0"}
  exp: {value: 16, unit: result/clk/SM, source: "CUDA guide, CC 9.0"}
shared_memory:
  bandwidth: {value: 128, unit: B/clk/SM, source: "32 banks x 4 B"}
  capacity_per_sm: {value: 228, unit: KiB, source: "CUDA guide, CC 9.0"}
  max_per_cta: {value: 227, unit: KiB, source: "CUDA guide, CC 9.0"}
registers:
  per_sm: {value: 65536, unit: reg32, source: "CUDA guide, CC 9.0"}
l2:
  capacity: {value: 50, unit: MiB, source: "deviceQuery l2CacheSize"}
dram:
  bandwidth: {value: 2.0, unit: TB/s, source: "datasheet"}
  capacity: {value: 80, unit: GB, source: "datasheet"}
"""


def test_minimal_spec_from_readme(tmp_path):
    path = tmp_path / "my-gpu.yaml"
    path.write_text(MINIMAL_SPEC)
    spec = load_gpu(path)
    assert spec.peak_tensor_flops["fp16"] == pytest.approx(114 * 4096 * 1.62e9)
    assert spec.sparse_tensor_flop_per_clk_per_sm == {}
    assert spec.tmem_bytes_per_sm is None and spec.max_threads_per_sm is None
    assert spec.dram_bytes_per_s == 2e12 and spec.l2_bytes == 50 * 2**20

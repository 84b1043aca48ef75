"""The MI300X and H800 catalogue entries and the amd-fmha kernel profile.

Expected numbers are typed in from the vendor documents (AMD Instinct MI300X data sheet /
product page, CDNA 3 white paper, ROCm hardware-spec table; NVIDIA H800 product brief) and
from the deviceProperties of the MI300X traces, *not* read from the YAML files, so the
per-CU rates x CU count x clock in the YAML are checked against independent data.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from simulator.cli import app
from simulator.gpu import predict_batch
from simulator.gpu.profiles import PIPE_RESOURCES, load_profile
from simulator.hardware import list_gpus, load_gpu

GPU_DIR = Path(__file__).resolve().parents[2] / "hardware_specs" / "gpus"
PROFILE = Path(__file__).resolve().parents[2] / "simulator" / "profiles" / "amd-fmha.yaml"
TRACES = Path("../shared/traces")
runner = CliRunner()

# AMD Instinct MI300X data sheet: dense matrix peaks, TFLOPS (TOPS for int8).
MI300X_DENSE_TFLOPS = {"fp16": 1307.4, "bf16": 1307.4, "fp8": 2614.9, "int8": 2614.9, "tf32": 653.7}
MI300X_SPARSE_TFLOPS = {"fp16": 2614.9, "bf16": 2614.9, "fp8": 5229.8, "int8": 5229.8, "tf32": 1307.4}

# The four MI300X attention shapes of ../shared/traces/README.md (B, H, S, D, causal).
MI300X_SHAPES = [(16, 16, 559, 64, True), (4, 12, 197, 64, False), (1, 8, 141, 64, False),
                 (8, 16, 4096, 128, False)]


def close(actual: float, expected: float, rel: float = 1e-3) -> bool:
    return math.isclose(actual, expected, rel_tol=rel)


def walk_numbers(node, path=""):
    """Yield (path, node) for every {value, ...} quantity of a YAML document."""
    if isinstance(node, dict):
        if "value" in node:
            yield path, node
        for key, child in node.items():
            yield from walk_numbers(child, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from walk_numbers(child, f"{path}[{index}]")


# --------------------------------------------------------------------------- MI300X


@pytest.fixture(scope="module")
def mi300x():
    return load_gpu("mi300x")


def test_mi300x_is_listed_with_its_aliases(mi300x):
    assert "mi300x" in list_gpus() and "h800" in list_gpus()
    assert mi300x.architecture == "CDNA 3" and mi300x.compute_capability == "9.4"
    for alias in ("MI300X", "AMD Instinct MI300X", "MI300X VF", "mi300x vf"):
        assert load_gpu(alias) is mi300x


@pytest.mark.parametrize(("dtype", "tflops"), MI300X_DENSE_TFLOPS.items())
def test_mi300x_dense_peaks_match_the_data_sheet(mi300x, dtype, tflops):
    recomputed = 304 * mi300x.tensor_flop_per_clk_per_sm[dtype] * 2.1e9
    assert close(recomputed, tflops * 1e12)
    assert close(mi300x.tensor_flops(dtype), tflops * 1e12)


@pytest.mark.parametrize(("dtype", "tflops"), MI300X_SPARSE_TFLOPS.items())
def test_mi300x_sparse_peaks_are_twice_dense(mi300x, dtype, tflops):
    assert close(mi300x.tensor_flops(dtype, sparse=True), tflops * 1e12)
    assert mi300x.sparse_tensor_flop_per_clk_per_sm[dtype] == 2 * mi300x.tensor_flop_per_clk_per_sm[dtype]


def test_mi300x_per_cu_rates_are_the_documented_derivations(mi300x):
    # 1307.4e12 / (304 x 2.1e9) = 2048 FLOP/clk/CU: 4 matrix cores x 512
    assert round(1307.4e12 / (304 * 2.1e9)) == mi300x.tensor_flop_per_clk_per_sm["bf16"] == 2048
    # 19,456 stream processors x FMA x 2.1 GHz = 81.7 TFLOPS unpacked FP32 (163.4 packed)
    assert close(mi300x.at_clock(mi300x.boost_clock_hz).fp32_flops, 81.7e12)
    assert mi300x.fp32_flop_per_clk_per_sm == 19456 * 2 / 304
    assert mi300x.exp_per_clk_per_sm == 16 and mi300x.smem_bytes_per_clk_per_sm == 128


def test_mi300x_structure_memory_and_power(mi300x):
    assert mi300x.sm_count == 304
    assert mi300x.boost_clock_hz == mi300x.tensor_clock_hz == 2.1e9
    assert mi300x.dram_bytes_per_s == pytest.approx(5.3e12)
    assert mi300x.dram_bytes == 192 * 2**30 and mi300x.dram_type == "HBM3"
    assert mi300x.l2_bytes == 256 * 2**20  # the Infinity Cache in the L2 role
    assert mi300x.smem_bytes_per_sm == mi300x.smem_bytes_per_cta == 65536
    assert mi300x.register_bytes_per_sm == 512 * 1024 and mi300x.register_count_per_sm == 131072
    assert mi300x.max_threads_per_sm == 2048 and mi300x.max_ctas_per_sm == 16
    assert mi300x.tdp_watts == 750 and mi300x.tmem_bytes_per_sm is None


def test_mi300x_exp_bound_ratio(mi300x):
    # t_exp / t_mma = F / (64 d): 2048 / (64 x 128) = 0.25 at d128 (H100: 0.5)
    t_mma = 4 * 128 / mi300x.peak_tensor_flops["bf16"]
    assert (1 / mi300x.exp_ops_per_s) / t_mma == pytest.approx(0.25)


def test_mi300x_unpublished_numbers_say_assumed():
    doc = yaml.safe_load((GPU_DIR / "mi300x.yaml").read_text())
    for section, key in [("cuda_core", "exp"), ("shared_memory", "bandwidth"),
                         ("limits", "max_ctas_per_sm")]:
        assert doc[section][key]["source"].startswith("assumed:"), (section, key)
    assert "Infinity Cache" in doc["l2"]["capacity"]["note"] and "4 MB" in doc["l2"]["capacity"]["note"]
    assert "[D]" in doc["tensor_core"]["dense"]["bf16"]["source"]


@pytest.mark.skipif(not (TRACES / "torch_compile_triton_trace.json.gz").is_file(),
                    reason="shared traces not available")
def test_mi300x_matches_trace_device_properties(mi300x):
    with gzip.open(TRACES / "torch_compile_triton_trace.json.gz", "rt") as handle:
        props = json.load(handle)["deviceProperties"][0]
    assert props["name"] == "AMD Instinct MI300X"
    assert props["numSms"] == mi300x.sm_count
    assert props["regsPerBlock"] == mi300x.register_count_per_sm
    assert props["maxSharedMemoryPerMultiProcessor"] == mi300x.smem_bytes_per_sm
    assert props["maxThreadsPerMultiprocessor"] == mi300x.max_threads_per_sm
    assert f"{props['computeMajor']}.{props['computeMinor']}" == mi300x.compute_capability
    assert props["totalGlobalMem"] <= mi300x.dram_bytes


# --------------------------------------------------------------------------- H800


def test_h800_is_h100_sxm5_with_its_own_name():
    h800, h100 = load_gpu("h800"), load_gpu("h100-sxm5")
    assert h800.name == "h800"
    for alias in ("H800", "H800-SXM5", "NVIDIA H800"):
        assert load_gpu(alias) is h800
    assert h800.to_dict() | {"name": "", "aliases": [], "sources": {}} == \
        h100.to_dict() | {"name": "", "aliases": [], "sources": {}}
    assert close(h800.tensor_flops("bf16"), 989.4e12, 2e-3)
    assert h800.dram_bytes_per_s == pytest.approx(3.35e12)


def test_h800_sources_say_as_h100_and_cite_the_h800_brief():
    doc = yaml.safe_load((GPU_DIR / "h800.yaml").read_text())
    for path, node in walk_numbers(doc):
        assert node["source"].startswith("as H100 SXM5 ("), path
    assert "H800" in doc["references"]["S13"] and "400 GB/s" in doc["references"]["S13"]


@pytest.mark.parametrize("file", ["mi300x.yaml", "h800.yaml"])
def test_every_number_has_a_source_and_unit(file):
    doc = yaml.safe_load((GPU_DIR / file).read_text())
    numbers = list(walk_numbers(doc))
    assert len(numbers) > 20
    for path, node in numbers:
        assert isinstance(node.get("source"), str) and node["source"].strip(), path
        assert node.get("unit"), path
    assert all(row.source for row in load_gpu(GPU_DIR / file).rows())


def test_einsim_hw_lists_the_new_gpus():
    result = runner.invoke(app, ["hw"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "CDNA 3" in rows["mi300x"] and "1307.4" in rows["mi300x"] and "5.30" in rows["mi300x"]
    assert "989.4" in rows["h800"]
    shown = runner.invoke(app, ["hw", "show", "mi300x"])
    assert shown.exit_code == 0 and "Infinity Cache" in shown.stdout


# --------------------------------------------------------------------------- amd-fmha


def test_amd_fmha_loads_with_a_source_for_every_number():
    profile = load_profile("amd-fmha")
    assert profile.fusion == "fused" and profile.streams == 1  # no warp specialisation
    assert profile.tile_for(64) == (128, 64) and profile.tile_for(128) == (64, 64)
    assert 0 < profile.tensor_fraction("CDNA 3") < 1 and profile.tensor_fraction("Hopper") == 1
    prefixes = ("fit:", "assumed:", "code:", "paper:", "trace:", "ISA:", "attention_variants.md",
                "code/assumed:", "trace/derived:")
    for key in [f"efficiency.{r}" for r in PIPE_RESOURCES] + list(profile.numbers):
        assert profile.sources[key].startswith(prefixes), key
    assert not any(s.startswith("fit:") for s in profile.sources.values()), "a guess, not a fit"
    doc = yaml.safe_load(PROFILE.read_text())
    for path, node in walk_numbers(doc):
        assert isinstance(node.get("source"), str) and node["source"].strip(), path


@pytest.mark.parametrize(("batch", "heads", "seq", "head_dim", "causal"), MI300X_SHAPES)
def test_amd_fmha_predicts_the_trace_shapes_on_mi300x(batch, heads, seq, head_dim, causal):
    pred = predict_batch("mi300x", "attention-1pass", batch=batch, heads=heads, seq_q=seq,
                         seq_kv=seq, head_dim=head_dim, kv_heads=heads, causal=causal,
                         dtype="bf16", profile="amd-fmha")
    time_s = float(np.asarray(pred.time_s))
    assert math.isfinite(time_s) and 0 < time_s < 1.0
    # below the (unreachable) peak: FLOP/s under the MI300X's dense BF16 peak
    assert float(np.asarray(pred.tflops_per_s)) < 1307.4


def test_amd_fmha_predicts_arrays_of_shapes():
    pred = predict_batch("mi300x", "attention-1pass", batch=np.array([4, 1, 8]),
                         heads=np.array([12, 8, 16]), seq_q=np.array([197, 141, 4096]),
                         seq_kv=np.array([197, 141, 4096]), head_dim=np.array([64, 64, 128]),
                         dtype="bf16", profile="amd-fmha")
    times = np.asarray(pred.time_s)
    assert times.shape == (3,) and np.all(np.isfinite(times)) and np.all(times > 0)


@pytest.mark.parametrize(("batch", "heads", "seq", "head_dim", "causal"), MI300X_SHAPES)
def test_einsim_predict_on_mi300x_exits_zero(batch, heads, seq, head_dim, causal):
    args = ["predict", "--hw", "mi300x", "--cascade", "attention-1pass", "--kernel", "amd-fmha",
            "--batch", str(batch), "--heads", str(heads), "--seq-q", str(seq), "--seq-kv", str(seq),
            "--head-dim", str(head_dim), "--dtype", "bf16", "--json"]
    if causal:
        args.append("--causal")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document  # one JSON document


def test_nvidia_profiles_still_price_mi300x():
    # nothing in the GPU model assumes NVIDIA: the warp-size-free occupancy and the LDS limit work
    pred = predict_batch("mi300x", "attention-1pass", batch=8, heads=16, seq_q=4096, seq_kv=4096,
                         head_dim=128, dtype="bf16", profile="flash2")
    assert math.isfinite(float(np.asarray(pred.time_s))) and float(np.asarray(pred.time_s)) > 0


def test_flash3_needs_hopper_instructions():
    from simulator.errors import SpecError

    with pytest.raises(SpecError, match="needs hopper instructions; mi300x is CDNA 3"):
        predict_batch("mi300x", "attention-1pass", batch=1, heads=1, seq_q=128, seq_kv=128, head_dim=64,
                      profile="flash3")

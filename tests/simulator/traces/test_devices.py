"""Device names in traces -> GPU catalogue names (simulator/traces/devices.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml

from simulator.errors import SpecError
from simulator.hardware import list_gpus, load_gpu
from simulator.traces.devices import catalogue_name, device_entries, vendor_of

TABLE = Path(__file__).resolve().parents[3] / "simulator" / "data" / "device_names.yaml"
TRACES = Path("../shared/traces")

EXACT = [
    ("NVIDIA H100 80GB HBM3", 132, "h100-sxm5"),
    ("NVIDIA H100 80GB HBM3", None, "h100-sxm5"),
    ("NVIDIA H100", 132, "h100-sxm5"),
    ("NVIDIA B200", 148, "b200"),
    ("NVIDIA B200", None, "b200"),
    ("NVIDIA GB200", None, "gb200"),
    ("NVIDIA H200", 132, "h200"),
    ("NVIDIA A100-SXM4-80GB", 108, "a100-sxm4-80gb"),
    ("NVIDIA A100-SXM4-40GB", 108, "a100-sxm4-40gb"),
    ("NVIDIA L40S", 142, "l40s"),
    ("AMD Instinct MI300X", 304, "mi300x"),
    ("AMD Instinct MI300X", None, "mi300x"),
]


@pytest.mark.parametrize(("device", "sms", "gpu"), EXACT)
def test_exact_mappings_have_no_note(device, sms, gpu):
    assert catalogue_name(device, sms) == (gpu, "")
    load_gpu(gpu)  # the returned name is loadable


def test_h800_maps_with_its_note():
    assert catalogue_name("NVIDIA H800") == ("h800", "H800: H100 SXM5 compute and memory, reduced NVLink")
    assert catalogue_name("NVIDIA H800", 132)[0] == "h800"


def test_mi300x_vf_maps_to_mi300x_with_a_note():
    note = "virtualised MI300X (VF): same silicon, priced as mi300x"
    assert catalogue_name("AMD Instinct MI300X VF", 304) == ("mi300x", note)
    assert catalogue_name("AMD Instinct MI300X VF") == ("mi300x", note)


def test_matching_is_case_insensitive_and_strips_blanks():
    assert catalogue_name("  nvidia h100 80gb hbm3 ")[0] == "h100-sxm5"
    assert catalogue_name("amd instinct mi300x vf")[0] == "mi300x"


def test_b200_pattern_does_not_take_gb200():
    assert catalogue_name("NVIDIA GB200")[0] == "gb200"
    assert catalogue_name("NVIDIA B200")[0] == "b200"


def test_sm_count_picks_between_devices_sharing_a_name():
    assert catalogue_name("NVIDIA H100", 132) == ("h100-sxm5", "")
    with pytest.raises(SpecError, match="h100-pcie"):
        catalogue_name("NVIDIA H100", 114)
    assert catalogue_name("gfx942:sramecc+:xnack-", 304)[0] == "mi300x"
    with pytest.raises(SpecError, match="mi300a"):
        catalogue_name("gfx942:sramecc+:xnack-", 228)


def test_sm_count_mismatch_is_reported_in_the_note():
    gpu, note = catalogue_name("NVIDIA H100 80GB HBM3 MIG 3g.40gb", 60)
    assert gpu == "h100-sxm5" and note == "trace reports 60 SMs, catalogue 132"
    gpu, note = catalogue_name("AMD Instinct MI300X VF", 80)
    assert gpu == "mi300x"
    assert note == ("virtualised MI300X (VF): same silicon, priced as mi300x; "
                    "trace reports 80 SMs, catalogue 304")


@pytest.mark.parametrize("device", ["NVIDIA H100 PCIe", "NVIDIA A100 80GB PCIe", "NVIDIA L40",
                                    "AMD Instinct MI300A", "NVIDIA H800 PCIe"])
def test_known_devices_without_a_spec_file_raise(device):
    with pytest.raises(SpecError) as info:
        catalogue_name(device)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"device '{device}' is not in the GPU catalogue")
    assert message.endswith("(pass --hw NAME)") and "no spec file for" in message
    assert all(name in message for name in list_gpus())


@pytest.mark.parametrize("device", ["NVIDIA GeForce RTX 4090", "Intel GPU Max 1550", ""])
def test_unknown_device_error_is_one_line_listing_the_catalogue(device):
    with pytest.raises(SpecError) as info:
        catalogue_name(device)
    expected = (f"device '{device}' is not in the GPU catalogue; known: "
                f"{', '.join(list_gpus())} (pass --hw NAME)")
    assert str(info.value) == expected


def test_a_user_spec_alias_is_a_last_resort(tmp_path, monkeypatch):
    doc = yaml.safe_load((Path(load_gpu("l40s").path)).read_text())
    doc.update(name="rtx-4090-test", aliases=["NVIDIA GeForce RTX 4090"])
    (tmp_path / "rtx.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("EINSIM_HW_PATH", str(tmp_path))
    assert catalogue_name("NVIDIA GeForce RTX 4090", 142) == ("rtx-4090-test", "")


@pytest.mark.parametrize(("device", "vendor"),
                         [("NVIDIA H100 80GB HBM3", "nvidia"), ("NVIDIA B200", "nvidia"),
                          ("Tesla V100-SXM2-16GB", "nvidia"), ("H100", "nvidia"),
                          ("AMD Instinct MI300X", "amd"), ("AMD Instinct MI300X VF", "amd"),
                          ("MI300X", "amd"), ("gfx942:sramecc+:xnack-", "amd"),
                          ("Intel GPU Max 1550", ""), ("", "")])
def test_vendor_of(device, vendor):
    assert vendor_of(device) == vendor


def test_every_entry_has_a_source_and_a_known_or_described_gpu():
    doc = yaml.safe_load(TABLE.read_text())
    assert doc["source"].strip()
    for vendor, node in doc["vendors"].items():
        assert node["source"].strip(), vendor
    catalogue = set(list_gpus())
    entries = device_entries()
    assert len(entries) == len(doc["devices"])
    for entry in entries:
        assert entry.source, entry.pattern.pattern
        # a gpu without a spec file must say what the device is (for the error message)
        assert entry.gpu in catalogue or entry.about, entry.gpu
        if entry.gpu in catalogue and entry.sm_count is not None:
            assert load_gpu(entry.gpu).sm_count == entry.sm_count, entry.gpu


def _device_properties():
    found = []
    for path in sorted(TRACES.glob("*.json.gz")) if TRACES.is_dir() else []:
        with gzip.open(path, "rt") as handle:
            props = json.load(handle).get("deviceProperties") or []
        found += [(path.name, p["name"], p.get("numSms")) for p in props[:1]]
    return found


@pytest.mark.skipif(not TRACES.is_dir(), reason="shared traces not available")
def test_every_shared_trace_device_maps_without_sm_mismatch():
    seen = _device_properties()
    assert len(seen) >= 5
    for file, device, sms in seen:
        gpu, note = catalogue_name(device, sms)
        assert "trace reports" not in note, (file, note)
        expected = {"h100": "h100-sxm5", "b200": "b200"}.get(file.split("_")[0], "mi300x")
        assert gpu == expected, (file, device)
        assert vendor_of(device) in ("nvidia", "amd"), device

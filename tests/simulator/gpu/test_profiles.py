"""Kernel profiles: every built-in loads, every number has a source, bad YAML is rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from simulator.errors import SpecError
from simulator.gpu.profiles import PIPE_RESOURCES, list_profiles, load_profile

BUILTIN = Path(__file__).resolve().parents[3] / "simulator" / "profiles"


@pytest.mark.parametrize("name", list_profiles())
def test_builtin_profiles_load_with_sources(name):
    profile = load_profile(name)
    assert set(profile.efficiency) == set(PIPE_RESOURCES)
    assert all(0 < v <= 1 for v in profile.efficiency.values())
    for key in [f"efficiency.{r}" for r in PIPE_RESOURCES] + list(profile.numbers):
        assert profile.sources[key].strip(), key
    fitted = [k for k, s in profile.sources.items() if s.startswith("fit")]
    assert len({profile.efficiency.get(k.split(".")[1], profile.numbers.get(k))
                for k in fitted}) <= 3, "at most three fitted numbers per profile"


def test_required_profiles_exist():
    assert {"flash2", "flash3", "unfused"} <= set(list_profiles())
    # FA3's ping-pong warpgroups and FA2's two resident CTAs both give 2 streams; no profile
    # has fewer than one
    assert load_profile("flash3").streams >= 2 and load_profile("flash2").streams >= 1


def _write(tmp_path, mutate):
    doc = yaml.safe_load((BUILTIN / "flash3.yaml").read_text())
    mutate(doc)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


BAD = [
    (lambda d: d["efficiency"].pop("dram"), "missing key 'efficiency.dram'"),
    (lambda d: d["efficiency"]["tensor"].update(value=1.5), "fraction in (0, 1]"),
    (lambda d: d["kernel"]["kv_stages"].update(source=""), "kernel.kv_stages.source"),
    (lambda d: d.update(fusion="partly"), "key 'fusion'"),
    (lambda d: d["overheads"].update(typo={"value": 1, "source": "x"}), "unknown key 'overheads.typo'"),
    (lambda d: d["overlap"].update(serial=["tensor", "gpu"]), "overlap.serial"),
    (lambda d: d["tiles"].update(default=[{"max_head_dim": 64, "q": 0, "kv": 64}]), "positive"),
    (lambda d: d.update(extra_key=1), "unknown key 'extra_key'"),
    (lambda d: d["tiles"].update(default=[{"max_head_dim": 64, "q": 128, "kv": 64,
                                           "pair_exp_emulated": 0.2}]), "pair_exp_emulated"),
    (lambda d: d["tiles"].update(default=[{"max_head_dim": 64, "q": 128, "kv": 64, "cta_pair": "always",
                                           "pair_exp_emulated": 1.5}]), "a fraction in [0, 1]"),
]


@pytest.mark.parametrize("mutate, fragment", BAD)
def test_bad_profiles_raise_one_line_spec_errors(tmp_path, mutate, fragment):
    with pytest.raises(SpecError) as info:
        load_profile(_write(tmp_path, mutate))
    message = str(info.value)
    assert fragment in message and "\n" not in message and "bad.yaml" in message


def test_unknown_profile_lists_known_ones():
    with pytest.raises(SpecError, match="unknown kernel profile 'flash9'; known: amd-fmha, cutlass-fmha, "
                                        "flash2"):
        load_profile("flash9")


def test_malformed_yaml(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="malformed YAML"):
        load_profile(path)


def test_with_values_replaces_numbers_only():
    base = load_profile("flash3")
    changed = base.with_values({"efficiency.tensor": 0.5, "overheads.launch_s": 0.0})
    assert changed.efficiency["tensor"] == 0.5 and changed.number("overheads.launch_s") == 0
    assert base.efficiency["tensor"] != 0.5
    with pytest.raises(SpecError, match="unknown number"):
        base.with_values({"efficiency.l3": 1.0})


def test_tiles_per_architecture():
    flash2 = load_profile("flash2")
    assert flash2.tile_for(128) == (128, 64)
    assert flash2.tile_for(128, "Ada Lovelace") == (128, 32)
    assert flash2.tile_for(512) == flash2.tile_for(256)
    assert flash2.tensor_fraction("Hopper") < 1 == flash2.tensor_fraction("Ampere")


def test_the_kernel_option_names_every_built_in_profile():
    from typing import get_args

    from simulator.cli.predict import _Kernel
    from simulator.gpu.profiles import list_profiles

    help_text = get_args(_Kernel)[1].help
    assert all(name in help_text for name in list_profiles())

"""Shared fixtures: a tiny hand-computable architecture and helpers to write YAML files."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

SRC = "test"


def q(value, unit):
    return {"value": value, "unit": unit, "source": SRC}


def op(cycles, **actions):
    return {"cycles": cycles, "actions": actions, "source": SRC}


#: 2x2 2-D array (mac, add, max, exp = 4 MACs), 2-PE 1-D array (+ mul, div); 1 GHz; 1 KiB
#: buffer; 2 GB/s; 1 pJ per compute action, 10 pJ per 16-bit DRAM word; no register or
#: buffer energy, so every number in the tests can be computed by hand.
TOY_ARCH = {
    "name": "toy",
    "title": "toy architecture for hand-computed tests",
    "clock": q(1, "GHz"),
    "word": q(16, "bit"),
    "buffer": {"capacity": q(1, "KiB"), "access_width": q(16, "bit"),
               "read_energy": q(0, "pJ"), "write_energy": q(0, "pJ"), "area": q(1, "mm2")},
    "dram": {"bandwidth": q(2, "GB/s"), "access_width": q(16, "bit"),
             "access_energy": q(10, "pJ")},
    "actions": {"mac": q(1, "pJ"), "add": q(1, "pJ"), "max": q(1, "pJ"), "div": q(1, "pJ"),
                "register_read": q(0, "pJ"), "register_write": q(0, "pJ")},
    "units": {"pe2": q(100, "um2"), "pe1": q(1000, "um2")},
    "arrays": {
        "2d": {"rows": q(2, "PE"), "cols": q(2, "PE"), "registers": q(4, "entry"),
               "register_accesses": {"reads": q(1, "access"), "writes": q(1, "access")},
               "pe_units": {"units": {"pe2": 1}, "source": SRC},
               "fill_drain": q(1, "cycle/row"),
               "ops": {"mac": op(1, mac=1), "add": op(1, add=1), "max": op(1, max=1),
                       "exp": op(4, mac=4)}},
        "1d": {"pes": q(2, "PE"), "registers": q(4, "entry"),
               "register_accesses": {"reads": q(0, "access"), "writes": q(0, "access")},
               "pe_units": {"units": {"pe1": 1}, "source": SRC},
               "ops": {"add": op(1, add=1), "max": op(1, max=1), "mul": op(1, mac=1),
                       "div": op(1, div=1), "exp": op(4, mac=4)}},
    },
}


def write_yaml(path: Path, doc) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def toy_doc():
    return copy.deepcopy(TOY_ARCH)


@pytest.fixture
def toy_path(tmp_path, toy_doc) -> Path:
    return write_yaml(tmp_path / "toy.yaml", toy_doc)


@pytest.fixture
def dump_yaml():
    """``dump_yaml(path, doc) -> path``."""
    return write_yaml

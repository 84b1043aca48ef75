"""Sweep spec schema: valid specs parse; each invalid one gives a one-line SpecError."""

from __future__ import annotations

import copy

import pytest
import yaml

from simulator.errors import SpecError
from simulator.sweep.spec import (
    builtin_spec_names,
    find_spec,
    load_spec,
    parse_spec,
    spec_hash,
)

GOOD = {
    "name": "demo",
    "evaluator": "synthetic",
    "axes": {
        "hardware": ["a", "b"],
        "peak_flops": [1.0e13, 1.0e14],
        "units": [1, 2, 4],
        "sparsity": [{"kind": "dense"}, {"kind": "window", "window": 2048}],
    },
    "zip": [["hardware", "peak_flops"]],
    "filters": ["units <= 4"],
    "objectives": [{"column": "latency", "sense": "min"}, {"column": "energy", "sense": "max"}],
    "pareto_by": ["hardware"],
    "constraints": ["area <= 1"],
    "chunk_size": 10,
}


def mutate(path, value):
    """A copy of GOOD with the key at dotted ``path`` set to ``value`` (None deletes it)."""
    data = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    target = data
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is None:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return data


# (path to change, new value (None = delete), expected message after "demo.yaml: ")
BAD_SPECS = [
    ("name", None, "key 'name': required key is missing"),
    ("name", "", "key 'name': expected a non-empty string, got string ''"),
    ("evaluator", 3, "key 'evaluator': expected a non-empty string, got int 3"),
    ("axes", [], "key 'axes': expected a non-empty mapping"),
    ("axes.units", [], "key 'axes.units': expected at least one value"),
    ("axes.point", [1], "key 'axes.point': the column name 'point' is reserved"),
    ("axes.units", [1, {"a": object}], "key 'axes.units[1].a': expected a number, string"),
    ("axes.units", [1, float("nan")], "key 'axes.units[1]': expected a value, got NaN"),
    ("zip", [["hardware"]], "key 'zip[0]': expected a list of at least two axis names"),
    ("zip", [["hardware", "nope"]], "key 'zip[0][1]': 'nope' is not an axis"),
    ("zip", [["hardware", "units"]], "key 'zip[0][1]': axis 'units' has 3 values but 'hardware' has 2"),
    (
        "zip",
        [["hardware", "peak_flops"], ["hardware", "sparsity"]],
        "key 'zip[1][0]': axis 'hardware' is already",
    ),
    ("zip", "hardware", "key 'zip[0]': expected a list of at least two axis names"),
    ("filters", ["units <="], "key 'filters[0]': invalid expression 'units <='"),
    ("filters", [3], "key 'filters[0]': expected a non-empty string, got int 3"),
    ("objectives", [], "key 'objectives': expected at least one {column, sense} objective"),
    ("objectives.0.sense", "fast", "key 'objectives[0].sense': expected 'min' or 'max', got 'fast'"),
    ("objectives.0.column", None, "key 'objectives[0].column': required key is missing"),
    ("objectives.0.weight", 2, "key 'objectives[0].weight': unknown key"),
    ("objectives.1.column", "latency", "key 'objectives[1].column': column 'latency' is already"),
    ("objectives.1.column", "2x", "key 'objectives[1].column': expected a column name"),
    ("pareto_by", ["hardware", "hardware"], "key 'pareto_by[1]': column 'hardware' is listed twice"),
    ("pareto_by", {"a": 1}, "key 'pareto_by[0]': expected a column name"),
    ("constraints", ["area <= = 1"], "key 'constraints[0]': invalid expression"),
    ("chunk_size", 0, "key 'chunk_size': expected a positive integer, got int 0"),
    ("chunk_size", True, "key 'chunk_size': expected a positive integer, got bool True"),
    ("colour", "red", "key 'colour': unknown key; expected one of name, evaluator"),
]


@pytest.mark.parametrize("path,value,message", BAD_SPECS, ids=[f"{p}={v!r}" for p, v, _ in BAD_SPECS])
def test_bad_specs_name_file_and_key(path, value, message):
    with pytest.raises(SpecError) as info:
        parse_spec(mutate(path, value), "demo.yaml")
    text = str(info.value)
    assert text.startswith(f"demo.yaml: {message}")
    assert "\n" not in text


def test_good_spec_round_trips():
    spec = parse_spec(GOOD, "demo.yaml")
    assert spec.axis_names == ("hardware", "peak_flops", "units", "sparsity")
    assert spec.axes[3].values[1] == {"kind": "window", "window": 2048}
    assert spec.zip_groups == (("hardware", "peak_flops"),)
    assert [o.sense for o in spec.objectives] == ["min", "max"]
    assert parse_spec(spec.to_dict(), "other.yaml") == spec


def test_defaults_and_shorthands():
    spec = parse_spec(
        {"name": "x", "evaluator": "e", "axes": {"a": 3}, "objectives": "t", "filters": "a > 1"}
    )
    assert spec.axes[0].values == (3,)
    assert spec.objectives[0].column == "t" and spec.objectives[0].sense == "min"
    assert spec.filters == ("a > 1",)
    assert spec.chunk_size is None  # automatic: see auto_chunk_size
    assert spec.pareto_by == () and spec.constraints == () and spec.zip_groups == ()


def test_not_a_mapping():
    with pytest.raises(SpecError, match=r"^s.yaml: top level: expected a mapping, got list"):
        parse_spec([1, 2], "s.yaml")


def test_load_spec_errors(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\naxes: [1, 2\n")
    with pytest.raises(SpecError, match=r"broken.yaml:\d+:\d+: "):
        load_spec(broken)
    with pytest.raises(SpecError, match="missing.yaml: cannot read the sweep spec"):
        load_spec(tmp_path / "missing.yaml")


def test_load_spec_from_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(GOOD, sort_keys=False))
    spec = load_spec(path)
    assert spec.source == str(path)
    assert spec == parse_spec(GOOD)


def test_spec_hash_changes_with_results_not_with_file_name():
    base = spec_hash(parse_spec(GOOD, "a.yaml"))
    assert spec_hash(parse_spec(GOOD, "b.yaml")) == base
    assert spec_hash(parse_spec(mutate("chunk_size", 11))) != base
    assert spec_hash(parse_spec(mutate("axes.units", [1, 2, 5]))) != base
    assert spec_hash(parse_spec(GOOD), {"defaults": {"x": 1}}) != base


def test_builtin_specs_are_valid():
    names = builtin_spec_names()
    assert "synthetic" in names
    for name in names:
        assert load_spec(find_spec(name)).name


def test_find_spec_default_and_paths(tmp_path):
    default = find_spec(None)
    assert default.name in ("default.yaml", "synthetic.yaml")
    path = tmp_path / "mine.yaml"
    path.write_text("x: 1")
    assert find_spec(str(path)) == path
    with pytest.raises(SpecError, match="no such sweep spec file or built-in"):
        find_spec(str(tmp_path / "nope.yaml"))

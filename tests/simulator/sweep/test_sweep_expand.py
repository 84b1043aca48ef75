"""Lazy grid expansion: product order, zip groups, dtypes, huge grids, expressions."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from simulator.errors import SpecError
from simulator.sweep.expand import (
    ChunkRange,
    add_constant_columns,
    build_grid,
    chunk_ranges,
    eval_mask,
)
from simulator.sweep.spec import parse_spec


def make_spec(axes, zip_groups=()):
    return parse_spec(
        {"name": "t", "evaluator": "e", "axes": axes, "zip": [list(g) for g in zip_groups],
         "objectives": ["x"]}
    )  # fmt: skip


def test_product_order_is_itertools_order():
    axes = {"a": [1, 2], "b": ["x", "y", "z"], "c": [0.5, 1.5]}
    grid = build_grid(make_spec(axes))
    frame = grid.frame(np.arange(grid.size))
    expected = list(itertools.product(*axes.values()))
    assert list(frame[["a", "b", "c"]].itertuples(index=False, name=None)) == expected
    assert frame["point"].tolist() == list(range(12))


def test_zip_group_is_one_factor_at_its_first_member():
    axes = {"n": [1, 2], "hw": ["a", "b", "c"], "m": [7, 8], "flops": [10.0, 20.0, 30.0]}
    grid = build_grid(make_spec(axes, [("hw", "flops")]))
    assert grid.radices == (2, 3, 2)
    frame = grid.frame(np.arange(grid.size))
    expected = [(n, hw, m, f) for n in (1, 2) for hw, f in zip("abc", (10.0, 20.0, 30.0)) for m in (7, 8)]
    assert list(frame[["n", "hw", "m", "flops"]].itertuples(index=False, name=None)) == expected


def test_column_dtypes():
    axes = {"i": [1, 2], "f": [1, 2.5], "b": [True, False], "s": ["x", "y"], "d": [{"k": 1}, None]}
    frame = build_grid(make_spec(axes)).frame(np.arange(4))
    assert frame["i"].dtype == np.int64
    assert frame["f"].dtype == np.float64
    assert frame["b"].dtype == bool
    assert pd.api.types.is_string_dtype(frame["s"])
    assert frame["d"].tolist() == [{"k": 1}, None, {"k": 1}, None]


def test_huge_grid_is_never_materialised():
    axes = {f"a{i}": list(range(10)) for i in range(12)}  # 10**12 points
    grid = build_grid(make_spec(axes))
    assert grid.size == 10**12
    last = grid.frame(np.arange(grid.size - 3, grid.size))
    assert last.iloc[-1].drop("point").tolist() == [9] * 12
    assert last.iloc[0, -1] == 7
    chunks = chunk_ranges(grid.size, 1000)
    assert next(chunks) == ChunkRange(0, 0, 1000)
    assert next(chunks) == ChunkRange(1, 1000, 2000)


def test_too_big_grid_is_an_error():
    axes = {f"a{i}": list(range(100)) for i in range(10)}  # 10**20 points
    with pytest.raises(SpecError, match="too many"):
        build_grid(make_spec(axes))


@pytest.mark.parametrize("size,chunk", [(0, 3), (1, 3), (9, 3), (10, 3), (10, 100)])
def test_chunk_ranges_cover_the_grid(size, chunk):
    ranges = list(chunk_ranges(size, chunk))
    covered = [i for r in ranges for i in range(r.start, r.stop)]
    assert covered == list(range(size))
    assert [r.index for r in ranges] == list(range(len(ranges)))


def test_constant_columns_keep_existing_and_allow_mappings():
    frame = add_constant_columns(pd.DataFrame({"a": [1, 2]}), {"a": 9, "cfg": {"k": 1}, "s": "x"})
    assert frame["a"].tolist() == [1, 2]
    assert frame["cfg"].tolist() == [{"k": 1}, {"k": 1}]
    assert frame["s"].tolist() == ["x", "x"]


EXPRESSION_ERRORS = [
    ("q + 1", "does not give one true/false per row"),
    ("nope > 1", "cannot evaluate 'nope > 1': name 'nope' is not defined"),
]


@pytest.mark.parametrize("expression,message", EXPRESSION_ERRORS)
def test_expression_errors(expression, message):
    frame = pd.DataFrame({"q": [1, 2]})
    with pytest.raises(SpecError, match=r"^s.yaml: key 'constraints\[1\]': .*" + message):
        eval_mask(frame, ["q > 0", expression], "s.yaml", "constraints")


def test_expressions_over_strings_and_scalars():
    frame = pd.DataFrame({"hw": ["a", "b"], "q": [1, 2]})
    assert eval_mask(frame, ['hw == "b" or q < 2'], "s", "filters").tolist() == [True, True]
    assert eval_mask(frame, ["True"], "s", "filters").tolist() == [True, True]


def test_text_axes_are_categoricals_with_the_same_values():
    """Text axes travel as integer codes; a zipped axis may repeat a value."""
    spec = make_spec({"hw": ["a", "b", "a"], "n": [1, 2, 3], "mask": ["dense", "causal"],
                      "mixed": ["x", 1]}, zip_groups=[("hw", "n")])
    grid = build_grid(spec)
    frame = grid.frame(np.arange(grid.size))
    assert isinstance(frame["hw"].dtype, pd.CategoricalDtype)
    assert list(frame["hw"].cat.categories) == ["a", "b"]
    assert isinstance(frame["mask"].dtype, pd.CategoricalDtype)
    assert frame["mixed"].dtype == object  # not all text: left as objects
    expected = list(itertools.product(zip(["a", "b", "a"], [1, 2, 3]), ["dense", "causal"], ["x", 1]))
    assert list(zip(frame["hw"], frame["n"], frame["mask"], frame["mixed"])) == [
        (hw, n, mask, mixed) for (hw, n), mask, mixed in expected]
    constant = add_constant_columns(frame.head(3), {"profile": "flash3"})
    assert isinstance(constant["profile"].dtype, pd.CategoricalDtype)
    assert constant["profile"].tolist() == ["flash3"] * 3

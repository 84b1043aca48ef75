"""Exact Pareto extraction against a naive O(n²) dominance check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import pareto
from simulator.pareto import (
    Objective,
    as_objectives,
    pareto_mask,
    pareto_mask_by_group,
    pareto_mask_grouped,
)


def naive_mask(values, senses):
    """O(n²) reference: a row is kept unless another row dominates it."""
    arr = np.array(values, dtype=float).reshape(len(values), len(senses))
    arr = arr * np.where(np.array(senses) == "max", -1.0, 1.0)
    usable = ~np.isnan(arr).any(axis=1)
    others = arr[usable]
    weakly = (others[:, None, :] <= arr[None, :, :]).all(axis=2)
    strictly = (others[:, None, :] < arr[None, :, :]).any(axis=2)
    return usable & ~(weakly & strictly).any(axis=0)


_SPECIALS = np.array([np.nan, np.inf, -np.inf, -0.0])


@st.composite
def objective_tables(draw, max_rows=60):
    """Small-integer tables (many ties and duplicates), sometimes with NaN/±inf/-0.0."""
    k = draw(st.integers(1, 4))
    n = draw(st.integers(0, max_rows))
    levels = draw(st.integers(1, 6))
    extra = len(_SPECIALS) if draw(st.booleans()) else 0
    flat = np.array(draw(st.lists(st.integers(0, levels + extra), min_size=n * k, max_size=n * k)), dtype=int)
    values = flat.astype(float)
    special = flat > levels
    values[special] = _SPECIALS[flat[special] - levels - 1]
    senses = draw(st.lists(st.sampled_from(["min", "max"]), min_size=k, max_size=k))
    return values.reshape(n, k), senses


@settings(max_examples=120, deadline=None)
@given(objective_tables())
def test_matches_naive_on_small_tables(table):
    values, senses = table
    assert pareto_mask(values, senses).tolist() == naive_mask(values, senses).tolist()


@settings(max_examples=50, deadline=None)
@given(table=objective_tables(max_rows=150))
def test_matches_naive_with_tiny_blocks(monkeypatch_module, table):
    values, senses = table
    assert pareto_mask(values, senses).tolist() == naive_mask(values, senses).tolist()


@pytest.fixture(scope="module")
def monkeypatch_module():
    """Shrink blocks and pivots so small inputs go through every code path."""
    patch = pytest.MonkeyPatch()
    patch.setattr(pareto, "_BLOCK", 3)
    patch.setattr(pareto, "_PIVOTS", 2)
    yield
    patch.undo()


# (description, generator) of structured inputs where the front is large or degenerate.
STRUCTURED = [
    ("plane", lambda rng, n, k: np.column_stack([rng.random((n, k - 1)), -rng.random(n)])),
    ("anti-diagonal", lambda rng, n, k: _on_simplex(rng, n, k)),
    ("all equal", lambda rng, n, k: np.ones((n, k))),
    ("coarse grid", lambda rng, n, k: rng.integers(0, 3, (n, k)).astype(float)),
    ("one column constant", lambda rng, n, k: np.column_stack([np.zeros(n), rng.random((n, k - 1))])),
]


def _on_simplex(rng, n, k):
    points = rng.random((n, k))
    return np.round(points / points.sum(axis=1, keepdims=True), 2)


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("name,make", STRUCTURED, ids=[s[0] for s in STRUCTURED])
def test_structured_inputs(name, make, k):
    rng = np.random.default_rng(7)
    values = make(rng, 500, k)
    senses = ["min", "max", "min", "max"][:k]
    assert pareto_mask(values, senses).tolist() == naive_mask(values, senses).tolist()


def test_duplicates_of_front_points_are_all_kept():
    values = [[1, 2], [1, 2], [2, 1], [2, 2], [2, 2]]
    assert pareto_mask(values, ["min", "min"]).tolist() == [True, True, True, False, False]


def test_signed_zeros_tie():
    assert pareto_mask([[0.0, 1.0], [-0.0, 1.0]], ["min", "min"]).tolist() == [True, True]


@pytest.mark.parametrize(
    "values,senses,message",
    [
        (np.zeros(3), ["min"], "2-D"),
        (np.zeros((3, 0)), [], "at least one column"),
        (np.zeros((3, 2)), ["min"], "1 senses for 2"),
        (np.zeros((3, 1)), ["best"], "'min' or 'max'"),
    ],
)
def test_bad_arguments(values, senses, message):
    with pytest.raises(ValueError, match=message):
        pareto_mask(values, senses)


def test_grouped_equals_per_group_naive():
    rng = np.random.default_rng(3)
    n = 400
    df = pd.DataFrame(
        {
            "hw": rng.choice(["a", "b", "c"], n),
            "cfg": [{"w": int(w)} for w in rng.integers(0, 2, n)],
            "t": rng.integers(0, 8, n).astype(float),
            "e": rng.integers(0, 8, n).astype(float),
            "ok": rng.random(n) < 0.8,
        }
    )
    objectives = [{"column": "t", "sense": "min"}, {"column": "e", "sense": "max"}]
    got = pareto_mask_grouped(df, objectives, by=["hw", "cfg"], where="ok")
    expected = np.zeros(n, dtype=bool)
    keys = df["hw"] + df["cfg"].map(str)
    for key in keys.unique():
        rows = np.flatnonzero((keys == key).to_numpy() & df["ok"].to_numpy())
        expected[rows] = naive_mask(df[["t", "e"]].to_numpy()[rows], ["min", "max"])
    assert got.tolist() == expected.tolist()


def test_grouped_without_eligible_rows():
    df = pd.DataFrame({"t": [1.0, 2.0]})
    assert pareto_mask_grouped(df, ["t"], where=np.array([False, False])).tolist() == [False, False]


def test_objective_normalisation():
    assert as_objectives([Objective("a", "max"), "b"]) == (Objective("a", "max"), Objective("b"))
    with pytest.raises(ValueError):
        as_objectives([3])


@settings(max_examples=40, deadline=None)
@given(table=objective_tables(), data=st.data())
def test_by_group_equals_naive_per_group(table, data):
    values, senses = table
    groups = np.array(
        data.draw(st.lists(st.integers(0, 3), min_size=len(values), max_size=len(values))), dtype=int
    )
    where = np.array(
        data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values))), dtype=bool
    )
    expected = np.zeros(len(values), dtype=bool)
    for label in set(groups.tolist()):
        rows = np.flatnonzero((groups == label) & where)
        expected[rows] = naive_mask(values[rows], senses)
    got = pareto_mask_by_group(values, senses, groups, where=where)
    assert got.tolist() == expected.tolist()


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(-5, 5), min_size=1, max_size=80),
    cuts=st.sets(st.integers(1, 79), max_size=30),
    loop_segment=st.sampled_from([1, 256, 10**9]),
)
def test_segmented_running_minimum(values, cuts, loop_segment):
    """Both strategies (one accumulate per segment, Hillis-Steele scan) against a loop."""
    array = np.array(values, dtype=float)
    starts = np.array(sorted({0, *(c for c in cuts if c < len(values))}))
    expected = array.copy()
    for i in range(1, len(array)):
        if i not in set(starts.tolist()):
            expected[i] = min(expected[i - 1], array[i])
    saved, pareto._LOOP_SEGMENT = pareto._LOOP_SEGMENT, loop_segment
    try:
        got = pareto._segmented_cummin(array, starts)
    finally:
        pareto._LOOP_SEGMENT = saved
    assert got.tolist() == expected.tolist()


@pytest.mark.parametrize("groups", [1, 7, 5000])
def test_two_objective_fronts_on_large_groups(groups):
    """Few long groups (accumulated one by one) and many short ones (scanned)."""
    rng = np.random.default_rng(groups)
    n = 20_000
    values = rng.integers(0, 40, size=(n, 2)).astype(float)
    labels = rng.integers(0, groups, size=n)
    got = pareto_mask_by_group(values, ["min", "max"], labels)
    expected = np.zeros(n, dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        # Distinct points first (fast naive check), then spread back to duplicates.
        distinct, inverse = np.unique(values[rows], axis=0, return_inverse=True)
        expected[rows] = naive_mask(distinct, ["min", "max"])[inverse.reshape(-1)]
    assert got.tolist() == expected.tolist()


@settings(max_examples=30, deadline=None)
@given(table=objective_tables(max_rows=50), data=st.data())
def test_front_of_chunk_fronts_is_the_front(table, data):
    """What the sweep outputs rely on: a point dominated inside its chunk is dominated,
    so the front of the chunks' fronts is the front of all points."""
    values, senses = table
    n = len(values)
    groups = np.array(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=int)
    chunk_of = np.sort(np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=int))
    candidates = np.zeros(n, dtype=bool)
    for chunk in np.unique(chunk_of):
        rows = np.flatnonzero(chunk_of == chunk)
        candidates[rows] = pareto_mask_by_group(values[rows], senses, groups[rows])
    rows = np.flatnonzero(candidates)
    got = np.zeros(n, dtype=bool)
    got[rows] = pareto_mask_by_group(values[rows], senses, groups[rows])
    assert got.tolist() == pareto_mask_by_group(values, senses, groups).tolist()

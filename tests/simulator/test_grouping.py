"""Grouping by integer codes against grouping by the values themselves."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.grouping import column_codes, group_keys, group_labels, group_rows, stable_argsort

_TEXT = ["h100", "a100", "b200", None]
_CONFIGS = [{"kind": "dense"}, {"kind": "window", "size": [8, 8]}, None]


def _key(value):
    """How a cell is compared: mappings by JSON text, missing values as one."""
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


@st.composite
def frames(draw):
    n = draw(st.integers(0, 40))
    cells = {
        "text": st.sampled_from(_TEXT),
        "number": st.sampled_from([1.0, 2.5, float("nan")]),
        "count": st.integers(0, 3),
        "config": st.sampled_from(_CONFIGS),
    }
    data = {name: draw(st.lists(cell, min_size=n, max_size=n)) for name, cell in cells.items()}
    frame = pd.DataFrame({k: pd.Series(v, dtype=object if k in ("text", "config") else None)
                          for k, v in data.items()})
    if draw(st.booleans()):  # the sweep's text axes arrive as Categoricals
        frame["text"] = pd.Categorical(frame["text"], categories=["b200", "h100", "a100", "l40s"])
    columns = draw(st.lists(st.sampled_from(list(cells)), min_size=1, max_size=4, unique=True))
    return frame, columns


@settings(max_examples=80, deadline=None)
@given(case=frames())
def test_labels_partition_rows_as_the_values_do(case):
    frame, columns = case
    labels = group_labels(frame, columns)
    tuples = [tuple(_key(frame[c].iloc[i]) for c in columns) for i in range(len(frame))]
    for i in range(len(frame)):
        for j in range(len(frame)):
            assert (labels[i] == labels[j]) == (tuples[i] == tuples[j])
    assert sorted(set(labels.tolist())) == list(range(len(set(tuples))))


@settings(max_examples=60, deadline=None)
@given(case=frames())
def test_keys_and_rows_name_each_group(case):
    frame, columns = case
    labels, keys = group_keys(frame, columns)
    for label, key in enumerate(keys):
        for i in np.flatnonzero(labels == label):
            assert tuple(_key(frame[c].iloc[i]) for c in columns) == key
    seen = []
    for key, rows in group_rows(frame, columns):
        assert rows.tolist() == sorted(rows.tolist())
        assert all(tuple(_key(frame[c].iloc[i]) for c in columns) == key for i in rows)
        seen += rows.tolist()
    assert sorted(seen) == list(range(len(frame)))


def test_categorical_codes_cover_absent_categories():
    column = pd.Series(pd.Categorical(["x", None, "x"], categories=["y", "x"]))
    codes, values = column_codes(column)
    assert [values[c] for c in codes] == ["x", None, "x"]


def test_stable_argsort_matches_numpy_for_wide_and_narrow_ranges():
    rng = np.random.default_rng(0)
    for high in (10, 1 << 20):
        labels = rng.integers(-5, high, size=5000)
        assert stable_argsort(labels).tolist() == np.argsort(labels, kind="stable").tolist()

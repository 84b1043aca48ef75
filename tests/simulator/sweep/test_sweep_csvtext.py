"""csv_text writes the same bytes as pandas' to_csv, only faster."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.sweep.csvtext import csv_text


def pandas_csv(frame, header=True):
    return frame.to_csv(index=False, header=header, lineterminator="\n")


def test_mixed_table_matches_pandas():
    rng = np.random.default_rng(1)
    n = 2000
    frame = pd.DataFrame(
        {
            "point": np.arange(n),
            "f": rng.random(n) * 10.0 ** rng.integers(-20, 20, n),
            "few": rng.choice([1e13, 0.1, -0.0, np.inf, np.nan, 2.5e-7], n),
            "i": rng.integers(-5, 5, n),
            "b": rng.random(n) < 0.5,
            "s": rng.choice(["a", "b,c", 'q"x', "line\nbreak", ""], n),
            "json": np.array([None, '{"a":1,"b":[1,2]}', "plain"] * (n // 2), dtype=object)[:n],
            "mixed": np.array([1, "x", 2.5, None] * (n // 4), dtype=object),
        }
    )
    frame.loc[5, "f"] = np.nan
    assert csv_text(frame) == pandas_csv(frame)
    assert csv_text(frame.head(0)) == pandas_csv(frame.head(0))
    assert csv_text(frame.head(3), header=False) == pandas_csv(frame.head(3), header=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=80))
def test_any_floats_match_pandas(values):
    frame = pd.DataFrame({"x": values, "y": values[::-1]})
    assert csv_text(frame) == pandas_csv(frame)


def test_categorical_columns_match_pandas():
    frame = pd.DataFrame({
        "hw": pd.Categorical(["b,1", "a", None, "a"] * 10, categories=["a", "b,1", "unused"]),
        "x": np.arange(40) / 7,
    })  # fmt: skip
    assert csv_text(frame) == frame.to_csv(index=False, lineterminator="\n")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(-(2**60), 2**60).map(float), st.floats(allow_nan=True),
                          st.sampled_from([0.0, -0.0, 1e16, 9999999999999998.0, 2.0**53])),
                min_size=20, max_size=120, unique_by=repr))
def test_whole_numbers_match_pandas(values):
    """Whole floats take a faster path than repr; many distinct ones (no per-value table)."""
    frame = pd.DataFrame({"x": values, "k": 1})  # two columns: pandas quotes a lone empty cell
    assert csv_text(frame) == pandas_csv(frame)

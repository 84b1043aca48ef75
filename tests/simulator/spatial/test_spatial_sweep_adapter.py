"""The sweep adapter: grouped, vectorised, same rows in the same order."""

from __future__ import annotations

import pandas as pd
import pytest

from simulator.spatial import predict_accel
from simulator.spatial.sweep import SPATIAL_METRICS, evaluate_spatial
from simulator.sweep.registry import get_evaluator
from simulator.workload import problem_from_model


def test_rows_keep_their_order_across_groups():
    chunk = pd.DataFrame({"design": ["flat", "fusemax", "flat"], "model": "bert-base",
                          "seq_len": [4096, 4096, 16384]}, index=[7, 3, 5])
    out = evaluate_spatial(chunk)
    assert list(out.index) == [7, 3, 5] and set(SPATIAL_METRICS) <= set(out.columns)
    for (_, row), design in zip(out.iterrows(), ["flat", "fusemax", "flat"]):
        pred = predict_accel(design, None, problem_from_model("bert-base", 64, row["seq_len"]))
        assert row["latency"] == pytest.approx(pred.time_s)
        assert row["energy"] == pytest.approx(pred.energy_j)


def test_hardware_columns_and_end_to_end():
    chunk = pd.DataFrame({"rows": [64, 256], "cols": [64, 256], "buffer_bytes": [2**22, 2**24],
                          "scope": "end_to_end", "seq_len": 4096})
    out = evaluate_spatial(chunk)
    assert out["area"][0] < out["area"][1] and out["latency"][0] > out["latency"][1]


def test_registry_finds_the_evaluator():
    assert get_evaluator("spatial").evaluate is evaluate_spatial
    assert get_evaluator("simulator.spatial.sweep:evaluate_spatial").evaluate is evaluate_spatial

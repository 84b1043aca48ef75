"""Evaluator registry: registration rules, lookups, and a contract check of every entry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator.errors import SpecError
from simulator.sweep import registry
from simulator.sweep.expand import add_constant_columns
from simulator.sweep.registry import get_evaluator, list_evaluators, register_evaluator


def _times_two(chunk):
    return chunk.assign(y=2 * chunk["x"])


def _times_three(chunk):
    return chunk.assign(y=3 * chunk["x"])


@pytest.mark.parametrize("name", list_evaluators())
def test_every_registered_evaluator_keeps_the_rows(name):
    """The contract: same rows, same order, inputs unchanged, metric columns added."""
    entry = get_evaluator(name)
    if not entry.defaults:
        pytest.skip(f"{name} has no default columns to build a probe from")
    chunk = add_constant_columns(pd.DataFrame({"point": np.arange(3)}), entry.defaults)
    before = chunk.copy()
    out = entry.evaluate(chunk)
    assert len(out) == 3
    pd.testing.assert_frame_equal(out[before.columns], before)
    assert len(out.columns) > len(before.columns)


def test_register_and_look_up():
    entry = register_evaluator("test-times-two", _times_two, defaults={"x": 1.0})
    assert get_evaluator("test-times-two") is entry
    assert "test-times-two" in list_evaluators()
    assert entry.description == ""
    assert register_evaluator("test-times-two", _times_two).evaluate is _times_two


def test_names_are_not_silently_replaced():
    register_evaluator("test-times-x", _times_two)
    with pytest.raises(ValueError, match="already registered"):
        register_evaluator("test-times-x", _times_three)
    assert register_evaluator("test-times-x", _times_three, replace=True).evaluate is _times_three


@pytest.mark.parametrize("name,evaluate,hooks", [("", _times_two, ()), ("x", 3, ()), ("x", _times_two, (1,))])
def test_bad_registrations(name, evaluate, hooks):
    with pytest.raises(ValueError):
        register_evaluator(name, evaluate, plot_hooks=hooks)


def test_module_function_reference():
    entry = get_evaluator("simulator.sweep.synthetic:evaluate_synthetic")
    assert entry.evaluate is get_evaluator("synthetic").evaluate
    with pytest.raises(SpecError, match="cannot import 'no_such_module_xyz'"):
        get_evaluator("no_such_module_xyz:f")
    with pytest.raises(SpecError, match="has no function 'nope'"):
        get_evaluator("simulator.sweep.synthetic:nope")


def test_unknown_name_lists_known_and_broken_providers(monkeypatch):
    monkeypatch.setattr(registry, "_PROVIDERS", (*registry._PROVIDERS, "no_such_provider_xyz"))
    with pytest.raises(SpecError) as info:
        get_evaluator("nope")
    message = str(info.value)
    assert message.startswith("evaluator 'nope' is not registered; known: ")
    assert "synthetic" in message and "no_such_provider_xyz failed to import" in message
    registry._LOADED.pop("no_such_provider_xyz", None)

"""The members after ``traceEvents``, found in the document's tail (linear, not quadratic)."""

from __future__ import annotations

import json

import pytest

from simulator.traces.kineto import _tail_members

MEMBERS = [
    {"deviceProperties": [{"name": "NVIDIA H100", "id": 0}], "schemaVersion": 1},
    {"a": [], "b": {"c": [1, 2]}, "d": "x], \"y"},
    {},
]


@pytest.mark.parametrize("members", MEMBERS)
@pytest.mark.parametrize("indent", [None, 1])
def test_members_after_events_with_tricky_strings(members, indent):
    events = [{"name": f"k{i}", "args": {"s": "], \"z\": [", "l": [[i]]}} for i in range(50)]
    document = json.dumps({"traceEvents": events, **members}, indent=indent).encode()
    assert _tail_members(document[-3000:]) == members


def test_many_boundaries_before_the_members():
    events = [{"name": "e", "args": {"dims": [[1, 2], [3]], "x": "y"}} for _ in range(20000)]
    document = json.dumps({"traceEvents": events, "deviceProperties": [{"id": 0}]}).encode()
    assert _tail_members(document) == {"deviceProperties": [{"id": 0}]}

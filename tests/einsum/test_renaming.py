"""Renaming every rank of a cascade changes nothing: roles, passes, footprints, op counts.

Ranks get their roles from how a cascade uses them (einsum/roles.py), partitions from index
arithmetic, never from names; these property tests rename every rank variable and size
symbol of each built-in cascade to random names and compare the analyses.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import einsum
from einsum.library import library_path
from einsum.parser import UNARY_FUNCTIONS

_KEYWORDS = {"inputs", "ranks", "stop", "until", "and", "or", "not", "where", "inf",
             "Initialization", "Extended", "Einsums", "init", "body", "sum", "add", "max", "min",
             "pow", "clamp", "abs"} | set(UNARY_FUNCTIONS)
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*(?!\s*\^)")  # not the e of the paper's e^(...)
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def identifiers(text: str, cascade: einsum.Cascade) -> tuple[set[str], set[str]]:
    """(rank variables, size symbols) of a cascade's text."""
    tensors = set(cascade.inputs) | set(cascade.produced)
    words = {w for line in text.splitlines() for w in _WORD.findall(line.split("#")[0])}
    words -= tensors | _KEYWORDS
    return {w for w in words if w[0].islower()}, {w for w in words if w[0].isupper()}


def rename(text: str, mapping: dict[str, str]) -> str:
    """Rename identifiers in the statements and in the ``rank``/``query``/``sizes`` headers."""
    def swap(match: re.Match) -> str:
        return mapping.get(match.group(), match.group())

    out = []
    for line in text.splitlines():
        body, hash_, comment = line.partition("#")
        key = comment.split(":")[0].strip().lower()
        if not body.strip() and key in ("rank", "query", "sizes"):
            head, _, value = comment.partition(":")
            comment = f"{head}:{_WORD.sub(swap, value)}"
        out.append(_WORD.sub(swap, body) + hash_ + comment)
    return "\n".join(out)


def renamed(name: str, draw_names) -> tuple[einsum.Cascade, einsum.Cascade, dict[str, str]]:
    """A built-in cascade and a copy with every rank and size renamed."""
    text = library_path(name).read_text()
    cascade = einsum.parse(text, name)
    variables, sizes = identifiers(text, cascade)
    mapping = {}
    for var in sorted(variables):
        fresh = draw_names()
        mapping[var] = fresh
        mapping[var.upper()] = fresh.upper()  # a rank variable's rank follows it
    for size in sorted(sizes - set(mapping)):
        mapping[size] = draw_names().upper() + "Z"
    return cascade, einsum.parse(rename(text, mapping), name), mapping


def _fresh_names(seed: int):
    rng = np.random.default_rng(seed)
    used: set[str] = set()

    def draw() -> str:
        while True:
            name = "q" + "".join(rng.choice(list("abcdxyzuvw"), 2)) + str(rng.integers(10))
            if name not in used and name.upper() not in used:
                used.add(name)
                return name
    return draw


def _mapped(ranks, mapping):
    return tuple(mapping.get(r, r) for r in ranks)


@SETTINGS
@given(st.sampled_from(einsum.library_names()), st.integers(0, 10_000))
def test_renaming_keeps_roles_passes_and_footprint(name, seed):
    original, copy, mapping = renamed(name, _fresh_names(seed))
    a, b = einsum.rank_roles(original), einsum.rank_roles(copy)
    assert _mapped((a.key, a.query), mapping) == (b.key, b.query)
    for role in ("contracted", "value", "batch", "group", "latent"):
        assert _mapped(getattr(a, role), mapping) == getattr(b, role), role
    assert {mapping.get(r, r) for r in a.key_family} == set(b.key_family)
    pa, pb = einsum.pass_analysis(original), einsum.pass_analysis(copy)
    assert pa.passes == pb.passes and pa.groups == pb.groups
    assert [x.tensor for x in pa.barriers] == [x.tensor for x in pb.barriers]
    fa, fb = einsum.live_footprint(original), einsum.live_footprint(copy)
    sizes = {r: 7 + i for i, r in enumerate(sorted(fa.expr.symbols))}
    assert fa.evaluate(sizes) == fb.evaluate({mapping.get(k, k): v for k, v in sizes.items()})


@SETTINGS
@given(st.sampled_from(einsum.library_names()), st.integers(0, 10_000))
def test_renaming_keeps_op_counts(name, seed):
    original, copy, mapping = renamed(name, _fresh_names(seed))
    ca, cb = einsum.op_counts(original), einsum.op_counts(copy)
    symbols = set().union(*(p.symbols for p in ca.totals().values()))
    sizes = {s: 3 + i for i, s in enumerate(sorted(symbols)) if not s.startswith("rho_")}
    sizes.update({s: 0.5 for s in symbols if s.startswith("rho_")})
    renamed_sizes = {mapping.get(k, k): v for k, v in sizes.items() if not k.startswith("rho_")}
    renamed_sizes.update({s: 0.5 for p in cb.totals().values() for s in p.symbols
                          if s.startswith("rho_")})
    assert ca.evaluate(sizes) == cb.evaluate(renamed_sizes)


@pytest.mark.parametrize("name", ["ring-attention", "attention-1pass-gqa", "mla-decode"])
def test_shard_and_head_ranks_by_structure(name):
    """The case that once depended on names: a shard rank named s or m2 (ring attention)."""
    original, copy, mapping = renamed(name, _fresh_names(1))
    assert einsum.pass_analysis(copy).passes == einsum.pass_analysis(original).passes
    assert str(einsum.live_footprint(original).expr).count("+") == \
        str(einsum.live_footprint(copy).expr).count("+")

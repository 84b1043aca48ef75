"""Every built-in cascade: pass counts against the FuseMax classification, and the
executor against the direct definition of the variant."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import einsum
from einsum.check import check_cascade

# Truth: FuseMax Table I / §IV-E (3-pass: PyTorch, FLAT; 2-pass: TileFlow; 1-pass:
# FlashAttention(-2)) and §III (Cascades 1/2/3 -> 2/1/1).
PAPER_PASSES = {
    "cascade1": 2,
    "cascade2": 1,
    "cascade3": 1,
    "attention-3pass": 3,             # PyTorch, FLAT
    "attention-2pass-deferred": 2,    # §IV-D deferral merges passes 2 and 3
    "attention-2pass-partitioned": 2,  # TileFlow, Choi et al.
    "attention-1pass": 1,             # FlashAttention-2, FuseMax (Cascade 5)
    "attention-1pass-causal": 1,
    "attention-1pass-window": 1,
    "attention-1pass-gqa": 1,
    "attention-1pass-block": 1,
    "decode-splitk": 2,               # split summaries are re-read by the merge
    "linear-attention": 1,
    # Variants (reference/attention_variants.md): each paper's kernel is one fused pass.
    "sigmoid-attention": 1,           # FlashSigmoid: no running state at all
    "softcap-attention": 1,           # Gemma-2 soft cap inside Cascade 5
    "alibi-causal": 1,
    "diff-attention": 1,              # two online-softmax states, one traversal
    "streaming-llm": 1,
    "moa-attention": 1,
    "neighborhood-2d": 1,             # NATTEN's fused neighborhood attention (FNA)
    "lightning-attention-2": 1,       # one sweep over the blocks, E x F state
    "lightning-attention-2-nodecay": 1,
    "mla-decode": 1,                  # FlashMLA: one pass over the latent cache
    "ring-attention": 2,              # the merge re-reads the S shard summaries, as split-K
    "moba-attention": 1,
    # Backward passes (FlashAttention-2 §3.1.2; FlashAttention App. B.2): over the keys.
    "attention-backward-fa2": 1,      # P from the saved log-sum-exp, D = rowsum(dO * O)
    "attention-backward-3pass": 3,    # no saved L: the max and the sum come back first
    "attention-backward-unfused": 2,  # D = rowsum(A * dP) reduces the keys before dS
}


def test_every_builtin_is_classified():
    assert set(einsum.library_names()) == set(PAPER_PASSES)


@pytest.mark.parametrize("name", sorted(PAPER_PASSES))
def test_pass_count_matches_paper(name):
    cascade = einsum.load(name)
    assert einsum.pass_analysis(cascade).passes == PAPER_PASSES[name]
    assert int(cascade.meta("passes")) == PAPER_PASSES[name]  # the header says the same


@pytest.mark.parametrize("name", sorted(PAPER_PASSES))
def test_header_names_source_and_reference(name):
    cascade = einsum.load(name)
    assert cascade.meta("source") and cascade.meta("title") and cascade.meta("reference")


@pytest.mark.parametrize("name", sorted(PAPER_PASSES))
@pytest.mark.parametrize("seed", [0, 1])
def test_executor_equals_direct_definition(name, seed):
    result = check_cascade(einsum.load(name), seed=seed)
    assert result.max_abs_value > 0.01  # the comparison is not vacuous
    assert result.max_abs_error < 1e-9


def _base(draw, causal=False):
    """Ragged key/query lengths, a chunk that need not divide M, small head dims."""
    m = draw(st.integers(1, 40))
    p = draw(st.integers(1, 9))
    return {"M": m, "M0": draw(st.integers(1, 17)), "P": min(p, m) if causal else p,
            "E": draw(st.integers(1, 5)), "F": draw(st.integers(1, 5))}


@st.composite
def _plain(draw):
    return _base(draw)


@st.composite
def _causal(draw):
    return _base(draw, causal=True)


@st.composite
def _window(draw):
    sizes = _base(draw, causal=True)
    return {**sizes, "W": draw(st.integers(1, sizes["M"]))}


@st.composite
def _sink_window(draw):
    sizes = _base(draw, causal=True)
    return {**sizes, "W": draw(st.integers(1, sizes["M"])), "S": draw(st.integers(0, 5))}


@st.composite
def _heads(draw, causal=True, sink=False):
    sizes = _base(draw, causal=causal)
    sizes["H"] = draw(st.integers(1, 3))
    if sink:
        sizes["S"] = draw(st.integers(0, 4))
    return sizes


@st.composite
def _softcap(draw):
    return {**_base(draw), "CAP": draw(st.integers(1, 6))}


@st.composite
def _shards(draw):
    return {**_base(draw), "S": draw(st.integers(1, 5))}


@st.composite
def _blocks(draw):
    return {**_base(draw, causal=True), "PB": draw(st.integers(1, 9)), "MB": draw(st.integers(1, 17))}


@st.composite
def _mla(draw):
    sizes = _base(draw)
    return {"M": sizes["M"], "M0": sizes["M0"], "P": sizes["P"], "C": draw(st.integers(1, 6)),
            "R": draw(st.integers(1, 4)), "H": draw(st.integers(1, 3))}


@st.composite
def _neighborhood(draw):
    x, y = draw(st.integers(1, 7)), draw(st.integers(1, 6))
    return {"X": x, "Y": y, "KX": draw(st.integers(1, x)), "KY": draw(st.integers(1, y)),
            "M0": draw(st.integers(1, 17)), "E": draw(st.integers(1, 5)),
            "F": draw(st.integers(1, 5))}


@st.composite
def _lightning(draw):
    n = draw(st.integers(1, 30))  # self-attention: M = P
    return {"M": n, "P": n, "I": draw(st.integers(1, 9)), "E": draw(st.integers(1, 5)),
            "F": draw(st.integers(1, 5))}


# Random ragged shapes for every cascade that partitions a rank (chunks, shards, blocks).
RAGGED = {
    "attention-1pass": _plain(),
    "attention-2pass-partitioned": _plain(),
    "attention-1pass-causal": _causal(),       # every query must see at least one key
    "attention-1pass-window": _window(),
    "decode-splitk": _plain(),
    "sigmoid-attention": _plain(),
    "softcap-attention": _softcap(),
    "alibi-causal": _heads(),
    "diff-attention": _plain(),
    "streaming-llm": _sink_window(),
    "moa-attention": _heads(sink=True),
    "neighborhood-2d": _neighborhood(),
    "lightning-attention-2": _lightning(),
    "lightning-attention-2-nodecay": _lightning(),
    "mla-decode": _mla(),
    "ring-attention": _shards(),
    "moba-attention": _blocks(),
}


@settings(max_examples=120, deadline=None)
@given(name=st.sampled_from(sorted(RAGGED)), data=st.data(), seed=st.integers(0, 99))
def test_partitioned_cascades_on_ragged_shapes(name, data, seed):
    """Chunks that do not divide M leave padded points empty; results stay exact."""
    sizes = data.draw(RAGGED[name], label="sizes")
    result = check_cascade(einsum.load(name), sizes, seed)
    assert result.max_abs_error < 1e-9


# Rank roles of the variants: (key, query, contracted, value, batch, group).
ROLES = {
    "sigmoid-attention": ("M", "P", ("E",), ("F",), (), ()),
    "softcap-attention": ("M", "P", ("E",), ("F",), (), ()),
    "alibi-causal": ("M", "P", ("E",), ("F",), ("H",), ()),
    "diff-attention": ("M", "P", ("E",), ("F",), (), ()),
    "streaming-llm": ("M", "P", ("E",), ("F",), (), ()),
    "moa-attention": ("M", "P", ("E",), ("F",), ("H",), ()),
    "neighborhood-2d": ("M", "P", ("E",), ("F",), (), ()),
    "lightning-attention-2": ("M", "P", ("E",), ("F",), (), ()),
    "lightning-attention-2-nodecay": ("M", "P", ("E",), ("F",), (), ()),
    "mla-decode": ("M", "P", ("R",), ("C",), (), ("H",)),  # C is a latent value rank
    "ring-attention": ("M", "P", ("E",), ("F",), (), ()),
    "moba-attention": ("M", "P", ("E",), ("F",), (), ()),
}


@pytest.mark.parametrize("name", sorted(ROLES))
def test_variant_rank_roles(name):
    roles = einsum.rank_roles(einsum.load(name))
    assert (roles.key, roles.query, roles.contracted, roles.value, roles.batch,
            roles.group) == ROLES[name]
    assert roles.latent == (("C",) if name == "mla-decode" else ())


def test_gqa_shares_kv_heads():
    """Each of the G query heads of a group uses the same K/V head."""
    cascade = einsum.load("attention-1pass-gqa")
    sizes = {"B": 1, "HK": 2, "G": 2, "E": 3, "F": 3, "M": 8, "P": 4, "M0": 4}
    inputs = einsum.random_inputs(cascade, einsum.resolve_sizes(cascade, sizes), seed=3)
    inputs["Q"][:, :, 1] = inputs["Q"][:, :, 0]  # identical queries in one group
    out = einsum.evaluate(cascade, inputs, sizes)["AV"]
    np.testing.assert_allclose(out[:, :, 0], out[:, :, 1])
    assert not np.allclose(out[:, 0], out[:, 1])  # different KV heads differ


def _edited(name, *edits):
    """A built-in with lines replaced, ``(old, new)`` pairs (the header, reference included,
    stays)."""
    text = einsum.library.library_path(name).read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    return einsum.parse(text, source=f"{name}-edited.cas")


def test_alibi_causal_filter_must_sit_on_the_biased_score():
    """'-' takes the union of supports: filtering QK alone lets the dense bias refill the
    masked keys. The reference check tells the two placements apart."""
    causal = "  : m1*M0+m0 <= p + M - P"
    score = "BQK[h,m1,m0,p]  = Q[h,e,p] * BK[h,e,m1,m0]"
    wrong = _edited("alibi-causal", (score, score + causal), ("- m0)" + causal, "- m0)"))
    assert not wrong.einsum("S").filters and wrong.einsum("BQK").filters
    assert check_cascade(wrong).max_abs_error > 0.01

    right = einsum.load("alibi-causal")
    sizes = einsum.resolve_sizes(right, einsum.parse_size_assignments(right.meta("sizes")))
    sln = einsum.evaluate(right, einsum.random_inputs(right, sizes), sizes)["SLN"]  # [h,m1,m0,p]
    key = np.arange(sizes["M1"])[:, None] * sizes["M0"] + np.arange(sizes["M0"])[None, :]
    visible = key[:, :, None] <= np.arange(sizes["P"]) + sizes["M"] - sizes["P"]
    assert np.all(sln[:, ~visible] == 0) and np.all(sln[:, visible] > 0)


def test_lightning_carried_state_outside_the_reduction():
    """Adding the carried state inside the update's reduction adds it once per key."""
    wrong = _edited("lightning-attention-2-nodecay",
                    ("KV[e,f,n+1]   = KV[e,f,n] + KVU[e,f,n]",
                     "KV[e,f,n+1]   = KV[e,f,n] + BK[e,n,j] * BV[f,n,j]"),
                    ("KVU[e,f,n]    = BK[e,n,j] * BV[f,n,j]", ""))
    assert wrong.outputs == ("O",)
    assert check_cascade(wrong).max_abs_error > 0.01
    assert check_cascade(einsum.load("lightning-attention-2-nodecay")).max_abs_error < 1e-9


@pytest.mark.parametrize("sizes", [{"X": 6, "Y": 5, "KX": 3, "KY": 4},
                                   {"X": 4, "Y": 7, "KX": 4, "KY": 2},
                                   {"X": 5, "Y": 3, "KX": 1, "KY": 3}])
def test_neighborhood_window_has_exactly_kx_ky_keys(sizes):
    """NATTEN's rule shifts windows inside at the borders: every query sees KX*KY keys."""
    cascade = einsum.load("neighborhood-2d")
    full = {**sizes, "E": 2, "F": 2, "M0": 8}
    resolved = einsum.resolve_sizes(cascade, full)
    density = einsum.filter_density(cascade, "rho_BQK", full)
    tokens = sizes["X"] * sizes["Y"]
    assert density * resolved["M1"] * resolved["M0"] == pytest.approx(sizes["KX"] * sizes["KY"])
    assert tokens == resolved["M"] == resolved["P"]


def test_shipped_index_is_what_the_library_computes():
    """einsim cascades lists the shipped index; it must equal the files' own analysis."""
    import json

    from einsum.library import INDEX, build_index

    assert json.loads(INDEX.read_text(encoding="utf-8")) == build_index(), (
        "einsum/library/index.json is stale: rerun python -m einsum.library")


def test_library_table_recomputes_a_changed_file(monkeypatch):
    import einsum.library as lib

    monkeypatch.setattr(lib, "_digest", lambda name: "changed")
    rows = {r["name"]: r for r in lib.library_table()}
    assert rows["attention-3pass"]["passes"] == 3 and "sha256" not in rows["attention-3pass"]

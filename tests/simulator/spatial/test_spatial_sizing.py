"""Sizes and densities by role: renamed cascades, exact mask densities, MLA's shared latent."""

from __future__ import annotations

import re

import numpy as np
import pytest

import einsum
from einsum.library import library_path
from simulator.errors import SpecError
from simulator.spatial import predict_accel, sizing
from simulator.spatial.designs import design_attention, load_design
from simulator.spatial.model import tile_sizes
from simulator.spatial.sizing import Workload, filter_densities, workload_sizes
from simulator.workload import AttentionProblem, problem_from_model

#: attention-1pass with every rank variable and size renamed (m→t, p→n, e→c, f→d, …).
RENAMED_1PASS = """\
# name: renamed-1pass
# passes: 1
# sizes: C=8 D=8 T=64 N=16 T0=16
inputs: Q[c,n], K[c,t], V[d,t]

Initialization:
BK[c,t1,t0]   = K[c, t1*T0+t0]
BV[d,t1,t0]   = V[d, t1*T0+t0]
RM[0,n]       = -inf
RD[0,n]       = 0
RNV[d,0,n]    = 0

Extended Einsums:
BQK[t1,t0,n]  = Q[c,n] * BK[c,t1,t0]
LM[t1,n]      = BQK[t1,t0,n] :: max(t0)
RM[t1+1,n]    = max(RM[t1,n], LM[t1,n])
SLN[t1,t0,n]  = exp(BQK[t1,t0,n] - RM[t1+1,n])
SLD[t1,n]     = SLN[t1,t0,n]
SLNV[d,t1,n]  = SLN[t1,t0,n] * BV[d,t1,t0]
PRM[t1,n]     = exp(RM[t1,n] - RM[t1+1,n])
SPD[t1,n]     = RD[t1,n] * PRM[t1,n]
RD[t1+1,n]    = SLD[t1,n] + SPD[t1,n]
SPNV[d,t1,n]  = RNV[d,t1,n] * PRM[t1,n]
RNV[d,t1+1,n] = SLNV[d,t1,n] + SPNV[d,t1,n]
AV[d,n]       = RNV[d,T1,n] / RD[T1,n]
⋄ : t1 >= T1
"""

#: Rank variables and sizes → new names, for renaming library cascades token by token.
RENAME = {"m": "t", "m0": "t0", "m1": "t1", "M": "T", "M0": "T0", "M1": "T1", "p": "n",
          "P": "N", "e": "c", "E": "C", "f": "d", "F": "D", "b": "z", "B": "Z", "hk": "u",
          "HK": "U", "g": "y", "G": "Y"}

#: (cascade, design, problem) points that the renamed copies must price identically.
RENAMED_CASES = [
    ("attention-1pass", "fusemax", problem_from_model("bert-base", 4, 4096)),
    ("attention-1pass", "flat", problem_from_model("bert-base", 4, 4096)),
    ("attention-3pass", "flat", problem_from_model("bert-base", 64, 262144)),  # spills
    ("attention-3pass", "unfused", problem_from_model("bert-base", 4, 4096)),
    ("attention-1pass-gqa", "fusemax", AttentionProblem(2, 32, 8, 2048, 2048, 128)),
    ("attention-1pass-causal", "fusemax", problem_from_model("bert-base", 4, 4096)),
]

BERT_4K = problem_from_model("bert-base", 4, 4096)


def _rename(name: str) -> einsum.Cascade:
    """A library cascade with every rank variable and size renamed by :data:`RENAME`."""
    text = library_path(name).read_text(encoding="utf-8")
    body = re.sub(r"#.*", "", text)  # headers and comments (their sizes would be stale)
    renamed = re.sub(r"\b[A-Za-z][A-Za-z0-9]*\b", lambda t: RENAME.get(t[0], t[0]), body)
    return einsum.parse(f"# name: renamed-{name}\n{renamed}")


def _same(a, b):
    """The same numbers, to the bit: names play no part in the arithmetic."""
    for field in ("time_s", "energy_j", "dram_bytes", "flops", "buffer_bytes"):
        assert getattr(a, field) == getattr(b, field), field


def test_hand_renamed_one_pass_prices_identically():
    renamed = einsum.parse(RENAMED_1PASS)
    assert not {r for _, ranks in renamed.tensor_ranks for r in ranks} & {"M", "M0", "M1", "P",
                                                                           "E", "F"}
    for design in ("fusemax", "flat"):
        _same(predict_accel(design, renamed, BERT_4K),
              predict_accel(design, "attention-1pass", BERT_4K))
    # the renamed copy is bound by rule: the same arrays as the YAML binding
    assert predict_accel("fusemax", renamed, BERT_4K).extra["cycles_per_tile"] == 142.0


@pytest.mark.parametrize("name, design, problem", RENAMED_CASES)
def test_renamed_library_cascades_price_identically(name, design, problem):
    renamed = _rename(name)
    assert renamed.name == f"renamed-{name}"
    assert einsum.rank_roles(renamed).key == "T" and einsum.rank_roles(renamed).query == "N"
    _same(predict_accel(design, renamed, problem), predict_accel(design, name, problem))


def test_tile_sizes_find_the_key_and_query_by_role():
    pad, real = tile_sizes(einsum.parse(RENAMED_1PASS), {"T": 1000, "N": 300, "C": 64, "D": 64},
                           256, 256)
    assert (pad["T1"], pad["T0"], pad["T"], pad["N"], real["T1"]) == (4.0, 256.0, 1024.0, 512.0,
                                                                     3.90625)
    pad, real = tile_sizes(einsum.load("attention-3pass"), {"M": 1000, "P": 300, "E": 64,
                                                            "F": 64}, 256, 256)
    assert (pad["M"], pad["P"], real["M"]) == (1024.0, 512.0, 1000.0) and "M1" not in pad


# --------------------------------------------------------------------------- densities


def _causal_pairs(seq_q: int, seq_kv: int) -> int:
    """Keys m <= p + M - P, counted one query at a time (bottom-right aligned)."""
    return sum(min(seq_kv, max(0, p + seq_kv - seq_q + 1)) for p in range(seq_q))


@pytest.mark.parametrize("seq_q, seq_kv", [(4096, 4096), (1024, 4096), (1, 8192)])
def test_causal_work_is_the_exact_pair_density(seq_q, seq_kv):
    dense_problem = AttentionProblem(4, 12, 12, seq_q, seq_kv, 64)
    causal_problem = AttentionProblem(4, 12, 12, seq_q, seq_kv, 64, causal=True)
    density = _causal_pairs(seq_q, seq_kv) / (seq_q * seq_kv)
    dense = predict_accel("fusemax", "attention-1pass", dense_problem)
    masked = predict_accel("fusemax", "attention-1pass-causal", dense_problem)
    flagged = predict_accel("fusemax", "attention-1pass", causal_problem)  # --causal chooses it
    assert flagged.cascade == "attention-1pass+causal"
    # the per-element Einsums (BQK, LM, SLN, SLD, SLNV) are the 2-D array's work; the
    # per-row ones on the 1-D array carry no filter
    for pred in (masked, flagged):
        assert pred.resource_times_s["array_2d"] == pytest.approx(
            density * dense.resource_times_s["array_2d"], rel=1e-12)
        assert pred.resource_times_s["array_1d"] == pytest.approx(
            dense.resource_times_s["array_1d"], rel=1e-12)
        assert pred.flops == pytest.approx(density * dense.flops, rel=1e-12)
    workload = Workload(4, 12, 64, 64, seq_q, seq_kv)
    assert filter_densities(einsum.load("attention-1pass-causal"), workload,
                            tiles=(256, 256)) == {"rho_BQK": pytest.approx(density, rel=1e-15)}


def test_window_density_is_counted_from_the_filter():
    cascade = einsum.load("attention-1pass-window")
    seq, window = 4096, 256
    pairs = window * (window + 1) // 2 + (seq - window) * window
    got = filter_densities(cascade, Workload(1, 12, 64, 64, seq, seq), tiles=(256, 256),
                           extra={"W": window})
    assert got["rho_BQK"] == pytest.approx(pairs / seq**2, rel=1e-15)
    full = predict_accel("fusemax", "attention-1pass", BERT_4K)
    pred = predict_accel("fusemax", cascade, BERT_4K, sizes={"W": window})
    assert pred.resource_times_s["array_2d"] == pytest.approx(
        pairs / seq**2 * full.resource_times_s["array_2d"], rel=1e-12)


def test_given_densities_override_and_causal_flag_cannot_restate_a_mask():
    half = predict_accel("fusemax", "attention-1pass-causal", BERT_4K,
                         densities={"rho_BQK": 0.5})
    full = predict_accel("fusemax", "attention-1pass", BERT_4K)
    assert half.resource_times_s["array_2d"] == pytest.approx(
        full.resource_times_s["array_2d"] / 2, rel=1e-12)
    window = AttentionProblem(4, 12, 12, 4096, 4096, 64, causal=True)
    with pytest.raises(SpecError, match="causal: cascade 'attention-1pass-window' already masks"):
        predict_accel("fusemax", "attention-1pass-window", window, sizes={"W": 256})


def test_a_mask_on_the_biased_score_is_the_kernel_mask():
    # alibi-causal's filter sits on the biased score S; the P·V product inherits it
    cascade = einsum.load("alibi-causal")
    seq = 32768
    got = filter_densities(cascade, Workload(2, 12, 64, 64, seq, seq), tiles=(256, 256))
    assert got == {"rho_S": pytest.approx((seq + 1) / (2 * seq), rel=1e-15)}
    # a head rank inside the cascade does not hide the batch: twice the batch, twice the work
    one = predict_accel("fusemax", cascade, problem_from_model("bert-base", 1, 1024))
    two = predict_accel("fusemax", cascade, problem_from_model("bert-base", 2, 1024))
    assert two.time_s == pytest.approx(2 * one.time_s, rel=1e-12)
    assert two.dram_bytes == pytest.approx(2 * one.dram_bytes, rel=1e-12)


def test_a_filter_off_the_kernel_mask_gets_its_own_exact_density(monkeypatch):
    # Lightning's intra-block causal filter j <= i: blocks of the 2-D array's 256 keys
    cascade = einsum.load("lightning-attention-2-nodecay")
    workload = Workload(1, 12, 64, 64, 4096, 4096)
    got = filter_densities(cascade, workload, tiles=(256, 256))
    assert got == {"rho_QKI": pytest.approx(257 / 512, rel=1e-15)}
    monkeypatch.setattr(sizing, "MAX_DENSITY_POINTS", 1000)
    with pytest.raises(SpecError, match=r"rho_QKI .* needs 6.55e\+04 points .*"
                                        r"densities=\{'rho_QKI': \.\.\.\}"):
        filter_densities(cascade, workload, tiles=(256, 256))
    assert filter_densities(cascade, workload, tiles=(256, 256),
                            given={"rho_QKI": 0.5}) == {"rho_QKI": 0.5}


# --------------------------------------------------------------------------- MLA


def test_mla_decode_reads_the_shared_latent_once_per_batch():
    c_dim, r_dim, batch, keys = 512, 64, 4, 8192
    problem = problem_from_model("deepseek-v3", batch, 1, seq_kv=keys)
    sizes = {"C": c_dim, "R": r_dim}
    preds = {design: predict_accel(design, "mla-decode", problem, sizes=sizes)
             for design in ("fusemax", "flat")}
    latent = batch * (c_dim + r_dim) * keys * 2  # fp16 words of CKV and KR, once per batch
    for pred in preds.values():
        assert latent <= pred.dram_bytes < 1.05 * latent
        assert pred.flops == pytest.approx(2 * batch * 128 * keys * (2 * c_dim + r_dim))
    fewer_heads = AttentionProblem(batch, 32, 1, 1, keys, c_dim + r_dim, c_dim)
    few = predict_accel("fusemax", "mla-decode", fewer_heads, sizes=sizes)
    assert latent <= few.dram_bytes < preds["fusemax"].dram_bytes  # heads add Q/O only
    bound = workload_sizes(einsum.load("mla-decode"),
                           Workload(batch, 128, 576, 512, 1, keys, kv_heads=1), 256, sizes)
    assert bound.sizes["H"] == 128 and float(bound.instances) == batch


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("cascade, needed", [
    ("attention-1pass-window", "--size W=VALUE"),
    ("attention-1pass-block", "--size MB=VALUE"),
    ("streaming-llm", "--size S=VALUE"),
])
def test_a_missing_size_is_a_one_line_error_naming_size(cascade, needed):
    with pytest.raises(SpecError) as info:
        predict_accel("fusemax", cascade, BERT_4K)
    assert needed in str(info.value) and "\n" not in str(info.value)


def test_design_attention_accepts_cascade_sizes_and_tensors():
    design = load_design("fusemax")
    workload = Workload(1, 12, 64, 64, 1024, 1024)
    cascade = einsum.load("attention-1pass-block")
    sizes = {"PB": 256, "MB": 256}
    with pytest.raises(SpecError, match="--tensor BM=FILE"):
        design_attention(design, workload, cascade=cascade, extra_sizes=sizes)
    mask = np.eye(4)  # diagonal blocks of 256 x 256: a quarter of the pairs
    result = design_attention(design, workload, cascade=cascade, extra_sizes=sizes,
                              tensors={"BM": mask})
    dense = design_attention(design, workload)
    assert result.busy_s["array_2d"] == pytest.approx(dense.busy_s["array_2d"] / 4, rel=1e-12)

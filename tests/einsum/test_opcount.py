"""Op counts against the FuseMax artifact's per-Einsum costs, the variants notes'
formulas, and brute-force enumeration of filters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import einsum
from einsum.opcount import filter_density

SIZES = {"E": 64, "F": 64, "M": 4096, "P": 2048, "M0": 256}


def _per_einsum(name):
    return {e.label: {k: str(v) for k, v in e.ops} for e in einsum.op_counts(einsum.load(name)).per_einsum}


def test_cascade5_matches_fusemax_artifact_costs():
    """reference/fusemax.md §4.4: QK 1 MAC, LM 1 max, RM 1 max, SLN exp+add, SLD 1 add,
    SLNV 1 MAC, PRM exp+add, SPD 1 mul, SPNV 1 mul, RD 1 add, RNV 1 add, AV 1 divide."""
    ops = _per_einsum("attention-1pass")
    assert ops["BQK"] == {"mac": "E*M0*M1*P"}
    assert ops["LM"] == {"max": "M0*M1*P"} and ops["RM"] == {"max": "M1*P"}
    assert ops["SLN"] == {"add": "M0*M1*P", "exp": "M0*M1*P"}
    assert ops["SLD"] == {"add": "M0*M1*P"} and ops["SLNV"] == {"mac": "F*M0*M1*P"}
    assert ops["PRM"] == {"add": "M1*P", "exp": "M1*P"}
    assert ops["SPD"] == {"mul": "M1*P"} and ops["SPNV"] == {"mul": "F*M1*P"}
    assert ops["RD"] == {"add": "M1*P"} and ops["RNV"] == {"add": "F*M1*P"}
    assert ops["AV"] == {"div": "F*P"}
    assert ops["BK"] == {} and ops["RM@init"] == {}


def test_variant_notes_formulas():
    """attention_variants.md §1/§3 (ranks renamed): N_mma = 2·M·P·(E+F) FLOPs,
    N_exp = M·P (3-pass) and M·P + M1·P (1-pass), divisions M·P vs F·P."""
    s = dict(SIZES, M1=SIZES["M"] // SIZES["M0"])
    three = einsum.op_counts(einsum.load("attention-3pass")).evaluate(s)
    one = einsum.op_counts(einsum.load("attention-1pass")).evaluate(s)
    mp = s["M"] * s["P"]
    assert 2 * three["mac"] == 2 * mp * (s["E"] + s["F"]) == 2 * one["mac"]
    assert three["exp"] == mp and one["exp"] == mp + s["M1"] * s["P"]
    assert three["div"] == mp and one["div"] == s["F"] * s["P"]
    deferred = einsum.op_counts(einsum.load("attention-2pass-deferred")).evaluate(s)
    assert deferred["div"] == s["F"] * s["P"]  # the deferral: M/F fewer divisions


def test_constants_fold_and_unary_kinds():
    counts = einsum.op_counts(einsum.parse("S[m,p] = (1/sqrt(E)) * Q[e,p] * K[e,m]\n"
                                           "G[m,p] = sigmoid(S[m,p])\nR[m] = relu(A[m])"))
    per = {e.label: {k: str(v) for k, v in e.ops} for e in counts.per_einsum}
    assert per["S"] == {"mac": "E*M*P", "mul": "E*M*P"}  # (1/sqrt(E)) itself costs nothing
    assert per["G"] == {"sigmoid": "M*P"} and per["R"] == {"max": "M"}


def test_vectorised_evaluation_over_arrays():
    counts = einsum.op_counts(einsum.load("attention-1pass"))
    m = np.array([1024, 2048, 4096])
    values = counts.evaluate({"E": 128, "F": 128, "M0": 128, "M1": m // 128, "M": m, "P": 1024})
    assert values["mac"].tolist() == (256 * m * 1024).tolist()


def _brute_force_fraction(keep, m, p, chunk):
    m1 = -(-m // chunk)
    mm = np.arange(m1 * chunk)[None, :]
    pp = np.arange(p)[:, None]
    return keep(mm, pp).sum() / (m1 * chunk * p)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 80), p=st.integers(1, 80), chunk=st.integers(1, 20), w=st.integers(1, 30))
def test_density_equals_brute_force(m, p, chunk, w):
    sizes = {"M": m, "P": p, "M0": chunk, "E": 2, "F": 2, "W": w}
    causal = filter_density(einsum.load("attention-1pass-causal"), "rho_BQK", sizes)
    expected = _brute_force_fraction(lambda mm, pp: mm <= pp + m - p, m, p, chunk)
    assert causal == pytest.approx(expected)
    window = filter_density(einsum.load("attention-1pass-window"), "rho_BQK", sizes)
    expected = _brute_force_fraction(
        lambda mm, pp: (mm <= pp + m - p) & (mm > pp + m - p - w), m, p, chunk)
    assert window == pytest.approx(expected)
    assert 0 <= window <= causal <= 1  # sparse work never exceeds dense work


def test_density_propagates_through_intersections_only():
    counts = einsum.op_counts(einsum.load("attention-1pass-causal"))
    per = {e.label: e for e in counts.per_einsum}
    for label in ("BQK", "LM", "SLN", "SLD", "SLNV"):
        assert "rho_BQK" in per[label].points.symbols
    for label in ("RM", "PRM", "RD", "RNV", "AV"):  # unions with dense state stay dense
        assert "rho_BQK" not in per[label].points.symbols
    assert len(counts.densities) == 1


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(einsum.library_names())), st.integers(1, 64), st.integers(1, 64))
def test_counts_non_negative(name, m, p):
    cascade = einsum.load(name)
    counts = einsum.op_counts(cascade)
    sizes = einsum.resolve_sizes(cascade, dict(einsum.parse_size_assignments(
        cascade.meta("sizes")), M=m, P=p))
    values = {d.symbol: 0.5 for d in counts.densities}
    values.update(sizes)
    for value in counts.evaluate(values).values():
        assert value >= 0

"""einsum.lint: each rule on a cascade that falls into its trap and on the corrected cascade;
every built-in cascade lints clean; the suggested rewrites lint clean too."""

import re

import numpy as np
import pytest

import einsum
from einsum.lint import RULES, LintWarning, lint

# (case id, rule code, cascade that triggers it, the corrected cascade)
CASES = [
    ("bias-after-filter", "union-undoes-filter", """
QK[m,p] = Q[e,p] * K[e,m]
S[m,p]  = QK[m,p] : m <= p
T[m,p]  = S[m,p] + BIAS[m,p]
GM[p]   = T[m,p] :: max(m)
""", """
QK[m,p] = Q[e,p] * K[e,m]
T[m,p]  = QK[m,p] + BIAS[m,p] : m <= p
GM[p]   = T[m,p] :: max(m)
"""),
    ("alibi-slope-after-filter", "union-undoes-filter", """
QK[h,m,p] = Q[h,e,p] * K[h,e,m]
S[h,m,p]  = QK[h,m,p] : m <= p
T[h,m,p]  = S[h,m,p] - SLOPE[h] * (p - m)
GM[h,p]   = T[h,m,p] :: max(m)
""", """
QK[h,m,p] = Q[h,e,p] * K[h,e,m]
T[h,m,p]  = QK[h,m,p] - SLOPE[h] * (p - m) : m <= p
GM[h,p]   = T[h,m,p] :: max(m)
"""),
    ("inherited-filter-plus-constant", "union-undoes-filter", """
S[m,p]  = QK[m,p] : m <= p
E[m,p]  = exp(S[m,p] - GM[p])
T[m,p]  = E[m,p] + 1
SD[p]   = T[m,p]
""", """
S[m,p]  = QK[m,p] : m <= p
E[m,p]  = exp(S[m,p] - GM[p])
T[m,p]  = E[m,p] + 1 : m <= p
SD[p]   = T[m,p]
"""),
    ("carried-in-reduction", "carried-in-reduction", """
RD[0,p]    = 0
RD[m1+1,p] = RD[m1,p] + SLN[m1,m0,p]
Z[p]       = RD[M1,p]
⋄ : m1 >= M1
""", """
RD[0,p]    = 0
SLD[m1,p]  = SLN[m1,m0,p]
RD[m1+1,p] = RD[m1,p] + SLD[m1,p]
Z[p]       = RD[M1,p]
⋄ : m1 >= M1
"""),
    ("carried-product-in-reduction", "carried-in-reduction", """
RNV[f,0,p]    = 0
RNV[f,m1+1,p] = RNV[f,m1,p] * PRM[m1,p] + SLN[m1,m0,p] * BV[f,m1,m0]
AV[f,p]       = RNV[f,M1,p]
⋄ : m1 >= M1
""", """
RNV[f,0,p]    = 0
SLNV[f,m1,p]  = SLN[m1,m0,p] * BV[f,m1,m0]
RNV[f,m1+1,p] = RNV[f,m1,p] * PRM[m1,p] + SLNV[f,m1,p]
AV[f,p]       = RNV[f,M1,p]
⋄ : m1 >= M1
"""),
    ("repeated-term", "repeated-term", """
Y[p] = A[m,p] + B[p]
""", """
LY[p] = A[m,p]
Y[p]  = LY[p] + B[p]
"""),
    ("write-at-i-plus-2", "recurrence-offset", """
X[0]   = 1
X[i+2] = X[i] * A[i]
Z      = X[K]
⋄ : i >= K
""", """
X[0]   = 1
X[i+1] = X[i] * A[i]
Z      = X[K]
⋄ : i >= K
"""),
    ("write-with-minus", "recurrence-offset", """
X[i-1] = A[i]
Z      = X[0]
⋄ : i >= K
""", """
X[i+1] = A[i]
Z      = X[K]
⋄ : i >= K
"""),
    ("read-at-i-minus-1", "recurrence-offset", """
X[0]   = 1
X[i+1] = X[i] * A[i] + X[i-1]
Z      = X[K]
⋄ : i >= K
""", """
X[0]   = 1
PX[0]  = 0
PX[i+1] = X[i]
X[i+1] = X[i] * A[i] + PX[i]
Z      = X[K]
⋄ : i >= K
"""),
    ("final-read-off-by-one", "final-index", """
RD[0,p]    = 0
RD[m1+1,p] = RD[m1,p] + SLD[m1,p]
Z[p]       = RD[M1-1,p]
⋄ : m1 >= M1
""", """
RD[0,p]    = 0
RD[m1+1,p] = RD[m1,p] + SLD[m1,p]
Z[p]       = RD[M1,p]
⋄ : m1 >= M1
"""),
    ("uninitialised-product", "empty-recurrence", """
X[i+1] = X[i] * A[i]
Z      = X[K]
⋄ : i >= K
""", """
X[0]   = 1
X[i+1] = X[i] * A[i]
Z      = X[K]
⋄ : i >= K
"""),
    ("unused-input", "unused-input", """
inputs: A[k], B[k], C[k]
Y = A[k] * B[k]
""", """
inputs: A[k], B[k]
Y = A[k] * B[k]
"""),
    ("unused-result", "unused-result", """
Y[p] = A[m,p]
W[p] = A[m,p] * A[m,p]
Z[p] = Y[p] * 2
""", """
Y[p] = A[m,p]
Z[p] = Y[p] * 2
"""),
]

# Unions that must not warn: FuseMax Cascade 5's running state, piecewise masks, re-filtering.
CLEAN = {
    "running-state-with-block-filter": """
RM[0,p]       = -inf
RD[0,p]       = 0
LM[m1,p]      = BQK[m1,m0,p] :: max(m0) : m1*M0 <= p
SLN[m1,m0,p]  = exp(BQK[m1,m0,p] - RM[m1+1,p])
SLD[m1,p]     = SLN[m1,m0,p] : m1*M0 <= p
RM[m1+1,p]    = max(RM[m1,p], LM[m1,p])
PRM[m1,p]     = exp(RM[m1,p] - RM[m1+1,p])
SPD[m1,p]     = RD[m1,p] * PRM[m1,p]
RD[m1+1,p]    = SLD[m1,p] + SPD[m1,p]
Z[p]          = RD[M1,p]
⋄ : m1 >= M1
""",
    "window-merged-with-sinks": """
S1[m,p] = QK[m,p] : p - W < m <= p
S2[m,p] = QK[m,p] : m < S
T[m,p]  = max(S1[m,p], S2[m,p])
""",
    "union-re-intersected": """
S[m,p] = QK[m,p] : m <= p
T[m,p] = (S[m,p] + B[m,p]) * S[m,p]
""",
    "max-reduction-of-carried-max": """
RM[0,p]    = -inf
RM[m1+1,p] = max(RM[m1,p], BQK[m1,m0,p]) :: max(m0)
Z[p]       = RM[M1,p]
⋄ : m1 >= M1
""",
}


def codes(text):
    return [w.code for w in lint(einsum.parse(text, "case"))]


@pytest.mark.parametrize("case, code, bad, good", CASES, ids=[c[0] for c in CASES])
def test_rule_triggers_and_correction_is_clean(case, code, bad, good):
    assert codes(bad) == [code]
    assert codes(good) == []


def test_every_rule_has_a_case():
    assert {code for _, code, _, _ in CASES} == set(RULES)


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_legitimate_unions_do_not_warn(name):
    assert codes(CLEAN[name]) == []


@pytest.mark.parametrize("name", einsum.library_names())
def test_builtin_cascades_lint_clean(name):
    assert lint(einsum.load(name)) == ()


@pytest.mark.parametrize("case, code, bad, good", CASES, ids=[c[0] for c in CASES])
def test_message_is_one_line_naming_einsum_and_line(case, code, bad, good):
    (warning,) = lint(einsum.parse(bad, "case"))
    assert "\n" not in warning.message and warning.message
    if warning.einsum is not None:
        assert warning.message.startswith(f"{warning.einsum} (line {warning.line}): ")
        assert bad.splitlines()[warning.line - 1].startswith(warning.einsum + "[")


def _quoted(message):
    return re.findall(r"'([^']+ = [^']+)'", message)


@pytest.mark.parametrize("case", ["bias-after-filter", "alibi-slope-after-filter",
                                  "carried-in-reduction", "carried-product-in-reduction",
                                  "repeated-term", "final-read-off-by-one"])
def test_suggested_rewrite_lints_clean(case):
    _, _, bad, _ = next(c for c in CASES if c[0] == case)
    (warning,) = lint(einsum.parse(bad, "case"))
    lines = bad.splitlines()
    if warning.code == "final-index":
        fixed = re.search(r"read (\S+)$", warning.message).group(1)
        lines[warning.line - 1] = lines[warning.line - 1].split("=")[0] + "= " + fixed
    else:
        lines[warning.line - 1:warning.line] = _quoted(warning.message)
    assert codes("\n".join(lines)) == []


def test_union_trap_is_real():
    """The executor confirms the warning: the bias refills the keys the filter removed."""
    bad = "inputs: QK[m,p], BIAS[m,p]\n" + "\n".join(CASES[0][2].strip().splitlines()[1:3])
    good = "inputs: QK[m,p], BIAS[m,p]\nT[m,p] = QK[m,p] + BIAS[m,p] : m <= p"
    rng = np.random.default_rng(0)
    inputs = {"QK": rng.standard_normal((4, 4)), "BIAS": rng.standard_normal((4, 4))}
    masked = np.triu(np.ones((4, 4)), 1).astype(bool).T  # m > p
    refilled = einsum.evaluate(einsum.parse(bad), inputs)["T"]
    kept = einsum.evaluate(einsum.parse(good), inputs)["T"]
    assert np.all(refilled[masked] == inputs["BIAS"][masked]) and np.all(kept[masked] == 0)


def test_carried_term_trap_is_real():
    bad, good = (einsum.parse("inputs: SLN[m1,m0,p]\n" + t) for t in CASES[3][2:4])
    inputs = {"SLN": np.ones((3, 4, 2))}  # M1=3 chunks of M0=4 ones: the sum is 12
    assert einsum.evaluate(good, inputs)["Z"].tolist() == [12.0, 12.0]
    assert einsum.evaluate(bad, inputs)["Z"].tolist() == [84.0, 84.0]  # RD <- 4*RD + 4


def test_warning_prints_as_file_line_code_message():
    (warning,) = lint(einsum.parse(CASES[0][2], "case", source="mine.cas"))
    assert str(warning).startswith("mine.cas:4: union-undoes-filter: T (line 4): ")
    assert warning.as_dict() == {"code": warning.code, "einsum": "T", "line": 4,
                                 "message": warning.message}
    (unused,) = lint(einsum.parse(CASES[-2][2], "case", source="mine.cas"))
    assert unused.einsum is None and str(unused).startswith("mine.cas: unused-input: input C ")
    assert isinstance(unused, LintWarning)


def test_union_message_names_the_filter_and_the_fix():
    (warning,) = lint(einsum.parse(CASES[1][2], "case"))
    assert "SLOPE[h] * (p - m)" in warning.message and "empty unless m <= p" in warning.message
    assert "'T[h,m,p] = S[h,m,p] - SLOPE[h] * (p - m) : m <= p'" in warning.message

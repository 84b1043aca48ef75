r"""Lint a cascade: find lines that parse and run but compute something other than meant.

Each rule is a pure function ``rule(cascade) -> list[LintWarning]`` in the registry
:data:`RULES` (the tests loop over it, with one cascade that triggers each rule and a
corrected one that does not). The rules encode traps of the EDGE semantics
(reference/fusemax.md §1.2) and of iterative ranks:

``union-undoes-filter``
    ``+ - max min`` take the union of their operands' supports (an empty operand is the
    identity), so combining a filtered operand with one the filter does not restrict
    (a bias tensor, ``SLOPE[h] * (p - m)``, a constant) refills the points the filter
    removed. Supports propagate as in :func:`einsum.op_counts` (intersecting operators
    add filters, a reduction drops those on the reduced variables). A union with the
    Einsum's own previous value (``RM[m1+1,p] = max(RM[m1,p], LM[m1,p])``) is the
    running-state pattern of FuseMax Cascade 5 and is not reported.
``carried-in-reduction`` / ``repeated-term``
    a term of a ``+``-reduced sum that lacks a reduced variable is added once per value
    of it: ``RD[m1+1,p] = RD[m1,p] + SLN[m1,m0,p]`` adds ``RD[m1,p]`` M0 times.
``recurrence-offset``
    an iterative output written at ``i+c`` with ``c != 1`` or with ``-``, or an iterative
    tensor read at an offset that is neither the carried ``i`` nor the current ``i+1``.
``final-index``
    the result of ``X[i+1] = f(X[i])`` with ``⋄ : i >= K`` is ``X[K]``; a read at another
    constant (``X[K-1]``) is a value before the last step.
``empty-recurrence``
    an iterative tensor without an initialisation whose update intersects with its
    previous value: ``X[0]`` is empty, so every step is.
``unused-input`` / ``unused-result``
    a declared input that nothing reads; an Einsum whose result nothing reads and that
    is not the cascade's result (its last output, or one the ``# results:`` header names).

Examples
--------
>>> from einsum import parse
>>> c = parse("S[m,p] = QK[m,p] : m <= p\nT[m,p] = S[m,p] + BIAS[m,p]")
>>> [w.code for w in lint(c)]
['union-undoes-filter']
>>> lint(parse("T[m,p] = QK[m,p] + BIAS[m,p] : m <= p"))
()
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

from einsum.graph import cascade_graph, forward_order
from einsum.model import (
    Binary,
    Call,
    Cascade,
    Comparison,
    Einsum,
    Expr,
    Filter,
    IntBinary,
    IntConst,
    IntExpr,
    Logic,
    Size,
    TensorRef,
    Var,
    Where,
    einsum_reads,
    expr_children,
    expr_refs,
    expr_vars,
    filter_vars,
    int_vars,
)
from einsum.opcount import _expr_support
from einsum.semantics import classify_index

__all__ = ["LintWarning", "lint", "RULES"]

_UNION = ("+", "-", "max", "min")


class LintWarning(NamedTuple):
    """One lint finding.

    Attributes
    ----------
    code : str
        The rule, e.g. ``union-undoes-filter`` (a key of :data:`RULES`).
    einsum : str or None
        Label of the Einsum the warning is about (None for a declared input).
    line : int
        Line of that Einsum in the cascade text (0 when unknown).
    message : str
        One line: the Einsum, what is wrong and what to write instead.
    source : str
        The file (or built-in name) the cascade came from.
    """

    code: str
    einsum: str | None
    line: int
    message: str
    source: str = "<string>"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.code}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        """The JSON form: ``code``, ``einsum``, ``line``, ``message``."""
        return {"code": self.code, "einsum": self.einsum, "line": self.line, "message": self.message}


def lint(cascade: Cascade) -> tuple[LintWarning, ...]:
    r"""Run every rule of :data:`RULES` on a cascade.

    Parameters
    ----------
    cascade : Cascade

    Returns
    -------
    tuple of LintWarning
        Ordered by line, then rule; empty for every built-in cascade. Not cached: a
        :class:`Cascade` compares equal to one that differs only in its line numbers or
        source, and the warnings carry both.

    Examples
    --------
    >>> from einsum import load, parse
    >>> lint(load("attention-1pass-causal"))
    ()
    >>> text = "RD[0,p] = 0\nRD[m1+1,p] = RD[m1,p] + SLN[m1,m0,p]\n⋄ : m1 >= M1"
    >>> print(lint(parse(text))[0].message)  # doctest: +ELLIPSIS
    RD (line 2): the carried term RD[m1,p] is part of a sum over m0, ... then 'RD[m1+1,p] = ...'
    """
    found = [w for rule in RULES.values() for w in rule(cascade)]
    order = {code: pos for pos, code in enumerate(RULES)}
    return tuple(sorted(found, key=lambda w: (w.line, order.get(w.code, 0), w.message)))


def _warn(cascade: Cascade, code: str, einsum: Einsum | None, message: str) -> LintWarning:
    line = einsum.line if einsum is not None else 0
    label = einsum.label if einsum is not None else None
    prefix = f"{einsum.label} (line {line}): " if einsum is not None else ""
    return LintWarning(code, label, line, prefix + message, cascade.source)


# ----------------------------------------------------------------------------- iterative ranks
class _Slot(NamedTuple):
    """Where an iterative tensor's update writes its iterative index."""

    position: int
    var: str
    offset: int


@lru_cache(maxsize=256)
def _slots(cascade: Cascade) -> dict[str, tuple[_Slot, ...]]:
    """Iterative tensor → the positions its update writes as ``v + c`` (``c != 0``)."""
    out: dict[str, tuple[_Slot, ...]] = {}
    for einsum in cascade.einsums:
        slots = tuple(_Slot(pos, info.var or "", info.offset)
                      for pos, info in enumerate(classify_index(i, frozenset())
                                                 for i in einsum.output.indices)
                      if info.kind == "iter" and info.offset != 0)
        if slots:
            out[einsum.name] = slots
    return out


def _update(cascade: Cascade, tensor: str) -> Einsum:
    """The Einsum that writes a tensor (the update, not an initialisation)."""
    return next(e for e in cascade.einsums if e.label == tensor)


def _is_carried(cascade: Cascade, ref: TensorRef) -> bool:
    """True for a read of an iterative tensor's previous value (``RM[m1,p]`` of ``RM[m1+1,p]``)."""
    iterative = frozenset(cascade.iterative_vars)
    for slot in _slots(cascade).get(ref.name, ()):
        info = classify_index(ref.indices[slot.position], iterative)
        if info.kind == "iter" and info.offset < slot.offset:
            return True
    return False


@lru_cache(maxsize=256)
def _carries(cascade: Cascade) -> dict[str, frozenset[str]]:
    """Tensor → the iterative tensors whose previous value it is computed from."""
    out: dict[str, frozenset[str]] = {}
    for label in forward_order(cascade_graph(cascade)):
        einsum = cascade.einsum(label)
        found: set[str] = set()
        for ref in einsum_reads(einsum):
            if _is_carried(cascade, ref):
                found.add(ref.name)
            elif ref.name != einsum.name:
                found |= out.get(ref.name, frozenset())
        out[einsum.name] = out.get(einsum.name, frozenset()) | frozenset(found)
    return out


def _carries_own(cascade: Cascade, einsum: Einsum, expr: Expr) -> bool:
    """True if an operand reads (directly or through its producers) the output's previous value."""
    carries = _carries(cascade)
    for ref in expr_refs(expr):
        if ref.name == einsum.name and _is_carried(cascade, ref):
            return True
        if ref.name != einsum.name and einsum.name in carries.get(ref.name, frozenset()):
            return True
    return False


def _at(ref: TensorRef, position: int, index: IntExpr) -> TensorRef:
    indices = list(ref.indices)
    indices[position] = index
    return TensorRef(ref.name, tuple(indices))


def _step(var: str, offset: int) -> IntExpr:
    if offset == 0:
        return Var(var)
    return IntBinary("+" if offset > 0 else "-", Var(var), IntConst(abs(offset)))


# ----------------------------------------------------------------------------- union rule
def _union_undoes_filter(cascade: Cascade) -> list[LintWarning]:
    """A union that combines a filtered operand with one the filter does not restrict."""
    support: dict[str, frozenset[Filter]] = {}
    out = []
    for label in forward_order(cascade_graph(cascade)):
        einsum = cascade.einsum(label)
        work = _expr_support(einsum.expr, support, cascade) | frozenset(einsum.filters)
        reported: set[Filter] = set()
        for flt, node, restricted, other in _lost_filters(einsum.expr, support, cascade):
            if flt in work or flt in reported or _carries_own(cascade, einsum, other):
                continue
            reported.add(flt)
            out.append(_warn(cascade, "union-undoes-filter", einsum,
                             _union_message(einsum, flt, node, restricted, other)))
        out_vars = {v.name for v in einsum.output.indices if isinstance(v, Var)}
        support[einsum.name] = frozenset(f for f in work if filter_vars(f) <= out_vars)
    return out


def _lost_filters(expr: Expr, support: dict[str, frozenset[Filter]], cascade: Cascade,
                  ) -> list[tuple[Filter, Binary, Expr, Expr]]:
    """(filter, union node, operand it restricts, operand it does not) for every union."""
    found = []
    if isinstance(expr, Binary) and expr.op in _UNION:
        left = _expr_support(expr.left, support, cascade)
        right = _expr_support(expr.right, support, cascade)
        # only a strictly wider operand refills: differently filtered operands (a window
        # merged with sinks) are a deliberate piecewise union
        if right < left:
            found += [(f, expr, expr.left, expr.right) for f in sorted(left - right, key=str)]
        elif left < right:
            found += [(f, expr, expr.right, expr.left) for f in sorted(right - left, key=str)]
    children = expr_children(expr)
    if isinstance(expr, Call) and expr.is_sub_exp:  # exp(a - b) intersects: look inside a and b
        children = expr_children(expr.arg)
    for child in children:
        found += _lost_filters(child, support, cascade)
    return found


def _union_message(einsum: Einsum, flt: Filter, node: Binary, restricted: Expr, other: Expr) -> str:
    what = "never empty" if not expr_refs(other) else f"not restricted to {flt}"
    fixed = dataclasses.replace(einsum, filters=einsum.filters + (flt,))
    return (f"'{node}' takes the union of {restricted}, which is empty unless {flt}, and {other}, "
            f"which is {what}, so {einsum.name} is non-empty at the points the filter removed; "
            f"filter the Einsum that combines them: '{fixed}'")


# ----------------------------------------------------------------------------- reductions
def _signed_terms(expr: Expr, sign: int = 1) -> list[tuple[int, Expr]]:
    """The terms of a ``+``/``-`` tree with their signs: ``a - (b + c)`` → a, -b, -c."""
    if isinstance(expr, Binary) and expr.op in ("+", "-"):
        right = -sign if expr.op == "-" else sign
        return _signed_terms(expr.left, sign) + _signed_terms(expr.right, right)
    return [(sign, expr)]


def _term_vars(expr: Expr) -> frozenset[str]:
    indexed = (v for r in expr_refs(expr) for i in r.indices for v in int_vars(i))
    return frozenset(indexed) | expr_vars(expr)


def _join(terms: list[tuple[int, Expr]]) -> str:
    text = ""
    for sign, term in terms:
        if not text:
            text = str(term) if sign > 0 else f"-{term}"
        else:
            text += f" {'+' if sign > 0 else '-'} {term}"
    return text


def _fresh(cascade: Cascade, stem: str) -> str:
    names = {name for name, _ in cascade.tensor_ranks}
    candidate, count = stem, 1
    while candidate in names:
        count += 1
        candidate = f"{stem}{count}"
    return candidate


def _carried_in_reduction(cascade: Cascade) -> list[LintWarning]:
    """A carried value that is a term of a ``+``-reduced sum (added once per reduced point)."""
    return [w for w in _reduction_findings(cascade) if w.code == "carried-in-reduction"]


def _repeated_term(cascade: Cascade) -> list[LintWarning]:
    """Other terms of a ``+``-reduced sum that lack a reduced variable."""
    return [w for w in _reduction_findings(cascade) if w.code == "repeated-term"]


def _reduction_findings(cascade: Cascade) -> tuple[LintWarning, ...]:
    """Terms of a ``+``-reduced sum that lack a reduced variable (added once per value of it)."""
    out = []
    for einsum in cascade.einsums:
        if einsum.reduce_op != "+" or not einsum.reduced_vars:
            continue
        terms = _signed_terms(einsum.expr)
        reduced = frozenset(einsum.reduced_vars)
        repeated = [(s, t) for s, t in terms if not reduced <= _term_vars(t)]
        if not repeated:
            continue
        carried = [t for _, t in repeated if any(_is_carried(cascade, r) for r in expr_refs(t))]
        code = "carried-in-reduction" if carried else "repeated-term"
        out.append(_warn(cascade, code, einsum, _reduction_message(
            cascade, einsum, [(s, t) for s, t in terms if (s, t) not in repeated], repeated, carried)))
    return tuple(out)


def _reduction_message(cascade: Cascade, einsum: Einsum, summed: list[tuple[int, Expr]],
                       kept: list[tuple[int, Expr]], carried: list[Expr]) -> str:
    def missing(term: Expr) -> list[str]:
        return [v for v in einsum.reduced_vars if v not in _term_vars(term)]

    def times(term: Expr) -> str:
        return "*".join(cascade.rank_of(v) for v in missing(term))

    what = "; ".join(
        f"the carried term {t} is part of a sum over {', '.join(missing(t))}, so it is added "
        f"{times(t)} times instead of once" if t in carried else
        f"{t} does not depend on {', '.join(missing(t))}, which this Einsum sums over, so it is "
        f"added {times(t)} times" for _, t in kept)
    if any(_term_vars(t) & frozenset(einsum.reduced_vars) for _, t in kept):
        return (f"{what}; reduce each term over its own variables into a tensor of its own, "
                f"then add those tensors in an Einsum that reduces nothing")
    fix = "reduce into its own tensor first" if carried else "sum the other terms into their own tensor first"
    inner, outer = _split_reduction(cascade, einsum, summed, kept)
    tail = "" if carried else f" (or multiply by {times(kept[0][1])} if the repetition is meant)"
    return f"{what}; {fix}: '{inner}', then '{outer}'{tail}"


def _split_reduction(cascade: Cascade, einsum: Einsum, summed: list[tuple[int, Expr]],
                     kept: list[tuple[int, Expr]]) -> tuple[str, str]:
    """The reduction of ``summed`` into a fresh tensor, and the Einsum that adds ``kept`` to it."""
    inner_ref = TensorRef(_fresh(cascade, "L" + einsum.name), tuple(
        Var(info.var) if info.kind == "iter" and info.var else index
        for index, info in ((i, classify_index(i, frozenset())) for i in einsum.output.indices)))
    inner_text = f"{inner_ref} = {_join(summed)}"
    if einsum.filters:
        inner_text += " : " + " and ".join(str(f) for f in einsum.filters)
    outer_vars = {v for i in inner_ref.indices for v in int_vars(i)}
    outer_filters = [str(f) for f in einsum.filters if filter_vars(f) <= outer_vars]
    outer = f"{einsum.output} = {_join(kept + [(1, inner_ref)])}"
    outer += "".join(f" : {f}" for f in outer_filters)
    return inner_text, outer


# ----------------------------------------------------------------------------- recurrences
def _recurrence_offsets(cascade: Cascade) -> list[LintWarning]:
    """Iterative outputs written at ``i+c`` (c != 1), and reads at neither ``i`` nor ``i+1``."""
    stops: dict[str, IntExpr] = {s.var: s.extent for s in cascade.stops}
    out = []
    for name, slots in _slots(cascade).items():
        einsum = _update(cascade, name)
        for slot in (s for s in slots if s.offset != 1):
            fixed = _at(einsum.output, slot.position, _step(slot.var, 1))
            carried = _at(einsum.output, slot.position, Var(slot.var))
            extent = stops.get(slot.var, Size("K"))
            how = ("iterative ranks count up from the initialisation" if slot.offset < 0
                   else "an iterative rank advances one step at a time")
            out.append(_warn(cascade, "recurrence-offset", einsum, (
                f"writes {einsum.output}: {how}; write '{fixed} = f({carried})', and with "
                f"⋄ : {slot.var} >= {extent} the result is {_at(carried, slot.position, extent)}")))
    iterative = frozenset(cascade.iterative_vars)
    for einsum in cascade.einsums:
        for ref in dict.fromkeys(einsum_reads(einsum)):
            for slot in _slots(cascade).get(ref.name, ()):
                info = classify_index(ref.indices[slot.position], iterative)
                # reads of a tensor whose write is off by itself are judged once that is fixed
                if slot.offset == 1 and info.kind == "iter" and info.offset not in (0, 1):
                    out.append(_warn(cascade, "recurrence-offset", einsum,
                                     _offset_read_message(cascade, ref, slot, info.var or "")))
    return out


def _offset_read_message(cascade: Cascade, ref: TensorRef, slot: _Slot, var: str) -> str:
    carried = _at(ref, slot.position, Var(var))
    current = _at(ref, slot.position, _step(var, 1))
    older = _fresh(cascade, "P" + ref.name)
    keep = TensorRef(older, current.indices)
    return (f"reads {ref}, which is neither the carried value {carried} nor the current {current}: "
            f"a recurrence keeps one previous step; carry the older value in its own iterative "
            f"tensor ('{keep} = {carried}') and read {TensorRef(older, carried.indices)}")


def _final_index(cascade: Cascade) -> list[LintWarning]:
    """Constant reads of an iterative tensor at neither its initialisation nor its result."""
    stops = {s.var: s.extent for s in cascade.stops}
    out = []
    for einsum in cascade.einsums:
        for ref in dict.fromkeys(einsum_reads(einsum)):
            for slot in _slots(cascade).get(ref.name, ()):
                final = stops.get(slot.var)
                if final is None or slot.offset != 1 or not _stale(cascade, ref, slot, final):
                    continue
                update = _update(cascade, ref.name).output
                carried = _at(update, slot.position, Var(slot.var))
                out.append(_warn(cascade, "final-index", einsum, (
                    f"reads {ref}, a value before the last step: '{update} = f({carried})' with "
                    f"⋄ : {slot.var} >= {final} leaves its result in "
                    f"{_at(carried, slot.position, final)}; read {_at(ref, slot.position, final)}")))
    return out


def _stale(cascade: Cascade, ref: TensorRef, slot: _Slot, final: IntExpr) -> bool:
    """True for a constant read that is neither an initialised step nor the final one."""
    index = ref.indices[slot.position]
    if classify_index(index, frozenset(cascade.iterative_vars)).kind != "const":
        return False
    initialised = {str(e.output.indices[slot.position]) for e in cascade.einsums
                   if e.name == ref.name and e.label != ref.name}
    return str(index) not in initialised | {str(final)}


def _needs(expr: Expr, cascade: Cascade, tensor: str) -> bool:
    """True if the expression is empty wherever the previous value of ``tensor`` is."""
    if isinstance(expr, TensorRef):
        return expr.name == tensor and _is_carried(cascade, expr)
    if isinstance(expr, Binary):
        left, right = (_needs(e, cascade, tensor) for e in (expr.left, expr.right))
        return (left and right) if expr.op in _UNION else (left or right)
    if isinstance(expr, Call):
        parts = expr_children(expr.arg) if expr.is_sub_exp else (expr.arg,)
        return any(_needs(p, cascade, tensor) for p in parts)
    if isinstance(expr, Where):
        return _needs(expr.cond, cascade, tensor) or (
            _needs(expr.then, cascade, tensor) and _needs(expr.other, cascade, tensor))
    if isinstance(expr, (Comparison, Logic)):
        return any(_needs(p, cascade, tensor) for p in expr_children(expr))
    return False


def _empty_recurrence(cascade: Cascade) -> list[LintWarning]:
    """An uninitialised iterative tensor whose update intersects with its previous value."""
    out = []
    for name, slots in _slots(cascade).items():
        einsum = _update(cascade, name)
        if any(e.name == name and e.label != name for e in cascade.einsums):
            continue
        if not _needs(einsum.expr, cascade, name):
            continue
        init = einsum.output
        for slot in slots:
            init = _at(init, slot.position, IntConst(0))
        out.append(_warn(cascade, "empty-recurrence", einsum, (
            f"{name} has no initialisation, so {init} is empty, and its update reads the previous "
            f"value through an intersecting operator ('*', '/', a function or exp(a - b)): every "
            f"step of {name} is empty; initialise it, e.g. '{init} = 1' for a running product (0 for "
            f"a sum, -inf for a running max)")))
    return out


# ----------------------------------------------------------------------------- dead code
def _unused_inputs(cascade: Cascade) -> list[LintWarning]:
    """Declared inputs that no Einsum reads."""
    used = set(cascade.inputs) | cascade.produced
    return [_warn(cascade, "unused-input", None,
                  f"input {name} is declared on the inputs: line but no Einsum reads it; remove "
                  f"it from the declaration or read it where it was meant to be used")
            for name, _ in cascade.tensor_ranks if name not in used]


def _unused_results(cascade: Cascade) -> list[LintWarning]:
    """Einsums whose result nothing else reads, other than the cascade's result."""
    readers: dict[str, set[str]] = {}
    for einsum in cascade.einsums:
        for ref in einsum_reads(einsum):
            if ref.name != einsum.name:
                readers.setdefault(ref.name, set()).add(einsum.label)
    result = cascade.outputs[-1] if cascade.outputs else cascade.einsums[-1].name
    declared = set((cascade.meta("results") or "").replace(",", " ").split())  # several results
    out = []
    for einsum in cascade.einsums:
        if einsum.label != einsum.name or einsum.name in declared | {result} or einsum.name in readers:
            continue
        out.append(_warn(cascade, "unused-result", einsum, (
            f"nothing reads {einsum.name} and it is not the cascade's result {result} (its last "
            f"output); delete this Einsum or use {einsum.name} where {result} is computed")))
    return out


#: Rule code → rule, in report order. Every rule takes a cascade and returns warnings.
RULES: dict[str, Callable[[Cascade], list[LintWarning]]] = {
    "union-undoes-filter": _union_undoes_filter,
    "carried-in-reduction": _carried_in_reduction,
    "repeated-term": _repeated_term,
    "recurrence-offset": _recurrence_offsets,
    "final-index": _final_index,
    "empty-recurrence": _empty_recurrence,
    "unused-input": _unused_inputs,
    "unused-result": _unused_results,
}

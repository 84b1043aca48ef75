"""Turn a :class:`~einsum.parser.RawCascade` into a checked :class:`~einsum.model.Cascade`.

This is where names get their meaning: bare identifiers become scalar tensors or size
symbols, rank variables get their ranks (``⋄ : i >= K`` binds ``i`` to ``K``), every
tensor position gets one rank, and each Einsum gets its iteration space and reduced
variables. Every inconsistency is a :class:`~einsum.errors.ParseError` naming the
line and column.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from typing import NamedTuple

from einsum.errors import ParseError
from einsum.model import (
    Binary,
    Call,
    Cascade,
    Comparison,
    Einsum,
    Expr,
    IndexValue,
    IntBinary,
    IntConst,
    IntExpr,
    Logic,
    Num,
    Partition,
    Size,
    SizeRef,
    Stop,
    TensorRef,
    Var,
    Where,
    einsum_reads,
    expr_refs,
    expr_vars,
    filter_vars,
    int_vars,
    rank_root,
)
from einsum.parser import Bare, RawCascade, RawEinsum

__all__ = ["build_cascade", "IndexInfo", "classify_index"]


class IndexInfo(NamedTuple):
    """What one index expression is: ``var``, ``iter`` (``v + c``), ``const`` or ``expr``."""

    kind: str
    var: str | None
    offset: int


@lru_cache(maxsize=4096)
def classify_index(index: IntExpr, iterative_vars: frozenset[str]) -> IndexInfo:
    """Classify an index expression.

    Examples
    --------
    >>> classify_index(IntBinary("+", Var("m1"), IntConst(1)), frozenset({"m1"}))
    IndexInfo(kind='iter', var='m1', offset=1)
    >>> classify_index(Var("p"), frozenset())
    IndexInfo(kind='var', var='p', offset=0)
    >>> classify_index(Size("M1"), frozenset({"m1"}))
    IndexInfo(kind='const', var=None, offset=0)
    """
    if isinstance(index, Var):
        kind = "iter" if index.name in iterative_vars else "var"
        return IndexInfo(kind, index.name, 0)
    if (isinstance(index, IntBinary) and index.op in "+-" and isinstance(index.left, Var)
            and isinstance(index.right, IntConst)):
        sign = 1 if index.op == "+" else -1
        return IndexInfo("iter", index.left.name, sign * index.right.value)
    if not int_vars(index):
        return IndexInfo("const", None, 0)
    return IndexInfo("expr", None, 0)


def build_cascade(raw: RawCascade, name: str) -> Cascade:
    """Resolve and check a raw cascade.

    Raises
    ------
    ParseError
        On unknown names, inconsistent ranks or sizes, bad reductions, a filter on a
        variable outside the iteration space, a tensor defined twice, an iterative
        rank without a stop condition, or a dependency cycle.
    """
    from einsum.graph import check_acyclic

    src = raw.source
    if not raw.einsums:
        raise ParseError("no Einsum found; expected lines such as 'Z[m] = A[k,m] * B[k]'", src, 1, 1)
    einsums = _resolve_bare_names(raw)
    iterative = _iterative_vars(einsums)
    var_ranks = _var_ranks(raw.stops, iterative, src, einsums)
    built = tuple(_build_einsum(e, src) for e in einsums)
    built = _label(built, iterative, src)
    tensor_ranks, partitions = _rank_structure(built, raw.inputs, var_ranks, src)
    _check_declared_inputs(built, raw, src)
    sizes, size_exprs = _declared_sizes(raw, partitions, src)
    cascade = Cascade(
        name=name, einsums=built, stops=tuple(raw.stops),
        var_ranks=tuple(sorted(var_ranks.items())), tensor_ranks=tuple(sorted(tensor_ranks.items())),
        iterative_vars=tuple(sorted(iterative)), declared_sizes=tuple(sorted(sizes.items())),
        metadata=tuple(sorted(raw.metadata.items())), source=src, partitions=partitions,
        size_exprs=tuple(sorted(size_exprs.items())),
    )
    check_acyclic(cascade)
    return cascade


# ----------------------------------------------------------------------------- names
def _resolve_bare_names(raw: RawCascade) -> list[RawEinsum]:
    tensors = {e.output.name for e in raw.einsums} | {r.name for r in raw.inputs}
    tensors |= {r.name for e in raw.einsums for r in expr_refs(e.expr) if r.indices}
    variables = _index_variables(raw)
    out = []
    for einsum in raw.einsums:
        expr = _resolve(einsum.expr, _Names(tensors, variables, raw.source))
        out.append(dataclasses.replace(einsum, expr=expr))
    return out


def _index_variables(raw: RawCascade) -> frozenset[str]:
    """Every rank variable some index, filter or stop of the cascade mentions."""
    found: set[str] = {stop.var for stop in raw.stops}
    for einsum in raw.einsums:
        refs = (einsum.output,) + expr_refs(einsum.expr)
        found |= {v for r in refs for i in r.indices for v in int_vars(i)}
        found |= {v for f in einsum.filters for v in filter_vars(f)}
    return frozenset(found)


class _Names(NamedTuple):
    """What a bare identifier may resolve to."""

    tensors: set[str]
    variables: frozenset[str]
    source: str


def _resolve(expr: Expr, names: _Names) -> Expr:
    """Resolve bare names and fold index arithmetic (``p + M - P - m``) into one IndexValue."""
    if isinstance(expr, Bare):
        return _resolve_bare(expr, names)
    if isinstance(expr, Binary):
        left, right = _resolve(expr.left, names), _resolve(expr.right, names)
        return _fold_index(expr.op, left, right) or Binary(expr.op, left, right)
    if isinstance(expr, Call):
        arg = _resolve(expr.arg, names)
        if expr.func == "neg" and isinstance(arg, IndexValue):
            return IndexValue(IntBinary("-", IntConst(0), arg.expr))
        return Call(expr.func, arg)
    if isinstance(expr, Comparison):
        return Comparison(tuple(_resolve(o, names) for o in expr.operands), expr.ops)
    if isinstance(expr, Logic):
        return Logic(expr.op, tuple(_resolve(p, names) for p in expr.parts))
    if isinstance(expr, Where):
        return Where(*(_resolve(e, names) for e in (expr.cond, expr.then, expr.other)))
    return expr


def _resolve_bare(expr: Bare, names: _Names) -> Expr:
    if expr.name in names.tensors:
        return TensorRef(expr.name, (), expr.line, expr.column)
    if expr.name[0].isupper():
        return SizeRef(expr.name)
    if expr.name in names.variables:
        return IndexValue(Var(expr.name))
    raise ParseError(f"unknown name {expr.name!r}: not a tensor, a size symbol (upper case) or a "
                     f"rank variable of this cascade; expected a tensor reference such as "
                     f"{expr.name.upper()}[...], a size such as {expr.name.upper()}, or a rank "
                     f"variable that some index uses", names.source, expr.line, expr.column)


def _as_int(expr: Expr) -> IntExpr | None:
    """The integer form of an index value, a size symbol or an integer literal."""
    if isinstance(expr, IndexValue):
        return expr.expr
    if isinstance(expr, SizeRef):
        return Size(expr.name)
    if isinstance(expr, Binary) and expr.op in ("+", "-", "*"):
        left, right = _as_int(expr.left), _as_int(expr.right)
        return None if left is None or right is None else IntBinary(expr.op, left, right)
    if isinstance(expr, Num) and expr.value == int(expr.value) and abs(expr.value) < 2**62:
        return IntConst(int(expr.value)) if expr.value >= 0 else IntBinary(
            "-", IntConst(0), IntConst(int(-expr.value)))
    return None


def _fold_index(op: str, left: Expr, right: Expr) -> IndexValue | None:
    """``a op b`` as one index value when both are integer-valued and one involves a rank variable."""
    if op not in ("+", "-", "*") or not (isinstance(left, IndexValue) or isinstance(right, IndexValue)):
        return None
    a, b = _as_int(left), _as_int(right)
    if a is None or b is None:
        return None
    return IndexValue(IntBinary(op, a, b))


# ----------------------------------------------------------------------------- ranks
def _iterative_vars(einsums: list[RawEinsum]) -> frozenset[str]:
    found = set()
    for einsum in einsums:
        for index in einsum.output.indices:
            info = classify_index(index, frozenset())
            if info.kind == "iter" and info.offset != 0:
                found.add(info.var)
    return frozenset(found)


def _var_ranks(stops: list[Stop], iterative: frozenset[str], src: str,
               einsums: list[RawEinsum]) -> dict[str, str]:
    ranks: dict[str, str] = {}
    stopped = set()
    for stop in stops:
        if stop.var in stopped:
            raise ParseError(f"second stop condition for {stop.var!r}", src, stop.line, 1)
        stopped.add(stop.var)
        if isinstance(stop.extent, Size):
            ranks[stop.var] = stop.extent.name
    for var in sorted(iterative - stopped):
        line = next(e.line for e in einsums if var in {i.var for i in map(
            lambda x: classify_index(x, frozenset()), e.output.indices)})
        raise ParseError(f"iterative rank variable {var!r} has no stopping condition; expected a "
                         f"line such as '⋄ : {var} >= {var.upper()}'", src, line, 1)
    for var in sorted(stopped - iterative):
        line = next(s.line for s in stops if s.var == var)
        raise ParseError(f"stop condition names {var!r}, which no left-hand side iterates "
                         f"(expected an output index such as X[{var}+1])", src, line, 1)
    return ranks


def _single_rank(index: IntExpr, var_ranks: dict[str, str]) -> str | None:
    """The rank of an index that is one variable, ``v + c`` or ``v - c``."""
    info = classify_index(index, frozenset())
    if info.kind in ("var", "iter") and info.var is not None:
        return var_ranks.get(info.var, info.var.upper())
    return None


def _linear_terms(index: IntExpr) -> list[tuple[str | None, IntExpr]] | None:
    """``a*X + b*Y + c`` as ``[(a, X), (b, Y), (None, c)]``; None unless every term is positive.

    A coefficient is an expression of sizes and integers (``M0``, ``M1*M0``, ``4``).
    """
    if isinstance(index, Var):
        return [(index.name, IntConst(1))]
    if not int_vars(index):
        return [(None, index)]
    if isinstance(index, IntBinary) and index.op == "+":
        left, right = _linear_terms(index.left), _linear_terms(index.right)
        return None if left is None or right is None else left + right
    if isinstance(index, IntBinary) and index.op == "*":
        for var_side, coef in ((index.left, index.right), (index.right, index.left)):
            if isinstance(var_side, Var) and not int_vars(coef):
                return [(var_side.name, coef)]
    return None


def _order_parts(terms: list[tuple[str, IntExpr]], var_ranks: dict[str, str],
                 ) -> list[tuple[str, IntExpr]]:
    """Order a partition's terms, outermost first.

    The unit-stride term is innermost; a term whose stride is the product of the inner
    extents comes next; the rest keep their written order, outside.
    """
    rank = {v: var_ranks.get(v, v.upper()) for v, _ in terms}
    inner = [t for t in terms if str(t[1]) == "1"]
    rest = [t for t in terms if str(t[1]) != "1"]
    chain = inner[:1]
    rest += inner[1:]
    while rest:
        extents = [rank[v] for v, _ in chain]
        wanted = {"*".join(extents), "*".join(reversed(extents)), extents[-1] if extents else ""}
        nxt = next((t for t in rest if str(t[1]).replace(" ", "") in wanted), None)
        if nxt is None:
            break
        chain.append(nxt)
        rest.remove(nxt)
    return rest + list(reversed(chain))


def _synthetic_root(parts: list[str]) -> str:
    """A name for a rank that only composite indices address (``m1*M0 + m0`` → ``M``)."""
    roots = {rank_root(p) for p in parts}
    return roots.pop() if len(roots) == 1 else rank_root(parts[-1])


def _collect_refs(einsums: tuple[Einsum, ...], inputs: list[TensorRef]) -> list[tuple[TensorRef, int]]:
    refs = [(r, r.line) for r in inputs]
    for einsum in einsums:
        refs.append((einsum.output, einsum.line))
        refs += [(r, einsum.line) for r in einsum_reads(einsum)]
    return refs


def _rank_structure(einsums: tuple[Einsum, ...], inputs: list[TensorRef], var_ranks: dict[str, str],
                    src: str) -> tuple[dict[str, tuple[str, ...]], tuple[Partition, ...]]:
    """Each tensor position's rank, and the partitions that index arithmetic declares.

    A position indexed by one variable has that variable's rank. A position indexed by a
    positive mixed-radix sum such as ``s*MS + m1*M0 + m0`` declares a partition of the
    position's rank into the ranks of the variables (``S``, ``M1``, ``M0``); which ranks
    form a rank's family is read from these partitions, never from names.
    """
    refs = _collect_refs(einsums, inputs)
    candidates: dict[tuple[str, int], list[tuple[str, int]]] = {}
    composite: list[tuple[str, int, list[tuple[str, IntExpr]], int]] = []
    arity: dict[str, tuple[int, int]] = {}
    for ref, line in refs:
        count, first = arity.setdefault(ref.name, (len(ref.indices), line))
        if count != len(ref.indices):
            raise ParseError(f"tensor {ref.name} has {len(ref.indices)} indices here but {count} "
                             f"at line {first}", src, line, ref.column)
        for pos, index in enumerate(ref.indices):
            rank = _single_rank(index, var_ranks)
            if rank is not None:
                candidates.setdefault((ref.name, pos), []).append((rank, line))
                continue
            terms = _linear_terms(index)
            var_terms = [(v, c) for v, c in terms or [] if v is not None]
            if len(var_terms) >= 2:
                composite.append((ref.name, pos, _order_parts(var_terms, var_ranks), line))
    partitions, roots = _partitions(composite, candidates, var_ranks)
    probe = Cascade("probe", (), (), (), (), (), partitions=partitions)
    ranks = {name: [None] * count for name, (count, _) in arity.items()}
    for (name, pos), found in candidates.items():
        ranks[name][pos] = _unify(name, pos, found, probe, src, refs)
    for (name, pos), root in roots.items():
        if ranks[name][pos] is None:
            ranks[name][pos] = root
    return {name: tuple(r or "?" for r in rs) for name, rs in ranks.items()}, partitions


def _partitions(composite: list, candidates: dict, var_ranks: dict[str, str],
                ) -> tuple[tuple[Partition, ...], dict[tuple[str, int], str]]:
    """The distinct partitions, and the root rank of each composite position."""
    out: dict[Partition, None] = {}
    roots: dict[tuple[str, int], str] = {}
    for name, pos, terms, _ in composite:
        parts = [var_ranks.get(v, v.upper()) for v, _ in terms]
        found = candidates.get((name, pos))
        root = roots.get((name, pos)) or (found[0][0] if found else _synthetic_root(parts))
        if root in parts:
            continue
        roots[(name, pos)] = root
        out.setdefault(Partition(root, tuple(parts), tuple(c for _, c in terms)), None)
    return tuple(out), roots


def _unify(name: str, pos: int, found: list[tuple[str, int]], cascade: Cascade, src: str,
           refs: list) -> str:
    """One rank for a position indexed by several references (a part may stand for its root)."""
    best, best_line = found[0]
    for rank, line in found[1:]:
        if rank == best:
            continue
        if rank in cascade.family(best) or best in cascade.family(rank):
            if best in cascade.family(rank):
                best, best_line = rank, line
            continue
        column = next((r.column for r, ln in refs if ln == line and r.name == name), 1)
        raise ParseError(f"tensor {name} position {pos} is indexed by rank {rank} here but by rank "
                         f"{best} at line {best_line} (inconsistent ranks)", src, line, column)
    return best


# ----------------------------------------------------------------------------- einsums
def _build_einsum(raw: RawEinsum, src: str) -> Einsum:
    out_vars: list[str] = []
    for index in raw.output.indices:
        info = classify_index(index, frozenset())
        if info.kind == "expr":
            raise ParseError(f"output index {index} must be a rank variable, 'v+1' or a constant",
                             src, raw.line, raw.output.column)
        if info.var and info.var not in out_vars:
            out_vars.append(info.var)
    rhs_vars = [v for r in expr_refs(raw.expr) for i in r.indices for v in sorted(int_vars(i))]
    space = list(dict.fromkeys(out_vars + rhs_vars + sorted(expr_vars(raw.expr))))
    for flt in raw.filters:
        stray = sorted(filter_vars(flt) - set(space))
        if stray:
            raise ParseError(f"filter '{flt}' uses {', '.join(stray)}, which is not a rank of this "
                             f"Einsum's iteration space ({', '.join(space) or 'none'})",
                             src, raw.line, 1)
    reduced = tuple(v for v in space if v not in out_vars)
    _check_reduction(raw, reduced, src)
    return Einsum(raw.output, raw.expr, raw.reduce_op, raw.filters, tuple(space), reduced,
                  label=raw.output.name, section=raw.section, line=raw.line, text=raw.text)


def _check_reduction(raw: RawEinsum, reduced: tuple[str, ...], src: str) -> None:
    if raw.reduce_vars is not None and set(raw.reduce_vars) != set(reduced):
        raise ParseError(
            f"reduction names {', '.join(raw.reduce_vars)} but the ranks reduced (on the right, "
            f"missing on the left) are {', '.join(reduced) or 'none'}", src, raw.line, 1)
    if raw.reduce_op != "+" and not reduced:
        raise ParseError(f"reduction {raw.reduce_op} given but no rank is reduced", src, raw.line, 1)


def _label(einsums: tuple[Einsum, ...], iterative: frozenset[str], src: str) -> tuple[Einsum, ...]:
    by_name: dict[str, list[int]] = {}
    for pos, einsum in enumerate(einsums):
        by_name.setdefault(einsum.name, []).append(pos)
    out = list(einsums)
    for name, positions in by_name.items():
        if len(positions) == 1:
            continue
        updates = [p for p in positions if not _is_init(einsums[p], iterative)]
        if len(updates) != 1:
            first, second = (einsums[p].line for p in (updates or positions)[:2])
            raise ParseError(f"tensor {name} is defined twice (lines {first} and {second}); only an "
                             f"iterative tensor may have initialisations", src, second, 1)
        inits = [p for p in positions if p not in updates]
        for count, pos in enumerate(inits):
            suffix = "@init" if count == 0 else f"@init{count + 1}"
            out[pos] = _relabel(einsums[pos], name + suffix)
    return tuple(out)


def _is_init(einsum: Einsum, iterative: frozenset[str]) -> bool:
    """An initialisation writes constants where the update writes ``v + c``."""
    kinds = [classify_index(i, iterative) for i in einsum.output.indices]
    return not any(k.kind == "iter" and k.offset != 0 for k in kinds)


def _relabel(einsum: Einsum, label: str) -> Einsum:
    return Einsum(einsum.output, einsum.expr, einsum.reduce_op, einsum.filters,
                  einsum.iteration_vars, einsum.reduced_vars, label, einsum.section,
                  einsum.line, einsum.text)


# ----------------------------------------------------------------------------- declarations
def _check_declared_inputs(einsums: tuple[Einsum, ...], raw: RawCascade, src: str) -> None:
    if not raw.inputs:
        return
    known = {e.name for e in einsums} | {r.name for r in raw.inputs}
    for einsum in einsums:
        for ref in einsum_reads(einsum):
            if ref.name not in known:
                raise ParseError(f"unknown tensor {ref.name!r}: not an output of any Einsum nor a "
                                 f"declared input ({', '.join(r.name for r in raw.inputs)})",
                                 src, einsum.line, ref.column)


def _declared_sizes(raw: RawCascade, partitions: tuple[Partition, ...], src: str,
                    ) -> tuple[dict[str, int], dict[str, IntExpr]]:
    """Integer sizes and size expressions (``I = M0``) of the ``ranks:`` lines, checked."""
    sizes: dict[str, int] = {}
    exprs: dict[str, IntExpr] = {}
    lines: dict[str, int] = {}
    for name, value, line in raw.sizes:
        if isinstance(value, IntConst):
            if name in sizes and sizes[name] != value.value:
                raise ParseError(f"rank {name} declared with inconsistent sizes {sizes[name]} "
                                 f"(line {lines[name]}) and {value.value}", src, line, 1)
            sizes[name] = value.value
        else:
            exprs[name] = value
        lines[name] = line
    for partition in partitions:
        known = [sizes.get(p) for p in partition.parts]
        if partition.root not in sizes or known.count(None) or len(known) < 2:
            continue
        inner = math.prod(known[1:])
        expected = math.ceil(sizes[partition.root] / inner)
        if known[0] != expected:
            raise ParseError(
                f"rank {partition.parts[0]}={known[0]} is inconsistent with {partition.root}="
                f"{sizes[partition.root]} split as {partition} (expected {partition.parts[0]} = "
                f"ceil({partition.root}/{'*'.join(partition.parts[1:])}) = {expected})",
                src, lines[partition.parts[0]], 1)
    return sizes, exprs

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
    Einsum,
    Expr,
    IntBinary,
    IntCall,
    IntConst,
    IntExpr,
    Size,
    Stop,
    TensorRef,
    Var,
    expr_refs,
    filter_vars,
    int_vars,
    mask_refs,
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
    tensor_ranks = _tensor_ranks(built, raw.inputs, var_ranks, iterative, src)
    _check_declared_inputs(built, raw, src)
    sizes = _declared_sizes(raw, src)
    cascade = Cascade(
        name=name, einsums=built, stops=tuple(raw.stops),
        var_ranks=tuple(sorted(var_ranks.items())), tensor_ranks=tuple(sorted(tensor_ranks.items())),
        iterative_vars=tuple(sorted(iterative)), declared_sizes=tuple(sorted(sizes.items())),
        metadata=tuple(sorted(raw.metadata.items())), source=src,
    )
    check_acyclic(cascade)
    return cascade


# ----------------------------------------------------------------------------- names
def _resolve_bare_names(raw: RawCascade) -> list[RawEinsum]:
    tensors = {e.output.name for e in raw.einsums} | {r.name for r in raw.inputs}
    tensors |= {r.name for e in raw.einsums for r in expr_refs(e.expr) if r.indices}
    out = []
    for einsum in raw.einsums:
        expr = _resolve(einsum.expr, tensors, raw.source)
        out.append(dataclasses.replace(einsum, expr=expr))
    return out


def _resolve(expr: Expr, tensors: set[str], src: str) -> Expr:
    from einsum.model import SizeRef

    if isinstance(expr, Bare):
        if expr.name in tensors:
            return TensorRef(expr.name, (), expr.line, expr.column)
        if expr.name[0].isupper():
            return SizeRef(expr.name)
        raise ParseError(f"unknown name {expr.name!r}: expected a tensor reference such as "
                         f"{expr.name}[...] or an upper-case size symbol", src, expr.line, expr.column)
    if isinstance(expr, Binary):
        return Binary(expr.op, _resolve(expr.left, tensors, src), _resolve(expr.right, tensors, src))
    if isinstance(expr, Call):
        return Call(expr.func, _resolve(expr.arg, tensors, src))
    return expr


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


def _position_rank(index: IntExpr, var_ranks: dict[str, str]) -> str | None:
    """The rank an index ranges over: a variable's, or the root of a partition ``m1*M0+m0``."""
    variables = int_vars(index)
    if not variables or not _affine(index):
        return None
    ranks = {var_ranks.get(v, v.upper()) for v in variables}
    if len(ranks) == 1:
        return ranks.pop()
    roots = {rank_root(r) for r in ranks}
    return roots.pop() if len(roots) == 1 else None


def _tensor_ranks(einsums: tuple[Einsum, ...], inputs: list[TensorRef], var_ranks: dict[str, str],
                  iterative: frozenset[str], src: str) -> dict[str, tuple[str, ...]]:
    seen: dict[str, list[str | None]] = {}
    where: dict[tuple[str, int], int] = {}
    arity_line: dict[str, int] = {}
    refs = [(r, r.line) for r in inputs]
    for einsum in einsums:
        refs.append((einsum.output, einsum.line))
        refs += [(r, einsum.line) for r in expr_refs(einsum.expr) + mask_refs(einsum.filters)]
    for ref, line in refs:
        ranks = seen.setdefault(ref.name, [None] * len(ref.indices))
        arity_line.setdefault(ref.name, line)
        if len(ranks) != len(ref.indices):
            raise ParseError(f"tensor {ref.name} has {len(ref.indices)} indices here but "
                             f"{len(ranks)} at line {arity_line[ref.name]}", src, line, ref.column)
        for pos, index in enumerate(ref.indices):
            rank = _position_rank(index, var_ranks)
            if rank is None:
                continue
            if ranks[pos] is not None and ranks[pos] != rank and not _same_family(ranks[pos], rank):
                raise ParseError(
                    f"tensor {ref.name} position {pos} is indexed by rank {rank} here but by rank "
                    f"{ranks[pos]} at line {where[(ref.name, pos)]} (inconsistent ranks)",
                    src, line, ref.column)
            if ranks[pos] is None or rank_root(rank) == rank:
                ranks[pos], where[(ref.name, pos)] = rank, line
    return {name: tuple(r or "?" for r in ranks) for name, ranks in seen.items()}


def _affine(index: IntExpr) -> bool:
    if isinstance(index, IntBinary):
        return index.op in "+-*" and _affine(index.left) and _affine(index.right)
    return not isinstance(index, IntCall)


def _same_family(a: str, b: str) -> bool:
    """An iterative rank (``M1``) and its root (``M``) may index the same position."""
    return rank_root(a) == rank_root(b)


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
    space = list(dict.fromkeys(out_vars + rhs_vars))
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
        for ref in expr_refs(einsum.expr) + mask_refs(einsum.filters):
            if ref.name not in known:
                raise ParseError(f"unknown tensor {ref.name!r}: not an output of any Einsum nor a "
                                 f"declared input ({', '.join(r.name for r in raw.inputs)})",
                                 src, einsum.line, ref.column)


def _declared_sizes(raw: RawCascade, src: str) -> dict[str, int]:
    sizes: dict[str, int] = {}
    lines: dict[str, int] = {}
    for name, value, line in raw.sizes:
        if name in sizes and sizes[name] != value:
            raise ParseError(f"rank {name} declared with inconsistent sizes {sizes[name]} "
                             f"(line {lines[name]}) and {value}", src, line, 1)
        sizes[name], lines[name] = value, line
    for name, value in sizes.items():
        root = rank_root(name)
        if root == name or root not in sizes:
            continue
        sibling = _sibling(name, sizes)
        if sibling and math.ceil(sizes[root] / sizes[sibling]) != value:
            raise ParseError(f"rank {name}={value} is inconsistent with {root}={sizes[root]} and "
                             f"{sibling}={sizes[sibling]} (expected {name} = ceil({root}/{sibling}) "
                             f"= {math.ceil(sizes[root] / sizes[sibling])})", src, lines[name], 1)
    return sizes


def _sibling(name: str, sizes: dict[str, int]) -> str | None:
    """The other half of a two-way partition (``M1`` ↔ ``M0``)."""
    root = rank_root(name)
    others = [n for n in sizes if n != name and n != root and rank_root(n) == root]
    return others[0] if len(others) == 1 else None

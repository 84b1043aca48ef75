"""Frozen objects a cascade text parses into.

Three small trees describe one Einsum:

* integer expressions (:class:`IntExpr` subclasses) for tensor indices and filters,
  e.g. ``m1*M0+m0`` or ``p - W``;
* value expressions (:class:`Expr` subclasses) for the right-hand side, e.g.
  ``exp(QK[m,p] - GM[p])``;
* filters (:class:`Filter` subclasses), boolean conditions on rank variables such as
  ``m <= p``.

Every class is a ``@dataclass(frozen=True)`` with tuple fields, so a whole
:class:`Cascade` is hashable and analyses can be cached on it.

Naming: lower-case identifiers in index positions are **rank variables** (``m``,
``m1``); upper-case ones are **size symbols** (``M``, ``M0``, ``W``). A rank variable
``v`` ranges over the rank ``V`` (its upper-case name) unless a stop condition binds
it to another extent (``⋄ : i >= K`` makes ``i`` range over ``K``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

__all__ = [
    "IntExpr", "IntConst", "Var", "Size", "IntBinary", "IntCall", "IntTensor",
    "Expr", "Num", "SizeRef", "TensorRef", "Binary", "Call", "IndexValue", "Comparison",
    "Logic", "Where",
    "Filter", "Compare", "BoolOp", "Not", "MaskRef",
    "Stop", "Partition", "Einsum", "Cascade", "rank_root", "int_vars", "int_tensors", "expr_refs",
    "expr_vars", "expr_children", "filter_vars", "rename_filter", "rename_int", "filter_tensors",
    "mask_refs", "einsum_reads",
]

_PARTITION = re.compile(r"^([A-Za-z_]+?)(\d+)$")


def rank_root(rank: str) -> str:
    """Return the unpartitioned rank a (possibly partitioned) rank belongs to.

    Examples
    --------
    >>> rank_root("M1"), rank_root("M0"), rank_root("M"), rank_root("HK")
    ('M', 'M', 'M', 'HK')
    """
    match = _PARTITION.match(rank)
    return match.group(1) if match else rank


# ----------------------------------------------------------------------------- integers
class IntExpr:
    """Base class of integer expressions over rank variables and size symbols."""

    def __str__(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True)
class IntConst(IntExpr):
    """An integer literal."""

    value: int

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class Var(IntExpr):
    """A rank variable such as ``m`` or ``m1``."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Size(IntExpr):
    """A size symbol such as ``M``, ``M0`` or a window ``W``."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class IntBinary(IntExpr):
    """``left op right`` with op one of ``+ - * // %``."""

    op: str
    left: IntExpr
    right: IntExpr

    def __str__(self) -> str:
        spaced = f" {self.op} " if self.op in "+-" else self.op
        return f"{_wrap(self.left, self.op, False)}{spaced}{_wrap(self.right, self.op, True)}"


@dataclass(frozen=True)
class IntCall(IntExpr):
    """``min``, ``max``, ``abs`` or ``clamp`` applied to integer expressions."""

    func: str
    args: tuple[IntExpr, ...]

    def __str__(self) -> str:
        return f"{self.func}({', '.join(str(a) for a in self.args)})"


@dataclass(frozen=True)
class IntTensor(IntExpr):
    """A tensor read as an integer, e.g. the per-head window ``W[h]`` in ``p - W[h] < m``."""

    ref: TensorRef

    def __str__(self) -> str:
        return str(self.ref)


def _wrap(expr: IntExpr, parent: str, right: bool) -> str:
    """Parenthesise a child only where precedence or associativity needs it."""
    text = str(expr)
    if not isinstance(expr, IntBinary):
        return text
    looser = expr.op in "+-" and parent not in "+-"
    if looser or (right and (parent == "-" and expr.op in "+-" or parent in ("//", "%"))):
        return f"({text})"
    return text


def int_vars(expr: IntExpr) -> frozenset[str]:
    """Return the rank variables an integer expression mentions.

    Examples
    --------
    >>> sorted(int_vars(IntBinary("+", IntBinary("*", Var("m1"), Size("M0")), Var("m0"))))
    ['m0', 'm1']
    """
    if isinstance(expr, Var):
        return frozenset((expr.name,))
    if isinstance(expr, IntBinary):
        return int_vars(expr.left) | int_vars(expr.right)
    if isinstance(expr, IntCall):
        return frozenset().union(*(int_vars(a) for a in expr.args))
    if isinstance(expr, IntTensor):
        return frozenset().union(*(int_vars(i) for i in expr.ref.indices))
    return frozenset()


def int_tensors(expr: IntExpr) -> tuple[TensorRef, ...]:
    """Return the tensors an integer expression reads (``W[h]`` in ``p - W[h]``), left to right.

    Examples
    --------
    >>> w = IntTensor(TensorRef("W", (Var("h"),)))
    >>> [r.name for r in int_tensors(IntBinary("-", Var("p"), w))]
    ['W']
    """
    if isinstance(expr, IntTensor):
        nested = tuple(r for i in expr.ref.indices for r in int_tensors(i))
        return (expr.ref,) + nested
    if isinstance(expr, IntBinary):
        return int_tensors(expr.left) + int_tensors(expr.right)
    if isinstance(expr, IntCall):
        return tuple(r for a in expr.args for r in int_tensors(a))
    return ()


# ----------------------------------------------------------------------------- values
class Expr:
    """Base class of right-hand-side value expressions."""


@dataclass(frozen=True)
class Num(Expr):
    """A numeric literal (``inf`` allowed)."""

    value: float

    def __str__(self) -> str:
        if self.value in (float("inf"), float("-inf")):
            return "inf" if self.value > 0 else "-inf"
        return str(int(self.value)) if self.value == int(self.value) else repr(self.value)


@dataclass(frozen=True)
class SizeRef(Expr):
    """A size symbol used as a scalar value, as in ``1/sqrt(E)``."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class TensorRef(Expr):
    """A tensor reference ``T[i0, i1, ...]`` (``T[]`` or bare ``T`` for a scalar)."""

    name: str
    indices: tuple[IntExpr, ...] = ()
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return f"{self.name}[{','.join(str(i).replace(' ', '') for i in self.indices)}]"


@dataclass(frozen=True)
class Binary(Expr):
    """A map operator between two operands: ``+ - * /``, ``max``, ``min`` or ``pow``."""

    op: str
    left: Expr
    right: Expr

    def __str__(self) -> str:
        if self.op in ("max", "min", "pow"):
            return f"{self.op}({self.left}, {self.right})"
        return f"{_vwrap(self.left, self.op)} {self.op} {_vwrap(self.right, self.op, True)}"


@dataclass(frozen=True)
class Call(Expr):
    """A unary user function such as ``exp``, ``sigmoid`` or ``sqrt``.

    ``exp(a - b)`` is FuseMax's *sub-then-exp* operator: a point is non-empty only
    where both ``a`` and ``b`` are (an intersection merge), which is what makes masked
    scores vanish instead of becoming ``exp(-b)``.
    """

    func: str
    arg: Expr

    def __str__(self) -> str:
        return f"{self.func}({self.arg})"

    @property
    def is_sub_exp(self) -> bool:
        """True for ``exp(a - b)``."""
        return self.func == "exp" and isinstance(self.arg, Binary) and self.arg.op == "-"


def _vwrap(expr: Expr, parent: str, right: bool = False) -> str:
    text = str(expr)
    if isinstance(expr, Binary) and expr.op in "+-" and (parent in "*/" or (right and parent == "-")):
        return f"({text})"
    if isinstance(expr, Binary) and expr.op in "*/" and right and parent == "/":
        return f"({text})"
    return text


@dataclass(frozen=True)
class IndexValue(Expr):
    """An integer expression of rank variables used as a value: ALiBi's ``p + M - P - m``.

    Index values are never empty and cost no ops themselves (the kernel computes them
    from its loop counters); the arithmetic that uses them does.
    """

    expr: IntExpr

    def __str__(self) -> str:
        text = str(self.expr)
        return f"({text})" if isinstance(self.expr, IntBinary) else text


def _chain(operands: tuple, ops: tuple[str, ...]) -> str:
    """``a op b op c`` text of a comparison chain."""
    parts = [str(operands[0])]
    for op, operand in zip(ops, operands[1:]):
        parts += [op, str(operand)]
    return " ".join(parts)


@dataclass(frozen=True)
class Comparison(Expr):
    """A chain of value comparisons ``a op b [op c ...]``: 1 where all hold, else 0."""

    operands: tuple[Expr, ...]
    ops: tuple[str, ...]

    def __str__(self) -> str:
        return _chain(self.operands, self.ops)


@dataclass(frozen=True)
class Logic(Expr):
    """``and`` / ``or`` of comparisons (``op`` is ``and``, ``or`` or ``not`` with one part)."""

    op: str
    parts: tuple[Expr, ...]

    def __str__(self) -> str:
        if self.op == "not":
            return f"not ({self.parts[0]})"
        return f" {self.op} ".join(f"({p})" for p in self.parts)


@dataclass(frozen=True)
class Where(Expr):
    """``where(cond, a, b)``: ``a`` where ``cond`` is non-zero, else ``b``.

    A point is empty where ``cond`` is empty or the chosen branch is.
    """

    cond: Expr
    then: Expr
    other: Expr

    def __str__(self) -> str:
        return f"where({self.cond}, {self.then}, {self.other})"


def expr_children(expr: Expr) -> tuple[Expr, ...]:
    """Direct sub-expressions of a value expression.

    Examples
    --------
    >>> [str(c) for c in expr_children(Binary("+", Num(1.0), SizeRef("E")))]
    ['1', 'E']
    """
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, Call):
        return (expr.arg,)
    if isinstance(expr, (Comparison,)):
        return expr.operands
    if isinstance(expr, Logic):
        return expr.parts
    if isinstance(expr, Where):
        return (expr.cond, expr.then, expr.other)
    return ()


def expr_vars(expr: Expr) -> frozenset[str]:
    """Rank variables an expression uses as values (``m`` in ``SLOPE * (m - p)``).

    Examples
    --------
    >>> sorted(expr_vars(Binary("*", SizeRef("S"), IndexValue(IntBinary("-", Var("m"), Var("p"))))))
    ['m', 'p']
    """
    if isinstance(expr, IndexValue):
        return int_vars(expr.expr)
    return frozenset().union(*(expr_vars(c) for c in expr_children(expr)))


def expr_refs(expr: Expr) -> tuple[TensorRef, ...]:
    """Return the tensor references of an expression, left to right.

    Examples
    --------
    >>> e = Binary("*", TensorRef("Q", (Var("e"), Var("p"))), TensorRef("K", (Var("e"), Var("m"))))
    >>> [r.name for r in expr_refs(e)]
    ['Q', 'K']
    """
    if isinstance(expr, TensorRef):
        return (expr,)
    return tuple(r for c in expr_children(expr) for r in expr_refs(c))


# ----------------------------------------------------------------------------- filters
class Filter:
    """Base class of boolean conditions on rank variables."""


@dataclass(frozen=True)
class Compare(Filter):
    """A chain of comparisons ``a op b [op c ...]`` (all must hold)."""

    operands: tuple[IntExpr, ...]
    ops: tuple[str, ...]

    def __str__(self) -> str:
        return _chain(self.operands, self.ops)


@dataclass(frozen=True)
class BoolOp(Filter):
    """``and`` / ``or`` of several filters."""

    op: str
    parts: tuple[Filter, ...]

    def __str__(self) -> str:
        return f" {self.op} ".join(f"({p})" if isinstance(p, BoolOp) else str(p) for p in self.parts)


@dataclass(frozen=True)
class Not(Filter):
    """Negation of a filter."""

    part: Filter

    def __str__(self) -> str:
        return f"not ({self.part})"


@dataclass(frozen=True)
class MaskRef(Filter):
    """A mask tensor used as a filter: the point is kept where the tensor is non-zero."""

    ref: TensorRef

    def __str__(self) -> str:
        return str(self.ref)


def filter_vars(flt: Filter) -> frozenset[str]:
    """Return the rank variables a filter mentions.

    Examples
    --------
    >>> sorted(filter_vars(Compare((Var("m"), Var("p")), ("<=",))))
    ['m', 'p']
    """
    if isinstance(flt, Compare):
        return frozenset().union(*(int_vars(o) for o in flt.operands))
    if isinstance(flt, BoolOp):
        return frozenset().union(*(filter_vars(p) for p in flt.parts))
    if isinstance(flt, Not):
        return filter_vars(flt.part)
    if isinstance(flt, MaskRef):
        return frozenset().union(*(int_vars(i) for i in flt.ref.indices))
    return frozenset()


def filter_tensors(flt: Filter) -> tuple[TensorRef, ...]:
    """Return every tensor a filter reads: mask tensors and tensors inside comparisons.

    Examples
    --------
    >>> w = IntTensor(TensorRef("W", (Var("h"),)))
    >>> [r.name for r in filter_tensors(Compare((IntBinary("-", Var("p"), w), Var("m")), ("<",)))]
    ['W']
    """
    if isinstance(flt, Compare):
        return tuple(r for o in flt.operands for r in int_tensors(o))
    if isinstance(flt, BoolOp):
        return tuple(r for p in flt.parts for r in filter_tensors(p))
    if isinstance(flt, Not):
        return filter_tensors(flt.part)
    if isinstance(flt, MaskRef):
        return (flt.ref,) + tuple(r for i in flt.ref.indices for r in int_tensors(i))
    return ()


# ----------------------------------------------------------------------------- cascade
@dataclass(frozen=True)
class Partition:
    """A rank split by index arithmetic: ``K[e, s*MS + m1*M0 + m0]`` splits ``M`` into S, M1, M0.

    Attributes
    ----------
    root : str
        The rank of the tensor position (``M``).
    parts : tuple of str
        The ranks of the variables, outermost first (``("S", "M1", "M0")``).
    strides : tuple of IntExpr
        The coefficient of each part (``MS``, ``M0``, ``1``).
    """

    root: str
    parts: tuple[str, ...]
    strides: tuple[IntExpr, ...]

    def __str__(self) -> str:
        terms = [p if str(s) == "1" else f"{p}*{s}" for p, s in zip(self.parts, self.strides)]
        return f"{self.root} = {' + '.join(terms)}"


@dataclass(frozen=True)
class Stop:
    """A stopping condition ``⋄ : var >= extent`` for an iterative rank variable."""

    var: str
    extent: IntExpr
    line: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return f"⋄ : {self.var} >= {self.extent}"


@dataclass(frozen=True)
class Einsum:
    """One extended Einsum ``LHS = expr [: filter] [:: reduction]``.

    Attributes
    ----------
    output : TensorRef
        The left-hand side.
    expr : Expr
        The right-hand side (map operators and unary functions).
    reduce_op : str
        How colliding values combine over the reduced variables: ``+``, ``max``, ``min``.
    filters : tuple of Filter
        Conditions restricting the iteration space (all must hold).
    iteration_vars : tuple of str
        Every rank variable of the iteration space, output variables first.
    reduced_vars : tuple of str
        The variables absent from the output (reduced away).
    label : str
        A unique name: the output tensor name, with ``@init`` for initialisations.
    section : str
        ``"init"`` or ``"body"`` when the text labelled it, else ``""``.
    """

    output: TensorRef
    expr: Expr
    reduce_op: str
    filters: tuple[Filter, ...]
    iteration_vars: tuple[str, ...]
    reduced_vars: tuple[str, ...]
    label: str
    section: str = ""
    line: int = field(default=0, compare=False)
    text: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        """The output tensor's name."""
        return self.output.name

    @cached_property
    def reads(self) -> tuple[TensorRef, ...]:
        """Every tensor this Einsum reads (see :func:`einsum_reads`)."""
        refs = list(expr_refs(self.expr))
        refs += [t for r in list(refs) for i in r.indices for t in int_tensors(i)]
        refs += [t for i in self.output.indices for t in int_tensors(i)]
        refs += [t for f in self.filters for t in filter_tensors(f)]
        return tuple(refs)

    def __str__(self) -> str:
        text = f"{self.output} = {self.expr}"
        if self.filters:
            text += " : " + " and ".join(str(f) for f in self.filters)
        if self.reduced_vars and self.reduce_op != "+":
            text += f" :: {self.reduce_op}({','.join(self.reduced_vars)})"
        return text


@dataclass(frozen=True)
class Cascade:
    """A parsed cascade of extended Einsums.

    Attributes
    ----------
    name : str
        Short name (the library name, or the file stem).
    einsums : tuple of Einsum
        In text order.
    stops : tuple of Stop
        Stopping conditions of the iterative rank variables.
    var_ranks : tuple of (str, str)
        Rank variable → rank it ranges over (``("m1", "M1")``).
    tensor_ranks : tuple of (str, tuple of str)
        Tensor → rank of each position (``"?"`` where no reference fixes it).
    iterative_vars : tuple of str
        Variables that appear as ``v + c`` on a left-hand side.
    declared_sizes : tuple of (str, int)
        Sizes declared with a ``ranks:`` line.
    metadata : tuple of (str, str)
        ``# key: value`` header comments (``title``, ``source``, ``passes``, …).
    source : str
        File the text came from (``"<string>"`` otherwise).
    """

    name: str
    einsums: tuple[Einsum, ...]
    stops: tuple[Stop, ...]
    var_ranks: tuple[tuple[str, str], ...]
    tensor_ranks: tuple[tuple[str, tuple[str, ...]], ...]
    iterative_vars: tuple[str, ...]
    declared_sizes: tuple[tuple[str, int], ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()
    source: str = field(default="<string>", compare=False)
    partitions: tuple[Partition, ...] = ()
    size_exprs: tuple[tuple[str, IntExpr], ...] = ()

    def __hash__(self) -> int:
        # Analyses are cached on the cascade; hashing its einsums afresh at every cached
        # call made a 10^4-line cascade take quadratic time, so the hash is computed once.
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.name, self.einsums, self.stops, self.var_ranks, self.tensor_ranks,
                           self.iterative_vars, self.declared_sizes, self.metadata,
                           self.partitions, self.size_exprs))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict:
        # str hashes differ between processes: a pickled cascade must not carry its hash
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def meta(self, key: str, default: str | None = None) -> str | None:
        """Return a header value (``# key: value``) or ``default``."""
        return dict(self.metadata).get(key, default)

    def parts_of(self, rank: str) -> frozenset[str]:
        """Ranks that partition ``rank``, directly or through nested partitions."""
        out: set[str] = set()
        frontier = [rank]
        while frontier:
            current = frontier.pop()
            for partition in self.partitions:
                if partition.root == current:
                    fresh = set(partition.parts) - out
                    out |= fresh
                    frontier.extend(fresh)
        return frozenset(out)

    def family(self, rank: str) -> frozenset[str]:
        """``rank`` and every rank that partitions it (``M`` → ``{M, M1, M0}``).

        Derived from index arithmetic such as ``K[e, m1*M0+m0]``, never from names.
        """
        return frozenset({rank}) | self.parts_of(rank)

    def roots_of(self, rank: str) -> frozenset[str]:
        """The unpartitioned ranks that ``rank`` is part of (itself when it is none's part)."""
        parents = {p.root for p in self.partitions if rank in p.parts}
        if not parents:
            return frozenset({rank})
        return frozenset().union(*(self.roots_of(parent) for parent in parents))

    @cached_property
    def produced(self) -> frozenset[str]:
        """Tensors some Einsum writes."""
        return frozenset(e.name for e in self.einsums)

    @cached_property
    def inputs(self) -> tuple[str, ...]:
        """Tensors read but never written, in order of first use."""
        seen: dict[str, None] = {}
        for einsum in self.einsums:
            for ref in einsum_reads(einsum):
                if ref.name not in self.produced:
                    seen.setdefault(ref.name, None)
        return tuple(seen)

    @cached_property
    def outputs(self) -> tuple[str, ...]:
        """Tensors written but never read (the cascade's results)."""
        read = {r.name for e in self.einsums for r in einsum_reads(e)}
        return tuple(dict.fromkeys(e.name for e in self.einsums if e.name not in read))

    def rank_of(self, var: str) -> str:
        """Return the rank a variable ranges over."""
        return dict(self.var_ranks).get(var, var.upper())

    def _lookup(self, key: str, build: Any) -> dict:
        """A dict derived once from the fields (frozen: it never goes stale)."""
        table = self.__dict__.get(key)
        if table is None:
            table = build()
            object.__setattr__(self, key, table)
        return table

    def ranks_of(self, tensor: str) -> tuple[str, ...]:
        """Return the rank of each position of a tensor."""
        return self._lookup("_tensor2ranks", lambda: dict(self.tensor_ranks))[tensor]

    def einsum(self, label: str) -> Einsum:
        """Return the Einsum with this label."""
        label2einsum = self._lookup("_label2einsum", lambda: {e.label: e for e in reversed(self.einsums)})
        return label2einsum[label]

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.einsums) + "".join(f"\n{s}" for s in self.stops)


def einsum_reads(einsum: Einsum) -> tuple[TensorRef, ...]:
    """Every tensor an Einsum reads: operands, tensors inside indices, and filter tensors.

    Examples
    --------
    >>> from einsum import parse
    >>> e = parse("S[h,m,p] = Q[e,h,p] * K[e,m] : p - W[h] < m").einsums[0]
    >>> [r.name for r in einsum_reads(e)]
    ['Q', 'K', 'W']
    """
    return einsum.reads


def mask_refs(filters: tuple[Filter, ...]) -> tuple[TensorRef, ...]:
    """Return the mask tensors a tuple of filters reads."""
    out: list[TensorRef] = []
    stack = list(filters)
    while stack:
        flt = stack.pop(0)
        if isinstance(flt, MaskRef):
            out.append(flt.ref)
        elif isinstance(flt, BoolOp):
            stack[:0] = list(flt.parts)
        elif isinstance(flt, Not):
            stack.insert(0, flt.part)
    return tuple(out)


def rename_filter(flt: Filter, mapping: dict[str, str]) -> Filter:
    """A filter with its rank variables renamed (``mapping``: old name → new name).

    Examples
    --------
    >>> str(rename_filter(Compare((Var("m"), Var("p")), ("<=",)), {"m": "k"}))
    'k <= p'
    """
    if isinstance(flt, Compare):
        return Compare(tuple(rename_int(o, mapping) for o in flt.operands), flt.ops)
    if isinstance(flt, BoolOp):
        return BoolOp(flt.op, tuple(rename_filter(p, mapping) for p in flt.parts))
    if isinstance(flt, Not):
        return Not(rename_filter(flt.part, mapping))
    if isinstance(flt, MaskRef):
        ref = flt.ref
        return MaskRef(TensorRef(ref.name, tuple(rename_int(i, mapping) for i in ref.indices)))
    return flt


def rename_int(expr: IntExpr, mapping: dict[str, str]) -> IntExpr:
    """An integer expression with its rank variables renamed."""
    if isinstance(expr, Var):
        return Var(mapping.get(expr.name, expr.name))
    if isinstance(expr, IntBinary):
        return IntBinary(expr.op, rename_int(expr.left, mapping), rename_int(expr.right, mapping))
    if isinstance(expr, IntCall):
        return IntCall(expr.func, tuple(rename_int(a, mapping) for a in expr.args))
    if isinstance(expr, IntTensor):
        ref = expr.ref
        return IntTensor(TensorRef(ref.name, tuple(rename_int(i, mapping) for i in ref.indices)))
    return expr

"""Parse cascade text into the objects of :mod:`einsum.model` (syntax only).

The grammar, one statement per line (``#`` starts a comment)::

    einsum   := tensor '=' expr [':' filter] ['::' reduce] [':' filter]
    tensor   := NAME ['[' [index (',' index)*] ']']
    index    := intexpr [':' filter]              # a filtering rank expression
    expr     := sums and products of tensors, numbers, size symbols, rank variables
                used as values (m - p), powers (a ^ b), comparisons (a < b is 1 or 0)
                and calls: exp(x), e^(x), sigmoid(x), max(a, b), pow(a, b),
                where(cond, a, b), ...
    reduce   := ['∨' vars] op ['(' vars | '∪' ')']   # e.g. max(m), ∨m max(∪)
    filter   := comparisons (chains allowed: p - W < m <= p) joined by and/or/not,
                or a mask tensor such as BM[p//BS, m//BS]; integer expressions
                may read tensors (p - W[h] < m)
    stop     := ('⋄' | 'stop') [':'] var '>=' intexpr
    ranks    := 'ranks' [':'] NAME '=' intexpr ... # declared sizes: M=1024, I=M0
    inputs   := 'inputs' [':'] tensor ...         # optional declared inputs
    section  := 'Initialization:' | 'Extended Einsums:'

Header comments ``# key: value`` before the first statement become metadata.
Semantic checks (ranks, iteration spaces, cycles) live in :mod:`einsum.semantics`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from einsum.errors import ParseError
from einsum.lexer import Token, tokenize
from einsum.model import (
    Binary,
    BoolOp,
    Call,
    Compare,
    Comparison,
    Expr,
    Filter,
    IntBinary,
    IntCall,
    IntConst,
    IntExpr,
    IntTensor,
    Logic,
    MaskRef,
    Not,
    Num,
    Size,
    Stop,
    TensorRef,
    Var,
    Where,
    int_tensors,
    int_vars,
)

__all__ = ["RawEinsum", "RawCascade", "parse_text", "UNARY_FUNCTIONS", "Bare", "MAX_EINSUMS",
           "MAX_DEPTH"]

#: The most Einsums one cascade may hold. Published cascades have tens; the analyses are
#: roughly linear up to here (4096 Einsums: a few seconds), and a larger file is refused
#: with a located error rather than analysed for minutes.
MAX_EINSUMS = 4096
#: The deepest expression tree accepted (nested parentheses, chains of unary minus, calls
#: or operators): the parser and every analysis walk expressions recursively.
MAX_DEPTH = 100

#: Unary functions the value language knows (executor and op counter agree on these).
UNARY_FUNCTIONS = ("exp", "log", "sqrt", "sigmoid", "tanh", "relu", "elu", "abs", "neg",
                   "softplus")
#: Functions of two or three operands.
_MULTI_FUNCTIONS = {"max": 2, "min": 2, "pow": 2, "where": 3}
_INT_FUNCTIONS = {"min": 2, "max": 2, "abs": 1, "clamp": 3}
_REDUCE_OPS = {"+": "+", "sum": "+", "add": "+", "max": "max", "min": "min"}
_COMPARE = ("<", "<=", ">", ">=", "==", "!=")
_SECTIONS = {"initialization": "init", "init": "init", "extended": "body", "body": "body"}
_META_KEYS = ("name", "title", "source", "passes", "reference", "sizes", "rank", "query", "notes",
              "query-passes", "results")


@dataclass(frozen=True)
class Bare(Expr):
    """A bare identifier on a right-hand side, resolved later to a tensor or a size."""

    name: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class RawEinsum:
    """An Einsum as written, before semantic resolution."""

    output: TensorRef
    expr: Expr
    reduce_op: str
    reduce_vars: tuple[str, ...] | None
    filters: tuple[Filter, ...]
    section: str
    line: int
    text: str


@dataclass
class RawCascade:
    """Everything a cascade text says, statement by statement."""

    source: str
    einsums: list[RawEinsum] = field(default_factory=list)
    stops: list[Stop] = field(default_factory=list)
    sizes: list[tuple[str, IntExpr, int]] = field(default_factory=list)  # (name, value, line)
    inputs: list[TensorRef] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


class _Cursor:
    """A token stream for one line with one-token lookahead."""

    def __init__(self, tokens: list[Token], source: str, line: int):
        self.tokens, self.pos, self.source, self.line = tokens, 0, source, line
        self.index_filters: list[Filter] = []  # filters written inside brackets

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return tok

    def accept(self, *texts: str) -> Token | None:
        return self.take() if self.tok.text in texts and self.tok.kind != "END" else None

    def expect(self, text: str, what: str) -> Token:
        if self.tok.text != text or self.tok.kind == "END":
            self.error(f"expected {what}")
        return self.take()

    def error(self, message: str, tok: Token | None = None) -> None:
        tok = tok or self.tok
        found = "end of line" if tok.kind == "END" else repr(tok.text)
        raise ParseError(f"{message}, found {found}", self.source, self.line, tok.column)


# ----------------------------------------------------------------------------- lines
def parse_text(text: str, source: str = "<string>") -> RawCascade:
    r"""Parse cascade text into a :class:`RawCascade`.

    Examples
    --------
    >>> raw = parse_text("Y = A[k] * B[k]\nZ = Y * A[k]")
    >>> [str(e.output) for e in raw.einsums]
    ['Y[]', 'Z[]']
    """
    raw = RawCascade(source)
    section, in_header = "", True
    for line_no, full_line in enumerate(text.splitlines(), start=1):
        body, _, comment = full_line.partition("#")
        if not body.strip():
            if in_header and comment:
                _header_comment(raw, comment, line_no)
            continue
        in_header = False
        tokens = tokenize(body.rstrip(), source, line_no)
        section = _checked_statement(raw, _Cursor(tokens, source, line_no), section, body.strip())
    return raw


def _checked_statement(raw: RawCascade, cur: _Cursor, section: str, text: str) -> str:
    """:func:`_statement` within the size limits (:data:`MAX_EINSUMS`, :data:`MAX_DEPTH`)."""
    if len(raw.einsums) >= MAX_EINSUMS and not _is_label(cur):
        raise ParseError(f"more than {MAX_EINSUMS} Einsums in one cascade; expected at most "
                         f"{MAX_EINSUMS}", cur.source, cur.line, 1)
    count = len(raw.einsums) + len(raw.stops) + len(raw.sizes) + len(raw.inputs)
    try:
        section = _statement(raw, cur, section, text)
    except RecursionError:
        depth = MAX_DEPTH + 1
    else:
        added = [*raw.einsums, *raw.stops, *raw.sizes, *raw.inputs][count:]
        depth = max((_depth(node) for node in added), default=0)
    if depth > MAX_DEPTH:
        raise ParseError(f"expression nested too deeply (more than {MAX_DEPTH} levels of "
                         f"parentheses, operators or calls); expected at most {MAX_DEPTH}; "
                         "split it into several Einsums", cur.source, cur.line, 1)
    return section


def _depth(root: object) -> int:
    """Depth of a parsed tree of dataclasses and tuples, walked without recursion."""
    deepest, stack = 0, [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (tuple, list)):
            stack.extend((child, depth) for child in node)
        elif dataclasses.is_dataclass(node):
            deepest = max(deepest, depth + 1)
            stack.extend((getattr(node, f.name), depth + 1) for f in dataclasses.fields(node))
    return deepest


def _header_comment(raw: RawCascade, comment: str, line: int) -> None:
    key, sep, value = comment.partition(":")
    key = key.strip().lower()
    if sep and key in _META_KEYS:
        raw.metadata[key] = value.strip()
        _check_header(key, value.strip(), raw.source, line)


def _check_header(key: str, value: str, source: str, line: int) -> None:
    """Header values that tools read as numbers or names must be well formed."""
    if key == "passes" and not (value.isascii() and value.isdigit() and int(value) > 0):
        raise ParseError(f"header '# passes: {value}': expected a positive integer such as 3",
                         source, line, 1)
    if key == "sizes":
        for item in value.replace(",", " ").split():
            name, sep, number = item.partition("=")
            if not (sep and name.isidentifier() and number.isascii() and number.isdigit()
                    and int(number) > 0):
                raise ParseError(f"header '# sizes:' item {item!r}: expected NAME=INTEGER with a "
                                 "positive integer, such as M=64", source, line, 1)
    if key in ("rank", "query") and not (value.isascii() and value.isidentifier()):
        raise ParseError(f"header '# {key}: {value}': expected one rank variable such as m",
                         source, line, 1)


def _statement(raw: RawCascade, cur: _Cursor, section: str, text: str) -> str:
    """Parse one statement, returning the current section label."""
    first = cur.tok
    if first.kind == "NAME" and first.text.lower() in _SECTIONS and _is_label(cur):
        return _SECTIONS[first.text.lower()]
    if first.text in ("⋄", "stop", "until"):
        raw.stops.append(_stop(cur))
    elif first.text == "ranks" and cur.peek().text != "[":
        raw.sizes.extend(_sizes(cur))
    elif first.text == "inputs" and cur.peek().text != "[":
        raw.inputs.extend(_inputs(cur))
    else:
        raw.einsums.append(_einsum(cur, section, text))
    if cur.tok.kind != "END":
        cur.error("expected end of statement")
    return section


def _is_label(cur: _Cursor) -> bool:
    i = 0
    while cur.peek(i).kind == "NAME":
        i += 1
    return cur.peek(i).text == ":" and cur.peek(i + 1).kind == "END"


def _stop(cur: _Cursor) -> Stop:
    cur.take()
    cur.accept(":")
    tok = cur.tok
    if tok.kind != "NAME" or not tok.text[0].islower():
        cur.error("expected the iterative rank variable of a stop condition (⋄ : m1 >= M1)")
    cur.take()
    cur.expect(">=", "'>=' in a stop condition (⋄ : m1 >= M1)")
    return Stop(tok.text, _intexpr(cur), cur.line)


def _sizes(cur: _Cursor) -> list[tuple[str, IntExpr, int]]:
    cur.take()
    cur.accept(":")
    out = []
    while cur.tok.kind != "END":
        name = cur.take()
        if name.kind != "NAME" or not name.text[0].isupper():
            cur.error("expected a size such as M=1024", name)
        cur.expect("=", "'=' after a rank name")
        value_tok = cur.tok
        value = _intexpr(cur)
        if isinstance(value, IntConst) and value.value <= 0:
            cur.error("expected a positive integer size", value_tok)
        if int_vars(value) or int_tensors(value):
            cur.error("expected a size: an integer or an expression of sizes such as M0 or 2*W",
                      value_tok)
        out.append((name.text, value, cur.line))
        cur.accept(",")
    return out


def _inputs(cur: _Cursor) -> list[TensorRef]:
    cur.take()
    cur.accept(":")
    out = []
    while cur.tok.kind != "END":
        out.append(_tensor(cur, allow_filters=False))
        cur.accept(",")
    return out


def _einsum(cur: _Cursor, section: str, text: str) -> RawEinsum:
    output = _tensor(cur, allow_filters=False)
    cur.expect("=", "'=' after the output tensor")
    expr = _expr(cur)
    filters: list[Filter] = []
    reduce_op, reduce_vars = "+", None
    while cur.tok.text in (":", "::", "where"):
        if cur.tok.text == "::" and reduce_vars is not None:
            cur.error("an Einsum has one reduction; expected one '::' (reduce several ranks "
                      "with one operator, as in ':: max(m0, m1)')")
        if cur.take().text == "::":
            reduce_op, reduce_vars = _reduction(cur)
        else:
            filters.append(_filter(cur))
    filters.extend(cur.index_filters)
    return RawEinsum(output, expr, reduce_op, reduce_vars, tuple(filters), section, cur.line, text)


def _reduction(cur: _Cursor) -> tuple[str, tuple[str, ...] | None]:
    named: list[str] = []
    if cur.accept("∨"):
        while cur.tok.kind == "NAME" and cur.tok.text[0].islower() and cur.peek().text != "(":
            named.append(cur.take().text)
            cur.accept(",")
    tok = cur.take()
    if tok.text not in _REDUCE_OPS:
        cur.error(f"expected a reduction operator ({', '.join(sorted(set(_REDUCE_OPS)))})", tok)
    if cur.accept("("):
        while cur.tok.text != ")":
            if cur.accept("∪"):
                continue
            var = cur.take()
            if var.kind != "NAME" or not var.text[0].islower():
                cur.error("expected a rank variable in the reduction", var)
            named.append(var.text)
            cur.accept(",")
        cur.expect(")", "')' closing the reduction")
    return _REDUCE_OPS[tok.text], (tuple(named) or None)


# ----------------------------------------------------------------------------- tensors
def _tensor(cur: _Cursor, allow_filters: bool = True) -> TensorRef:
    tok = cur.take()
    if tok.kind != "NAME":
        cur.error("expected a tensor name", tok)
    if not cur.accept("["):
        return TensorRef(tok.text, (), cur.line, tok.column)
    indices: list[IntExpr] = []
    filters: list[Filter] = []
    while cur.tok.text != "]":
        indices.append(_intexpr(cur))
        if cur.tok.text == ":":
            if not allow_filters:
                cur.error("a filter is not allowed here")
            cur.take()
            filters.append(_filter(cur))
        if not cur.accept(","):
            break
    cur.expect("]", "']' or ',' in the index list")
    cur.index_filters.extend(filters)
    return TensorRef(tok.text, tuple(indices), cur.line, tok.column)


# ----------------------------------------------------------------------------- values
def _expr(cur: _Cursor) -> Expr:
    """A value: ``or`` of ``and`` of comparisons of sums (comparisons give 1 or 0)."""
    parts = [_logic_and(cur)]
    while cur.accept("or", "|"):
        parts.append(_logic_and(cur))
    return parts[0] if len(parts) == 1 else Logic("or", tuple(parts))


def _logic_and(cur: _Cursor) -> Expr:
    parts = [_logic_not(cur)]
    while cur.accept("and", "&"):
        parts.append(_logic_not(cur))
    return parts[0] if len(parts) == 1 else Logic("and", tuple(parts))


def _logic_not(cur: _Cursor) -> Expr:
    if cur.accept("not", "!"):
        return Logic("not", (_logic_not(cur),))
    return _value_compare(cur)


def _value_compare(cur: _Cursor) -> Expr:
    operands = [_sum(cur)]
    ops: list[str] = []
    while cur.tok.text in _COMPARE:
        ops.append(cur.take().text)
        operands.append(_sum(cur))
    return operands[0] if not ops else Comparison(tuple(operands), tuple(ops))


def _sum(cur: _Cursor) -> Expr:
    node = _term(cur)
    while cur.tok.text in ("+", "-"):
        op = cur.take().text
        node = Binary(op, node, _term(cur))
    return node


def _term(cur: _Cursor) -> Expr:
    node = _unary(cur)
    while cur.tok.text in ("*", "/"):
        op = cur.take().text
        node = Binary(op, node, _unary(cur))
    return node


def _unary(cur: _Cursor) -> Expr:
    if cur.accept("-"):
        operand = _unary(cur)
        if isinstance(operand, Num):
            return Num(-operand.value)
        return Call("neg", operand)
    return _power(cur)


def _power(cur: _Cursor) -> Expr:
    """``a ^ b`` and ``a ** b`` (right-associative, tighter than unary minus on the left)."""
    base = _atom(cur)
    if cur.accept("^", "**"):
        return Binary("pow", base, _unary(cur))
    return base


def _atom(cur: _Cursor) -> Expr:
    tok = cur.tok
    if tok.kind == "NUM":
        cur.take()
        return Num(float(tok.text))
    if cur.accept("("):
        node = _expr(cur)
        cur.expect(")", "')'")
        return node
    if tok.kind != "NAME":
        cur.error("expected a tensor, number, size or function")
    if tok.text == "inf":
        cur.take()
        return Num(float("inf"))
    nxt = cur.peek()
    if nxt.text == "[":
        return _tensor(cur)
    if nxt.text == "(":
        return _call(cur)
    cur.take()
    return Bare(tok.text, cur.line, tok.column)


def _call(cur: _Cursor) -> Expr:
    tok = cur.take()
    cur.expect("(", "'('")
    func = tok.text
    if func in _MULTI_FUNCTIONS:
        args = [_expr(cur)]
        for _ in range(_MULTI_FUNCTIONS[func] - 1):
            cur.expect(",", f"',' between the {_MULTI_FUNCTIONS[func]} operands of {func}")
            args.append(_expr(cur))
        cur.expect(")", f"')' closing {func}( after {_MULTI_FUNCTIONS[func]} operands")
        if func == "where":
            return Where(*args)
        return Binary(func, args[0], args[1])
    if func not in UNARY_FUNCTIONS:
        known = ", ".join(UNARY_FUNCTIONS + tuple(_MULTI_FUNCTIONS))
        cur.error(f"unknown function {func!r} (known: {known})", tok)
    arg = _expr(cur)
    cur.expect(")", f"')' closing {func}(")
    return Call(func, arg)


# ----------------------------------------------------------------------------- integers
def _intexpr(cur: _Cursor) -> IntExpr:
    node = _intterm(cur)
    while cur.tok.text in ("+", "-"):
        op = cur.take().text
        node = IntBinary(op, node, _intterm(cur))
    return node


def _intterm(cur: _Cursor) -> IntExpr:
    node = _intunary(cur)
    while cur.tok.text in ("*", "//", "%", "/"):
        op = cur.take()
        if op.text == "/":
            cur.error("use '//' for integer division in an index or filter", op)
        right = _intunary(cur)
        if op.text in ("//", "%") and isinstance(right, IntConst) and right.value == 0:
            cur.error(f"'{op.text} 0' divides by zero; expected a positive divisor", op)
        node = IntBinary(op.text, node, right)
    return node


def _intunary(cur: _Cursor) -> IntExpr:
    if cur.accept("-"):
        return IntBinary("-", IntConst(0), _intunary(cur))
    return _intatom(cur)


def _intatom(cur: _Cursor) -> IntExpr:
    tok = cur.take()
    if tok.kind == "NUM":
        if not (tok.text.isascii() and tok.text.isdigit()):
            cur.error("expected an integer", tok)
        return IntConst(int(tok.text))
    if tok.text == "(":
        node = _intexpr(cur)
        cur.expect(")", "')'")
        return node
    if tok.kind != "NAME":
        cur.error("expected a rank variable, size or integer", tok)
    if cur.tok.text == "(":
        return _intcall(cur, tok)
    if cur.tok.text == "[":
        cur.pos -= 1  # re-read the name as a tensor reference
        return IntTensor(_tensor(cur, allow_filters=False))
    return Var(tok.text) if tok.text[0].islower() else Size(tok.text)


def _intcall(cur: _Cursor, tok: Token) -> IntExpr:
    if tok.text not in _INT_FUNCTIONS:
        cur.error(f"unknown integer function {tok.text!r} (known: min, max, abs, clamp)", tok)
    cur.take()
    args = [_intexpr(cur)]
    while cur.accept(","):
        args.append(_intexpr(cur))
    cur.expect(")", "')'")
    if len(args) != _INT_FUNCTIONS[tok.text]:
        cur.error(f"{tok.text} takes {_INT_FUNCTIONS[tok.text]} arguments", tok)
    return IntCall(tok.text, tuple(args))


# ----------------------------------------------------------------------------- filters
def _filter(cur: _Cursor) -> Filter:
    parts = [_filter_and(cur)]
    while cur.accept("or", "|"):
        parts.append(_filter_and(cur))
    return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))


def _filter_and(cur: _Cursor) -> Filter:
    parts = [_filter_not(cur)]
    while cur.accept("and", "&"):
        parts.append(_filter_not(cur))
    return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))


def _filter_not(cur: _Cursor) -> Filter:
    if cur.accept("not", "!"):
        return Not(_filter_not(cur))
    return _filter_atom(cur)


def _filter_atom(cur: _Cursor) -> Filter:
    tok = cur.tok
    if tok.text == "(":
        start = cur.pos
        try:
            return _comparison(cur)
        except ParseError:
            cur.pos = start
        cur.take()
        inner = _filter(cur)
        cur.expect(")", "')' closing a filter")
        return inner
    return _comparison(cur)


def _comparison(cur: _Cursor) -> Filter:
    operands = [_intexpr(cur)]
    ops: list[str] = []
    while cur.tok.text in _COMPARE:
        ops.append(cur.take().text)
        operands.append(_intexpr(cur))
    if not ops:
        if isinstance(operands[0], IntTensor):
            return MaskRef(operands[0].ref)  # a mask tensor: kept where non-zero
        cur.error("expected a comparison (<, <=, >, >=, ==, !=) or a mask tensor such as "
                  "BM[p // PB, m // MB] in a filter")
    return Compare(tuple(operands), tuple(ops))

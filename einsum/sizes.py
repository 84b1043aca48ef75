"""Rank sizes: declared, given, inferred from arrays, and derived for partitions.

A partitioned rank ``M → M1 × M0`` needs only two of the three sizes; the third is
derived as ``M1 = ceil(M / M0)`` (or ``M0 = ceil(M / M1)``). Works on plain ints and on
numpy arrays of sizes alike, which is what lets a sweep evaluate a million shapes at
once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from einsum.errors import ShapeError
from einsum.model import (
    Cascade,
    IntBinary,
    IntCall,
    IntConst,
    IntExpr,
    IntTensor,
    Partition,
    Size,
    SizeRef,
    Var,
)

__all__ = ["resolve_sizes", "derive_sizes", "parse_size_assignments", "eval_int", "var_size",
           "size_symbols", "check_size_names", "check_partition_sizes"]


def parse_size_assignments(text: str | None) -> dict[str, int]:
    """Parse ``"E=8 F=8 M=64"`` (spaces or commas) into a dict.

    Examples
    --------
    >>> parse_size_assignments("E=8, M=64")
    {'E': 8, 'M': 64}
    """
    out: dict[str, int] = {}
    for item in (text or "").replace(",", " ").split():
        name, sep, value = item.partition("=")
        digits = value.strip()
        if not sep or not (digits.isascii() and digits.isdigit()) or not name.strip() or int(value) <= 0:
            raise ShapeError(f"size {item!r}: expected NAME=INTEGER with a positive integer, "
                             f"such as M=64")
        out[name.strip()] = int(value)
    return out


def resolve_sizes(cascade: Cascade, sizes: Mapping[str, Any] | None = None,
                  arrays: Mapping[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Collect every rank size a cascade needs.

    Declared sizes (``ranks:`` lines) come first, then ``sizes`` overrides them, then
    input array shapes fill and check the rest; partitions are derived last.

    Raises
    ------
    ShapeError
        If an array's shape disagrees with a size given or inferred elsewhere.

    Examples
    --------
    >>> from einsum import load
    >>> resolve_sizes(load("attention-1pass"), {"M": 100, "M0": 16})["M1"]
    7
    """
    out: dict[str, Any] = dict(cascade.declared_sizes)
    out.update(sizes or {})
    origin = {name: "given" for name in out}
    for tensor, array in (arrays or {}).items():
        ranks = cascade.ranks_of(tensor) if tensor in dict(cascade.tensor_ranks) else ()
        if len(ranks) != np.ndim(array):
            raise ShapeError(f"input {tensor} has {np.ndim(array)} dimensions; the cascade indexes "
                             f"it with {len(ranks)} ({', '.join(ranks)})")
        for rank, extent in zip(ranks, np.shape(array)):
            if rank == "?":
                continue
            if rank in out and np.any(out[rank] != extent):
                raise ShapeError(f"rank {rank} has inconsistent sizes: {out[rank]} ({origin[rank]}) "
                                 f"but {extent} from input {tensor}")
            out[rank], origin[rank] = extent, f"input {tensor}"
    derive_sizes(cascade, out)
    return out


def derive_sizes(cascade: Cascade, sizes: dict[str, Any]) -> None:
    """Fill, in place, the sizes that follow from the others: size expressions, partitions, stops.

    A partition ``M = M1*M0 + m0`` (mixed radix) with its root and all parts but one known
    gives the missing part as ``ceil(M / product of the others)``; a stride written as one
    size symbol (``MS`` in ``s*MS + m1*M0 + m0``) is the product of the inner parts.
    """
    for _ in range(4 + 2 * len(cascade.partitions) + len(cascade.size_exprs)):
        changed = _derive_expressions(cascade, sizes)
        for partition in cascade.partitions:
            changed |= _derive_partition(partition, sizes)
        for stop in cascade.stops:
            rank = cascade.rank_of(stop.var)
            if rank not in sizes:
                try:
                    sizes[rank] = eval_int(stop.extent, {}, sizes)
                    changed = True
                except ShapeError:
                    pass
        if not changed:
            return


def _derive_expressions(cascade: Cascade, sizes: dict[str, Any]) -> bool:
    changed = False
    for name, expr in cascade.size_exprs:
        if name not in sizes:
            try:
                sizes[name] = eval_int(expr, {}, sizes)
                changed = True
            except ShapeError:
                pass
        elif isinstance(expr, Size) and expr.name not in sizes:
            sizes[expr.name] = sizes[name]  # an alias (J = I) sizes either side
            changed = True
    return changed


def _derive_partition(partition: Partition, sizes: dict[str, Any]) -> bool:
    changed = False
    missing = [p for p in partition.parts if p not in sizes]
    if partition.root in sizes and len(missing) == 1:
        others = [sizes[p] for p in partition.parts if p != missing[0]]
        product = 1
        for value in others:
            product = product * value
        sizes[missing[0]] = -(-sizes[partition.root] // product)
        changed = True
    for position, stride in enumerate(partition.strides):
        inner = partition.parts[position + 1:]
        if isinstance(stride, Size) and stride.name not in sizes and all(p in sizes for p in inner):
            product = 1
            for p in inner:
                product = product * sizes[p]
            sizes[stride.name] = product
            changed = True
    return changed


def var_size(cascade: Cascade, var: str, sizes: Mapping[str, Any]) -> Any:
    """Size of the range of a rank variable."""
    rank = cascade.rank_of(var)
    if rank not in sizes:
        raise ShapeError(f"size of rank {rank} (variable {var}) is unknown; give it, e.g. "
                         f"--size {rank}=64")
    return sizes[rank]


_INT_OPS = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "//": np.floor_divide, "%": np.mod,
}


def eval_int(expr: IntExpr, env: Mapping[str, Any], sizes: Mapping[str, Any],
             gather: Callable[[IntTensor, Mapping[str, Any]], Any] | None = None) -> Any:
    """Evaluate an integer expression with variables from ``env`` and sizes from ``sizes``.

    ``gather(node, env)`` reads a tensor inside the expression (``W[h]``); without it such
    an expression is an error.

    Examples
    --------
    >>> from einsum.model import IntBinary, Var, Size
    >>> int(eval_int(IntBinary("+", IntBinary("*", Var("m1"), Size("M0")), Var("m0")),
    ...              {"m1": 2, "m0": 3}, {"M0": 16}))
    35
    """
    if isinstance(expr, IntConst):
        return expr.value
    if isinstance(expr, Var):
        return env[expr.name]
    if isinstance(expr, Size):
        if expr.name not in sizes:
            raise ShapeError(f"size {expr.name} is unknown; give it, e.g. --size {expr.name}=64")
        return sizes[expr.name]
    if isinstance(expr, IntBinary):
        return _INT_OPS[expr.op](eval_int(expr.left, env, sizes, gather),
                                 eval_int(expr.right, env, sizes, gather))
    if isinstance(expr, IntTensor):
        if gather is None:
            raise ShapeError(f"{expr} reads a tensor; its values are needed here")
        return gather(expr, env)
    if isinstance(expr, IntCall):
        args = [eval_int(a, env, sizes, gather) for a in expr.args]
        if expr.func == "abs":
            return np.abs(args[0])
        if expr.func == "clamp":
            return np.minimum(np.maximum(args[0], args[1]), args[2])
        return (np.minimum if expr.func == "min" else np.maximum)(args[0], args[1])
    raise TypeError(f"not an integer expression: {expr!r}")


def size_symbols(cascade: Cascade) -> frozenset[str]:
    """Every name a size may be given for: the ranks and the size symbols the text uses.

    Examples
    --------
    >>> from einsum import load
    >>> sorted(size_symbols(load("attention-1pass")))
    ['E', 'F', 'M', 'M0', 'M1', 'P']
    """
    names = {r for _, ranks in cascade.tensor_ranks for r in ranks if r != "?"}
    names |= {r for _, r in cascade.var_ranks}
    names |= {n for n, _ in cascade.declared_sizes} | {n for n, _ in cascade.size_exprs}
    stack: list[Any] = [cascade.einsums, cascade.stops, cascade.partitions, cascade.size_exprs]
    while stack:  # every Size / SizeRef node, walked without recursion
        node = stack.pop()
        if isinstance(node, (tuple, list)):
            stack.extend(node)
        elif isinstance(node, (Size, SizeRef)):
            names.add(node.name)
        elif dataclasses.is_dataclass(node):
            stack.extend(getattr(node, f.name) for f in dataclasses.fields(node))
    return frozenset(names)


def check_size_names(cascade: Cascade, sizes: Mapping[str, Any]) -> None:
    """Refuse a size for a name the cascade never uses (a typo would be silently ignored).

    Raises
    ------
    ShapeError
        Naming the unknown symbol and the known ones.

    Examples
    --------
    >>> from einsum import load
    >>> check_size_names(load("attention-3pass"), {"ZZ": 3})
    Traceback (most recent call last):
    ...
    einsum.errors.ShapeError: size ZZ=3: ... has no rank or size symbol ZZ; expected one of E, F, M, P
    """
    known = size_symbols(cascade)
    for name, value in sizes.items():
        if name not in known:
            raise ShapeError(f"size {name}={value}: cascade {cascade.name} has no rank or size "
                             f"symbol {name}; expected one of {', '.join(sorted(known))}")


def check_partition_sizes(cascade: Cascade, given: Mapping[str, Any]) -> None:
    """Refuse a partition whose root and parts are all given but disagree (``M1`` vs ``M``, ``M0``).

    The outermost part must be ``ceil(root / product of the others)``: fewer parts cannot hold
    the root, more would hold chunks that are wholly past its end.

    Examples
    --------
    >>> from einsum import load
    >>> check_partition_sizes(load("attention-1pass"), {"M": 64, "M0": 16, "M1": 4})
    >>> check_partition_sizes(load("attention-1pass"), {"M": 64, "M0": 16, "M1": 2})
    Traceback (most recent call last):
    ...
    einsum.errors.ShapeError: sizes M1=2, M=64, M0=16 disagree: ... needs M1 = ceil(M / M0) = 4
    """
    for partition in cascade.partitions:
        names = (partition.root, *partition.parts)
        if not all(isinstance(given.get(n), (int, np.integer)) for n in names):
            continue
        top, *inner = partition.parts
        rest = 1
        for name in inner:
            rest *= int(given[name])
        wanted = -(-int(given[partition.root]) // rest)
        if int(given[top]) != wanted:
            shown = ", ".join(f"{n}={given[n]}" for n in (top, partition.root, *inner))
            raise ShapeError(f"sizes {shown} disagree: partitioning {partition.root} into "
                             f"{', '.join(partition.parts)} needs "
                             f"{top} = ceil({partition.root} / {' * '.join(inner) or '1'}) = {wanted}")

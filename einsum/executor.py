"""A numpy reference executor: run any cascade on small concrete inputs.

Semantics follow EDGE/FuseMax (reference/fusemax.md §1.2): every tensor is a dense
array plus a mask of *non-empty* points.

* Filters and out-of-range reads (``K[e, m1*M0+m0]`` past the end) leave points empty.
* ``*`` and unary functions intersect (∩): empty if any operand is empty.
* ``+``, ``-``, ``max`` and ``min`` take the union (∪): an empty operand acts as the
  identity (0, −∞ or +∞).
* ``/`` is ÷(←): it touches only points where the divisor is non-zero, so ``x / 0``
  is empty (this is what makes Cascade 3's first step well defined).
* ``exp(a - b)`` is *sub-then-exp* with an intersection merge, and ``exp(a - a) = 1``
  even when both are −∞ (a running max that has seen no key yet).
* Reductions skip empty points; a fiber with no non-empty point reduces to empty.

Empty points read back as 0 in the returned arrays. One iterative rank per cascade is
supported: the Einsums whose iteration space contains it run inside a loop over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx
import numpy as np

from einsum.errors import ShapeError
from einsum.graph import cascade_graph, forward_order
from einsum.model import (
    Binary,
    BoolOp,
    Call,
    Cascade,
    Compare,
    Einsum,
    Expr,
    Filter,
    MaskRef,
    Not,
    Num,
    SizeRef,
    TensorRef,
)
from einsum.semantics import classify_index
from einsum.sizes import eval_int, resolve_sizes, var_size

__all__ = ["evaluate"]

_UNARY = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "neg": np.negative,
    "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
}
_IDENTITY = {"+": 0.0, "-": 0.0, "max": -np.inf, "min": np.inf}
_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
            "==": np.equal, "!=": np.not_equal}


class _Store:
    """Arrays and non-empty masks of every tensor, plus the sizes."""

    def __init__(self, cascade: Cascade, sizes: dict[str, Any]):
        self.cascade, self.sizes = cascade, sizes
        self.data: dict[str, np.ndarray] = {}
        self.mask: dict[str, np.ndarray] = {}


def evaluate(cascade: Cascade, inputs: Mapping[str, Any],
             sizes: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    r"""Run a cascade on concrete inputs.

    Parameters
    ----------
    cascade : Cascade
    inputs : mapping of str to array_like
        One array per input tensor, axes in the order the cascade indexes them.
    sizes : mapping of str to int, optional
        Sizes that the arrays do not determine (e.g. ``M0`` of a partition).

    Returns
    -------
    dict of str to numpy.ndarray
        Every tensor the cascade produces (empty points are 0).

    Raises
    ------
    ShapeError
        Missing inputs or sizes, or arrays whose shapes disagree.

    Examples
    --------
    >>> from einsum import parse
    >>> c = parse("Y = A[k] * B[k]\nZ = Y * A[k]")
    >>> float(evaluate(c, {"A": [1.0, 2.0], "B": [3.0, 4.0]})["Z"])
    33.0
    """
    arrays = {name: np.asarray(value, dtype=float) for name, value in inputs.items()}
    missing = [name for name in cascade.inputs if name not in arrays]
    if missing:
        raise ShapeError(f"missing input tensor(s) {', '.join(missing)} for cascade {cascade.name}")
    store = _Store(cascade, resolve_sizes(cascade, sizes, {n: arrays[n] for n in cascade.inputs}))
    for name in cascade.inputs:
        store.data[name] = arrays[name]
    _allocate(store)
    for step in _schedule(cascade):
        step(store)
    return {name: np.where(store.mask[name], store.data[name], 0.0) for name in store.mask}


def _allocate(store: _Store) -> None:
    cascade = store.cascade
    iterative = frozenset(cascade.iterative_vars)
    for einsum in cascade.einsums:
        if einsum.name in store.data:
            continue
        shape = []
        for pos, rank in enumerate(cascade.ranks_of(einsum.name)):
            if rank == "?":
                raise ShapeError(f"tensor {einsum.name} position {pos} has no rank variable in any "
                                 f"reference, so its size is unknown")
            extent = store.sizes.get(rank)
            if extent is None:
                raise ShapeError(f"size of rank {rank} (tensor {einsum.name}) is unknown; give it, "
                                 f"e.g. --size {rank}=64")
            shape.append(int(extent) + _max_offset(cascade, einsum.name, pos, iterative))
        store.data[einsum.name] = np.zeros(shape)
        store.mask[einsum.name] = np.zeros(shape, dtype=bool)


def _max_offset(cascade: Cascade, tensor: str, pos: int, iterative: frozenset[str]) -> int:
    offsets = [classify_index(e.output.indices[pos], iterative).offset
               for e in cascade.einsums if e.name == tensor]
    return max([0] + offsets)


def _schedule(cascade: Cascade) -> list:
    """Steps in dependency order; the iterative body becomes one looping step."""
    if len(cascade.iterative_vars) > 1:
        raise ShapeError(f"the executor supports one iterative rank; {cascade.name} has "
                         f"{', '.join(cascade.iterative_vars)}")
    order = [cascade.einsum(label) for label in forward_order(cascade_graph(cascade))]
    if not cascade.iterative_vars:
        return [lambda store, e=e: _run(store, e, {}) for e in order]
    var = cascade.iterative_vars[0]
    body = [e for e in order if var in e.iteration_vars]
    graph = cascade_graph(cascade)
    after = set().union(*(nx.descendants(graph, e.label) for e in body)) - {e.label for e in body}
    pre = [e for e in order if e not in body and e.label not in after]
    post = [e for e in order if e.label in after]
    steps = [lambda store, e=e: _run(store, e, {}) for e in pre]
    steps.append(lambda store: _loop(store, var, body))
    steps += [lambda store, e=e: _run(store, e, {}) for e in post]
    return steps


def _loop(store: _Store, var: str, body: list[Einsum]) -> None:
    for value in range(int(var_size(store.cascade, var, store.sizes))):
        for einsum in body:
            _run(store, einsum, {var: value})


def _run(store: _Store, einsum: Einsum, fixed: dict[str, int]) -> None:
    """Evaluate one Einsum (with some variables fixed) and write its output."""
    free = [v for v in einsum.iteration_vars if v not in fixed]
    shape = tuple(int(var_size(store.cascade, v, store.sizes)) for v in free)
    env: dict[str, Any] = dict(fixed)
    for axis, var in enumerate(free):
        env[var] = np.arange(shape[axis]).reshape([-1 if a == axis else 1 for a in range(len(free))])
    data, mask = _value(store, einsum.expr, env)
    for flt in einsum.filters:
        mask = _and(mask, _filter(store, flt, env))
    data = np.broadcast_to(data, shape)
    mask = np.ones(shape, dtype=bool) if mask is None else np.broadcast_to(mask, shape)
    reduced = tuple(free.index(v) for v in einsum.reduced_vars if v in free)
    if reduced:
        identity = _IDENTITY[einsum.reduce_op]
        masked = np.where(mask, data, identity)
        reducer = {"+": np.sum, "max": np.max, "min": np.min}[einsum.reduce_op]
        data, mask = reducer(masked, axis=reduced), mask.any(axis=reduced)
    _write(store, einsum, free, env, data, mask)


def _write(store: _Store, einsum: Einsum, free: list[str], env: dict[str, Any],
           data: np.ndarray, mask: np.ndarray) -> None:
    kept = [v for v in free if v not in einsum.reduced_vars]
    out_env = dict(env)
    for axis, var in enumerate(kept):
        out_env[var] = np.arange(data.shape[axis]).reshape(
            [-1 if a == axis else 1 for a in range(len(kept))])
    index = tuple(np.asarray(eval_int(i, out_env, store.sizes)) for i in einsum.output.indices)
    store.data[einsum.name][index] = np.where(mask, data, 0.0)
    store.mask[einsum.name][index] = mask


# ----------------------------------------------------------------------------- values
def _and(left: np.ndarray | None, right: np.ndarray | None) -> np.ndarray | None:
    if left is None:
        return right
    return left if right is None else left & right


def _or(left: np.ndarray | None, right: np.ndarray | None) -> np.ndarray | None:
    return None if left is None or right is None else left | right


def _value(store: _Store, expr: Expr, env: dict[str, Any]) -> tuple[Any, np.ndarray | None]:
    if isinstance(expr, Num):
        return expr.value, None
    if isinstance(expr, SizeRef):
        return float(store.sizes[expr.name]), None
    if isinstance(expr, TensorRef):
        return _gather(store, expr, env)
    if isinstance(expr, Call):
        return _call(store, expr, env)
    if isinstance(expr, Binary):
        return _binary(store, expr, env)
    raise TypeError(f"cannot evaluate {expr!r}")


def _gather(store: _Store, ref: TensorRef, env: dict[str, Any]) -> tuple[Any, np.ndarray | None]:
    array = store.data[ref.name]
    index, valid = [], None
    for axis, expr in enumerate(ref.indices):
        raw = np.asarray(eval_int(expr, env, store.sizes))
        inside = (raw >= 0) & (raw < array.shape[axis])
        valid = inside if valid is None else valid & inside
        index.append(np.clip(raw, 0, array.shape[axis] - 1))
    data = array[tuple(index)]
    mask = store.mask[ref.name][tuple(index)] if ref.name in store.mask else None
    if valid is not None and not np.all(valid):
        mask = _and(mask, valid)
    return data, mask


def _call(store: _Store, call: Call, env: dict[str, Any]) -> tuple[Any, np.ndarray | None]:
    with np.errstate(all="ignore"):
        if call.is_sub_exp:
            left, lmask = _value(store, call.arg.left, env)  # type: ignore[attr-defined]
            right, rmask = _value(store, call.arg.right, env)  # type: ignore[attr-defined]
            same = np.equal(left, right)
            return np.where(same, 1.0, np.exp(np.subtract(left, right))), _and(lmask, rmask)
        data, mask = _value(store, call.arg, env)
        return _UNARY[call.func](data), mask


def _binary(store: _Store, node: Binary, env: dict[str, Any]) -> tuple[Any, np.ndarray | None]:
    left, lmask = _value(store, node.left, env)
    right, rmask = _value(store, node.right, env)
    with np.errstate(all="ignore"):
        if node.op == "*":
            return np.multiply(left, right), _and(lmask, rmask)
        if node.op == "/":
            nonzero = np.not_equal(right, 0)
            return np.divide(left, np.where(nonzero, right, 1.0)), _and(_and(lmask, rmask), nonzero)
        identity = _IDENTITY[node.op]
        if lmask is not None:
            left = np.where(lmask, left, identity)
        if rmask is not None:
            right = np.where(rmask, right, identity)
        func = {"+": np.add, "-": np.subtract, "max": np.maximum, "min": np.minimum}[node.op]
        return func(left, right), _or(lmask, rmask)


def _filter(store: _Store, flt: Filter, env: dict[str, Any]) -> np.ndarray:
    if isinstance(flt, Compare):
        values = [np.asarray(eval_int(o, env, store.sizes)) for o in flt.operands]
        result = np.asarray(True)
        for op, left, right in zip(flt.ops, values, values[1:]):
            result = result & _COMPARE[op](left, right)
        return result
    if isinstance(flt, BoolOp):
        parts = [_filter(store, p, env) for p in flt.parts]
        combine = np.logical_and if flt.op == "and" else np.logical_or
        result = parts[0]
        for part in parts[1:]:
            result = combine(result, part)
        return result
    if isinstance(flt, Not):
        return ~_filter(store, flt.part, env)
    if isinstance(flt, MaskRef):
        data, mask = _gather(store, flt.ref, env)
        present = np.not_equal(data, 0)
        return present if mask is None else present & mask
    raise TypeError(f"cannot evaluate filter {flt!r}")

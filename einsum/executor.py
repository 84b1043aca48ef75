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

Empty points read back as 0 in the returned arrays.

Iterative ranks become loops. An Einsum runs once per value of the iterative variables its
output keeps (``RM[m1+1,p]``, ``LM[m1,p]``); one that reduces an iterative variable away
(``G[p] = A[k,p] :: max(k)``) runs after that loop, over every iteration. Loops nest when an
iteration contains another recurrence and follow one another when recurrences are
independent.
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
    Comparison,
    Einsum,
    Expr,
    Filter,
    IndexValue,
    IntTensor,
    Logic,
    MaskRef,
    Not,
    Num,
    SizeRef,
    TensorRef,
    Where,
    int_vars,
)
from einsum.semantics import classify_index
from einsum.sizes import eval_int, resolve_sizes, var_size

__all__ = ["evaluate", "estimated_bytes", "check_memory", "MAX_EVALUATE_BYTES"]

#: The most memory :func:`evaluate` may plan to use (4 GiB): the executor materialises every
#: tensor and each Einsum's whole iteration space, so large sizes are refused up front.
MAX_EVALUATE_BYTES = 4 * 1024**3
# bytes per element: float64 data + bool mask for tensors; value, mask and masked copy for
# an iteration space
_TENSOR_BYTES, _SPACE_BYTES = 9, 17

_UNARY = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "neg": np.negative,
    "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "softplus": lambda x: np.logaddexp(0.0, x),
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


def estimated_bytes(cascade: Cascade, sizes: Mapping[str, Any]) -> int:
    """Memory :func:`evaluate` will use at these sizes: all tensors plus the largest iteration space.

    Sizes it cannot resolve count as 1 (the executor reports them itself).

    Examples
    --------
    >>> from einsum import load
    >>> estimated_bytes(load("attention-3pass"), {"E": 8, "F": 8, "M": 64, "P": 16}) > 64 * 16 * 8
    True
    """
    def extent(rank: str) -> int:
        return max(int(sizes.get(rank, 1)), 1)

    total = 0
    for _, ranks in cascade.tensor_ranks:
        count = 1
        for rank in ranks:
            count *= extent(rank) if rank != "?" else 1
        total += _TENSOR_BYTES * count
    space = 0
    for einsum in cascade.einsums:
        count = 1
        for var in set(einsum.iteration_vars) - _loop_vars(cascade, einsum):
            count *= extent(cascade.rank_of(var))
        space = max(space, _SPACE_BYTES * count)
    return total + space


def check_memory(cascade: Cascade, sizes: Mapping[str, Any], limit: int = MAX_EVALUATE_BYTES) -> None:
    """Raise :class:`ShapeError` before allocating if the run would exceed ``limit`` bytes."""
    need = estimated_bytes(cascade, sizes)
    if need > limit:
        shown = " ".join(f"{k}={v}" for k, v in sorted(sizes.items()))
        raise ShapeError(f"evaluating {cascade.name} at {shown} needs about {need / 1024**3:.3g} GiB; "
                         f"the executor is for small checks and allows {limit / 1024**3:.3g} GiB: "
                         "expected smaller sizes")


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
    check_memory(cascade, store.sizes)
    for name in cascade.inputs:
        store.data[name] = arrays[name]
    _allocate(store)
    for step in _schedule(cascade):
        step(store, {})
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
    """Steps in dependency order; each iterative rank's body becomes one looping step."""
    graph = cascade_graph(cascade)
    forward = nx.DiGraph()
    forward.add_nodes_from(graph.nodes)
    forward.add_edges_from((u, v) for u, v, d in graph.edges(data=True) if d["forward"])
    return _plan(cascade, forward, forward_order(graph), frozenset())


def _loop_vars(cascade: Cascade, einsum: Einsum) -> frozenset[str]:
    """Iterative variables the Einsum's output keeps: it runs once per value of each."""
    kept = {v for index in einsum.output.indices for v in int_vars(index)}
    return frozenset(kept & set(cascade.iterative_vars))


def _plan(cascade: Cascade, forward: nx.DiGraph, labels: list[str], fixed: frozenset[str]) -> list:
    """Plan ``labels`` (in topological order) with the variables ``fixed`` by enclosing loops."""
    loops = {label: _loop_vars(cascade, cascade.einsum(label)) - fixed for label in labels}
    if not any(loops.values()):
        einsums = [cascade.einsum(lb) for lb in labels]
        return [lambda store, env, e=e: _run(store, e, env) for e in einsums]
    order = [s.var for s in cascade.stops]
    candidates = sorted({v for vs in loops.values() for v in vs})
    var = max(candidates, key=lambda v: (sum(v in vs for vs in loops.values()),
                                         -order.index(v) if v in order else 0))
    body = [lb for lb in labels if var in loops[lb]]
    inside = set(labels)
    after = set().union(*(nx.descendants(forward, lb) for lb in body)) & inside
    before = set().union(*(nx.ancestors(forward, lb) for lb in body)) & inside
    trapped = sorted((after & before) - set(body), key=labels.index)
    if trapped:
        einsum = cascade.einsum(trapped[0])
        raise ShapeError(f"Einsum {einsum.label} (line {einsum.line}) reduces the iterative rank "
                         f"variable {var!r} over all its iterations, but an iteration reads its "
                         f"result; keep {var} in its output or make it part of the recurrence")
    pre = [lb for lb in labels if lb not in body and lb not in after]
    post = [lb for lb in labels if lb in after and lb not in body]
    inner = _plan(cascade, forward, body, fixed | {var})
    loop = [lambda store, env: _loop(store, var, inner, env)]
    return _plan(cascade, forward, pre, fixed) + loop + _plan(cascade, forward, post, fixed)


def _loop(store: _Store, var: str, steps: list, env: dict[str, int]) -> None:
    for value in range(int(var_size(store.cascade, var, store.sizes))):
        inner = {**env, var: value}
        for step in steps:
            step(store, inner)


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
    index = tuple(np.asarray(_int(store, i, out_env)) for i in einsum.output.indices)
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
    if isinstance(expr, IndexValue):
        return np.asarray(_int(store, expr.expr, env), dtype=float), None
    if isinstance(expr, TensorRef):
        return _gather(store, expr, env)
    if isinstance(expr, Call):
        return _call(store, expr, env)
    if isinstance(expr, Binary):
        return _binary(store, expr, env)
    if isinstance(expr, (Comparison, Logic, Where)):
        return _logical(store, expr, env)
    raise TypeError(f"cannot evaluate {expr!r}")


def _logical(store: _Store, expr: Expr, env: dict[str, Any]) -> tuple[Any, np.ndarray | None]:
    """Comparisons (1 or 0), ``and``/``or``/``not`` of them, and ``where``: all intersect."""
    if isinstance(expr, Where):
        cond, cmask = _value(store, expr.cond, env)
        then, tmask = _value(store, expr.then, env)
        other, omask = _value(store, expr.other, env)
        pick = np.not_equal(cond, 0)
        chosen = None if tmask is None and omask is None else np.where(
            pick, True if tmask is None else tmask, True if omask is None else omask)
        return np.where(pick, then, other), _and(cmask, chosen)
    values = [_value(store, part, env) for part in
              (expr.operands if isinstance(expr, Comparison) else expr.parts)]
    mask = None
    for _, part_mask in values:
        mask = _and(mask, part_mask)
    if isinstance(expr, Comparison):
        result = np.asarray(True)
        for op, (left, _), (right, _) in zip(expr.ops, values, values[1:]):
            result = result & _COMPARE[op](left, right)
    elif expr.op == "not":
        result = np.equal(values[0][0], 0)
    else:
        truth = [np.not_equal(v, 0) for v, _ in values]
        combine = np.logical_and if expr.op == "and" else np.logical_or
        result = truth[0]
        for part in truth[1:]:  # pairwise, so operands of different shapes broadcast
            result = combine(result, part)
    return np.asarray(result, dtype=float), mask


def _int(store: _Store, expr: Any, env: dict[str, Any]) -> Any:
    """An integer expression, reading tensors (``W[h]``) from the store."""
    return eval_int(expr, env, store.sizes, lambda node, e: _int_tensor(store, node, e))


def _int_tensor(store: _Store, node: IntTensor, env: dict[str, Any]) -> np.ndarray:
    """A tensor read as integers (empty points read as 0)."""
    data, mask = _gather(store, node.ref, env)
    data = np.where(mask, data, 0.0) if mask is not None else np.asarray(data)
    return np.rint(data).astype(np.int64)


def _gather(store: _Store, ref: TensorRef, env: dict[str, Any]) -> tuple[Any, np.ndarray | None]:
    array = store.data[ref.name]
    index, valid = [], None
    for axis, expr in enumerate(ref.indices):
        raw = np.asarray(_int(store, expr, env))
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
        if node.op == "pow":
            return np.power(left, right), _and(lmask, rmask)
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
        values = [np.asarray(_int(store, o, env)) for o in flt.operands]
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

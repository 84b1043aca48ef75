"""Direct definitions of the attention backward pass: derivatives of a numpy forward.

The backward cascades (``attention-backward-*`` in ``einsum/library/``) are checked against
gradients that no cascade computes: a plain numpy softmax-attention forward
``O = softmax(QᵀK) V`` is differentiated by the **complex step** (Squire & Trapp 1998:
``f'(x) = Im f(x + ih) / h``, with no subtraction, hence exact to rounding at
``h = 1e-30``). The scalar being differentiated is the usual backward contract
``loss = Σ dO ∘ O``, so ``dQ = ∂loss/∂Q`` and so on. ``derive`` hooks supply the
forward's saved tensors (``O``, the log-sum-exp ``L``, the probabilities ``A``) from the
random ``Q``, ``K``, ``V``, so a backward cascade runs on the state a real forward leaves.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from einsum.reference import Named, Reference, register_reference

__all__ = ["attention_forward", "attention_gradients", "complex_step_gradient"]

_STEP = 1e-30


def attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                      keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Softmax attention over the keys: ``(O[f,p], L[p], A[p,m])``.

    ``q`` is ``[e,p]``, ``k`` ``[e,m]``, ``v`` ``[f,m]``; ``keep[p,m]`` masks keys. Works on
    complex arrays (the shift by the real row max leaves the softmax unchanged).

    Examples
    --------
    >>> import numpy as np
    >>> o, lse, a = attention_forward(np.zeros((2, 3)), np.zeros((2, 4)), np.ones((1, 4)))
    >>> o.shape, bool(np.allclose(a.sum(axis=1), 1)), round(float(lse[0]), 6)
    ((1, 3), True, 1.386294)
    """
    scores = q.T @ k
    if keep is not None:
        scores = np.where(keep, scores, -np.inf)
    shift = np.max(scores.real, axis=1, keepdims=True)
    weights = np.exp(scores - shift)
    total = weights.sum(axis=1, keepdims=True)
    probs = weights / total
    return (probs @ v.T).T, (np.log(total) + shift)[:, 0], probs


def complex_step_gradient(loss, x: np.ndarray) -> np.ndarray:
    """``∂loss/∂x`` element by element by the complex step (exact to rounding).

    Examples
    --------
    >>> import numpy as np
    >>> g = complex_step_gradient(lambda z: (z ** 3).sum(), np.array([1.0, 2.0]))
    >>> g.tolist()
    [3.0, 12.0]
    """
    grad = np.zeros(x.shape)
    for index in np.ndindex(*x.shape):
        probe = x.astype(complex)
        probe[index] += 1j * _STEP
        grad[index] = np.imag(loss(probe)) / _STEP
    return grad


def attention_gradients(q: np.ndarray, k: np.ndarray, v: np.ndarray, d_out: np.ndarray,
                        keep: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``dQ[e,p]``, ``dK[e,m]``, ``dV[f,m]`` of ``Σ dO ∘ O`` by the complex step.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> q, k, v, do = (rng.standard_normal(s) for s in ((2, 3), (2, 4), (2, 4), (2, 3)))
    >>> g = attention_gradients(q, k, v, do)
    >>> bool(np.isclose(g["DV"].sum(), do.sum()))      # the rows of A sum to one
    True
    """
    def loss(which: str):
        def f(x):
            args = {"Q": q, "K": k, "V": v, which: x}
            return np.sum(d_out * attention_forward(args["Q"], args["K"], args["V"], keep)[0])
        return f

    return {f"D{name}": complex_step_gradient(loss(name), x) for name, x in
            (("Q", q), ("K", k), ("V", v))}


def _standard(inputs: Mapping[str, Named]) -> tuple[np.ndarray, ...]:
    """Q[e,p], K[e,m], V[f,m], DO[f,p] in standard rank order."""
    orders = {"Q": ("E", "P"), "K": ("E", "M"), "V": ("F", "M"), "DO": ("F", "P")}
    return tuple(inputs[name].aligned(ranks) for name, ranks in orders.items())


def _saved_state(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> dict[str, Named]:
    """What the forward saves for the backward: O[f,p], L[p] and the probabilities A[m,p]."""
    q, k, v, _ = _standard(inputs)
    out, lse, probs = attention_forward(q, k, v)
    return {"O": Named(out, ("F", "P")), "L": Named(lse, ("P",)),
            "A": Named(probs.T, ("M", "P"))}


def _grad_q(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    q, k, v, d_out = _standard(inputs)
    return Named(attention_gradients(q, k, v, d_out)["DQ"], ("E", "P"))


register_reference(Reference(
    "attention-backward",
    "dQ of sum(dO * softmax(Q^T K) V), complex-step derivative of a numpy forward",
    _grad_q, {}, _saved_state))

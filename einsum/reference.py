"""Direct (non-cascade) definitions that ``einsim check`` compares cascades against.

Each reference computes the variant's textbook definition with plain numpy — softmax
of the full score matrix, the masked score matrix, or the associativity form for
linear attention — never by running a cascade. Ranks are matched by name: a
reference receives every input with its rank names and returns the output with its
rank names, so batch, head and GQA group ranks are handled by broadcasting.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Reference", "REFERENCES", "register_reference", "get_reference", "Named"]


class Named(NamedTuple):
    """An array with one rank name per axis."""

    array: np.ndarray
    ranks: tuple[str, ...]

    def aligned(self, ranks: tuple[str, ...]) -> np.ndarray:
        """The array transposed to the given rank order."""
        return np.transpose(self.array, [self.ranks.index(r) for r in ranks])


class Reference(NamedTuple):
    """A direct definition: ``compute(inputs, sizes) -> Named`` and input generators."""

    name: str
    description: str
    compute: Callable[[Mapping[str, Named], Mapping[str, int]], Named]
    generators: Mapping[str, Callable[[np.random.Generator, Mapping[str, int]], np.ndarray]] = {}


REFERENCES: dict[str, Reference] = {}


def register_reference(reference: Reference) -> Reference:
    """Add a reference to the registry (the tests loop over it)."""
    REFERENCES[reference.name] = reference
    return reference


def get_reference(name: str) -> Reference:
    """Look up a reference by name.

    Raises
    ------
    KeyError
        With the known names, if ``name`` is unknown.
    """
    if name not in REFERENCES:
        raise KeyError(f"unknown reference {name!r} (known: {', '.join(sorted(REFERENCES))})")
    return REFERENCES[name]


def _einsum(spec: list[tuple[str, ...]], out: tuple[str, ...], *arrays: np.ndarray) -> np.ndarray:
    """numpy.einsum with rank names instead of letters."""
    names = list(dict.fromkeys(r for ranks in spec + [out] for r in ranks))
    letter = dict(zip(names, string.ascii_letters))
    subs = ",".join("".join(letter[r] for r in ranks) for ranks in spec)
    return np.einsum(f"{subs}->{''.join(letter[r] for r in out)}", *arrays)


def _softmax_attention(inputs: Mapping[str, Named], keep: np.ndarray | None,
                       scale: float = 1.0) -> Named:
    """Softmax over keys of scale·QᵀK (masked where ``keep`` is False), times V."""
    q, k, v = inputs["Q"], inputs["K"], inputs["V"]
    batch = tuple(dict.fromkeys(r for r in q.ranks + k.ranks if r not in ("E", "P", "M")))
    scores = _einsum([q.ranks, k.ranks], batch + ("P", "M"), q.array, k.array) * scale
    if keep is not None:
        scores = np.where(keep, scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    out_ranks = batch + ("F", "P")
    return Named(_einsum([batch + ("P", "M"), v.ranks], out_ranks, weights, v.array), out_ranks)


def _positions(sizes: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Query and key coordinates (queries aligned to the end of the keys)."""
    p = np.arange(sizes["P"])[:, None]
    m = np.arange(sizes["M"])[None, :]
    return p, m, sizes["M"] - sizes["P"]


def _causal(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    p, m, offset = _positions(sizes)
    return _softmax_attention(inputs, m <= p + offset)


def _window(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    p, m, offset = _positions(sizes)
    return _softmax_attention(inputs, (m <= p + offset) & (m > p + offset - sizes["W"]))


def _blockmask(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    p, m, _ = _positions(sizes)
    keep = inputs["BM"].array[p // sizes["PB"], m // sizes["MB"]] != 0
    return _softmax_attention(inputs, keep)


def _random_block_mask(rng: np.random.Generator, sizes: Mapping[str, int]) -> np.ndarray:
    """Random block layout; every query block keeps at least one key block."""
    rows, cols = -(-sizes["P"] // sizes["PB"]), -(-sizes["M"] // sizes["MB"])
    mask = rng.random((rows, cols)) < 0.5
    mask[np.arange(rows), rng.integers(0, cols, rows)] = True
    return mask.astype(float)


def _linear(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    def phi(x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))

    q, k, v = (inputs[n].array for n in ("Q", "K", "V"))  # Q[e,p], K[e,m], V[f,m]
    scores = phi(q).T @ phi(k)  # [p, m], non-negative: no max subtraction needed
    out = (scores @ v.T) / scores.sum(axis=1, keepdims=True)
    return Named(out.T, ("F", "P"))


def _cascade1(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    a, b = inputs["A"].array, inputs["B"].array
    return Named(np.asarray(np.dot(a, b) * a.sum()), ())


def _register_all() -> None:
    def entry(name: str, description: str, compute: Callable, **generators: Any) -> None:
        register_reference(Reference(name, description, compute, generators))

    entry("attention", "softmax(Q^T K) V over all keys",
          lambda i, s: _softmax_attention(i, None))
    entry("attention-scaled", "softmax(Q^T K / sqrt(E)) V over all keys",
          lambda i, s: _softmax_attention(i, None, 1.0 / np.sqrt(s["E"])))
    entry("attention-causal", "softmax with keys m <= p + M - P", _causal)
    entry("attention-window", "softmax with keys p + M - P - W < m <= p + M - P", _window)
    entry("attention-blockmask", "softmax with keys where BM[p // PB, m // MB] != 0", _blockmask,
          BM=_random_block_mask)
    entry("linear-attention", "phi(Q)^T (phi(K) V^T) / phi(Q)^T sum phi(K), phi = elu + 1", _linear)
    entry("cascade1", "Z = (sum_k A*B) * (sum_k A)", _cascade1)


_register_all()

"""Direct (non-cascade) definitions that ``einsim check`` compares cascades against.

Each reference computes the variant's textbook definition with plain numpy — softmax
of the full (biased, capped or masked) score matrix, the associativity form for linear
attention, a token-by-token recurrence for Lightning attention — never by running a
cascade. Ranks are matched by name: a reference receives every input with its rank
names and returns the output with its rank names, so batch, head and GQA group ranks
are handled by broadcasting.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from einsum.errors import ShapeError

__all__ = ["Reference", "REFERENCES", "register_reference", "get_reference", "Named"]


class Named(NamedTuple):
    """An array with one rank name per axis."""

    array: np.ndarray
    ranks: tuple[str, ...]

    def aligned(self, ranks: tuple[str, ...]) -> np.ndarray:
        """The array transposed to the given rank order."""
        return np.transpose(self.array, [self.ranks.index(r) for r in ranks])


class Reference(NamedTuple):
    """A direct definition: ``compute(inputs, sizes) -> Named`` and input generators.

    ``derive(inputs, sizes) -> {name: Named}``, when given, replaces inputs that depend on
    others (a backward pass's saved forward output and log-sum-exp) after generation.
    """

    name: str
    description: str
    compute: Callable[[Mapping[str, Named], Mapping[str, int]], Named]
    generators: Mapping[str, Callable[[np.random.Generator, Mapping[str, int]], np.ndarray]] = {}
    derive: Callable[[Mapping[str, Named], Mapping[str, int]], Mapping[str, Named]] | None = None


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


def _scores(inputs: Mapping[str, Named], q: str = "Q", k: str = "K",
            scale: float = 1.0) -> tuple[tuple[str, ...], np.ndarray]:
    """The batch ranks and the full score matrix scale·QᵀK, axes batch + (P, M)."""
    qn, kn = inputs[q], inputs[k]
    batch = tuple(dict.fromkeys(r for r in qn.ranks + kn.ranks if r not in ("E", "P", "M")))
    return batch, _einsum([qn.ranks, kn.ranks], batch + ("P", "M"), qn.array, kn.array) * scale


def _softmax(scores: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """Row softmax over the last axis (the keys), masked where ``keep`` is False."""
    if keep is not None:
        scores = np.where(keep, scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=-1, keepdims=True)


def _times_v(weights: np.ndarray, batch: tuple[str, ...], v: Named) -> Named:
    """Weights over batch + (P, M) times V, summed over the keys."""
    out_ranks = batch + ("F", "P")
    return Named(_einsum([batch + ("P", "M"), v.ranks], out_ranks, weights, v.array), out_ranks)


def _softmax_attention(inputs: Mapping[str, Named], keep: np.ndarray | None,
                       scale: float = 1.0) -> Named:
    """Softmax over keys of scale·QᵀK (masked where ``keep`` is False), times V."""
    batch, scores = _scores(inputs, scale=scale)
    return _times_v(_softmax(scores, keep), batch, inputs["V"])


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


# ----------------------------------------------------------------------------- variants
def _per_batch(named: Named, batch: tuple[str, ...]) -> np.ndarray:
    """A per-head (or per-batch) array shaped to broadcast over batch + (P, M)."""
    shape = [named.array.shape[named.ranks.index(r)] if r in named.ranks else 1 for r in batch]
    return named.aligned(tuple(r for r in batch if r in named.ranks)).reshape(shape + [1, 1])


def _sigmoid(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    batch, scores = _scores(inputs, scale=1.0 / np.sqrt(sizes["E"]))
    weights = 1.0 / (1.0 + np.exp(np.log(sizes["M"]) - scores))  # sigmoid(s - log M)
    return _times_v(weights, batch, inputs["V"])


def _softcap(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    batch, scores = _scores(inputs)
    cap = float(sizes["CAP"])
    return _times_v(_softmax(cap * np.tanh(scores / cap), None), batch, inputs["V"])


def _alibi_slopes(rng: np.random.Generator, sizes: Mapping[str, int]) -> np.ndarray:
    """ALiBi's geometric slopes 2^(-8 h / H), h = 1..H (Press et al. §3)."""
    heads = sizes["H"]
    return 2.0 ** (-8.0 * np.arange(1, heads + 1) / heads)


def _alibi_causal(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    p, m, offset = _positions(sizes)
    batch, scores = _scores(inputs)
    distance = p + offset - m  # how far the key lies behind the query
    biased = scores - _per_batch(inputs["SLOPE"], batch) * distance
    return _times_v(_softmax(biased, m <= p + offset), batch, inputs["V"])


def _differential(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    batch, first = _scores(inputs, "Q1", "K1")
    _, second = _scores(inputs, "Q2", "K2")
    weights = _softmax(first, None) - float(inputs["LAMBDA"].array) * _softmax(second, None)
    return _times_v(weights, batch, inputs["V"])


def _lambda(rng: np.random.Generator, sizes: Mapping[str, int]) -> np.ndarray:
    return np.asarray(rng.uniform(0.5, 1.0))


def _sink_window(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    p, m, offset = _positions(sizes)
    keep = (m <= p + offset) & ((m < sizes["S"]) | (m > p + offset - sizes["W"]))
    return _softmax_attention(inputs, keep)


def _moa(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    p, m, offset = _positions(sizes)
    batch, scores = _scores(inputs)
    window = _per_batch(inputs["W"], batch)
    keep = (m <= p + offset) & ((m < sizes["S"]) | (m > p + offset - window))
    return _times_v(_softmax(scores, keep), batch, inputs["V"])


def _random_windows(rng: np.random.Generator, sizes: Mapping[str, int]) -> np.ndarray:
    """One span per head, 1..M keys."""
    return rng.integers(1, sizes["M"] + 1, sizes["H"]).astype(float)


def _neighborhood_1d(length: int, window: int) -> np.ndarray:
    """keep[query, key] along one axis: NATTEN's window of ``window`` keys, shifted at borders."""
    query = np.arange(length)[:, None]
    start = np.clip(query - window // 2, 0, length - window)  # first key of the window
    key = np.arange(length)[None, :]
    return (start <= key) & (key < start + window)


def _neighborhood_2d(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    width, height = sizes["X"], sizes["Y"]
    along_x = _neighborhood_1d(width, sizes["KX"])
    along_y = _neighborhood_1d(height, sizes["KY"])
    tokens = np.arange(width * height)
    x, y = tokens % width, tokens // width
    keep = along_x[x[:, None], x[None, :]] & along_y[y[:, None], y[None, :]]
    return _softmax_attention(inputs, keep)


def _mla(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    ql, qr, ckv, kr = (inputs[n] for n in ("QL", "QR", "CKV", "KR"))
    scores = (_einsum([ql.ranks, ckv.ranks], ("H", "P", "M"), ql.array, ckv.array)
              + _einsum([qr.ranks, kr.ranks], ("H", "P", "M"), qr.array, kr.array))
    weights = _softmax(scores, None)
    return Named(_einsum([("H", "P", "M"), ckv.ranks], ("C", "H", "P"), weights, ckv.array),
                 ("C", "H", "P"))


def _moba(inputs: Mapping[str, Named], sizes: Mapping[str, int]) -> Named:
    p, m, offset = _positions(sizes)
    selected = inputs["BM"].array[p // sizes["PB"], m // sizes["MB"]] != 0
    return _softmax_attention(inputs, selected & (m <= p + offset))


def _random_causal_block_mask(rng: np.random.Generator, sizes: Mapping[str, int]) -> np.ndarray:
    """Random block selection that always keeps each query block's own (diagonal) key block.

    The diagonal block holds the key aligned with the block's first query, so every query
    sees at least that key under the causal limit.
    """
    rows, cols = -(-sizes["P"] // sizes["PB"]), -(-sizes["M"] // sizes["MB"])
    mask = rng.random((rows, cols)) < 0.4
    first_query = np.arange(rows) * sizes["PB"] + sizes["M"] - sizes["P"]
    mask[np.arange(rows), first_query // sizes["MB"]] = True
    return mask.astype(float)


def _lightning(inputs: Mapping[str, Named], sizes: Mapping[str, int], decay: float) -> Named:
    """Causal linear attention with decay, token by token: S_t = decay S_(t-1) + k_t v_tᵀ."""
    q, k, v = (inputs[n].array for n in ("Q", "K", "V"))  # Q[e,p], K[e,m], V[f,m]
    if sizes["M"] != sizes["P"]:
        raise ShapeError(f"Lightning attention is self-attention: M ({sizes['M']}) must equal "
                         f"P ({sizes['P']})")
    state = np.zeros((q.shape[0], v.shape[0]))
    blocks, block = int(sizes["N"]), int(sizes["I"])
    out = np.zeros((v.shape[0], blocks * block))
    for t in range(q.shape[1]):
        state = decay * state + np.outer(k[:, t], v[:, t])
        out[:, t] = q[:, t] @ state
    return Named(out.reshape(v.shape[0], blocks, block), ("F", "N", "I"))


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
    entry("attention-sigmoid", "sigmoid(Q^T K / sqrt(E) - log M) V, no normalisation", _sigmoid)
    entry("attention-softcap", "softmax(CAP * tanh(Q^T K / CAP)) V", _softcap)
    entry("attention-alibi-causal",
          "softmax(Q^T K - SLOPE[h] (p + M - P - m)) V with keys m <= p + M - P", _alibi_causal,
          SLOPE=_alibi_slopes)
    entry("attention-differential", "(softmax(Q1^T K1) - LAMBDA softmax(Q2^T K2)) V",
          _differential, LAMBDA=_lambda)
    entry("attention-sink-window",
          "softmax with keys m <= p + M - P and (m < S or m > p + M - P - W)", _sink_window)
    entry("attention-moa",
          "softmax with keys m <= p + M - P and (m < S or m > p + M - P - W[h])", _moa,
          W=_random_windows)
    entry("attention-neighborhood-2d",
          "softmax over a KX x KY window of an X x Y token layout, shifted inside at borders",
          _neighborhood_2d)
    entry("attention-mla", "softmax(QL^T CKV + QR^T KR) CKV, one latent cache for all heads", _mla)
    entry("attention-moba", "softmax with keys m <= p + M - P where BM[p // PB, m // MB] != 0",
          _moba, BM=_random_causal_block_mask)
    entry("lightning-attention", "O[p] = sum_(m <= p) LAMBDA^(p-m) (q_p . k_m) v_m, token by token",
          lambda i, s: _lightning(i, s, float(i["LAMBDA"].array)), LAMBDA=_lambda)
    entry("lightning-attention-nodecay", "O[p] = sum_(m <= p) (q_p . k_m) v_m, token by token",
          lambda i, s: _lightning(i, s, 1.0))


_register_all()


# The backward-pass references live in their own module; importing it here registers them
# wherever REFERENCES is read (it imports this module's names, all defined by now).
from einsum import gradients  # noqa: E402,F401

"""Tiling: how many queries stay resident in the global buffer, and what spills.

The 2-D array holds one spatial ``M0 × P0`` tile (``M0`` keys on the rows, ``P0`` queries
on the columns). Around it, a block of ``R`` queries keeps its live state in the global
buffer while a chunk of ``M0`` keys (K and V rows) streams through, so K and V are
re-read once per resident block: ``blocks = ceil(P / R)``.

``R`` is chosen from the buffer capacity by a :class:`ResidencyRule`:

* ``divisor`` (FuseMax, reference/fusemax.md §4.5): ``R = P1 · P0`` with ``P1`` the
  largest divisor of ``P / P0`` that fits ``(buffer − K/V chunk) / (live words · word · P0)``;
* ``clip`` (FLAT's row granularity, §5.1; the unfused phases): ``R`` = the queries that
  fit, clipped to ``[min_queries, max_queries]``.

If the live words include pass-rank fibers (a multi-pass cascade) and ``R`` queries'
fibers do not fit, a fraction of them spills; below ``min_on_chip_fraction`` everything
goes off chip, and the block is then sized by the fixed per-query state alone (the
fibers no longer occupy the buffer).

Examples
--------
>>> largest_divisor_at_most(128, 251), largest_divisor_at_most(96, 40)
(128, 32)
>>> rule = ResidencyRule("divisor")
>>> r = residency(rule, buffer_bytes=16 * 2**20, word_bytes=2, chunk_words=256 * 128,
...               fixed_words=130, held_words=0, queries=65536, p0=256)
>>> int(r.queries), int(r.blocks), float(r.on_chip_fraction)
(32768, 2, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from simulator.errors import SpecError

__all__ = ["RULES", "Residency", "ResidencyRule", "largest_divisor_at_most", "residency"]

#: Residency rules.
RULES = ("divisor", "clip")


@dataclass(frozen=True)
class ResidencyRule:
    """How many queries stay resident (see the module docstring)."""

    rule: str
    min_queries: float = 1.0
    max_queries: float | None = None
    min_on_chip_fraction: float = 0.0
    source: str = ""

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise SpecError(f"residency rule: expected one of {', '.join(RULES)}; got {self.rule!r}")


class Residency(NamedTuple):
    """Resident queries, blocks over the queries, on-chip fraction and buffer bytes."""

    queries: Any
    blocks: Any
    on_chip_fraction: Any
    buffer_bytes: Any
    need_bytes: Any
    overflow: Any


def largest_divisor_at_most(n: Any, cap: Any) -> Any:
    """Largest divisor of ``n`` that is ``<= cap`` (at least 1); elementwise on arrays."""
    n_arr, cap_arr = np.broadcast_arrays(np.asarray(n, dtype=np.int64),
                                         np.asarray(cap, dtype=np.int64))
    out = np.array([_divisor(int(a), int(b)) for a, b in zip(n_arr.ravel(), cap_arr.ravel())],
                   dtype=np.int64).reshape(n_arr.shape)
    return int(out) if out.ndim == 0 else out


@lru_cache(maxsize=4096)
def _divisor(n: int, cap: int) -> int:
    """Scalar body of :func:`largest_divisor_at_most`."""
    if cap >= n:
        return max(n, 1)
    best = 1
    for d in range(1, int(n**0.5) + 1):
        if n % d == 0:
            for candidate in (d, n // d):
                if best < candidate <= cap:
                    best = candidate
    return best


def residency(rule: ResidencyRule, *, buffer_bytes: Any, word_bytes: float, chunk_words: Any,
              fixed_words: Any, held_words: Any, queries: Any, p0: Any) -> Residency:
    """Choose the resident queries and the on-chip fraction of the held fibers.

    Parameters
    ----------
    rule : ResidencyRule
    buffer_bytes, word_bytes : float or ndarray
        Global-buffer capacity and bytes per word.
    chunk_words : float or ndarray
        Words of the streamed K/V chunk (``M0 ×`` words per key).
    fixed_words, held_words : float or ndarray
        Live words per query without / with the pass rank.
    queries, p0 : float or ndarray
        Queries per instance, and queries per spatial tile.

    Returns
    -------
    Residency
        ``overflow`` is True where even the fixed state of the resident queries does not
        fit (the caller reports it).
    """
    avail = buffer_bytes - chunk_words * word_bytes
    resident = _resident(rule, avail, (fixed_words + held_words) * word_bytes, queries, p0)
    fixed_bytes = resident * fixed_words * word_bytes
    held_bytes = resident * held_words * word_bytes
    fraction = np.clip((avail - fixed_bytes) / np.maximum(held_bytes, 1e-30), 0.0, 1.0)
    fraction = np.where(np.asarray(held_words) > 0, fraction, 1.0)
    fraction = np.where(fraction < rule.min_on_chip_fraction, 0.0, fraction)
    # Fibers that all go off chip free the buffer: size the block by the fixed state alone.
    offchip = _resident(rule, avail, fixed_words * word_bytes, queries, p0)
    resident = np.where(fraction == 0.0, offchip, resident)
    fixed_bytes = resident * fixed_words * word_bytes
    held_bytes = resident * held_words * word_bytes
    used = chunk_words * word_bytes + fixed_bytes + fraction * held_bytes
    need = chunk_words * word_bytes + fixed_bytes + held_bytes
    return Residency(resident, np.ceil(queries / resident), fraction, used, need,
                     avail - fixed_bytes < 0)


def _resident(rule: ResidencyRule, avail: Any, bytes_per_query: Any, queries: Any,
              p0: Any) -> Any:
    """Queries kept resident when each needs ``bytes_per_query`` of the available buffer."""
    fit = np.floor(np.maximum(avail, 0) / np.maximum(bytes_per_query, 1e-30))
    if rule.rule == "divisor":
        tiles = np.ceil(queries / p0)
        cap = np.maximum(np.floor(fit / p0), 1)
        return largest_divisor_at_most(tiles, np.minimum(cap, tiles)) * p0
    high = queries if rule.max_queries is None else np.minimum(rule.max_queries, queries)
    return np.maximum(np.minimum(np.maximum(fit, rule.min_queries), high), 1)

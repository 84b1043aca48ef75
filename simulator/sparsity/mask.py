"""The GNA sparsity configuration and its element-level mask.

Generalized Neighborhood Attention (GNA, reference/gna.md §1) covers dense, causal,
sliding-window (NA), strided and blocked attention on 1-, 2- or 3-D token layouts.
Each dimension ``i`` of the layout has a window ``w_i``, a stride ``s_i``, a dilation
``d_i`` and a causal flag; a key is visible to a query iff it is inside the query's
window in every dimension.

:class:`SparsityConfig` holds and validates these parameters. :func:`window_bounds` is
the vectorised 1-D rule that the tile counter (:mod:`simulator.sparsity.tiles`) builds
on, and :func:`pair_count` counts unmasked pairs without building a mask.
:func:`gna_mask` builds the full boolean mask element by element from an independent
formulation of the rule (reference/attention_variants.md §9b); it exists for tests and
tiny shapes and refuses large ones.

Conventions: ``p`` indexes queries and ``m`` keys, as in the rest of einsim. Tokens are
numbered row-major over the layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.errors import SpecError

__all__ = [
    "MAX_MASK_ELEMENTS",
    "SparsityConfig",
    "dilation_group_lengths",
    "gna_mask",
    "pair_count",
    "window_bounds",
]

#: :func:`gna_mask` refuses masks with more (query, key) elements than this.
MAX_MASK_ELEMENTS = 1 << 24


def _as_dims(value: object, ndim: int, name: str) -> tuple[int, ...]:
    """Broadcast an int or check a sequence of ints to ``ndim`` positive ints."""
    values = (value,) * ndim if isinstance(value, (int, np.integer)) else value
    try:
        items = tuple(values)  # type: ignore[arg-type]
    except TypeError:
        raise SpecError(f"{name}: expected an int or {ndim} int(s), got {value!r}") from None
    if len(items) != ndim:
        raise SpecError(f"{name}: expected {ndim} value(s), one per layout dimension, got {items}")
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            raise SpecError(f"{name}: expected integers, got {item!r} in {items}")
        if item < 1:
            raise SpecError(f"{name}: expected integers >= 1, got {int(item)} in {items}")
    return tuple(int(item) for item in items)


def _as_flags(value: object, ndim: int) -> tuple[bool, ...]:
    """Broadcast a bool or check a sequence of bools to ``ndim`` flags."""
    if isinstance(value, (bool, np.bool_)):
        return (bool(value),) * ndim
    try:
        items = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise SpecError(f"causal: expected a bool or {ndim} bools, got {value!r}") from None
    if len(items) != ndim or not all(isinstance(v, (bool, np.bool_)) for v in items):
        raise SpecError(f"causal: expected {ndim} bool(s), one per layout dimension, got {items}")
    return tuple(bool(v) for v in items)


def _fmt(values: tuple[int, ...]) -> str:
    """Format a shape as ``30x48x80``."""
    return "x".join(str(v) for v in values)


@dataclass(frozen=True)
class SparsityConfig:
    """GNA parameters of a self-attention problem on a 1-, 2- or 3-D token layout.

    Parameters
    ----------
    layout : tuple of int
        Token layout (extent per dimension), e.g. ``(30, 48, 80)``. An int means 1-D.
        In the 1-D case with ``seq_q`` this is the key/value length.
    window : int or tuple of int, optional
        Window size (NATTEN's ``kernel_size``) per dimension; an int applies to every
        dimension. Default: the layout itself (dense attention).
    stride : int or tuple of int
        GNA stride: groups of ``stride`` consecutive queries share one window
        (1 = sliding window / NA, ``window`` = blocked attention).
    dilation : int or tuple of int
        Dilation: only keys in the query's residue class modulo ``dilation`` are seen.
    causal : bool or tuple of bool
        Causal flag per dimension (a query sees no key after itself in that dimension).
    seq_q : int, optional
        Number of queries, for 1-D causal masks only (LLM decode/prefill with a KV
        cache): the queries are the *last* ``seq_q`` positions of the KV sequence, so
        query ``p`` sees keys ``m <= p + (layout - seq_q)``. Default: ``layout[0]``.

    Raises
    ------
    SpecError
        If a parameter violates the GNA definition (``1 <= stride <= window``,
        ``dilation * window <= layout`` per dimension, 1 to 3 dimensions, ...).

    Examples
    --------
    >>> cfg = SparsityConfig((30, 48, 80), window=(18, 24, 24), stride=(16, 8, 8))
    >>> cfg.dilation, cfg.causal
    ((1, 1, 1), (False, False, False))
    >>> SparsityConfig(8, window=4, stride=5)
    Traceback (most recent call last):
    ...
    simulator.errors.SpecError: stride: expected 1 <= stride <= window, got stride 5 > window 4 in dim 0
    """

    layout: tuple[int, ...]
    window: tuple[int, ...] = None  # type: ignore[assignment]
    stride: tuple[int, ...] = 1  # type: ignore[assignment]
    dilation: tuple[int, ...] = 1  # type: ignore[assignment]
    causal: tuple[bool, ...] = False  # type: ignore[assignment]
    seq_q: int = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        layout = self.layout
        ndim = 1 if isinstance(layout, (int, np.integer)) else len(tuple(layout))
        if not 1 <= ndim <= 3:
            raise SpecError(f"layout: expected 1 to 3 dimensions, got {ndim} ({layout!r})")
        layout = _as_dims(layout, ndim, "layout")
        window = layout if self.window is None else _as_dims(self.window, ndim, "window")
        values = {
            "layout": layout,
            "window": window,
            "stride": _as_dims(self.stride, ndim, "stride"),
            "dilation": _as_dims(self.dilation, ndim, "dilation"),
            "causal": _as_flags(self.causal, ndim),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        self._check_extents()
        object.__setattr__(self, "seq_q", self._checked_seq_q())

    def _check_extents(self) -> None:
        """Check the per-dimension GNA rules on window, stride and dilation."""
        for dim, (x, w, s, d) in enumerate(
            zip(self.layout, self.window, self.stride, self.dilation)
        ):
            if w > x:
                raise SpecError(
                    "window: expected window <= layout extent in every dimension, "
                    f"got window {w} > {x} in dim {dim}"
                )
            if s > w:
                raise SpecError(
                    f"stride: expected 1 <= stride <= window, got stride {s} > window {w} "
                    f"in dim {dim}"
                )
            if d * w > x:
                raise SpecError(
                    "dilation: expected dilation * window <= layout extent, got "
                    f"{d} * {w} = {d * w} > {x} in dim {dim}"
                )

    def _checked_seq_q(self) -> int:
        """Return the validated number of queries along dimension 0."""
        if self.seq_q is None:
            return self.layout[0]
        seq_q = self.seq_q
        if isinstance(seq_q, (bool, np.bool_)) or not isinstance(seq_q, (int, np.integer)):
            raise SpecError(f"seq_q: expected an integer, got {seq_q!r}")
        if not 1 <= seq_q <= self.layout[0]:
            raise SpecError(f"seq_q: expected 1 <= seq_q <= seq_kv = {self.layout[0]}, got {seq_q}")
        if seq_q != self.layout[0] and (
            self.ndim != 1 or not self.causal[0] or self.dilation[0] != 1
        ):
            raise SpecError(
                "seq_q: seq_q != seq_kv is supported only for 1-D causal masks without "
                f"dilation, got layout {_fmt(self.layout)}, causal {self.causal}, "
                f"dilation {_fmt(self.dilation)}"
            )
        return int(seq_q)

    @property
    def ndim(self) -> int:
        """Number of layout dimensions (1 to 3)."""
        return len(self.layout)

    @property
    def n_keys(self) -> int:
        """Number of key/value tokens (product of the layout)."""
        return math.prod(self.layout)

    @property
    def n_queries(self) -> int:
        """Number of query tokens (``n_keys`` unless ``seq_q`` is smaller)."""
        return self.n_keys // self.layout[0] * self.seq_q

    @property
    def query_offset(self) -> int:
        """Position of query 0 in the KV sequence (``seq_kv - seq_q``; 0 for self-attention)."""
        return self.layout[0] - self.seq_q

    def __str__(self) -> str:
        causal = "x".join("1" if c else "0" for c in self.causal)
        text = (
            f"layout {_fmt(self.layout)}, window {_fmt(self.window)}, stride "
            f"{_fmt(self.stride)}, dilation {_fmt(self.dilation)}, causal {causal}"
        )
        return text if self.query_offset == 0 else f"{text}, seq_q {self.seq_q}"

    @classmethod
    def dense(cls, layout: int | tuple[int, ...]) -> SparsityConfig:
        """Dense self-attention: the window is the whole layout.

        Examples
        --------
        >>> SparsityConfig.dense((4, 6)).window
        (4, 6)
        """
        return cls(layout)

    @classmethod
    def causal_1d(cls, seq_kv: int, seq_q: int | None = None) -> SparsityConfig:
        """LLM causal attention: window = the whole sequence, causal.

        Examples
        --------
        >>> str(SparsityConfig.causal_1d(1024, seq_q=16))
        'layout 1024, window 1024, stride 1, dilation 1, causal 1, seq_q 16'
        """
        return cls(seq_kv, causal=True, seq_q=seq_q)

    @classmethod
    def sliding_window_1d(
        cls, seq_kv: int, window: int, seq_q: int | None = None
    ) -> SparsityConfig:
        """LLM sliding-window attention (e.g. Mistral, ``window=4096``): causal, ``window`` keys.

        Each query sees itself and the ``window - 1`` keys before it.

        Examples
        --------
        >>> SparsityConfig.sliding_window_1d(32768, 4096).window
        (4096,)
        """
        return cls(seq_kv, window=window, causal=True, seq_q=seq_q)

    @classmethod
    def blocked(
        cls, layout: int | tuple[int, ...], window: int | tuple[int, ...], dilation: int = 1
    ) -> SparsityConfig:
        """Blocked (non-overlapping window, Swin WSA) attention: stride = window.

        Examples
        --------
        >>> SparsityConfig.blocked((30, 48, 80), (18, 24, 24)).stride
        (18, 24, 24)
        """
        base = cls(layout, window=window, dilation=dilation)
        return cls(base.layout, window=base.window, stride=base.window, dilation=dilation)

    @classmethod
    def neighborhood(
        cls,
        layout: int | tuple[int, ...],
        window: int | tuple[int, ...],
        dilation: int | tuple[int, ...] = 1,
        causal: bool | tuple[bool, ...] = False,
    ) -> SparsityConfig:
        """Neighborhood attention (NA, sliding window): stride 1.

        Examples
        --------
        >>> SparsityConfig.neighborhood((256, 256), 80).window
        (80, 80)
        """
        return cls(layout, window=window, dilation=dilation, causal=causal)


def dilation_group_lengths(extent: int, dilation: int) -> np.ndarray:
    """Length of each dilation group of one dimension (NATTEN's ``qkv_fix_dilation``).

    Coordinate ``x`` belongs to group ``x % dilation`` at local position
    ``x // dilation``.

    Examples
    --------
    >>> dilation_group_lengths(10, 4).tolist()
    [3, 3, 2, 2]
    """
    groups = np.arange(dilation)
    return extent // dilation + (groups < extent % dilation).astype(np.int64)


def window_bounds(
    position: np.ndarray | int, length: int, window: int, stride: int, causal: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Half-open key interval ``[start, end)`` seen by queries in one dimension.

    This is GNA's 1-D rule (reference/gna.md §1) on coordinates local to one dilation
    group of ``length`` tokens. Both bounds are non-decreasing in ``position``, which is
    what lets the tile counter bound a whole tile by its first and last query.

    Parameters
    ----------
    position : int or numpy.ndarray
        Query coordinate(s) in ``[0, length)``.
    length : int
        Number of keys in this dimension (of this dilation group).
    window, stride : int
        GNA window and stride of this dimension.
    causal : bool
        Causal flag of this dimension.

    Returns
    -------
    start, end : numpy.ndarray
        Arrays shaped like ``position``.

    Examples
    --------
    >>> start, end = window_bounds(np.arange(6), 6, 3, 1, False)
    >>> start.tolist(), end.tolist()
    ([0, 0, 1, 2, 3, 3], [3, 3, 4, 5, 6, 6])
    >>> start, end = window_bounds(np.arange(6), 6, 3, 2, True)
    >>> start.tolist(), end.tolist()
    ([0, 0, 1, 1, 3, 3], [1, 2, 3, 4, 5, 6])
    """
    q = np.asarray(position, dtype=np.int64)
    if causal:
        leader = np.minimum(q // stride * stride + stride - 1, length - 1)
        start = np.maximum(leader - window + 1, 0)
        return start, np.minimum(q + 1, length)
    leader = np.minimum(q // stride * stride + stride // 2, length - 1)
    start = np.clip(leader - window // 2, 0, length - window)
    return start, start + window


def pair_count(config: SparsityConfig) -> int:
    """Exact number of unmasked (query, key) pairs, without building the mask.

    The mask factorises over dimensions, so the count is the product over dimensions
    of the summed per-dimension window lengths.

    Examples
    --------
    >>> pair_count(SparsityConfig.causal_1d(8))  # N (N + 1) / 2
    36
    >>> pair_count(SparsityConfig.neighborhood((30, 48, 80), (18, 24, 24)))  # N * prod(w)
    1194393600
    """
    total = 1
    for dim in range(config.ndim):
        lengths = dilation_group_lengths(config.layout[dim], config.dilation[dim])
        offset = config.query_offset if dim == 0 else 0
        dim_sum = 0
        for length in lengths.tolist():
            n_q = length - offset
            start, end = window_bounds(
                np.arange(n_q) + offset,
                length,
                config.window[dim],
                config.stride[dim],
                config.causal[dim],
            )
            dim_sum += int((end - start).sum())
        total *= dim_sum
    return total


def _dim_keep(config: SparsityConfig, dim: int) -> np.ndarray:
    """Boolean ``keep[x_query, x_key]`` of one dimension (attention_variants.md §9b)."""
    x_kv, d = config.layout[dim], config.dilation[dim]
    w, s = config.window[dim], config.stride[dim]
    offset = config.query_offset if dim == 0 else 0
    xq = np.arange(x_kv - offset)[:, None] + offset
    xk = np.arange(x_kv)[None, :]
    qg, kg = xq // d, xk // d
    group_length = x_kv // d + (xq % d < x_kv % d)
    if config.causal[dim]:
        lead = np.minimum(qg // s * s + s - 1, group_length - 1)
        inside = (kg <= qg) & (lead - kg < w)
    else:
        left, right = w // 2, w // 2 + w % 2 - 1
        lead = np.minimum(qg // s * s + s // 2, group_length - 1)
        centre = np.clip(lead, left, group_length - 1 - right)
        inside = (kg - centre >= -left) & (kg - centre <= right)
    return inside & (xq % d == xk % d)


def gna_mask(config: SparsityConfig) -> np.ndarray:
    """Boolean attention mask ``mask[p, m]`` (True = query ``p`` sees key ``m``).

    Brute force, element by element, for tests and tiny shapes. Tokens are numbered
    row-major over the layout (queries over ``(seq_q, *layout[1:])``).

    Raises
    ------
    SpecError
        If the mask would have more than :data:`MAX_MASK_ELEMENTS` elements.

    Examples
    --------
    >>> gna_mask(SparsityConfig.causal_1d(3)).astype(int).tolist()
    [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    >>> gna_mask(SparsityConfig.neighborhood((3, 3), 2)).sum(axis=1).tolist()
    [4, 4, 4, 4, 4, 4, 4, 4, 4]
    """
    if config.n_queries * config.n_keys > MAX_MASK_ELEMENTS:
        raise SpecError(
            f"gna_mask: layout {_fmt(config.layout)} needs {config.n_queries} x "
            f"{config.n_keys} elements, more than the brute-force limit {MAX_MASK_ELEMENTS}"
        )
    mask = np.ones((1, 1), dtype=bool)
    for dim in range(config.ndim):
        keep = _dim_keep(config, dim)
        mask = (mask[:, None, :, None] & keep[None, :, None, :]).reshape(
            mask.shape[0] * keep.shape[0], mask.shape[1] * keep.shape[1]
        )
    return mask

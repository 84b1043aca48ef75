"""Tiny symbolic algebra for counts: sums of products of size and density symbols.

Op counts and footprints are posynomials such as ``2*E*M*P + M*P``. They evaluate on
plain numbers or on numpy arrays of sizes (one entry per design point), which is what
lets a sweep price a million shapes with a handful of vector multiplies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Poly", "SymMax"]

Monomial = tuple[str, ...]


@dataclass(frozen=True)
class Poly:
    """A sum of ``coefficient × product of symbols`` terms.

    Examples
    --------
    >>> e, m, p = Poly.symbol("E"), Poly.symbol("M"), Poly.symbol("P")
    >>> cost = 2 * e * m * p + m * p
    >>> str(cost)
    '2*E*M*P + M*P'
    >>> cost.evaluate({"E": 64, "M": 1024, "P": 1024})
    135266304.0
    >>> cost.evaluate({"E": np.array([64, 128]), "M": 1024, "P": 1024}).tolist()
    [135266304.0, 269484032.0]
    """

    terms: tuple[tuple[Monomial, float], ...] = ()

    @staticmethod
    def const(value: float) -> Poly:
        """A constant."""
        return Poly((((), float(value)),)) if value else Poly()

    @staticmethod
    def symbol(name: str) -> Poly:
        """A single symbol."""
        return Poly((((name,), 1.0),))

    @staticmethod
    def product(names: tuple[str, ...] | list[str], coefficient: float = 1.0) -> Poly:
        """``coefficient × Π names``."""
        return Poly(((tuple(sorted(names)), float(coefficient)),)) if coefficient else Poly()

    @staticmethod
    def _normal(terms: dict[Monomial, float]) -> Poly:
        kept = sorted(((m, c) for m, c in terms.items() if c), key=lambda t: (-len(t[0]), t[0]))
        return Poly(tuple(kept))

    def __add__(self, other: Poly | float) -> Poly:
        other = other if isinstance(other, Poly) else Poly.const(other)
        acc = dict(self.terms)
        for mono, coef in other.terms:
            acc[mono] = acc.get(mono, 0.0) + coef
        return Poly._normal(acc)

    __radd__ = __add__

    def __mul__(self, other: Poly | float) -> Poly:
        if not isinstance(other, Poly):
            return Poly._normal({m: c * float(other) for m, c in self.terms})
        acc: dict[Monomial, float] = {}
        for m1, c1 in self.terms:
            for m2, c2 in other.terms:
                mono = tuple(sorted(m1 + m2))
                acc[mono] = acc.get(mono, 0.0) + c1 * c2
        return Poly._normal(acc)

    __rmul__ = __mul__

    def __bool__(self) -> bool:
        return bool(self.terms)

    @property
    def symbols(self) -> frozenset[str]:
        """Every symbol that appears."""
        return frozenset(s for mono, _ in self.terms for s in mono)

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """Substitute numbers or numpy arrays for the symbols."""
        total: Any = 0.0
        for mono, coef in self.terms:
            term: Any = coef
            for name in mono:
                term = term * values[name]
            total = total + term
        return total

    def substitute(self, name: str, replacement: Poly) -> Poly:
        """Replace one symbol by a polynomial."""
        out = Poly()
        for mono, coef in self.terms:
            factor = Poly.const(coef)
            for sym in mono:
                factor = factor * (replacement if sym == name else Poly.symbol(sym))
            out = out + factor
        return out

    def dominated_by(self, other: Poly) -> bool:
        """True if ``self <= other`` for all symbol values >= 1 (a sufficient test)."""
        mine, theirs = dict(self.terms), dict(other.terms)
        slack = 0.0
        for mono, coef in theirs.items():
            if mono:
                used = mine.get(mono, 0.0)
                if coef < used:
                    return False
                slack += coef - used
        if any(mono and mono not in theirs for mono in mine):
            return False
        return mine.get((), 0.0) <= theirs.get((), 0.0) + slack

    def __str__(self) -> str:
        if not self.terms:
            return "0"
        parts = []
        for mono, coef in self.terms:
            number = f"{coef:g}"
            if not mono:
                parts.append(number)
            else:
                parts.append("*".join(([number] if coef != 1 else []) + list(mono)))
        return " + ".join(parts)


@dataclass(frozen=True)
class SymMax:
    """The maximum of several polynomials (dominated ones are dropped).

    Examples
    --------
    >>> m, e = Poly.symbol("M"), Poly.symbol("E")
    >>> str(SymMax.of([m + e + 1, m + 2, e + 3]))
    'max(E + M + 1, E + 3)'
    """

    parts: tuple[Poly, ...]

    @staticmethod
    def of(polys: list[Poly]) -> SymMax:
        """Build a maximum, dropping exact duplicates and dominated terms."""
        unique = list(dict.fromkeys(polys))
        kept = [p for i, p in enumerate(unique)
                if not any(j != i and p.dominated_by(q) and not (q.dominated_by(p) and j > i)
                           for j, q in enumerate(unique))]
        return SymMax(tuple(kept or [Poly()]))

    @property
    def symbols(self) -> frozenset[str]:
        """Every symbol that appears."""
        return frozenset().union(*(p.symbols for p in self.parts))

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """Substitute numbers or arrays and take the elementwise maximum."""
        results = [p.evaluate(values) for p in self.parts]
        out = results[0]
        for value in results[1:]:
            out = np.maximum(out, value)
        return out

    def __str__(self) -> str:
        if len(self.parts) == 1:
            return str(self.parts[0])
        return f"max({', '.join(str(p) for p in self.parts)})"

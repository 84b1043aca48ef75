r"""A dependency-free text progress bar for sweeps, drawn on stderr.

Examples
--------
>>> import io
>>> stream = io.StringIO()
>>> bar = ProgressBar(4, enabled=True, stream=stream, width=8)
>>> bar.advance(10); bar.advance(10); bar.close()
>>> stream.getvalue().splitlines()[-1].split("\r")[-1][:24]
'[####....] 2/4 chunks 20'
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """``[####....] 3/8 chunks 196,608 points 1.2 s 163,840 points/s 2.0 s left``, redrawn in place.

    Parameters
    ----------
    total : int
        Number of chunks in the sweep.
    enabled : bool
        Draw nothing when False (not a terminal, or ``--quiet``).
    initial : int, optional
        Chunks already done (resumed).
    stream : file, optional
        Where to draw (default ``sys.stderr``).
    width : int, optional
        Bar width in characters.
    """

    def __init__(
        self,
        total: int,
        *,
        enabled: bool,
        initial: int = 0,
        stream: TextIO | None = None,
        width: int = 30,
    ):
        self.total = max(total, 0)
        self.done = initial
        self.points = 0
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._start = time.perf_counter()
        self._drawn = 0.0
        self._initial = initial  # resumed chunks took no time in this run

    def advance(self, points: int) -> None:
        """Record one finished chunk of ``points`` rows; redraw at most 10 times a second."""
        self.done += 1
        self.points += points
        now = time.perf_counter()
        if self.enabled and (now - self._drawn >= 0.1 or self.done >= self.total):
            self._drawn = now
            self._draw(now)

    def close(self) -> None:
        """Finish the line."""
        if self.enabled:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        """Redraw the bar in place."""
        filled = self.width * self.done // self.total if self.total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = now - self._start
        run = self.done - self._initial
        rate = self.points / elapsed if elapsed > 0 else 0.0
        left = elapsed / run * (self.total - self.done) if run > 0 else float("nan")
        eta = f"{left:.1f} s left" if left == left else "time left unknown"
        self.stream.write(
            f"\r[{bar}] {self.done}/{self.total} chunks {self.points:,} points {elapsed:.1f} s "
            f"{rate:,.0f} points/s {eta}"
        )
        self.stream.flush()

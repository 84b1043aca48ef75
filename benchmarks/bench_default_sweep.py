"""Benchmark the main job, ``einsim sweep`` on the built-in default; prints figures, asserts nothing.

Issue 12 asks for the default sweep to take at most 5 s on the CI machine (2 cores). This
runs the command as a user does (a fresh interpreter each time, wall clock from the shell's
point of view, into a fresh output folder) and prints every run, the minimum and the median.
The first run pays the page cache for the package and its libraries; the median is the
figure to compare.

Usage: python benchmarks/bench_default_sweep.py [--repeats 7] [--executor auto]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(out: Path, executor: str) -> float:
    """Wall-clock seconds of one ``einsim sweep --quiet`` into ``out``."""
    command = [sys.executable, "-m", "simulator", "sweep", "--out", str(out), "--quiet",
               "--executor", executor]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--executor", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        times = [one_run(Path(tmp) / f"run{i}", args.executor) for i in range(args.repeats)]
    print(f"einsim sweep (default spec, --executor {args.executor}, {os.cpu_count()} CPUs), "
          f"{args.repeats} runs: " + ", ".join(f"{t:.2f}" for t in times) + " s")
    print(f"  min {min(times):.2f} s, median {statistics.median(times):.2f} s (target: <= 5 s on 2 cores)")


if __name__ == "__main__":
    main()

"""Start-up time of the einsim CLI: `einsim --help`, `einsim cascades`, `einsim passes`.

Each command runs in a fresh interpreter (`python -m simulator ...`) several times; the
script prints the median and the fastest wall time, and which heavy modules the command
imported (the goal: `--help` and `cascades` under 0.3 s, without pandas or matplotlib).

    python benchmarks/bench_cli_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = (["--help"], ["cascades"], ["passes", "attention-1pass"], ["sweep", "--help"])
HEAVY = ("pandas", "matplotlib", "networkx", "numpy", "yaml")


def wall_time(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "simulator", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def heavy_imports(args: list[str]) -> list[str]:
    probe = ("import sys, runpy; sys.argv = ['einsim', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('simulator', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True)
    return done.stderr.strip().splitlines()[-1:] or [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    wall_time(["--help"])  # warm the file cache
    print(f"{'command':28} {'median_s':>9} {'min_s':>7}  heavy modules imported")
    for args in COMMANDS:
        times = [wall_time(args) for _ in range(options.repeat)]
        print(f"{'einsim ' + ' '.join(args):28} {statistics.median(times):9.3f} {min(times):7.3f}  "
              f"{heavy_imports(args)[0] or '-'}")


if __name__ == "__main__":
    main()

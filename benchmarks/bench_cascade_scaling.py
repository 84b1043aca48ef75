"""Parse and analysis time of long generated cascades (linear up to einsum.parser.MAX_EINSUMS).

Two shapes of N Einsums: a chain (each Einsum reads the previous one) and a wide cascade
(N independent Einsums summed at the end would be one long expression, so each reads the
inputs). Prints seconds for parse, pass analysis and live footprint.

    python benchmarks/bench_cascade_scaling.py
"""

from __future__ import annotations

import time

import einsum


def cascade_text(n: int, chain: bool) -> str:
    lines = ["T0[m,p] = Q[e,p] * K[e,m]"]
    for i in range(1, n):
        lines.append(f"T{i}[m,p] = T{i - 1}[m,p] * 2" if chain else f"T{i}[m,p] = Q[e,p] * K[e,m]")
    lines.append(f"Y[p] = T{n - 1}[m,p]")
    return "\n".join(lines) + "\n"


def main() -> None:
    print(f"{'shape':6} {'einsums':>8} {'parse_s':>8} {'passes_s':>9} {'footprint_s':>12}")
    for chain in (True, False):
        for n in (500, 1000, 2000, 4000):
            text = cascade_text(n, chain)
            started = time.perf_counter()
            cascade = einsum.parse(text, "bench")
            parsed = time.perf_counter()
            einsum.pass_analysis(cascade)
            passed = time.perf_counter()
            einsum.live_footprint(cascade)
            done = time.perf_counter()
            print(f"{'chain' if chain else 'wide':6} {n + 1:8d} {parsed - started:8.2f} "
                  f"{passed - parsed:9.2f} {done - passed:12.2f}")


if __name__ == "__main__":
    main()

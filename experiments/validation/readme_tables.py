"""The README's computed tables, rendered from the model rather than typed.

Five blocks of the README carry model numbers: the FA3-paper panel table (reference C.3),
the real-trace calibration table, the ``einsim validate`` console example, the fidelity
report's summary and the QServe reproduction's speedups. Each sits
between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` markers; ``tests/test_readme.py``
checks that every block equals what this module renders, so a model change that moves a
number fails until the README is regenerated.

Run ``python -m experiments.validation.readme_tables [--write]`` (prints the blocks, or
rewrites them in README.md in place).

Examples
--------
>>> "| FA3 | 64 |" in c3_table()
True
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

__all__ = ["BLOCKS", "README", "c3_table", "fidelity_block", "qserve_table", "replace_blocks",
           "trace_table", "validate_example"]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TRACES = ROOT / "tests" / "data" / "traces" / "kineto"
#: The traces of the calibration table: (label, file stem, shape as printed).
CALIBRATION_TRACES = (
    ("Qwen1.5-0.5B-Chat", "h100_Qwen_Qwen1.5-0.5B-Chat__1016005", "16/16/559/64 causal"),
    ("Falconsai ViT", "h100_Falconsai_nsfw_image_detection__1016002", "4/12/197/64"),
    ("bert-small", "h100_gaunernst_bert-small-uncased__1016001", "1/8/141/64"),
)
_IMPL_LABELS = {"flash3": "FA3", "flash2": "FA2", "standard": "Standard (3-pass, `unfused`)"}


def _signed(value: float, digits: int = 0) -> str:
    """``+7%``, ``−1%`` (a typographic minus), ``0%``.

    >>> _signed(-1.2), _signed(0.3), _signed(15.94, 1)
    ('−1%', '0%', '+15.9%')
    """
    text = f"{value:+.{digits}f}"
    if float(text) == 0:
        return f"{0:.{digits}f}%"
    return text.replace("-", "−") + "%"


def c3_table() -> str:
    """The FA3 paper Fig. 5 panels: published / predicted TFLOP/s (error) per cell."""
    from experiments.validation.fa3_h100 import fidelity_rows, load_data

    data = load_data()
    rows = fidelity_rows(data)
    header = "| impl | d | " + " | ".join(f"{s // 1024}k" if s >= 1024 else str(s)
                                       for s in data["seqlens"]) + " |"
    lines = [header, "|" + "---|" * (2 + len(data["seqlens"]))]
    for impl in ("flash3", "flash2", "standard"):
        for head_dim in sorted({r.head_dim for r in rows if r.impl == impl}):
            cells = {r.seqlen: r for r in rows if r.impl == impl and r.head_dim == head_dim}
            text = [f"{cells[s].published_tflops:.0f}/{cells[s].predicted_tflops:.0f} "
                    f"({_signed(cells[s].error_pct)})" if s in cells else "OOM"
                    for s in data["seqlens"]]
            lines.append(f"| {_IMPL_LABELS[impl]} | {head_dim} | " + " | ".join(text) + " |")
    return "\n".join(lines)


def trace_table() -> str:
    """Shipped ``flash2`` vs leave-one-out calibration of ``mma_path.hopper`` per H100 trace."""
    from simulator.gpu import load_profile
    from simulator.traces.calibrate import calibrate
    from simulator.traces.load import load_trace
    from simulator.traces.validate import validate

    traces = {label: load_trace(TRACES / f"{stem}.json.gz") for label, stem, _ in CALIBRATION_TRACES}
    lines = ["| trace (H100, FA2, bf16) | shape B/H/S/D | measured | `flash2` as shipped | "
             "calibrated on the other two, held out (fitted `mma_path.hopper`) |",
             "|---|---|---|---|---|"]
    for label, _, shape in CALIBRATION_TRACES:
        row = validate(traces[label]).rows[0]
        others = [t for name, t in traces.items() if name != label]
        fitted = calibrate(others, "flash2", ["mma_path.hopper"], holdout=0.0).fitted
        held = validate(traces[label], kernel=load_profile("flash2").with_values(fitted)).rows[0]
        lines.append(f"| {label} | {shape} | {row.measured_s * 1e6:.1f} µs | "
                     f"{_signed(100 * row.error, 1)} | {_signed(100 * held.error, 1)} "
                     f"({fitted['mma_path.hopper']:.4f}) |")
    return "\n".join(lines)


def validate_example() -> str:
    """``einsim validate`` on the Qwen trace, as the console prints it."""
    from typer.testing import CliRunner

    from simulator.cli import app

    stem = CALIBRATION_TRACES[0][1]
    path = f"tests/data/traces/kineto/{stem}.json.gz"
    with redirect_stdout(io.StringIO()):
        result = CliRunner().invoke(app, ["validate", str(ROOT / path)])
    lines = [line for line in result.output.splitlines()
             if not line.startswith(stem)]           # the header line names the full path
    return "```\n$ einsim validate " + path + "\n" + "\n".join(lines) + "\n```"


def fidelity_block() -> str:
    """The summary of ``python -m experiments.validation.report --markdown``."""
    from experiments.validation.report import fidelity_rows, markdown

    return markdown(fidelity_rows())


def qserve_table() -> str:
    """``einsim reproduce qserve``'s speedups, with the batches, next to the paper's."""
    from experiments.qserve.reproduce import CONFIG, run
    from simulator.layer.spec import layer_numbers
    from simulator.yamlio import read_yaml

    rep = run()
    proposal = read_yaml(CONFIG, "QServe reproduction config")["proposal"]
    cap = int(layer_numbers()["serving"]["max_batch"]["value"])   # the scheduler's batch cap
    label = rep.rows[rep.rows.system == proposal].precision.iloc[0]
    names = {"a100-sxm4-80gb": "A100", "l40s": "L40S", "llama-3-8b": "Llama-3-8B",
             "qwen1.5-72b": "Qwen1.5-72B"}
    lines = [f"| GPU | model | best TensorRT-LLM-like (tokens/s) | {label} (tokens/s, batch) | "
             "einsim speedup | paper |", "|---|---|---|---|---|---|"]
    for row in rep.speedups.itertuples(index=False):
        group = rep.rows[(rep.rows.gpu == row.gpu) & (rep.rows.model == row.model)]
        ours = group[group.system == proposal].iloc[0]
        base = group[group.precision == row.best_baseline]
        baseline = "none fits" if base.empty else f"{row.best_baseline}, {row.baseline_tokens_per_s:.4g}"
        if not base.empty and int(base.batch.iloc[0]) < cap:     # memory, not the cap, set it
            baseline += f" (batch {int(base.batch.iloc[0])})"
        speedup = "—" if not np.isfinite(row.speedup) else f"{row.speedup:.2f}×"
        lines.append(f"| {names.get(row.gpu, row.gpu)} | {names.get(row.model, row.model)} | "
                     f"{baseline} | {ours.tokens_per_s:.4g}, {int(ours.batch)} | {speedup} | "
                     f"{row.paper_speedup:g}× |")
    holds = ", ".join(f"{names.get(m, m)} {'yes' if ok else 'no'}" for m, ok in rep.claim_holds.items())
    lines += ["", f"L40S + {label} above A100 + the best TensorRT-LLM-like configuration: {holds}."]
    return "\n".join(lines)


#: README block name -> renderer.
BLOCKS: dict[str, Callable[[], str]] = {"c3": c3_table, "trace-calibration": trace_table,
                                        "validate-example": validate_example,
                                        "fidelity": fidelity_block, "qserve": qserve_table}


def replace_blocks(text: str, rendered: dict[str, str]) -> str:
    """``text`` with each ``<!-- NAME:begin -->…<!-- NAME:end -->`` body replaced."""
    for name, body in rendered.items():
        pattern = re.compile(rf"(<!-- {re.escape(name)}:begin -->\n).*?(\n<!-- {re.escape(name)}:end -->)",
                             flags=re.S)
        if not pattern.search(text):
            raise KeyError(f"README has no <!-- {name}:begin --> ... <!-- {name}:end --> block")
        text = pattern.sub(lambda m, body=body: m.group(1) + body + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    """Print the blocks, or with ``--write`` rewrite them in README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the blocks in README.md")
    args = parser.parse_args(argv)
    rendered = {name: render() for name, render in BLOCKS.items()}
    if args.write:
        README.write_text(replace_blocks(README.read_text(encoding="utf-8"), rendered), encoding="utf-8")
        return 0
    for name, body in rendered.items():
        print(f"<!-- {name} -->\n{body}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A GNA mask given by flags thins the FLOPs of an unmasked cascade's per-pair contractions."""

import json

from typer.testing import CliRunner

from simulator.cli import app


def test_gna_window_counts_only_the_visited_pairs():
    res = CliRunner().invoke(app, ["predict", "--hw", "h100", "--cascade", "attention-1pass", "--heads", "32",
                                   "--head-dim", "128", "--layout", "4096", "--window", "1024", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    # 1-D neighborhood of 1024 keys (clamped at the edges): every query sees exactly 1024 keys;
    # QK and AV each 2 FLOP per multiply-accumulate over 128 dims
    assert doc["flops"] == 2 * 2 * 32 * 128 * 4096 * 1024
    assert doc["tflops_per_s"] < 989.4   # never above the H100's dense FP16 peak

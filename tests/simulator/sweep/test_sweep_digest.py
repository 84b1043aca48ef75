"""Chunk digests: the CSV text workers render and the parent splices, and their fallbacks."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from simulator.pareto import Objective
from simulator.sweep.csvtext import csv_text, to_output_frame
from simulator.sweep.digest import digest_chunk, write_flagged
from simulator.sweep.engine import run_sweep
from simulator.sweep.spec import parse_spec
from simulator.sweep.store import ChunkStore

OBJECTIVES = [Objective("t"), Objective("q", "max")]


def tricky_frame(n=12):
    """Text that is non-ASCII, holds commas, quotes and line breaks, plus mappings."""
    rng = np.random.default_rng(1)
    texts = ["naïve", "a,b", 'say "hi"', "two\nlines", "plain", "µs"]
    return pd.DataFrame({
        "point": np.arange(n),
        "label": [texts[i % len(texts)] for i in range(n)],
        "layout": [{"kind": "window", "size": [i, 2]} if i % 3 else None for i in range(n)],
        "t": rng.random(n),
        "q": rng.random(n),
        "feasible": rng.random(n) > 0.2,
    })  # fmt: skip


@pytest.mark.parametrize("flag_every", [1, 2, 5, 100])
def test_spliced_text_equals_rendering_with_the_flags(flag_every):
    frame = tricky_frame()
    chunk = digest_chunk(frame, OBJECTIVES, (), n_chunks=1)
    flagged = np.arange(0, len(frame), flag_every)
    out = io.BytesIO()
    write_flagged(out, chunk, flagged)
    pareto = np.isin(np.arange(len(frame)), flagged)
    expected = csv_text(to_output_frame(frame.assign(pareto=pareto)), header=False)
    assert out.getvalue() == expected.encode("utf-8")
    assert expected == frame.assign(pareto=pareto).pipe(to_output_frame).to_csv(
        index=False, header=False, lineterminator="\n")


def test_candidates_are_the_chunk_front_and_facts_are_counted():
    frame = tricky_frame(40)
    chunk = digest_chunk(frame, OBJECTIVES, ("label",), n_chunks=4)
    assert chunk.rows == 40 and chunk.feasible == int(frame["feasible"].sum())
    assert chunk.candidates["point"].tolist() == chunk.candidate_rows.tolist()
    assert chunk.candidates["feasible"].all()
    assert {"t", "q", "label"} <= chunk.varying and "point" in chunk.varying
    best_t = frame[frame["feasible"]].sort_values("t").iloc[0]
    assert chunk.best["t"]["point"] == best_t["point"]


def test_empty_chunk():
    frame = tricky_frame().iloc[:0]
    chunk = digest_chunk(frame, OBJECTIVES, (), n_chunks=1)
    assert chunk.rows == 0 and chunk.csv == b"" and len(chunk.candidates) == 0
    assert chunk.columns[-1] == "pareto"


SPEC = {
    "name": "digest-test",
    "evaluator": "synthetic",
    "axes": {"hardware": ["h1", "h2"], "units": [1, 2, 4, 8], "traffic": [1.0e8, 1.0e9, 1.0e10]},
    "objectives": [{"column": "latency", "sense": "min"}, {"column": "energy", "sense": "min"}],
    "pareto_by": ["hardware"],
    "chunk_size": 5,
}


def test_chunks_stored_without_digests_give_the_same_outputs(tmp_path):
    """Chunks written by an older einsim (rows only) are digested when the outputs are made."""
    spec = parse_spec(SPEC, "digest-test.yaml")
    run_sweep(spec, tmp_path / "a", progress=False, plots=False)
    run_sweep(spec, tmp_path / "b", progress=False, plots=False)
    store = ChunkStore(tmp_path / "b")
    for path in store.chunk_dir.glob("digest-*.npz"):
        path.unlink()
    (tmp_path / "b" / "points.csv").unlink()
    result = run_sweep(spec, tmp_path / "b", progress=False, plots=False, resume=True)
    assert result.chunks_skipped == result.plan.n_chunks
    for name in ("points.csv", "pareto.csv", "pareto.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_figures_drawn_by_workers_equal_figures_drawn_here(tmp_path):
    spec = parse_spec({**SPEC, "axes": {**SPEC["axes"], "hardware": ["h1", "h2", "h3"]}}, "d.yaml")
    run_sweep(spec, tmp_path / "here", progress=False)
    run_sweep(spec, tmp_path / "there", progress=False, executor="processes", workers=2)
    pngs = sorted(p.name for p in (tmp_path / "here").glob("*.png"))
    assert "pareto_front.png" in pngs and len(pngs) == 4
    for name in pngs:
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / "there" / name).read_bytes()

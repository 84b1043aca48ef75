"""Sweep engine: correctness against a direct computation, executors, crash-safe resume."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from simulator.errors import SimulatorError, SpecError
from simulator.pareto import pareto_mask_grouped
from simulator.sweep.engine import evaluate_sweep, plan_sweep, run_sweep
from simulator.sweep.registry import register_evaluator
from simulator.sweep.spec import parse_spec
from simulator.sweep.synthetic import SYNTHETIC_DEFAULTS, evaluate_synthetic

TABLES = ("points.csv", "pareto.csv", "pareto.md", "summary.md")

SPEC = {
    "name": "engine-test",
    "evaluator": "synthetic",
    "axes": {
        "hardware": ["a", "b"],
        "peak_flops": [1.0e13, 1.0e14],
        "units": [1, 2, 4, 8],
        "work": [1.0e11, 1.0e12],
        "traffic": [1.0e8, 1.0e10],
    },
    "zip": [["hardware", "peak_flops"]],
    "filters": ["work >= 20 * traffic"],
    "objectives": [{"column": "latency", "sense": "min"}, {"column": "energy", "sense": "min"}],
    "pareto_by": ["hardware"],
    "constraints": ["units <= 4"],
    "chunk_size": 5,
}


def make_spec(**changes):
    return parse_spec({**SPEC, **changes}, "engine-test.yaml")


def run(spec, out, **options):
    """run_sweep without progress bar and (unless asked) without plots, for speed."""
    return run_sweep(spec, out, **{"progress": False, "plots": False, **options})


def snapshot(folder):
    """Bytes of every file under ``folder`` (relative path → bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def tables(folder):
    return {name: (folder / name).read_bytes() for name in TABLES}


def test_table_matches_direct_computation():
    table = evaluate_sweep(make_spec())
    axes = SPEC["axes"]
    rows = [
        {"point": i, "hardware": hw, "peak_flops": pf, "units": u, "work": w, "traffic": t}
        for i, ((hw, pf), u, w, t) in enumerate(
            itertools.product(
                zip(axes["hardware"], axes["peak_flops"]), axes["units"], axes["work"], axes["traffic"]
            )
        )
    ]
    frame = pd.DataFrame(rows)
    for name, value in SYNTHETIC_DEFAULTS.items():
        if name not in frame:
            frame[name] = value
    frame = frame[frame["work"] >= 20 * frame["traffic"]].reset_index(drop=True)
    expected = evaluate_synthetic(frame).assign(feasible=lambda f: f["units"] <= 4)
    text = [c for c in table.columns if isinstance(table[c].dtype, pd.CategoricalDtype)]
    assert text == ["hardware"]  # text axes travel as Categoricals (integer codes)
    table = table.astype({c: object for c in text})
    pd.testing.assert_frame_equal(table.drop(columns="pareto"), expected, check_dtype=False)
    flags = pareto_mask_grouped(expected, ["latency", "energy"], ["hardware"], where="feasible")
    assert table["pareto"].tolist() == flags.tolist()
    assert table["pareto"].any() and not table.loc[~table["feasible"], "pareto"].any()


def test_plan_is_lazy_and_printable():
    axes = {"units": list(range(1, 101)), "work": [float(10**i) for i in range(9, 14)] * 20,
            "traffic": [float(t) for t in range(1, 1001)]}  # fmt: skip
    spec = make_spec(axes=axes, zip=[], filters=[], pareto_by=[], constraints=[], chunk_size=65536)
    plan = plan_sweep(spec)
    assert plan.grid.size == 10**7
    assert str(plan) == (
        "sweep 'engine-test' with evaluator 'synthetic': 100 × 100 × 1000 = 10000000 grid points "
        "in 153 chunks of 65536"
    )


def test_chunking_does_not_change_tables(tmp_path):
    run(make_spec(chunk_size=5), tmp_path / "small")
    run(make_spec(chunk_size=1000), tmp_path / "one")
    small, one = tables(tmp_path / "small"), tables(tmp_path / "one")
    assert small.pop("summary.md") != one.pop("summary.md")  # it names the spec hash
    assert small == one


def test_processes_give_byte_identical_tables(tmp_path):
    inprocess = run(make_spec(), tmp_path / "in")
    processes = run(make_spec(), tmp_path / "pp", executor="processes", workers=2)
    assert tables(tmp_path / "in") == tables(tmp_path / "pp")
    assert processes.chunks_run == inprocess.chunks_run == 7


def test_resume_after_lost_chunks_is_byte_identical(tmp_path):
    out = tmp_path / "out"
    run(make_spec(), out)
    reference = tables(out)
    for index in (1, 4):  # a lost chunk: its rows, digest and record are gone
        for path in (out / "chunks").glob(f"*-{index:06d}.*"):
            path.unlink()
    (out / "points.csv").unlink()
    stray = out / "chunks" / ".chunk-000002.npz.tmp-99999"
    stray.write_bytes(b"half a pickle")
    result = run(make_spec(), out, resume=True)
    assert (result.chunks_run, result.chunks_skipped) == (2, 5)
    assert not stray.exists()
    assert tables(out) == reference


_CRASH = {"after": None, "calls": 0}


def _crashing_synthetic(chunk):
    """The synthetic model, but raising after a given number of calls (a simulated crash)."""
    _CRASH["calls"] += 1
    if _CRASH["after"] is not None and _CRASH["calls"] > _CRASH["after"]:
        raise KeyboardInterrupt
    return evaluate_synthetic(chunk)


register_evaluator("test-crashing", _crashing_synthetic, defaults=SYNTHETIC_DEFAULTS)


def test_interrupted_sweep_resumes_to_identical_tables(tmp_path):
    spec = make_spec(evaluator="test-crashing")
    _CRASH.update(after=None, calls=0)
    run(spec, tmp_path / "whole")
    _CRASH.update(after=4, calls=0)  # the probe is call 1, then chunks 0, 1, 2 finish
    with pytest.raises(KeyboardInterrupt):
        run(spec, tmp_path / "broken")
    chunk_files = sorted(p.name for p in (tmp_path / "broken" / "chunks").glob("chunk-*"))
    assert chunk_files == [f"chunk-{i:06d}.{ext}" for i in range(3) for ext in ("json", "npz")]
    digests = sorted(p.name for p in (tmp_path / "broken" / "chunks").glob("digest-*"))
    assert digests == ["digest-000000.npz", "digest-000001.npz", "digest-000002.npz"]
    assert not (tmp_path / "broken" / "points.csv").exists()
    _CRASH.update(after=None, calls=0)
    result = run(spec, tmp_path / "broken", resume=True)
    assert result.chunks_skipped == 3
    assert tables(tmp_path / "broken") == tables(tmp_path / "whole")


SLOW_EVALUATOR = """
import os, time
from simulator.sweep.expand import add_constant_columns
from simulator.sweep.synthetic import SYNTHETIC_DEFAULTS, evaluate_synthetic

def evaluate(chunk):
    time.sleep(float(os.environ.get("EINSIM_TEST_SLEEP", "0")))
    return evaluate_synthetic(add_constant_columns(chunk, SYNTHETIC_DEFAULTS))
"""


def test_killed_process_resumes_to_identical_tables(tmp_path, monkeypatch):
    (tmp_path / "slow_eval_mod.py").write_text(textwrap.dedent(SLOW_EVALUATOR))
    monkeypatch.syspath_prepend(str(tmp_path))
    spec_path = tmp_path / "spec.yaml"
    spec = make_spec(evaluator="slow_eval_mod:evaluate", chunk_size=1)
    spec_path.write_text(json.dumps(spec.to_dict()))  # JSON is YAML
    run(spec_path, tmp_path / "whole")
    env = {
        **os.environ,
        "EINSIM_TEST_SLEEP": "0.05",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]),
    }
    command = [
        sys.executable,
        "-m",
        "simulator",
        "sweep",
        str(spec_path),
        "--out",
        str(tmp_path / "killed"),
        "--quiet",
    ]
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    chunks = tmp_path / "killed" / "chunks"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if chunks.is_dir() and len(list(chunks.glob("chunk-*.json"))) >= 3:
            break
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    done = len(list(chunks.glob("chunk-*.json")))
    assert 3 <= done < 28, child.stderr.read().decode()
    result = run(spec_path, tmp_path / "killed", resume=True)
    assert result.chunks_skipped == done
    assert tables(tmp_path / "killed") == tables(tmp_path / "whole")


def test_resume_refuses_another_spec(tmp_path):
    run(make_spec(), tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(SpecError, match="written for another spec .* refusing to resume"):
        run(make_spec(constraints=["units <= 2"]), tmp_path, resume=True)
    assert snapshot(tmp_path) == before


def test_fresh_run_replaces_old_chunks_and_outputs(tmp_path):
    run(make_spec(), tmp_path, plots=True)
    assert (tmp_path / "roofline_b.png").exists()
    axes = {**SPEC["axes"], "hardware": ["a"], "peak_flops": [1.0e13]}
    result = run(make_spec(axes=axes, chunk_size=100), tmp_path, plots=True)
    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == [
        "chunk-000000.json", "chunk-000000.npz", "digest-000000.npz"]
    assert not (tmp_path / "roofline_b.png").exists()
    assert result.chunks_run == 1 and result.chunks_skipped == 0


BAD_RUNS = [
    (
        {"objectives": [{"column": "latncy", "sense": "min"}]},
        "key 'objectives[0].column': no column 'latncy'",
    ),
    ({"filters": ["nope > 1"]}, "key 'filters[0]': cannot evaluate 'nope > 1'"),
    ({"constraints": ["latency + 1"]}, "key 'constraints[0]': 'latency + 1' does not give"),
    ({"pareto_by": ["colour"]}, "key 'pareto_by[0]': no column 'colour'"),
    ({"objectives": ["bound"]}, "column 'bound' is not numeric"),
    ({"evaluator": "no-such-model"}, "evaluator 'no-such-model' is not registered"),
]


@pytest.mark.parametrize("changes,message", BAD_RUNS, ids=[m.split(":")[0] for _, m in BAD_RUNS])
def test_bad_spec_leaves_output_untouched(tmp_path, changes, message):
    run(make_spec(), tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]").replace("+", r"\+")):
        run(make_spec(**changes), tmp_path)
    assert snapshot(tmp_path) == before


def _drops_a_row(chunk):
    return evaluate_synthetic(chunk).iloc[1:]


def _shuffles_rows(chunk):
    return evaluate_synthetic(chunk).iloc[::-1]


@pytest.mark.parametrize(
    "evaluate,message", [(_drops_a_row, "must return a DataFrame with the"), (_shuffles_rows, "reordered")]
)
def test_evaluator_contract_is_checked(evaluate, message):
    name = f"test-{evaluate.__name__}"
    register_evaluator(name, evaluate, defaults=SYNTHETIC_DEFAULTS)
    with pytest.raises(SimulatorError, match=message):
        plan_sweep(make_spec(evaluator=name))


def test_everything_filtered_out(tmp_path):
    result = run(make_spec(filters=["units > 100"]), tmp_path)
    assert (result.report.points, result.report.pareto) == (0, 0)
    header = (tmp_path / "points.csv").read_text().splitlines()
    assert len(header) == 1 and header[0].startswith("point,hardware")
    assert "after filters: 0" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "pareto.csv").read_text() == header[0] + "\n"


def test_nothing_feasible(tmp_path):
    result = run(make_spec(constraints=["units > 100"]), tmp_path)
    assert (result.report.points, result.report.feasible, result.report.pareto) == (24, 0, 0)
    assert (tmp_path / "pareto.csv").read_text().startswith("point,hardware,")
    assert "No feasible point." in (tmp_path / "summary.md").read_text()


def test_bad_executor_choices():
    with pytest.raises(SimulatorError, match="--executor: expected one of"):
        run(make_spec(), "unused", executor="threads")
    with pytest.raises(SimulatorError, match="--workers: expected a positive integer"):
        run(make_spec(), "unused", executor="processes", workers=0)


HAVE_DASK = (
    importlib.util.find_spec("dask") is not None and importlib.util.find_spec("distributed") is not None
)


@pytest.mark.skipif(HAVE_DASK, reason="dask is installed")
def test_dask_missing_is_a_one_line_error(tmp_path):
    with pytest.raises(SimulatorError, match=r"^the dask executor needs `pip install einsim\[dask\]`$"):
        run(make_spec(), tmp_path, executor="dask")
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(not HAVE_DASK, reason="dask is not installed")
def test_dask_gives_byte_identical_tables(tmp_path):
    run(make_spec(), tmp_path / "in")
    run(make_spec(), tmp_path / "dask", executor="dask", workers=1)
    assert tables(tmp_path / "in") == tables(tmp_path / "dask")


def test_progress_bar_is_drawn_on_request(tmp_path, capsys):
    run(make_spec(), tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "7/7 chunks" in err and "[" in err
    run(make_spec(), tmp_path, progress=None)  # stderr is not a terminal here
    assert capsys.readouterr().err == ""


def test_in_memory_table_equals_written_points(tmp_path):
    run(make_spec(), tmp_path)
    table = evaluate_sweep(make_spec())
    written = pd.read_csv(tmp_path / "points.csv")
    assert written["point"].tolist() == table["point"].tolist()
    assert np.array_equal(written["latency"].to_numpy(), table["latency"].to_numpy())
    assert written["pareto"].tolist() == table["pareto"].tolist()

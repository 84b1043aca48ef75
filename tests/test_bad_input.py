"""Bad input never crashes: a table of malformed inputs across every surface of the CLI.

Each case writes its files into an empty folder, runs one ``einsim`` command there and
asserts the contract of DESIGN.md: exit code 2, one line on stderr starting
``einsim: error:`` that names the file / line / key (``expect``), no traceback, and no
file written besides the inputs. The classes follow issue 13: files that are not UTF-8
text for every reader, parser recursion and size limits, header values, sizes unknown
or out of range, allocations refused before they happen, sweep-spec values, and the
silently accepted inputs that are now errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from simulator.cli import app

ROOT = Path(__file__).resolve().parents[1]
GPU_YAML = (ROOT / "hardware_specs" / "gpus" / "h100-sxm5.yaml").read_text(encoding="utf-8")
ACCEL_YAML = (ROOT / "hardware_specs" / "accelerators" / "fusemax-cloud.yaml").read_text(encoding="utf-8")
SHAPE = ["--heads", "2", "--head-dim", "64", "--seq-q", "256"]
PREDICT = ["predict", "--hw", "h100", "--cascade", "attention-1pass"]
GOOD_CASCADE = "Y[p] = A[k,p] * B[k]\n"
CONFIG = {"hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
          "num_hidden_layers": 32, "model_type": "llama"}

# ------------------------------------------------------------------ files that are not text
NOT_UTF8 = {
    "binary": bytes(range(256)) * 4,
    "utf16-le": "Y = A[k] * B[k]\n".encode("utf-16"),
    "utf16-be": b"\xfe\xff" + "Y = A[k]\n".encode("utf-16-be"),
    "utf32": b"\x00\x00\xfe\xff" + "Y = A[k]\n".encode("utf-32-be"),
    "latin1": "Y = A[k] * B[k]  # café\n".encode("latin-1"),
    "bad-continuation": b"Y = A[k] \xe2\x28\xa1\n",
    "truncated-multibyte": b"Y = A[k] \xe2\x82",
    "overlong": b"Y = A[k] \xc0\xaf\n",
    "surrogate": b"Y = A[k] \xed\xa0\x80\n",
    "nul-in-text": b"Y = A[k]\x00 * B[k]\n",
    "lone-continuation": b"\x80Y = A[k]\n",
    "windows-1252": b"name: \x93quoted\x94\n",
}
# every file reader, as a command with {} for the file
READERS = {
    "passes": (["passes", "{}"], "x.cas"),
    "show": (["show", "{}"], "x.cas"),
    "check": (["check", "{}"], "x.cas"),
    "lint": (["lint", "{}"], "x.cas"),
    "predict-cascade": (["predict", "--hw", "h100", "--cascade", "{}", *SHAPE], "x.cas"),
    "predict-gpu": (["predict", "--hw", "{}", "--cascade", "attention-1pass", *SHAPE], "gpu.yaml"),
    "hw-show": (["hw", "show", "{}"], "gpu.yaml"),
    "accel-show": (["accel", "show", "{}"], "accel.yaml"),
    "sweep": (["sweep", "{}", "--out", "out"], "spec.yaml"),
    "models": (["models", "{}"], "config.json"),
}


def _reader_cases() -> list:
    cases = []
    for reader, (argv, name) in READERS.items():
        for kind, data in NOT_UTF8.items():
            cases.append(pytest.param([a.replace("{}", name) for a in argv], {name: data}, name,
                                      id=f"{reader}-{kind}"))
        cases.append(pytest.param([a.replace("{}", "missing-" + name) for a in argv], {},
                                  "missing-" + name, id=f"{reader}-missing"))
        cases.append(pytest.param([a.replace("{}", "folder") for a in argv], {"folder/x": b""},
                                  "folder", id=f"{reader}-folder"))
    return cases


# ------------------------------------------------------------------ cascades
def _deep(n: int) -> str:
    return "Y[p] = " + "(" * n + "A[p]" + ")" * n + "\n"


CASCADES = {
    "deep-parens": (_deep(3000), "x.cas:1:"),
    "unary-minus-chain": ("Y[p] = " + "-" * 5000 + "A[p]\n", "x.cas:1:"),
    "not-chain": ("Y[p] = " + "not " * 3000 + "A[p]\n", "x.cas:1:"),
    "long-sum": ("Y[p] = " + " + ".join(["A[p]"] * 3000) + "\n", "nested too deeply"),
    "long-product": ("Y[p] = " + " * ".join(["A[p]"] * 3000) + "\n", "nested too deeply"),
    "power-tower": ("Y[p] = A[p]" + " ^ A[p]" * 3000 + "\n", "nested too deeply"),
    "deep-call": ("Y[p] = " + "exp(" * 500 + "A[p]" + ")" * 500 + "\n", "nested too deeply"),
    "deep-index": ("Y[p] = A[" + "(" * 3000 + "p" + ")" * 3000 + "]\n", "x.cas:1:"),
    "deep-filter": ("Y[p] = A[p] : " + "(" * 3000 + "p >= 0" + ")" * 3000 + "\n", "x.cas:1:"),
    "filter-not-chain": ("Y[p] = A[p] : " + "not " * 3000 + "p >= 0\n", "x.cas:1:"),
    "too-many-einsums": ("".join(f"T{i}[p] = A[p] * {i + 1}\n" for i in range(4100)),
                         "x.cas:4097:1: more than 4096 Einsums"),
    "two-reductions": ("Y[p] = A[m,p] :: max(m) :: min(m)\n", "one reduction"),
    "mod-zero-filter": ("Y[p] = A[m,p] : m % 0 == 1\n", "divides by zero"),
    "floordiv-zero-index": ("Y[p] = A[m // 0, p]\n", "divides by zero"),
    "mod-zero-index": ("Y[p] = A[m % 0, p]\n", "divides by zero"),
    "passes-word": ("# passes: three\n" + GOOD_CASCADE, "x.cas:1:1: header '# passes: three'"),
    "passes-fraction": ("# passes: 2.5\n" + GOOD_CASCADE, "'# passes: 2.5'"),
    "passes-negative": ("# passes: -1\n" + GOOD_CASCADE, "expected a positive integer"),
    "passes-zero": ("# passes: 0\n" + GOOD_CASCADE, "expected a positive integer"),
    "passes-empty": ("# passes:\n" + GOOD_CASCADE, "expected a positive integer"),
    "passes-superscript": ("# passes: ²\n" + GOOD_CASCADE, "expected a positive integer"),
    "passes-arabic-digit": ("# passes: ٣\n" + GOOD_CASCADE, "expected a positive integer"),
    "sizes-word": ("# sizes: M=abc\n" + GOOD_CASCADE, "'# sizes:' item 'M=abc'"),
    "sizes-negative": ("# sizes: M=-4\n" + GOOD_CASCADE, "'# sizes:' item"),
    "sizes-no-value": ("# sizes: M\n" + GOOD_CASCADE, "'# sizes:' item 'M'"),
    "sizes-no-name": ("# sizes: =4\n" + GOOD_CASCADE, "'# sizes:' item '=4'"),
    "sizes-superscript": ("# sizes: M=6²\n" + GOOD_CASCADE, "'# sizes:' item"),
    "rank-two-words": ("# rank: m p\n" + GOOD_CASCADE, "header '# rank: m p'"),
    "rank-number": ("# rank: 1\n" + GOOD_CASCADE, "header '# rank: 1'"),
    "rank-unknown": ("# rank: zz\n" + GOOD_CASCADE, "rank 'ZZ' is not a rank"),
    "query-symbol": ("# query: p-1\n" + GOOD_CASCADE, "header '# query: p-1'"),
    "superscript-index": ("Y[p] = A[p + ²]\n", "x.cas:1:"),
    "unknown-function": ("Y[p] = frobnicate(A[p])\n", "unknown function 'frobnicate'"),
    "unclosed-bracket": ("Y[p] = A[p\n", "x.cas:1:"),
    "unclosed-paren": ("Y[p] = (A[p] * 2\n", "x.cas:1:"),
    "missing-equals": ("Y[p] A[p]\n", "x.cas:1:"),
    "float-index": ("Y[p] = A[p + 1.5]\n", "x.cas:1:"),
    "slash-in-index": ("Y[p] = A[p / 2]\n", "use '//'"),
    "cycle": ("A[m] = B[m] * C[m]\nB[m] = A[m]\n", "x.cas:"),
    "undeclared-input": ("inputs: Q[p]\nY[p] = Q[p] * Z[p]\n", "x.cas:"),
}


def _cascade_cases() -> list:
    cases = [pytest.param(["passes", "x.cas"], {"x.cas": text}, expect, id=f"passes-{key}")
             for key, (text, expect) in CASCADES.items()]
    for key in ("deep-parens", "unary-minus-chain", "two-reductions", "passes-word", "long-sum"):
        text, expect = CASCADES[key]
        for command in (["show", "x.cas"], ["lint", "x.cas"], ["check", "x.cas"],
                        ["predict", "--hw", "h100", "--cascade", "x.cas", *SHAPE]):
            cases.append(pytest.param(command, {"x.cas": text}, expect, id=f"{command[0]}-{key}"))
    return cases


# ------------------------------------------------------------------ check, passes, predict options
TRUNCATED = "\n".join(line for line in (ROOT / "einsum" / "library" / "attention-1pass.cas")
                      .read_text(encoding="utf-8").splitlines()
                      if not line.startswith(("inputs", "BV")) and "BV[" not in line) + "\n"
OPTIONS = {
    "check-unknown-size": (["check", "attention-1pass", "--size", "ZZ=3"], "no rank or size symbol ZZ"),
    "check-unknown-size-lower": (["check", "attention-3pass", "--size", "m=3"], "symbol m"),
    "check-partition-mismatch": (["check", "attention-1pass", "--size", "M1=2"],
                                 "M1=2, M=64, M0=16 disagree"),
    "check-partition-mismatch-big": (["check", "attention-1pass", "--size", "M=100", "--size", "M0=10",
                                      "--size", "M1=3"], "disagree"),
    "check-huge-allocation": (["check", "attention-3pass", "--size", "M=1000000", "--size", "P=1000000"],
                              "GiB"),
    "check-huge-1pass": (["check", "attention-1pass", "--size", "M=100000000", "--size", "P=100000"],
                         "GiB"),
    "check-negative-seed": (["check", "attention-1pass", "--seed", "-1"], "seed -1"),
    "check-size-zero": (["check", "attention-1pass", "--size", "M=0"], "M=0"),
    "check-size-word": (["check", "attention-1pass", "--size", "M=many"], "M=many"),
    "check-size-superscript": (["check", "attention-1pass", "--size", "M=6²"], "M=6²"),
    "check-size-float": (["check", "attention-1pass", "--size", "M=6.5"], "M=6.5"),
    "check-no-equals": (["check", "attention-1pass", "--size", "M"], "'M'"),
    "check-truncated": (["check", "trunc.cas"], "needs 'V'"),
    "passes-unknown-rank": (["passes", "attention-1pass", "--rank", "zz"], "rank 'ZZ' is not a rank"),
    "show-unknown-rank": (["show", "attention-3pass", "--rank", "q"], "rank 'Q' is not a rank"),
    "passes-unknown-cascade": (["passes", "no-such-cascade"], "no-such-cascade"),
    "predict-int64": ([*PREDICT, "--heads", "1", "--head-dim", "64", "--seq-q", "1000000000000000"],
                      "int64"),
    "predict-int64-batch": ([*PREDICT, "--batch", "100000000", "--heads", "64", "--head-dim", "128",
                             "--seq-q", "1000000"], "int64"),
    "predict-head-dim-1e6": ([*PREDICT, "--heads", "1", "--head-dim", "1000000", "--seq-q", "128"],
                             "no tile fits"),
    "predict-q-tile-1e6": ([*PREDICT, *SHAPE, "--q-tile", "1000000"], "no tile fits"),
    "predict-unknown-size": ([*PREDICT, *SHAPE, "--size", "ZZ=3"], "no rank or size symbol ZZ"),
    "predict-size-word": ([*PREDICT, *SHAPE, "--size", "W=x"], "--size W=x"),
    "predict-layout-superscript": ([*PREDICT, *SHAPE, "--layout", "2²"], "--layout"),
    "predict-layout-arabic": ([*PREDICT, *SHAPE, "--layout", "٣٢"], "--layout"),
    "predict-layout-fullwidth": ([*PREDICT, *SHAPE, "--layout", "１２８"], "--layout"),
    "predict-layout-float": ([*PREDICT, *SHAPE, "--layout", "1e12"], "--layout"),
    "predict-layout-4d": ([*PREDICT, *SHAPE, "--layout", "2x2x2x2"], "--layout"),
    "predict-layout-zero": ([*PREDICT, *SHAPE, "--layout", "0"], "--layout"),
    "predict-layout-huge": ([*PREDICT, "--heads", "1", "--head-dim", "64", "--seq-kv", "1000000000000",
                             "--layout", "1000000000000", "--window", "128"], "int64"),
    "predict-window-superscript": ([*PREDICT, *SHAPE, "--window", "4²"], "--window"),
    "predict-q-tile-superscript": ([*PREDICT, *SHAPE, "--q-tile", "6⁴"], "--q-tile"),
    "predict-kv-tiling": ([*PREDICT, *SHAPE, "--kv-tiling", "sideways"], "--kv-tiling"),
    "predict-groups": ([*PREDICT, "--heads", "3", "--kv-heads", "2", "--head-dim", "64", "--seq-q", "8"],
                       "divisible"),
    "predict-unknown-gpu": (["predict", "--hw", "v100", "--cascade", "attention-1pass", *SHAPE], "v100"),
    "predict-unknown-model": (["predict", "--hw", "h100", "--cascade", "attention-1pass",
                               "--model", "no-such-model", "--seq-q", "8"], "no-such-model"),
    "predict-missing-shape": (["predict", "--hw", "h100", "--cascade", "attention-1pass"], "--head-dim"),
    "speedup-layout-huge": (["speedup", "--layout", "1000000000000", "--window", "128"], "tiles"),
    "speedup-layout-superscript": (["speedup", "--layout", "2²", "--window", "1"], "--layout"),
    "models-unknown": (["models", "no-such-model"], "no-such-model"),
    "hw-show-unknown": (["hw", "show", "v100"], "v100"),
    "accel-show-unknown": (["accel", "show", "tpu"], "tpu"),
}


def _option_cases() -> list:
    return [pytest.param(argv, {"trunc.cas": TRUNCATED}, expect, id=key)
            for key, (argv, expect) in OPTIONS.items()]


# ------------------------------------------------------------------ GPU, accelerator and config files
def _set(text: str, path: tuple, value) -> str:
    doc = yaml.safe_load(text)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return yaml.safe_dump(doc, sort_keys=False)


GPU_EDITS = {
    "huge-int": (("sm_count", "value"), 10**30),
    "int-beyond-int64": (("sm_count", "value"), 2**70),
    "huge-float": (("sm_count", "value"), 1e300),
    "negative": (("sm_count", "value"), -132),
    "zero": (("sm_count", "value"), 0),
    "string": (("sm_count", "value"), "many"),
    "bool": (("sm_count", "value"), True),
    "fraction-sms": (("sm_count", "value"), 131.5),
    "list": (("sm_count", "value"), [132]),
    "null": (("sm_count", "value"), None),
    "no-unit": (("sm_count",), {"value": 132, "source": "x"}),
    "bad-unit": (("sm_count", "unit"), "parsecs"),
}
ACCEL_EDITS = {
    "huge-clock": (("clock", "value"), 10**30),
    "negative-clock": (("clock", "value"), -1),
    "string-clock": (("clock", "value"), "fast"),
    "bool-word": (("word", "value"), True),
    "nan-clock": (("clock", "value"), float("nan")),
    "inf-bandwidth": (("dram", "bandwidth", "value"), float("inf")),
}
CONFIG_EDITS = {
    "heads-string": {"num_attention_heads": "many"},
    "heads-zero": {"num_attention_heads": 0},
    "heads-negative": {"num_attention_heads": -32},
    "hidden-float": {"hidden_size": 4096.5},
    "hidden-huge": {"hidden_size": 10**30},
    "kv-not-dividing": {"num_key_value_heads": 7},
    "heads-list": {"num_attention_heads": [32]},
    "heads-bool": {"num_attention_heads": True},
}


def _file_cases() -> list:
    cases = []
    for key, (path, value) in GPU_EDITS.items():
        files = {"gpu.yaml": _set(GPU_YAML, path, value)}
        cases.append(pytest.param(["hw", "show", "gpu.yaml"], files, "gpu.yaml", id=f"gpu-show-{key}"))
        cases.append(pytest.param(["predict", "--hw", "gpu.yaml", "--cascade", "attention-1pass", *SHAPE],
                                  files, "gpu.yaml", id=f"gpu-predict-{key}"))
    for key, (path, value) in ACCEL_EDITS.items():
        files = {"accel.yaml": _set(ACCEL_YAML, path, value)}
        cases.append(pytest.param(["accel", "show", "accel.yaml"], files, "accel.yaml", id=f"accel-{key}"))
    for key, edit in CONFIG_EDITS.items():
        files = {"config.json": json.dumps({**CONFIG, **edit})}
        cases.append(pytest.param(["models", "config.json"], files, "config.json", id=f"config-{key}"))
    cases.append(pytest.param(["models", "config.json"], {"config.json": "{\"hidden_size\": "},
                              "config.json", id="config-truncated-json"))
    cases.append(pytest.param(["models", "config.json"], {"config.json": "[1, 2]"}, "config.json",
                              id="config-array"))
    cases.append(pytest.param(["hw", "show", "gpu.yaml"], {"gpu.yaml": "a: [1, 2\n"}, "gpu.yaml",
                              id="gpu-malformed-yaml"))
    cases.append(pytest.param(["hw", "show", "gpu.yaml"], {"gpu.yaml": "- 1\n- 2\n"}, "gpu.yaml",
                              id="gpu-yaml-list"))
    return cases


# ------------------------------------------------------------------ sweep specs
SPEC = {"name": "t", "evaluator": "attention",
        "axes": {"hardware": ["h100"], "model": ["llama-3-8b"], "seq_len": [1024]},
        "objectives": [{"column": "time_s", "sense": "min"}]}
SYNTH = {"name": "s", "evaluator": "synthetic", "axes": {"units": [1, 2]},
         "objectives": [{"column": "latency", "sense": "min"}]}
SPATIAL = {"name": "a", "evaluator": "spatial", "axes": {"design": ["fusemax"], "rows": [64]},
           "objectives": [{"column": "latency", "sense": "min"}]}


def _axes(base: dict, **axes) -> dict:
    return {**base, "axes": {**base["axes"], **axes}}


SPECS = {
    "non-numeric": (_axes(SPEC, seq_len=["many"]), "axes.seq_len[0]"),
    "mixed-types": (_axes(SPEC, seq_len=[1024, "x"]), "axes.seq_len[1]"),
    "nested-list": (_axes(SPEC, seq_len=[[1024], [2048]]), "axes.seq_len[0]"),
    "nested-mapping": (_axes(SPEC, seq_len=[{"a": 1}]), "axes.seq_len[0]"),
    "float-length": (_axes(SPEC, seq_len=[1024.5]), "axes.seq_len[0]"),
    "huge-float-length": (_axes(SPEC, seq_len=[1e30]), "axes.seq_len[0]"),
    "string-1e30": (_axes(SPEC, seq_len=["1e30"]), "axes.seq_len[0]"),
    "length-1e15": (_axes(SPEC, seq_len=[10**15]), "int64"),
    "length-2-62": (_axes(SPEC, seq_len=[2**63]), "axes.seq_len[0]"),
    "bool-length": (_axes(SPEC, seq_len=[True]), "axes.seq_len[0]"),
    "batch-string": (_axes(SPEC, batch=["one"]), "axes.batch[0]"),
    "hardware-number": (_axes(SPEC, hardware=[100]), "axes.hardware[0]"),
    "hardware-unknown": (_axes(SPEC, hardware=["v100"]), "unknown hardware 'v100'"),
    "hardware-mixed": (_axes(SPEC, hardware=["h100", "v100"]), "unknown hardware 'v100'"),
    "model-unknown": (_axes(SPEC, model=["gpt-17"]), "gpt-17"),
    "mask-unknown": (_axes(SPEC, mask=["diagonal"]), "diagonal"),
    "show-unknown": ({**SPEC, "show": ["nope"]}, "show[0]"),
    "objective-unknown": ({**SPEC, "objectives": [{"column": "latncy", "sense": "min"}]},
                          "objectives[0].column"),
    "objective-sense": ({**SPEC, "objectives": [{"column": "time_s", "sense": "down"}]}, "sense"),
    "pareto-by-unknown": ({**SPEC, "pareto_by": ["nope"]}, "pareto_by[0]"),
    "filter-syntax": ({**SPEC, "filters": ["seq_len >>> 3"]}, "filters"),
    "constraint-unknown": ({**SPEC, "constraints": ["nope < 3"]}, "constraints"),
    "chunk-size-zero": ({**SPEC, "chunk_size": 0}, "chunk_size"),
    "chunk-size-string": ({**SPEC, "chunk_size": "big"}, "chunk_size"),
    "max-points-zero": ({**SPEC, "max_points": 0}, "max_points"),
    "max-points-exceeded": ({**SYNTH, "axes": {"units": list(range(1, 11)), "work": [1e9, 2e9, 3e9]},
                             "max_points": 20}, "30 grid points exceed max_points 20"),
    "two-billion-points": ({**SYNTH, "axes": {"units": list(range(1, 1301)),
                                              "work": [float(i) for i in range(1, 1301)],
                                              "traffic": [float(i) for i in range(1, 1301)]}},
                           "2197000000 grid points exceed max_points 100000000"),
    "unknown-key": ({**SPEC, "axis": {}}, "axis"),
    "missing-objectives": ({k: v for k, v in SPEC.items() if k != "objectives"}, "objectives"),
    "missing-name": ({k: v for k, v in SPEC.items() if k != "name"}, "name"),
    "empty-axes": ({**SPEC, "axes": {}}, "axes"),
    "empty-axis": (_axes(SPEC, seq_len=[]), "axes.seq_len"),
    "axes-list": ({**SPEC, "axes": [1, 2]}, "axes"),
    "reserved-column": (_axes(SPEC, pareto=[1]), "reserved"),
    "zip-unknown": ({**SPEC, "zip": [["seq_len", "nope"]]}, "zip"),
    "evaluator-unknown": ({**SPEC, "evaluator": "nope"}, "nope"),
    "evaluator-no-module": ({**SPEC, "evaluator": "no_such_module_xyz:f"}, "no_such_module_xyz"),
    "evaluator-no-function": ({**SPEC, "evaluator": "json:no_such_function"}, "no_such_function"),
    "evaluator-signature": ({**SYNTH, "evaluator": "os:getcwd"}, "evaluate(chunk)"),
    "evaluator-wrong-output": ({**SYNTH, "evaluator": "json:dumps"}, "json:dumps"),
    "evaluator-returns-str": ({**SYNTH, "evaluator": "builtins:repr"}, "builtins:repr"),
    "synthetic-units-negative": (_axes(SYNTH, units=[-1, 0]), "column 'units'"),
    "synthetic-units-zero": (_axes(SYNTH, units=[0]), "column 'units'"),
    "synthetic-bandwidth-negative": (_axes(SYNTH, bandwidth=[-1.0]), "column 'bandwidth'"),
    "synthetic-units-string": (_axes(SYNTH, units=["two"]), "axes.units[0]"),
    "spatial-fraction-rows": (_axes(SPATIAL, rows=[2.5]), "column 'rows'"),
    "spatial-negative-rows": (_axes(SPATIAL, rows=[-64]), "column 'rows'"),
    "spatial-zero-cols": (_axes(SPATIAL, cols=[0]), "column 'cols'"),
    "spatial-unknown-design": (_axes(SPATIAL, design=["tpu"]), "tpu"),
    "attention-array-fraction": (_axes(SPEC, hardware=["fusemax"], array=[2.5]), "axes.array[0]"),
    # null marks a column that does not apply on a row; where it does apply it is an error
    "null-length": (_axes(SPEC, seq_len=[None, 1024]), "column 'seq_len'"),
    "null-window-on-window-rows": (_axes(SPEC, mask=["window"], window=[None]), "column 'window'"),
    "null-array-on-an-array": (_axes(SPEC, hardware=["fusemax"], array=[None]), "column 'rows'"),
}


def _spec_cases() -> list:
    cases = [pytest.param(["sweep", "spec.yaml", "--out", "out"], {"spec.yaml": yaml.safe_dump(spec)},
                          expect, id=f"spec-{key}") for key, (spec, expect) in SPECS.items()]
    cases.append(pytest.param(["sweep", "spec.yaml", "--out", "afile"],
                              {"spec.yaml": yaml.safe_dump(SYNTH), "afile": "not a folder"},
                              "--out afile", id="spec-out-is-a-file"))
    cases.append(pytest.param(["sweep", "spec.yaml", "--out", "out", "--max-points", "1"],
                              {"spec.yaml": yaml.safe_dump(SYNTH)}, "exceed max_points 1",
                              id="spec-max-points-flag"))
    cases.append(pytest.param(["sweep", "spec.yaml", "--out", "out"], {"spec.yaml": "name: [\n"},
                              "spec.yaml", id="spec-malformed-yaml"))
    cases.append(pytest.param(["sweep", "spec.yaml", "--out", "out"], {"spec.yaml": "- 1\n"},
                              "spec.yaml", id="spec-yaml-list"))
    return cases


ALL_CASES = _reader_cases() + _cascade_cases() + _option_cases() + _file_cases() + _spec_cases()


def test_the_table_is_large():
    assert len(ALL_CASES) >= 200


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("argv, files, expect", ALL_CASES)
def test_bad_input_is_one_line_exit_2(tmp_path, monkeypatch, argv, files, expect):
    monkeypatch.chdir(tmp_path)
    for name, data in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/x"):
            continue  # a folder standing where a file is expected
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(app, argv)
    stderr = result.stderr.strip()
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    assert stderr.startswith("einsim: error: ") and "\n" not in stderr, stderr
    assert expect in stderr, stderr
    assert _snapshot(tmp_path) == before, "a refused command wrote files"

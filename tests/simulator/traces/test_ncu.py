"""Nsight Compute CSV importer: the synthetic fixtures of tests/data/traces/nsight (reference D.2)."""

from pathlib import Path

import pytest

from simulator.errors import TraceError
from simulator.traces.csvtools import decimal_comma, sniff_csv, to_number, triple, unit_factor
from simulator.traces.ncu import parse_ncu_text, read_ncu_csv

DATA = Path(__file__).resolve().parents[2] / "data" / "traces" / "nsight"
HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size",'
          '"Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"')
IDENTITY = '"0","1","python","host","flash_fwd_kernel","1","7","(128, 1, 1)","(16, 16, 8)","0","9.0"'


def row(metric, unit, value, identity=IDENTITY, section="Command line profiler metrics"):
    return f'{identity},"{section}","{metric}","{unit}","{value}"'


def expect_error(path, *fragments):
    """read_ncu_csv(path) raises a one-line TraceError starting with the file name."""
    with pytest.raises(TraceError) as info:
        read_ncu_csv(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(Path(path).name + ":"), message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- units and numbers -------------------------------------------------------------------

UNITS = [("ns", 1e-9), ("nsecond", 1e-9), ("us", 1e-6), ("usecond", 1e-6), ("ms", 1e-3),
         ("msecond", 1e-3), ("second", 1.0), ("s", 1.0), ("byte", 1.0), ("Kbyte", 1e3), ("Mbyte", 1e6),
         ("Gbyte", 1e9), ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("KiB", 1024.0), ("MiB", 2.0**20),
         ("%", 0.01), ("hz", 1.0), ("Khz", 1e3), ("Mhz", 1e6), ("Ghz", 1e9), ("mhz", 1e6),
         ("Gbyte/second", 1e9), ("Tbyte/second", 1e12), ("byte/nsecond", 1e9), ("Kbyte/block", 1e3),
         ("register/thread", 1.0), ("cycle/usecond", 1e6), ("inst", 1.0), ("Mcycle", 1e6),
         ("warp", 1.0), ("", 1.0), ("sector/request", 1.0)]


@pytest.mark.parametrize(("unit", "factor"), UNITS)
def test_unit_factor(unit, factor):
    assert unit_factor(unit) == pytest.approx(factor, rel=1e-12)


NUMBERS = [("1,215,000,000.00", False, 1215000000.0), ("10,196,000", False, 10196000.0),
           ("412.25", False, 412.25), ("412,25", True, 412.25), ("1.215.000,00", True, 1215000.0),
           ("0", False, 0.0), ("-3.5", False, -3.5), ("1.5e+09", False, 1.5e9), ("n/a", False, None),
           ("", False, None), ("N/A", True, None)]


@pytest.mark.parametrize(("cell", "comma", "value"), NUMBERS)
def test_to_number(cell, comma, value):
    assert to_number(cell, comma) == value


@pytest.mark.parametrize(("cell", "comma"), [("abc", False), ("1,2,3", False), ("412,25", False),
                                            ("1.215.000,00", False), ("1,215,000.00", True)])
def test_to_number_rejects(cell, comma):
    with pytest.raises(ValueError):
        to_number(cell, comma)


@pytest.mark.parametrize(("cells", "comma"), [
    (["412.25", "1,215,000.00"], False),
    (["412,25", "1.215.000,00"], True),
    (["412", "1,234", "1.234"], False),       # reads either way: the default, decimal points
    (["1,234", "0,5"], True),                  # one comma-only cell decides
    (["10,196,000", "n/a", "(16, 16, 8)"], False),
])
def test_decimal_comma_rule(cells, comma):
    assert decimal_comma(list(enumerate(cells, start=1)), "f.csv") is comma


def test_decimal_comma_conflict_names_both_lines():
    with pytest.raises(TraceError, match=r"f.csv: line 1: '412.25' .* line 2: '0,5'"):
        decimal_comma([(1, "412.25"), (2, "0,5")], "f.csv")


@pytest.mark.parametrize(("cell", "sizes"), [("(16, 16, 8)", (16, 16, 8)), ("(1,024, 1, 1)", (1024, 1, 1)),
                                             ("16,16,8", (16, 16, 8)), ("[32, 1, 1]", (32, 1, 1)),
                                             ("", None)])
def test_triple(cell, sizes):
    assert triple(cell) == sizes


# --- the fixtures ------------------------------------------------------------------------

def test_details_page():
    trace = read_ncu_csv(DATA / "ncu_details.csv")
    assert trace.tool == "ncu" and trace.tool_version == "" and trace.name == "ncu_details"
    assert trace.gpu.name == "NVIDIA H100 80GB HBM3" and trace.gpu.sm_count == 132
    assert trace.gpu.compute_capability == "9.0" and trace.gpu.vendor == "nvidia"
    assert [launch.family for launch in trace.launches] == ["fa2", "gemm", "fa2"]
    assert trace.notes == ("1 launches without gpu__time_duration were skipped",)
    fa, gemm, fa_again = trace.launches
    assert fa.kernel == "flash_fwd_kernel"
    assert fa.duration_s == pytest.approx(412.25e-6, rel=1e-12)
    assert fa.grid == (16, 16, 8) and fa.block == (128, 1, 1)
    assert fa.registers == 255 and fa.shared_memory == 98304
    assert fa.stream == 7 and fa.device == 0 and fa.instances == 1
    assert fa.metrics["dram__bytes_read.sum"] == pytest.approx(201.33e6)
    assert fa.metrics["dram__bytes_write.sum"] == pytest.approx(1024.5e3)
    assert fa.metrics["dram__bytes.sum.per_second"] == pytest.approx(3.35e12)
    assert fa.metrics["sm__cycles_elapsed.avg.per_second"] == pytest.approx(1.75e9)
    assert fa.metrics["sm__throughput.avg.pct_of_peak_sustained_elapsed"] == pytest.approx(0.714)
    assert "dram__throughput.avg.pct_of_peak_sustained_elapsed" not in fa.metrics  # n/a
    assert "device__attribute_display_name" not in fa.metrics  # text, not a number
    assert gemm.duration_s == pytest.approx(1.02e-3) and gemm.grid == (96, 8, 1)
    assert gemm.shared_memory == 73728 and gemm.registers == 232
    assert gemm.metrics["dram__bytes_read.sum"] == pytest.approx(1.21e9)
    assert gemm.metrics["dram__throughput.avg.pct_of_peak_sustained_elapsed"] == pytest.approx(0.3697)
    assert fa_again.duration_s == pytest.approx(410.5e-6)
    assert all(0 <= launch.metrics["sm__throughput.avg.pct_of_peak_sustained_elapsed"] <= 1
               for launch in trace.launches)


def test_raw_page_units_row_and_replays():
    trace = read_ncu_csv(DATA / "ncu_raw.csv")
    fa3, triton = trace.launches
    assert (fa3.family, triton.family) == ("fa3", "triton")
    assert fa3.duration_s == pytest.approx(251.5e-6)  # median of three replays of ID 0
    assert fa3.metrics["sm__throughput.avg.pct_of_peak_sustained_elapsed"] == pytest.approx(0.622)
    assert fa3.metrics["dram__bytes_read.sum"] == pytest.approx(805.31e6)
    assert fa3.shared_memory == 221180  # 221.18 Kbyte/block, decimal kilobytes
    assert fa3.grid == (132, 1, 1) and fa3.block == (384, 1, 1) and fa3.stream == 13
    assert triton.duration_s == pytest.approx(1180.75e-6)
    assert triton.shared_memory == 114688 and triton.registers == 255
    assert triton.metrics["launch__grid_size"] == 2048
    assert trace.gpu.name == "NVIDIA H200" and trace.gpu.sm_count is None


def test_european_decimal_commas():
    trace = read_ncu_csv(DATA / "ncu_decimal_comma.csv")
    (launch,) = trace.launches
    assert launch.duration_s == pytest.approx(412.25e-6)
    assert launch.metrics["dram__bytes_read.sum"] == pytest.approx(1215000.0)
    assert launch.metrics["sm__throughput.avg.pct_of_peak_sustained_elapsed"] == pytest.approx(0.714)
    assert launch.metrics["sm__cycles_elapsed.avg.per_second"] == pytest.approx(1.41e9)
    assert trace.gpu.compute_capability == "8.0"
    assert any("decimal commas" in note for note in trace.notes)


def test_concatenated_reports_restart_ids():
    trace = read_ncu_csv(DATA / "ncu_concatenated.csv")
    assert [(launch.family, launch.grid) for launch in trace.launches] == [("fa2", (8, 16, 4)),
                                                                          ("gemm", (96, 8, 1))]
    assert [launch.duration_s for launch in trace.launches] == pytest.approx([120.5e-6, 1.5e-3])
    assert trace.launches[1].metrics["sm__throughput.avg.pct_of_peak_sustained_elapsed"] == pytest.approx(0.9)


@pytest.mark.parametrize("name", ["ncu_details.csv", "ncu_raw.csv", "ncu_decimal_comma.csv",
                                  "ncu_concatenated.csv"])
def test_sniff_ncu(name):
    assert sniff_csv(DATA / name) == "ncu"


def test_section_metrics_and_repeated_names():
    text = "\n".join([HEADER,
                      row("Duration", "msecond", "1.25", section="GPU Speed Of Light Throughput"),
                      row("Memory Throughput", "%", "80.00", section="GPU Speed Of Light Throughput"),
                      row("Memory Throughput", "Gbyte/second", "2.50", section="Memory Workload Analysis"),
                      row("Registers Per Thread", "register/thread", "128", section="Launch Statistics"),
                      row("Dynamic Shared Memory Per Block", "Kbyte/block", "49.15",
                          section="Launch Statistics")])
    (launch,) = parse_ncu_text(text, "sections.csv").launches
    assert launch.duration_s == pytest.approx(1.25e-3)
    assert launch.metrics["Memory Throughput"] == pytest.approx(0.8)
    assert launch.metrics["Memory Workload Analysis: Memory Throughput"] == pytest.approx(2.5e9)
    assert launch.registers == 128 and launch.shared_memory == 49150


def test_avg_duration_and_device_name_column():
    identity = IDENTITY.replace('"0","9.0"', '"NVIDIA A100-SXM4-80GB","8.0"')
    text = HEADER + "\n" + row("gpu__time_duration.avg", "usecond", "5.00", identity=identity)
    trace = parse_ncu_text(text, "avg.csv")
    assert trace.launches[0].duration_s == pytest.approx(5e-6) and trace.launches[0].device is None
    assert trace.gpu.name == "NVIDIA A100-SXM4-80GB" and trace.gpu.compute_capability == "8.0"


def test_utf16_file_from_powershell(tmp_path):
    path = tmp_path / "ps.csv"
    path.write_bytes((HEADER + "\r\n" + row("gpu__time_duration.sum", "usecond", "7.5") + "\r\n")
                     .encode("utf-16"))
    assert read_ncu_csv(path).launches[0].duration_s == pytest.approx(7.5e-6)


# --- bad input ---------------------------------------------------------------------------

BAD = {
    "empty.csv": ("", "empty"),
    "blank.csv": ("\n \n", "empty"),
    "garbage.csv": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01", "not a text file"),
    "unknown.csv": ("a,b,c\n1,2,3\n", 'a line starting with "ID"'),
    "preamble_only.csv": ("==PROF== Connected to process 1\n==PROF== Disconnected\n",
                          "no Nsight Compute header"),
    "header_only.csv": (HEADER + "\n", "no launch rows under the header on line 1"),
    "truncated.csv": (HEADER + "\n" + row("gpu__time_duration.sum", "usecond", "1.0") + "\n"
                      + IDENTITY + ',"Command line profiler me', "line 3: expected 15 cells"),
    "bad_number.csv": (HEADER + "\n" + row("gpu__time_duration.sum", "usecond", "12x"),
                       "line 2, column 'gpu__time_duration.sum': expected a number in 'usecond', got '12x'"),
    "bad_grid.csv": (HEADER + "\n" + row("gpu__time_duration.sum", "usecond", "1.0",
                                         identity=IDENTITY.replace("(16, 16, 8)", "(16, 16)")),
                     "line 2, column 'Grid Size': expected three sizes"),
    "bad_id.csv": (HEADER + "\n" + row("gpu__time_duration.sum", "usecond", "1.0",
                                       identity=IDENTITY.replace('"0","1","python"', '"0x","1","python"')),
                   "no launch rows under the header on line 1; expected rows starting with a launch ID"),
    "no_duration.csv": (HEADER + "\n" + row("dram__bytes_read.sum", "byte", "100"),
                        "none of the 1 launches has a gpu__time_duration metric"),
    "mixed_locale.csv": (HEADER + "\n" + row("gpu__time_duration.sum", "usecond", "412.25") + "\n"
                         + row("dram__bytes_read.sum", "byte", "0,5"), "one number format per file"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_raises_one_line_trace_error(tmp_path, name):
    content, fragment = BAD[name]
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    expect_error(path, fragment)


def test_missing_file(tmp_path):
    expect_error(tmp_path / "absent.csv", "cannot read the file")


def test_directory_is_not_a_file(tmp_path):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    expect_error(folder, "cannot read the file")


def test_sniff_rejects_unknown(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(TraceError, match=r"^plain.csv: no Nsight Compute header .* in the first 200 lines$"):
        sniff_csv(path)


def test_sniff_reads_only_the_head(tmp_path):
    path = tmp_path / "late.csv"
    path.write_text("noise\n" * 300 + HEADER + "\n")
    with pytest.raises(TraceError, match="first 200 lines"):
        sniff_csv(path)

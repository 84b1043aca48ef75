"""Nsight Systems importers: stats CSV fixtures and SQLite exports built here (reference D.3)."""

import sqlite3
from pathlib import Path

import pytest

from simulator.errors import TraceError
from simulator.traces.csvtools import sniff_csv
from simulator.traces.nsys import parse_nsys_text, read_nsys_csv, read_nsys_sqlite

DATA = Path(__file__).resolve().parents[2] / "data" / "traces" / "nsight"
FA = ("void flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 64, 4, false, false, "
      "cutlass::bfloat16_t, Flash_kernel_traits<128, 128, 64, 4, cutlass::bfloat16_t>>, false, true, false, "
      "false, true, true, false, false>(Flash_fwd_params)")
GEMM = ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_execute_segment_k_off"
        "_kernel__5x_cublas")
ELEM = ("void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, "
        "at::detail::Array<char*, 1>>(int, at::native::FillFunctor<float>, at::detail::Array<char*, 1>)")
KERN_SUM = "Time (%),Total Time (ns),Instances,Avg (ns),Med (ns),Min (ns),Max (ns),StdDev (ns),Name"
GPU_TRACE = ("Start (ns),Duration (ns),CorrId,GrdX,GrdY,GrdZ,BlkX,BlkY,BlkZ,Reg/Trd,StcSMem (MB),"
             "DymSMem (MB),Bytes (MB),Throughput (MB/s),SrcMemKd,DstMemKd,Device,Ctx,GreenCtx,Strm,Name")


def expect_error(reader, path, *fragments):
    """reader(path) raises a one-line TraceError starting with the file name."""
    with pytest.raises(TraceError) as info:
        reader(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(Path(path).name + ":"), message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- CSV ---------------------------------------------------------------------------------

def test_kern_sum_new_header():
    trace = read_nsys_csv(DATA / "nsys_kern_sum.csv")
    assert trace.tool == "nsys" and trace.tool_version == "" and trace.gpu.vendor == "nvidia"
    fa, gemm, elem = trace.launches
    assert (fa.kernel, gemm.kernel, elem.kernel) == (FA, GEMM, ELEM)
    assert (fa.family, gemm.family, elem.family) == ("fa2", "gemm", "other")
    assert (fa.instances, gemm.instances, elem.instances) == (10, 2, 4)
    assert fa.duration_s == pytest.approx(412.0e-6)  # the median, not the mean 412.25 us
    assert dict(fa.metrics) == pytest.approx({"total_s": 4.1225e-3, "avg_s": 412.25e-6, "min_s": 410e-6,
                                              "max_s": 416e-6})
    assert elem.duration_s == pytest.approx(110.5e-6)
    assert fa.grid is None and fa.start_s is None


def test_kern_sum_old_gpukernsum_header():
    gemm, combine = read_nsys_csv(DATA / "nsys_kern_sum_old.csv").launches
    assert (gemm.family, combine.family) == ("gemm", "fa2")
    assert gemm.instances == 4 and gemm.duration_s == pytest.approx(2e-3)  # no median: the average
    assert dict(combine.metrics) == pytest.approx({"total_s": 2e-3, "avg_s": 250e-6, "min_s": 240e-6,
                                                   "max_s": 260e-6})


def test_kern_sum_without_median():
    triton, elem = read_nsys_csv(DATA / "nsys_kern_sum_nomed.csv").launches
    assert triton.family == "triton" and triton.instances == 3
    assert triton.duration_s == pytest.approx(1e-6)
    assert triton.metrics["min_s"] == pytest.approx(0.9e-6)
    assert triton.metrics["max_s"] == pytest.approx(1.1e-6)
    assert elem.instances == 1


def test_gpu_trace_new_header_skips_memory_rows():
    trace = read_nsys_csv(DATA / "nsys_gpu_trace.csv")
    assert [launch.kernel for launch in trace.launches] == [FA, FA, GEMM]
    assert trace.notes == ("3 memcpy/memset rows of cuda_gpu_trace were skipped",)
    assert trace.gpu.name == "NVIDIA H100 80GB HBM3"
    first, second, gemm = trace.launches
    assert first.duration_s == pytest.approx(412.25e-6) and first.start_s == pytest.approx(1.20002)
    assert first.grid == (16, 16, 8) and first.block == (128, 1, 1)
    assert first.registers == 255 and first.shared_memory == 98304  # 0.098304 MB, MB = 1e6 bytes
    assert (first.correlation, first.stream, first.device, first.instances) == (41, 7, 0, 1)
    assert second.duration_s == pytest.approx(410.5e-6) and second.correlation == 45
    assert gemm.duration_s == pytest.approx(1.02e-3) and gemm.shared_memory == 221184
    assert gemm.block == (384, 1, 1) and gemm.family == "gemm"


def test_gpu_trace_old_header():
    trace = read_nsys_csv(DATA / "nsys_gpu_trace_old.csv")
    combine, gemm = trace.launches
    assert combine.family == "fa2" and combine.grid == (108, 4, 1) and combine.shared_memory == 49152
    assert gemm.shared_memory == 16384 + 65536 and gemm.stream == 14 and gemm.device == 1
    assert gemm.duration_s == pytest.approx(2e-3) and gemm.start_s == pytest.approx(0.9e-3)
    assert trace.gpu.name == "NVIDIA A100-SXM4-80GB"


def test_multi_report_keeps_per_launch_rows():
    trace = read_nsys_csv(DATA / "nsys_multi_report.csv")
    # cuda_api_sum and cuda_gpu_mem_time_sum are ignored; the FA summary row is covered by the trace.
    assert [(launch.kernel, launch.instances) for launch in trace.launches] == [(FA, 1), (FA, 1), (ELEM, 1)]
    assert trace.launches[2].duration_s == pytest.approx(406e-6) and "total_s" in trace.launches[2].metrics
    assert any("1 cuda_gpu_kern_sum rows were dropped" in note for note in trace.notes)
    assert not any(launch.kernel.startswith("cuda") for launch in trace.launches)


@pytest.mark.parametrize("name", ["nsys_kern_sum.csv", "nsys_kern_sum_old.csv", "nsys_kern_sum_nomed.csv",
                                  "nsys_gpu_trace.csv", "nsys_gpu_trace_old.csv", "nsys_multi_report.csv"])
def test_sniff_nsys(name):
    assert sniff_csv(DATA / name) == "nsys"


def test_decimal_commas_in_nsys():
    text = (KERN_SUM + '\n"61,5","4.122.500","10","412.250,0","412.000,0","410.000","416.000","1.800,5",'
            + "flash_fwd_kernel\n")
    trace = parse_nsys_text(text, "eu.csv")
    assert trace.launches[0].duration_s == pytest.approx(412e-6)
    assert trace.launches[0].metrics["total_s"] == pytest.approx(4.1225e-3)


def test_microsecond_header_units():
    text = "Time (%),Total Time (us),Instances,Avg (us),Med (us),Min (us),Max (us),StdDev (us),Name\n" \
           "100.0,8.0,2,4.0,4.0,3.0,5.0,1.4,k\n"
    launch = parse_nsys_text(text, "us.csv").launches[0]
    assert launch.duration_s == pytest.approx(4e-6) and launch.metrics["total_s"] == pytest.approx(8e-6)


CSV_BAD = {
    "empty.csv": ("", "empty"),
    "garbage.csv": (bytes(range(256)) * 4, "not a text file"),
    "unknown.csv": ("col1,col2,col3\nx,1,2\n", "no Nsight Systems header"),
    "api_only.csv": ("Time (%),Total Time (ns),Num Calls,Avg (ns),Name\n50.0,100,2,50.0,cudaMalloc\n",
                     "line 1: only other Nsight Systems reports found"),
    "header_only.csv": (KERN_SUM + "\n", "no kernel rows under the header on line 1"),
    "truncated.csv": (GPU_TRACE + "\n1000,412250,41,16,16,8,128,1,1,255,0.000,0.098",
                      "line 2: expected 21 cells"),
    "bad_number.csv": (KERN_SUM + "\n61.5,4122500,ten,412250.0,412000.0,410000,416000,1800.5,k\n",
                       "line 2, column 'Instances': expected a number, got 'ten'"),
    "bad_duration.csv": (GPU_TRACE + "\n1000,,41,16,16,8,128,1,1,255,0,0,,,,,0,1,,7,k\n",
                         "line 2, column 'Duration (ns)': expected a number, got ''"),
    "only_memcpy.csv": (GPU_TRACE + "\n1000,5120,38,,,,,,,,,,16.777,3276800.0,Pageable,Device,0,1,,7,"
                        "[CUDA memcpy Host-to-Device]\n", "no kernel rows"),
}


@pytest.mark.parametrize("name", sorted(CSV_BAD))
def test_bad_csv_raises_one_line_trace_error(tmp_path, name):
    content, fragment = CSV_BAD[name]
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    expect_error(read_nsys_csv, path, fragment)


# --- SQLite ------------------------------------------------------------------------------

PID = 4242 << 24
MAIN, LOADER = PID | 4242, PID | 4250
STRINGS = {1: FA, 2: "flash_fwd_kernel", 3: GEMM, 4: "gemm", 5: "step", 6: "attention"}


def make_nsys_sqlite(path, *, full=True):
    """A small Nsight Systems export: what `nsys export --type sqlite` writes for three kernels.

    ``full`` adds the runtime, NVTX, target-info and metadata tables; without it the kernel
    table has the older, thinner schema (shortName only, no shared-memory columns).
    """
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT NOT NULL)")
    db.executemany("INSERT INTO StringIds VALUES (?, ?)", STRINGS.items())
    if full:
        db.execute('CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL ("start" INT, "end" INT, deviceId INT, '
                   "contextId INT, streamId INT, correlationId INT, globalPid INT, demangledName INT, "
                   "shortName INT, mangledName INT, gridX INT, gridY INT, gridZ INT, blockX INT, "
                   "blockY INT, blockZ INT, registersPerThread INT, staticSharedMemory INT, "
                   "dynamicSharedMemory INT)")
        db.executemany("INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES "
                       "(?, ?, 0, 1, 7, ?, ?, ?, ?, NULL, ?, ?, ?, ?, 1, 1, ?, 0, ?)", [
                           (1_000_000, 1_412_250, 41, PID, 1, 2, 16, 16, 8, 128, 255, 98304),
                           (2_000_000, 2_410_500, 45, PID, 1, 2, 16, 16, 8, 128, 255, 98304),
                           (3_000_000, 4_020_000, 49, PID, 3, 4, 96, 8, 1, 384, 168, 221184),
                           (5_000_000, None, 53, PID, 3, 4, 96, 8, 1, 384, 168, 221184)])
        db.execute('CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME ("start" INT, "end" INT, globalTid INT, '
                   "correlationId INT, nameId INT)")
        db.executemany("INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (?, ?, ?, ?, 0)",
                       [(990_000, 995_000, MAIN, 41), (1_990_000, 1_995_000, MAIN, 45),
                        (2_990_000, 2_995_000, MAIN, 49), (4_990_000, 4_995_000, MAIN, 53)])
        db.execute('CREATE TABLE NVTX_EVENTS ("start" INT, "end" INT, eventType INT, text TEXT, '
                   "textId INT, globalTid INT)")
        db.executemany("INSERT INTO NVTX_EVENTS VALUES (?, ?, ?, ?, ?, ?)", [
            (500_000, 3_500_000, 59, None, 5, MAIN),          # "step" (registered string)
            (900_000, 2_500_000, 59, "attention", None, MAIN),
            (950_000, 1_500_000, 59, "layer 0", None, MAIN),
            (1_950_000, 2_100_000, 59, "layer 1", None, MAIN),
            (800_000, 4_000_000, 59, "prefetch", None, LOADER),  # another thread: not around the launches
            (1_000_000, None, 34, "a mark", None, MAIN)])       # an instant: no end
        db.execute("CREATE TABLE TARGET_INFO_GPU (id INT, name TEXT, busLocation TEXT, totalMemory INT, "
                   "smCount INT, chipName TEXT, memoryBandwidth INT)")
        db.execute("INSERT INTO TARGET_INFO_GPU VALUES (0, 'NVIDIA H100 80GB HBM3', '0000:18:00.0', "
                   "85520809984, 132, 'GH100', 3352320000000)")
        db.execute("CREATE TABLE TARGET_INFO_CUDA_DEVICE (gpuId INT, cudaId INT, pid INT, uuid TEXT, "
                   "numMultiprocessors INT, computeMajor INT, computeMinor INT)")
        db.execute("INSERT INTO TARGET_INFO_CUDA_DEVICE VALUES (0, 0, 4242, 'GPU-x', 132, 9, 0)")
        db.execute("CREATE TABLE META_DATA_EXPORT (name TEXT, value TEXT)")
        db.executemany("INSERT INTO META_DATA_EXPORT VALUES (?, ?)",
                       [("EXPORT_SCHEMA_VERSION", "3.11.3"), ("EXPORT_PRODUCT_VERSION", "2024.5.1")])
    else:
        db.execute('CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL ("start" INT, "end" INT, deviceId INT, '
                   "streamId INT, correlationId INT, shortName INT, gridX INT, gridY INT, gridZ INT, "
                   "blockX INT, blockY INT, blockZ INT)")
        db.execute("INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES "
                   "(100, 350, 1, 3, 9, 4, 64, 2, 1, 256, 1, 1)")
    db.commit()
    db.close()
    return path


def test_sqlite_full_schema(tmp_path):
    path = make_nsys_sqlite(tmp_path / "report.sqlite")
    before = path.read_bytes()
    trace = read_nsys_sqlite(path)
    assert path.read_bytes() == before  # opened read-only
    assert trace.tool == "nsys" and trace.tool_version == "3.11.3" and trace.name == "report"
    assert trace.gpu.name == "NVIDIA H100 80GB HBM3" and trace.gpu.sm_count == 132
    assert trace.gpu.compute_capability == "9.0" and trace.gpu.vendor == "nvidia"
    assert trace.notes == ("1 kernel rows without a valid end were skipped",)
    first, second, gemm = trace.launches
    assert first.kernel == FA and first.family == "fa2"  # demangledName preferred over shortName
    assert first.duration_s == pytest.approx(412.25e-6) and first.start_s == pytest.approx(1e-3)
    assert first.grid == (16, 16, 8) and first.block == (128, 1, 1)
    assert (first.registers, first.shared_memory, first.stream, first.device, first.correlation) == (
        255, 98304, 7, 0, 41)
    assert second.duration_s == pytest.approx(410.5e-6)
    assert gemm.kernel == GEMM and gemm.family == "gemm" and gemm.shared_memory == 221184
    # NVTX ranges around each launch call on the launching thread, outermost first.
    assert first.ranges == ("step", "attention", "layer 0")
    assert second.ranges == ("step", "attention", "layer 1")
    assert gemm.ranges == ("step",)


def test_sqlite_thin_schema(tmp_path):
    trace = read_nsys_sqlite(make_nsys_sqlite(tmp_path / "old.sqlite", full=False))
    (launch,) = trace.launches
    assert launch.kernel == "gemm" and launch.family == "gemm"  # shortName when no demangledName
    assert launch.duration_s == pytest.approx(250e-9) and launch.grid == (64, 2, 1)
    assert launch.shared_memory is None and launch.registers is None and launch.ranges == ()
    assert (launch.device, launch.stream, launch.correlation) == (1, 3, 9)
    assert trace.tool_version == "" and trace.gpu.name == "" and trace.gpu.vendor == "nvidia"


def test_sqlite_threads_unknown_match_on_time_only(tmp_path):
    path = tmp_path / "nothreads.sqlite"
    db = sqlite3.connect(path)
    db.executescript('''
        CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL ("start" INT, "end" INT, correlationId INT,
                                                 demangledName TEXT);
        INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (100, 200, 1, '_attn_fwd');
        CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME ("start" INT, "end" INT, correlationId INT);
        INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (50, 60, 1);
        CREATE TABLE NVTX_EVENTS ("start" INT, "end" INT, text TEXT);
        INSERT INTO NVTX_EVENTS VALUES (10, 90, 'forward'), (40, 50, 'edge'), (61, 99, 'after');''')
    db.commit()
    db.close()
    (launch,) = read_nsys_sqlite(path).launches
    assert launch.kernel == "_attn_fwd" and launch.family == "triton"  # a text name column
    assert launch.ranges == ("forward", "edge")


def _sqlite_without_kernels(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT)")
    db.commit()
    db.close()


def _sqlite_without_start(path):
    db = sqlite3.connect(path)
    db.execute('CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (_id_ INT, name INT, completed INT)')
    db.commit()
    db.close()


def _sqlite_empty_kernels(path):
    db = sqlite3.connect(path)
    db.execute('CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL ("start" INT, "end" INT, shortName INT)')
    db.commit()
    db.close()


def _sqlite_wrong_types(path):
    db = sqlite3.connect(path)
    db.execute('CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL ("start" INT, "end" INT, shortName TEXT, globalPid)')
    db.execute("INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (1, 2, 'k', 'not a pid')")
    db.commit()
    db.close()


@pytest.mark.parametrize(("build", "fragment"), [
    (_sqlite_without_kernels, "SQLite file has no CUPTI_ACTIVITY_KIND_KERNEL table (export with "
                              "`nsys export --type sqlite`)"),
    (_sqlite_without_start, "lacks column(s) start, end"),
    (_sqlite_empty_kernels, "has no kernel with a start and an end"),
    (_sqlite_wrong_types, "unexpected values in the SQLite file"),
    (lambda path: path.write_text("Time (%),Name\n1,k\n"), "not an SQLite file"),
    (lambda path: path.write_bytes(b""), "not an SQLite file"),
    (lambda path: path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200), "cannot read the SQLite file"),
])
def test_bad_sqlite_raises_one_line_trace_error(tmp_path, build, fragment):
    path = tmp_path / "bad.sqlite"
    build(path)
    expect_error(read_nsys_sqlite, path, fragment)


def test_missing_sqlite(tmp_path):
    expect_error(read_nsys_sqlite, tmp_path / "absent.sqlite", "cannot read the file")

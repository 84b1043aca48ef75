"""A paged KV cache streams page by page: each page costs memory.page_overhead_bytes more."""

import pytest

from simulator.errors import SpecError
from simulator.gpu import load_profile, predict
from simulator.workload import AttentionProblem


def _decode(page_size, keys=4000):
    return AttentionProblem(batch=16, heads=32, kv_heads=32, seq_q=1, seq_kv=keys, head_dim_qk=128,
                            dtype="bf16", page_size=page_size)


def test_dram_bound_decode_slows_by_the_page_overhead():
    overhead = load_profile("flash3").number("memory.page_overhead_bytes")
    contiguous = predict("h100", "decode-splitk", _decode(None))
    paged = predict("h100", "decode-splitk", _decode(8))
    assert contiguous.bound == paged.bound == "dram"
    page_bytes = 8 * 128 * 2                       # 8 tokens of one head's K (or V) in bf16
    expected = (page_bytes + overhead) / page_bytes
    # K/V dominate the bytes; Q, O and the split partials are contiguous
    assert float(paged.time_s) / float(contiguous.time_s) == pytest.approx(expected, rel=0.03)
    assert float(paged.dram_bytes) == float(contiguous.dram_bytes)   # same bytes, slower gathers


def test_larger_pages_approach_contiguous():
    times = [float(predict("h100", "decode-splitk", _decode(p)).time_s) for p in (8, 16, 64, 256)]
    assert times == sorted(times, reverse=True)
    assert times[-1] < 1.05 * float(predict("h100", "decode-splitk", _decode(None)).time_s)


def test_page_size_is_validated():
    with pytest.raises(SpecError, match="page_size"):
        _decode(0)

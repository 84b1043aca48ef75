"""Every built-in cascade prices on a GPU, following its own filter, whatever its rank names.

Plausibility (the issue's rule): the FLOPs equal 2 per useful multiply-accumulate counted
here independently of the model (unmasked pairs from a direct numpy mask, per-variant
contraction widths), DRAM is at least the bytes the algorithm must read and write once and
not much more for one-pass kernels, and the time respects the tensor and DRAM roofs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import einsum
from simulator.gpu import predict
from simulator.hardware import load_gpu
from simulator.workload import AttentionProblem

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "einsum"))
from test_renaming import _fresh_names, renamed  # noqa: E402

H100 = load_gpu("h100")
B, H, N, D = 1, 8, 2048, 128
HEAD_WINDOWS = np.array([128, 256, 512, 1024, 2048, 256, 64, 1500])
BLOCKS = np.zeros((16, 16))


def _block_mask() -> np.ndarray:
    rng = np.random.default_rng(3)
    mask = (rng.random((16, 16)) < 0.3).astype(float)
    np.fill_diagonal(mask, 1.0)
    return mask


BLOCK_MASK = _block_mask()


def _grid(n: int = N):
    p = np.arange(n)[:, None]
    m = np.arange(n)[None, :]
    return p, m


def _pairs(keep: np.ndarray) -> float:
    return float(np.count_nonzero(keep))


def causal_keep():
    p, m = _grid()
    return m <= p


def sinks_keep(sinks=4, window=256):
    p, m = _grid()
    return (m <= p) & ((m < sinks) | (m > p - window))


def moa_keep(sinks=4):
    p, m = _grid()
    return [((m <= p) & ((m < sinks) | (m > p - w))) for w in HEAD_WINDOWS]


def neighborhood_keep(x=64, y=32, kx=9, ky=7):
    p, m = _grid(x * y)
    px, py, mx, my = p % x, p // x, m % x, m // x
    sx = np.clip(px - kx // 2, 0, x - kx)  # NATTEN's window start, written independently
    sy = np.clip(py - ky // 2, 0, y - ky)
    return (mx >= sx) & (mx < sx + kx) & (my >= sy) & (my < sy + ky)


def moba_keep(block=128):
    p, m = _grid()
    return (m <= p) & (BLOCK_MASK[p // block, m // block] != 0)


def _tile_density(name: str, tile: int = 128) -> float:
    """Share of (query tile, key tile) pairs holding an unmasked pair (mean over heads)."""
    keep = {"streaming-llm": sinks_keep, "moa-attention": moa_keep, "moba-attention": moba_keep,
            "attention-1pass-causal": causal_keep}[name]()
    masks = keep if isinstance(keep, list) else [keep]
    n = N // tile
    return float(np.mean([m.reshape(n, tile, n, tile).any(axis=(1, 3)).mean() for m in masks]))


def dense_pairs():
    return float(N * N)


# name -> (extra sizes, tensors, useful FLOPs per (batch, head) instance, streamed K/V dims)
CASES = {
    "attention-1pass": ({}, {}, lambda: 2 * 2 * D * dense_pairs()),
    "attention-1pass-causal": ({}, {}, lambda: 2 * 2 * D * _pairs(causal_keep())),
    "sigmoid-attention": ({}, {}, lambda: 2 * 2 * D * dense_pairs()),
    "softcap-attention": ({}, {}, lambda: 2 * 2 * D * dense_pairs()),
    "alibi-causal": ({}, {}, lambda: 2 * 2 * D * _pairs(causal_keep())),
    # two score maps (Q1·K1, Q2·K2) of head dim D, one P·V of D per map
    "diff-attention": ({}, {}, lambda: 2 * 2 * 2 * D * dense_pairs()),
    "streaming-llm": ({"S": 4, "W": 256}, {}, lambda: 2 * 2 * D * _pairs(sinks_keep())),
    "moa-attention": ({"S": 4}, {"W": HEAD_WINDOWS},
                      lambda: 2 * 2 * D * np.mean([_pairs(k) for k in moa_keep()])),
    "moba-attention": ({"PB": 128, "MB": 128}, {"BM": BLOCK_MASK},
                       lambda: 2 * 2 * D * _pairs(moba_keep())),
}


def _problem(seq: int = N, **kw) -> AttentionProblem:
    base = dict(batch=B, heads=H, kv_heads=H, seq_q=seq, seq_kv=seq, head_dim_qk=D)
    base.update(kw)
    return AttentionProblem(**base)


def _must_move(problem: AttentionProblem, kv_tensors: int = 2, outputs: int = 1) -> float:
    """Q and the output once per head, K/V once per KV head (2 bytes each)."""
    q = problem.batch * problem.heads * problem.seq_q * problem.head_dim_qk * 2
    o = problem.batch * problem.heads * problem.seq_q * problem.v_dim * 2 * outputs
    kv = problem.batch * problem.kv_heads * problem.seq_kv * problem.head_dim_qk * 2 * kv_tensors
    return q + o + kv


@pytest.mark.parametrize("name", sorted(CASES))
def test_flops_dram_and_time_follow_the_filter(name):
    sizes, tensors, useful = CASES[name]
    problem = _problem()
    pred = predict(H100, name, problem, sizes=sizes, tensors=tensors)
    instances = problem.batch * problem.heads
    assert pred.flops == pytest.approx(useful() * instances, rel=1e-9)
    factor = 2 if name == "diff-attention" else 1   # Q1, Q2 and K1, K2
    must = _must_move(problem) + (factor - 1) * _must_move(problem, kv_tensors=1, outputs=0)
    assert must * 0.999 <= pred.dram_bytes <= 1.6 * must
    assert pred.time_s >= pred.flops / H100.tensor_flops("fp16")
    assert pred.time_s >= must / H100.dram_bytes_per_s * 0.999


@pytest.mark.parametrize("name", ["streaming-llm", "moa-attention", "moba-attention",
                                  "attention-1pass-causal"])
def test_sparse_time_is_about_density_times_dense(name):
    sizes, tensors, useful = CASES[name]
    # 64 heads x 16 query tiles = 8 waves: the time is the mean CTA's, not one long tail
    problem = _problem(heads=64, kv_heads=64)
    tensors = {k: np.tile(v, 8) if k == "W" else v for k, v in tensors.items()}
    tiles = _tile_density(name)
    dense = predict(H100, "attention-1pass", problem)
    sparse = predict(H100, name, problem, sizes=sizes, tensors=tensors)
    # the tensor work is the share of (128 x 128) tiles the mask visits, counted here from
    # the element mask; tiles on a mask's edges are visited whole
    tensor = sparse.resource_times_s["tensor"] / dense.resource_times_s["tensor"]
    assert tensor == pytest.approx(tiles, rel=1e-9)
    # the time is never below that share, nor below reading the keys the mask touches
    assert sparse.time_s / dense.time_s >= tiles * 0.99
    assert sparse.time_s >= sparse.dram_bytes / H100.dram_bytes_per_s


def test_neighborhood_2d_counts_its_window():
    x, y = 64, 32
    problem = _problem(seq=x * y)
    pred = predict(H100, "neighborhood-2d", problem, sizes={"X": x, "Y": y, "KX": 9, "KY": 7})
    assert pred.flops == pytest.approx(2 * 2 * D * _pairs(neighborhood_keep()) * B * H, rel=1e-9)
    assert _pairs(neighborhood_keep()) == x * y * 9 * 7   # every query sees exactly KX x KY keys


def test_half_density_shard_filter_prices_half_the_work():
    from einsum.library import library_path

    text = library_path("attention-1pass").read_text().replace(
        "BQK[m1,m0,p]  = Q[e,p] * BK[e,m1,m0]\n",
        "BQK[m1,m0,p]  = Q[e,p] * BK[e,m1,m0] : 2*(m1*M0+m0) < M\n")
    half = einsum.parse(text, "half")
    problem = _problem(seq=8192)
    dense = predict(H100, "attention-1pass", problem)
    pred = predict(H100, half, problem)
    assert pred.flops == dense.flops / 2
    assert pred.time_s / dense.time_s == pytest.approx(0.5, rel=0.03)
    # the keys no query needs are never read: half of K and V
    kv = 2 * B * H * 8192 * D * 2
    assert pred.dram_bytes == pytest.approx(dense.dram_bytes - kv / 2, rel=1e-6)


def test_sinks_and_window_at_32k_cost_about_their_density():
    problem = _problem(seq=32768, heads=32, kv_heads=32)
    dense = predict(H100, "attention-1pass", problem)
    pred = predict(H100, "streaming-llm", problem, sizes={"S": 4, "W": 4096})
    pairs = sum(min(p + 1, 4096) + (4 if p >= 4096 + 3 else max(0, min(4, p - 4095)))
                for p in range(32768))
    density = pairs / 32768**2
    assert pred.flops == pytest.approx(dense.flops * density, rel=1e-9)
    assert density <= pred.time_s / dense.time_s <= density * 1.15


def test_mla_decode_reads_the_latent_cache_once():
    problem = AttentionProblem(batch=64, heads=128, kv_heads=1, seq_q=1, seq_kv=32768,
                               head_dim_qk=576, head_dim_v=512)
    pred = predict(H100, "mla-decode", problem, sizes={"C": 512, "R": 64})
    cache = 64 * 32768 * (512 + 64) * 2
    queries = 64 * 128 * (576 + 512) * 2   # the absorbed query in, the latent output out
    assert pred.dram_bytes == pytest.approx(cache + queries, rel=0.01)
    assert pred.flops == 2 * 64 * 128 * 32768 * (512 + 64 + 512)


def test_ring_attention_shards_are_split_k():
    problem = _problem(seq=8192)
    pred = predict(H100, "ring-attention", problem, sizes={"S": 4})
    assert [k.name for k in pred.kernels] == ["split-kv", "merge"] and pred.extra["splits"] == 4
    assert pred.flops == pytest.approx(predict(H100, "attention-1pass", problem).flops, rel=1e-3)


def test_lightning_attention_scans_blocks_with_an_on_chip_state():
    problem = _problem(seq=8192)
    pred = predict(H100, "lightning-attention-2", problem)
    assert pred.kernels[0].ctas == B * H   # one CTA per instance scans the blocks
    assert pred.dram_bytes == pytest.approx(_must_move(problem), rel=1e-6)
    block = pred.extra["kv_tile"]
    intra = 2 * 2 * D * 8192 * (block + 1) / 2     # causal inside each block, E + F = 2D
    inter = 2 * 2 * D * D * 8192                    # Q·state and the state update, E x F
    assert pred.flops == pytest.approx((intra + inter) * B * H, rel=1e-6)


def test_missing_size_and_tensor_are_one_line_errors():
    from simulator.errors import SpecError

    with pytest.raises(SpecError, match=r"--size W=") as err:
        predict(H100, "streaming-llm", _problem(), sizes={"S": 4})
    assert "\n" not in str(err.value)
    with pytest.raises(SpecError, match=r"--tensor BM=FILE"):
        predict(H100, "moba-attention", _problem(), sizes={"PB": 128, "MB": 128})


@pytest.mark.parametrize("name", sorted(CASES) + ["ring-attention", "mla-decode",
                                                  "lightning-attention-2", "linear-attention",
                                                  "attention-3pass", "decode-splitk"])
@pytest.mark.parametrize("seed", [0, 1])
def test_renaming_every_rank_keeps_the_price(name, seed):
    original, copy, mapping = renamed(name, _fresh_names(seed))
    sizes, tensors = ({}, {}) if name not in CASES else CASES[name][:2]
    if name == "ring-attention":
        sizes = {"S": 4}
    problem = _problem(seq=1024)
    if name == "mla-decode":
        sizes = {"C": 512, "R": 64}
        problem = AttentionProblem(batch=4, heads=16, kv_heads=1, seq_q=1, seq_kv=4096,
                                   head_dim_qk=576, head_dim_v=512)
    a = predict(H100, original, problem, sizes=sizes, tensors=tensors)
    b = predict(H100, copy, problem, sizes={mapping.get(k, k): v for k, v in sizes.items()},
                tensors=tensors)
    assert (a.time_s, a.flops, a.dram_bytes, a.buffer_bytes) == \
        (b.time_s, b.flops, b.dram_bytes, b.buffer_bytes)


def test_a_mask_tensor_given_as_a_density_keeps_that_share():
    problem = _problem(seq=8192, heads=32, kv_heads=32)
    causal = predict(H100, "attention-1pass-causal", problem)
    pred = predict(H100, "moba-attention", problem, sizes={"PB": 128, "MB": 128},
                   tensors={"BM": 0.25})
    assert pred.flops == pytest.approx(causal.flops * 0.25, rel=1e-12)
    tensor = pred.resource_times_s["tensor"] / causal.resource_times_s["tensor"]
    assert tensor == pytest.approx(0.25, rel=1e-9)

"""Time of one planned kernel on a GPU, vectorised over problems.

A *traversal* kernel (FlashAttention style) runs one CTA per query tile (and per split
for split-K): CTAs, occupancy (shared memory, registers), waves with the tail, per-step
pipe times combined by the profile's overlap rule, partially masked tiles at extra cost,
and K/V re-reads per query tile served from L2 when the working set fits. *Untiled*
kernels (PyTorch GEMMs and element-wise kernels, split-K merges) are priced on totals:
every tensor moves through DRAM once.

All quantities are numpy arrays with one entry per problem (or plain numbers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from einsum import Poly
from simulator.binding import SizeValues
from simulator.gpu.masks import mask_plan, mask_steps
from simulator.gpu.plan import KernelPlan, TensorMove
from simulator.gpu.profiles import KernelProfile
from simulator.gpu.resources import SMRates, overlap_time
from simulator.gpu.tiling import (
    StepCounts,
    ceil_div,
    fit_kv_tile,
    l2_miss_fraction,
    occupancy,
    rule_pair_emulation,
    rule_pairs,
    rule_threads,
    rule_tiles,
    split_count,
)
from simulator.hardware import GPUSpec

__all__ = ["KernelResult", "Shapes", "copy_kernel", "hold_tile", "mask_kernel", "masked_step_time",
           "masking_overhead_bound", "traversal_kernel", "untiled_kernel"]

_SM_RESOURCES = ("tensor", "exp", "fp32", "smem")
_QUANTIZED_KV = ("fp8", "int8", "int4")


@dataclass(frozen=True)
class Shapes:
    """Problem sizes as arrays (one entry per problem) plus scalar dtypes.

    ``k_bytes``/``v_bytes`` are stored bytes per K/V element including quantisation
    metadata; ``masks`` optionally replaces the cascade's mask by tile counts of a GNA
    mask (per instance, with ``tiles`` fixing the query and key tiles). ``head_dim_qk``
    and ``head_dim_v`` are the Q·K dot length and the V width (MLA: C + R and C);
    ``extra`` holds the sizes of the cascade's ranks other than queries and keys (head
    dims, an MLA latent, a shard count, a window), None to bind the head dims alone;
    ``tensors`` the values of tensors the cascade's filters read.
    """

    batch: Any
    heads: Any
    kv_heads: Any
    seq_q: Any
    seq_kv: Any
    head_dim_qk: Any
    head_dim_v: Any
    in_bytes: float
    k_bytes: Any
    v_bytes: Any
    dtype: str
    kv_dtype: str
    masks: StepCounts | None = field(default=None, hash=False)
    tiles: tuple[Any, Any] | None = None
    extra: Mapping[str, Any] | None = field(default=None, hash=False)
    tensors: Mapping[str, Any] | None = field(default=None, hash=False)
    page_size: Any = 0

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the problem arrays together (each field may have a smaller one)."""
        fields = (self.batch, self.heads, self.kv_heads, self.seq_q, self.seq_kv,
                  self.head_dim_qk, self.head_dim_v, self.k_bytes, self.v_bytes)
        return np.broadcast_shapes(*(np.shape(f) for f in fields))

    @property
    def group(self) -> Any:
        """Query heads per KV head."""
        return self.heads // self.kv_heads

    @property
    def instances(self) -> Any:
        """(batch, query head) instances."""
        return self.batch * self.heads


@dataclass(frozen=True)
class KernelResult:
    """One kernel's prediction (arrays over problems).

    ``work`` is device-wide work per resource (FLOP, ops, bytes); ``times`` the time each
    resource would need alone; ``time`` the kernel time with overlap, waves and launch.
    """

    name: str
    time: Any
    work: Mapping[str, Any]
    times: Mapping[str, Any]
    dram_bytes: Any
    ctas: Any
    waves: Any
    q_tile: Any
    kv_tile: Any
    smem_bytes: Any
    occupancy: Any
    splits: Any
    l2_miss: Any
    spills: bool


def full_sizes(kernel: KernelPlan, shapes: Shapes, key_tile: Any = None,
               outer: Mapping[str, Any] | None = None) -> SizeValues:
    """Every rank's size for one kernel: the problem's, the key tile, ``--size`` values.

    Examples
    --------
    >>> from simulator.gpu.model import make_shapes, resolve
    >>> from simulator.gpu.plan import plan_cascade
    >>> _, cascade, _ = resolve("h100", "attention-1pass", "flash3")
    >>> kernel = plan_cascade(cascade, "fused").spilled[0]
    >>> sizes = full_sizes(kernel, make_shapes(1, 8, 1000, 1000, 64), key_tile=128)
    >>> int(sizes["M1"]), int(sizes["E"])
    (8, 64)
    """
    return kernel.binding.for_shapes(shapes, key_tile, outer)


def _evaluate(polys: tuple[tuple[str, Poly], ...], values: Mapping[str, Any]) -> dict[str, Any]:
    """Evaluate ``(resource, poly)`` pairs."""
    return {name: poly.evaluate(values) for name, poly in polys}


def _dequant_ops(profile: KernelProfile, shapes: Shapes) -> float:
    """FP32 ops per loaded K/V element to dequantise a quantised cache."""
    if shapes.kv_dtype in _QUANTIZED_KV and shapes.kv_dtype != shapes.dtype:
        return profile.number(f"dequant.{shapes.kv_dtype}")
    return 0.0


def _move_bytes(move: TensorMove, shapes: Shapes, profile: KernelProfile) -> Any:
    """Bytes per element of a moved tensor."""
    if move.streamed:
        return shapes.v_bytes if move.value_side else shapes.k_bytes
    if move.role == "intermediate":
        return profile.number("memory.intermediate_bytes")
    return shapes.in_bytes


def _resource_times(work: Mapping[str, Any], rates: SMRates, dram_bytes: Any,
                    launch: float) -> dict[str, Any]:
    """Time each resource would need alone for a kernel's device-wide work."""
    times = {r: work[r] / (rates.per_sm[r] * rates.sm_count) for r in _SM_RESOURCES}
    times["dram"] = dram_bytes / rates.dram
    times["launch"] = launch + 0.0 * dram_bytes
    return times


# --------------------------------------------------------------------------- traversal


@dataclass(frozen=True)
class _Geometry:
    """Tiles, rows and instances of a traversal kernel."""

    q_tile: Any
    kv_tile: Any
    smem: Any
    occ: Any
    rows: Any
    inst: Any
    pack: Any
    read_rows: Any = None
    threads: Any = None
    pair: Any = False     # a 2-CTA pair: each CTA holds and reads half of every K/V tile
    emulated: Any = 0.0   # fraction of the exps emulated on the FMA pipes (FA4)



def _operand_dims(kernel: KernelPlan | None, shapes: Shapes) -> tuple[Any, Any]:
    """(resident elements per query row, streamed elements per key) of a kernel's MMAs.

    Read from the cascade's operands (MLA's latent is one tensor for K and V); a kernel
    without contractions falls back to the head dims.
    """
    qk, v = shapes.head_dim_qk, shapes.head_dim_v
    if kernel is None or not (kernel.q_per_row or kernel.kv_per_key):
        return qk, qk + v
    sizes = full_sizes(kernel, shapes)
    row = kernel.q_per_row.evaluate(sizes) if kernel.q_per_row else qk
    key = kernel.kv_per_key.evaluate(sizes) if kernel.kv_per_key else qk + v
    return row, key


def _geometry(shapes: Shapes, gpu: GPUSpec, profile: KernelProfile, q_override: Any,
              extra_per_row: Any, kernel: KernelPlan | None = None) -> _Geometry:
    """Choose tiles, fit them in shared memory and derive occupancy."""
    num = profile.number
    head_dim = np.maximum(shapes.head_dim_qk, shapes.head_dim_v)
    rules = profile.tile_rules(gpu.architecture, shapes.dtype)
    q_rule, kv_rule = rule_tiles(head_dim, rules)
    if shapes.tiles is not None:
        q_rule, kv_rule = (np.broadcast_to(np.asarray(t), shapes.shape) for t in shapes.tiles)
    pack = profile.flag("kernel.pack_gqa") & (shapes.group > 1) & (shapes.seq_q < q_rule)
    rows = np.where(pack, shapes.group * shapes.seq_q, shapes.seq_q)
    min_q = int(num("kernel.min_q_tile"))
    short = np.clip(ceil_div(rows, min_q) * min_q, min_q, q_rule)
    q_tile = np.where(rows < q_rule, short, q_rule) if shapes.tiles is None else q_rule
    if kernel is not None and kernel.binding.shared is not None:
        q_tile = kv_rule  # a block scan holds one block of queries at a time
    if q_override is not None:
        q_tile = q_override
    kv_store = (shapes.head_dim_qk * shapes.k_bytes + shapes.head_dim_v * shapes.v_bytes) / (
        shapes.head_dim_qk + shapes.head_dim_v)
    row, key = _operand_dims(kernel, shapes)
    dense = shapes.masks is None and kernel is not None and mask_plan(kernel.binding.cascade).kind == "dense"
    pair = rule_pairs(head_dim, rules, dense, rows, q_tile) if shapes.tiles is None else False
    kv_tile, smem = fit_kv_tile(q_tile, kv_rule, gpu.smem_bytes_per_cta, shapes.in_bytes,
                                np.maximum(kv_store, shapes.in_bytes) * np.where(pair, 0.5, 1.0),
                                num("kernel.kv_stages"), row, key - row, q_tile * extra_per_row)
    given = rule_threads(head_dim, rules, 0)
    threads = np.where(given > 0, given, num("kernel.threads_per_cta"))
    regs = threads * num("kernel.registers_per_thread")
    # a rule's warps split its query rows: each warp reads the K/V operand once per step
    read_rows = np.where(given > 0, q_rule * 32 / np.maximum(given, 32), num("kernel.operand_read_rows"))
    occ = occupancy(smem, gpu.smem_bytes_per_sm, gpu.smem_bytes_per_cta, regs,
                    gpu.register_count_per_sm, gpu.max_ctas_per_sm or np.inf)
    inst = np.where(pack, shapes.batch * shapes.kv_heads, shapes.instances)
    emulated = rule_pair_emulation(head_dim, rules, pair, num("kernel.exp_emulated_fraction"))
    return _Geometry(q_tile, kv_tile, smem, occ, rows, inst, pack, read_rows, threads, pair, emulated)


def hold_tile(shapes: Shapes, gpu: GPUSpec, profile: KernelProfile, held_per_row: Any,
              kernel: KernelPlan | None = None) -> tuple[Any, Any]:
    """Whether a CTA can hold ``held_per_row`` bytes per query row, and with which query tile.

    Tries the profile's query tile, then ``kernel.min_q_tile`` (a fixed tile when a
    sparse mask fixes the tiles).

    Returns
    -------
    held, q_tile : arrays
        ``held`` is False where even the smallest tile leaves no room for a key tile.

    Examples
    --------
    >>> from simulator.gpu.model import make_shapes
    >>> from simulator.gpu.profiles import load_profile
    >>> from simulator.hardware import load_gpu
    >>> shapes = make_shapes(1, 16, [512, 4096], [512, 4096], 128)
    >>> held, q_tile = hold_tile(shapes, load_gpu("h100"), load_profile("flash3"),
    ...                          shapes.seq_kv * 2)   # one 16-bit score row per query
    >>> held.tolist(), q_tile.tolist()
    ([True, False], [128, 64])
    """
    first = _geometry(shapes, gpu, profile, None, held_per_row, kernel)
    fits = (first.occ > 0) & (first.kv_tile >= 16)
    if shapes.tiles is not None:
        return fits, first.q_tile
    small = _geometry(shapes, gpu, profile, int(profile.number("kernel.min_q_tile")), held_per_row,
                      kernel)
    fits_small = (small.occ > 0) & (small.kv_tile >= 16)
    return fits | fits_small, np.where(fits, first.q_tile, small.q_tile)


def _steps(kernel: KernelPlan, shapes: Shapes, geo: _Geometry, even_specialised: bool) -> StepCounts:
    """Visited and partially masked steps per instance: the cascade's mask, a GNA mask, a scan.

    ``even_specialised``: the kernel masks as FA2 does (:func:`masks.even_specialised_partial`).
    """
    if shapes.masks is not None:
        return _mask_steps(shapes, geo)
    if kernel.binding.shared is not None:
        kv_tiles = ceil_div(shapes.seq_kv, geo.kv_tile)
        one = np.ones_like(kv_tiles)
        return StepCounts(kv_tiles, 0 * kv_tiles, kv_tiles, one, kv_tiles)
    if not kernel.has_pairs:  # the query tiles read the key phase's state, not the keys
        dense = mask_steps(kernel, shapes, geo.rows, geo.q_tile, geo.kv_tile, geo.pack)
        zero = 0 * dense.steps
        return StepCounts(zero, zero, zero, dense.q_tiles, dense.kv_tiles, dense.touched)
    return mask_steps(kernel, shapes, geo.rows, geo.q_tile, geo.kv_tile, geo.pack, even_specialised)


def _mask_steps(shapes: Shapes, geo: _Geometry) -> StepCounts:
    """A sparse mask's steps, in the kernel's key tiles.

    The mask was counted in key tiles of ``shapes.tiles[1]``; when shared memory forces a
    smaller key tile (e.g. 64 on L40S at d128), each counted tile becomes several steps.
    """
    shape = np.broadcast_shapes(shapes.shape, np.shape(geo.rows))
    masks = StepCounts(*(np.broadcast_to(v, shape) for v in shapes.masks[:5]))
    if shapes.tiles is None:
        return masks
    split = np.maximum(np.asarray(shapes.tiles[1]) / geo.kv_tile, 1.0)
    return StepCounts(masks.steps * split, masks.partial * split, masks.max_steps * split,
                      masks.q_tiles, masks.kv_tiles * split)


def _step_work(kernel: KernelPlan, shapes: Shapes, geo: _Geometry, profile: KernelProfile,
               full: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """Work of one (query tile, key tile) step and of one query tile's prologue/epilogue.

    Shared memory: each streamed tile is written once and read by every MMA that uses it
    (once per ``operand_read_rows`` query rows, or per warp of a tile rule that gives its
    threads); quantised K/V are dequantised once per
    loaded element. FP8 inputs add the profile's in-kernel V transpose
    (``kernel.fp8_v_transpose_passes`` shared-memory passes over each V tile) and the ops
    that bring P into the FP8 operand layout (``kernel.fp8_p_layout_ops`` per score), and a
    profile that emulates ``kernel.exp_emulated_fraction`` of the exps on the FMA pipes (FA4)
    moves them from the MUFU to ``kernel.exp_emulation_ops`` FP32 ops each (a tile rule's
    ``pair_exp_emulated`` where its 2-CTA pair runs). A profile with
    ``kernel.conditional_rescale`` does not pay the accumulator's per-step rescale.
    """
    values = kernel.binding.step(full, geo.q_tile, geo.kv_tile)
    step = _evaluate(kernel.step, values)
    tile = _evaluate(kernel.tile, values)
    uses = sum((p.evaluate(values) for p in kernel.operand_tiles), start=0.0)
    loaded = kernel.kv_per_key.evaluate(values) * geo.kv_tile if kernel.kv_per_key else uses
    resident = sum((p.evaluate(values) for p in kernel.resident_operands), start=0.0)
    step["fp32"] = step["fp32"] + _dequant_ops(profile, shapes) * loaded
    kv_store = np.maximum(shapes.k_bytes, shapes.v_bytes)
    rows = profile.number("kernel.operand_read_rows") if geo.read_rows is None else geo.read_rows
    reads = np.ceil(geo.q_tile / rows)
    # a 2-CTA pair: each SM writes and reads its half of the K/V tile, the peer's half arrives
    # over the pair's SM-to-SM path (tcgen05 cta_group::2 splits the B operand)
    step["smem"] = (loaded * kv_store + uses * shapes.in_bytes * reads) * np.where(geo.pair, 0.5, 1.0)
    if profile.flag("kernel.q_operand_from_smem"):
        step["smem"] = step["smem"] + resident * shapes.in_bytes
    tile["smem"] = 0.0 * tile["fp32"]
    if profile.flag("kernel.conditional_rescale") and kernel.rescale_step and shapes.dtype != "fp8":
        # FA4 keeps the old max unless it rises by more than 8 (log2): O is rarely rescaled
        # (16-bit inputs; FP8 uses a threshold of 0, kernels.md sec. 4)
        for resource, work in _evaluate(kernel.rescale_step, values).items():
            step[resource] = step[resource] - work
    emulated = geo.emulated
    if np.any(emulated > 0):   # FA4: part of each row's exp2 as a polynomial on the FMA pipes
        step["fp32"] = step["fp32"] + emulated * step["exp"] * profile.number("kernel.exp_emulation_ops")
        step["exp"] = (1.0 - emulated) * step["exp"]
    if shapes.dtype == "fp8" and kernel.has_pairs:   # FP8 operands: V transpose, P layout
        v_tile = geo.kv_tile * shapes.head_dim_v * shapes.in_bytes   # the FP8 values, not their scales
        step["smem"] = step["smem"] + profile.number("kernel.fp8_v_transpose_passes") * v_tile
        step["fp32"] = step["fp32"] + profile.number("kernel.fp8_p_layout_ops") * geo.q_tile * geo.kv_tile
    return step, tile, loaded * kv_store


def _key_work(kernel: KernelPlan, shapes: Shapes, geo: _Geometry, full: Mapping[str, Any],
              ) -> dict[str, Any] | None:
    """Device-wide work of the key-only Einsums: once per key tile and KV instance."""
    if not kernel.key_step:
        return None
    values = kernel.binding.step(full, geo.q_tile, geo.kv_tile)
    per_tile = _evaluate(kernel.key_step, values)
    loaded = kernel.kv_per_key.evaluate(values) * geo.kv_tile if kernel.kv_per_key else 0.0
    per_tile["smem"] = loaded * np.maximum(shapes.k_bytes, shapes.v_bytes) * 2  # write + read
    kv_tiles = ceil_div(shapes.seq_kv, geo.kv_tile)
    count = shapes.batch * shapes.kv_heads * kv_tiles
    return {r: per_tile.get(r, 0.0) * count for r in _SM_RESOURCES}


def _co_resident(geo: _Geometry, ctas: Any, rates: SMRates) -> Any:
    """CTAs that share an SM at once: the occupancy, or fewer when the grid is small."""
    return np.clip(ceil_div(ctas, rates.sm_count), 1, np.maximum(geo.occ, 1))


def _streams(profile: KernelProfile, geo: _Geometry, ctas: Any, rates: SMRates) -> tuple[Any, Any]:
    """Instruction streams per SM with the grid's co-resident CTAs, and with one CTA alone.

    A profile whose streams come from resident warps (``overlap.stream_threads``: FA2's
    two CTAs of 4 warps are two warps per scheduler) has fewer when fewer CTAs share the
    SM: a grid smaller than the SMs, or the last CTA of a tail. Otherwise the streams are
    the kernel's own (FA3's ping-pong warpgroups) and the same either way.
    """
    streams = profile.streams
    per_stream = profile.number("overlap.stream_threads")
    if per_stream <= 0 or geo.threads is None:
        return streams, streams
    own = np.clip(geo.threads / per_stream, 1.0, streams)
    return np.clip(_co_resident(geo, ctas, rates) * own, 1.0, streams), own


def _dispatch_tail(steps: StepCounts, per_cta: Any, ctas: Any, slots: Any, masked: Any = 0.0) -> Any:
    """Extra steps at the end of a grid-order dispatch of CTAs of unequal length.

    The hardware hands out CTAs in grid order as slots free up. When the last one is handed
    out, the slots are part-way through CTAs whose remaining work averages the residual
    ``E[w²] / (2 E[w])`` of renewal theory, and the last CTA (the longest query tile along a
    causal row) still has all of its steps to run: the grid ends ``w_max - E[w²]/(2 E[w])``
    steps after the mean finish, against ``E[w] / 2`` for equal CTAs, which the wave count
    already prices. CTA lengths are taken as uniform between ``2 E[w] - w_max`` and
    ``w_max`` (a causal triangle: ``5 w_max / 12`` extra). The tail phases in as the grid
    grows from one to two CTAs per slot (with one, the longest CTA alone bounds the time).
    With the wave count's ``ceil(ctas / slots) E[w]``, the closed form is within 4% of a
    greedy-dispatch simulation's makespan on the A100 rows' causal grids (1,024-4,096 CTAs
    on 216 slots) and 7% on the Qwen trace's (1,280 CTAs of 1-5 steps on 264 slots);
    tests/simulator/gpu/test_dispatch_tail.py checks it against the simulation. A CTA's
    length counts its partly masked steps at ``1 + masked`` steps (``masked``: their extra
    cost over a step); every query tile on a causal diagonal masks about as many, the
    longest CTA included.

    >>> from simulator.gpu.tiling import StepCounts
    >>> causal = StepCounts(steps=528, partial=32, max_steps=32, q_tiles=32, kv_tiles=32)
    >>> round(float(_dispatch_tail(causal, 32, 1024, 216)), 2)   # about 5/12 of the longest
    13.07
    >>> dense = StepCounts(steps=1024, partial=0, max_steps=32, q_tiles=32, kv_tiles=32)
    >>> float(_dispatch_tail(dense, 32, 1024, 216))
    0.0
    """
    mean = (steps.steps + steps.partial * masked) / np.maximum(per_cta, 1)
    longest = np.maximum(steps.max_steps + steps.partial / np.maximum(per_cta, 1) * masked, mean)
    shortest = np.clip(2 * mean - longest, 0, longest)
    second = (shortest ** 2 + shortest * longest + longest ** 2) / 3
    extra = longest - second / (2 * np.maximum(mean, 1e-12)) - mean / 2
    return np.maximum(extra, 0) * np.clip(ctas / slots - 1, 0, 1)


def masked_step_time(profile: KernelProfile, t_step: Any, t_exp: Any) -> Any:
    """Extra time of a partly masked step over an unmasked one.

    ``overheads.masked_tile_cost`` prices it as a fraction of the step (gna.md sec. 4.5:
    a masked tile costs 1.25-1.65x), ``overheads.masked_element_cost`` per score element of
    the tile, in units of the element's exp-pipe time ``t_exp`` (the step's MUFU time, one
    exp per score): the mask's index compare and select run over the tile's scores, so
    their cost does not grow with the head dim as the GEMMs' does. FA2 applies the mask
    element by element in the warps that then run the softmax (``apply_mask``,
    flash_fwd_kernel.h), in series with its GEMMs. As ``t_exp <= t_step``, a masked step
    costs at most :func:`masking_overhead_bound` more than an unmasked one.

    >>> from simulator.gpu import load_profile
    >>> float(masked_step_time(load_profile("flash3"), 4.0, 1.0))   # 0.25 of the step
    1.0
    """
    return profile.number("overheads.masked_tile_cost") * t_step + \
        profile.number("overheads.masked_element_cost") * t_exp


def masking_overhead_bound(profile: KernelProfile) -> float:
    """The most a masked step costs over an unmasked one, as a fraction of the step.

    >>> from simulator.gpu import load_profile
    >>> masking_overhead_bound(load_profile("flash3"))
    0.25
    """
    return profile.number("overheads.masked_tile_cost") + profile.number("overheads.masked_element_cost")


def _sm_time(steps: StepCounts, geo: _Geometry, t_step: tuple[Any, Any, Any], t_tile: Any, splits: Any,
             profile: KernelProfile, rates: SMRates) -> tuple[Any, Any, Any, Any]:
    """Time of the CTA grid on the SMs: waves of resident CTAs, tail and per-CTA overhead.

    ``t_step`` is a step's time with the grid's co-resident CTAs, with one CTA alone
    (which runs a grid-order dispatch's tail, :func:`_dispatch_tail`) and its exp pipe's
    time (the measure of its score elements, :func:`masked_step_time`). Returns the time,
    the CTAs, the waves and one wave's time on an SM.
    """
    t_step, t_lone, t_exp = t_step
    ctas = geo.inst * steps.q_tiles * splits
    slots = np.maximum(geo.occ * rates.sm_count, 1)
    shared = _co_resident(geo, ctas, rates)
    per_cta = steps.q_tiles * splits
    masked = masked_step_time(profile, t_step, t_exp)
    partial = steps.partial
    if profile.flag("kernel.mask_every_tile"):   # not block-sparse: every tile masked
        partial = np.where(steps.partial > 0, steps.steps, 0)
    mean = (steps.steps * t_step + partial * masked) / per_cta + t_tile
    longest = ceil_div(steps.max_steps, splits) * t_step + partial / per_cta * masked + t_tile
    overhead = profile.number("overheads.cta_cycles") / rates.clock_hz
    waves = ceil_div(ctas, slots)
    # Every wave exposes a prologue/epilogue, also with two or more CTAs per SM: the first
    # wave's CTAs start together and CTAs of equal length finish together, so the next
    # ones start together again. (Counting only the first wave's, as if co-resident CTAs
    # drifted apart, fits the 12 A100 FA2 rows with 2.7x the loss and leaves the FA3
    # paper's FA2 rows at 512 tokens 12-14% fast instead of 2-9%.)
    exposed = waves * overhead
    tail = 0.0
    if profile.flag("kernel.grid_order_dispatch"):
        share = masked / np.maximum(t_step, 1e-30)
        tail = _dispatch_tail(steps._replace(partial=partial), per_cta, ctas, slots, share) * t_lone
    time = np.maximum(waves * shared * mean + exposed + tail, shared * longest + overhead)
    return np.where(geo.occ > 0, time, np.inf), ctas, waves, shared * mean


def _traversal_dram(kernel: KernelPlan, shapes: Shapes, geo: _Geometry, steps: StepCounts,
                    context: Mapping[str, Any]) -> tuple[Any, Any]:
    """DRAM bytes of a traversal kernel and the L2 miss fraction of its K/V re-reads."""
    profile, gpu = context["profile"], context["gpu"]
    full = context["full"]
    tile = kernel.binding.step(full, geo.q_tile, geo.kv_tile)
    other, l2_reads, compulsory, key_bytes = 0.0, 0.0, 0.0, 0.0
    for move in kernel.moves:
        size = _move_bytes(move, shapes, profile)
        if move.streamed:
            per_tile = move.elements.evaluate(tile) * size
            l2_reads = l2_reads + per_tile * steps.steps * geo.inst
            whole = move.elements.evaluate(full) * size
            if steps.touched is not None:  # keys no query needs never leave DRAM
                whole = np.minimum(whole, per_tile * steps.touched)
            compulsory = compulsory + whole * shapes.batch * shapes.kv_heads
            key_bytes = key_bytes + per_tile / geo.kv_tile
        else:
            other = other + move.elements.evaluate(full) * size * shapes.instances
    # CTAs of one KV head that run in the same wave read each K/V tile nearly together, so
    # their re-reads hit L2; CTAs in later waves re-read it after the head's whole key
    # range streamed through L2, which misses when that range does not fit.
    slots = np.maximum(geo.occ, 1) * gpu.sm_count
    per_kv_head = steps.q_tiles * context["splits"] * np.where(geo.pack, 1, shapes.group)
    later_waves = np.clip(1.0 - slots / per_kv_head, 0.0, 1.0)
    keys = np.minimum(shapes.seq_kv, steps.max_steps * geo.kv_tile)
    per_head = keys * key_bytes
    miss = later_waves * l2_miss_fraction(per_head, gpu.l2_bytes,
                                          profile.number("memory.l2_usable_fraction"))
    if not kernel.has_pairs:  # the key phase reads K and V once
        l2_reads = np.maximum(l2_reads, compulsory)
    streamed = np.minimum(l2_reads, compulsory) + np.maximum(l2_reads - compulsory, 0) * miss
    return other + streamed, miss


def _page_penalty(kernel: KernelPlan, shapes: Shapes, profile: KernelProfile, steps: StepCounts,
                  geo: _Geometry, context: Mapping[str, Any]) -> Any:
    """Extra DRAM-time bytes of gathering a paged KV cache, page by page.

    A page holds ``page_size`` tokens of one KV head contiguously; every page is one more
    indirection and a short burst, which costs as much DRAM time as
    ``memory.page_overhead_bytes`` more bytes (so a page of ``c`` bytes streams at
    ``c / (c + overhead)`` of the contiguous bandwidth). Zero for a contiguous cache.
    """
    overhead = profile.number("memory.page_overhead_bytes")
    page = np.asarray(shapes.page_size)
    if overhead <= 0 or not np.any(page > 0):
        return 0.0
    full, pages = context["full"], 0.0
    for move in kernel.moves:
        if move.streamed and not move.write:
            per_key = move.elements.evaluate(full) / np.maximum(shapes.seq_kv, 1)
            size = _move_bytes(move, shapes, profile)
            chunk = np.maximum(page, 1) * per_key * size
            whole = move.elements.evaluate(full) * size * shapes.batch * shapes.kv_heads
            pages = pages + whole / chunk
    return np.where(page > 0, pages * overhead, 0.0)


def _edge_time(shapes: Shapes, geo: _Geometry, grid: tuple[Any, Any, Any], splits: Any,
               rates: SMRates) -> Any:
    """DRAM time of the loads that start a wave and the stores that end one, which no compute covers.

    Every CTA of the first wave loads its query tile and its first key/value tile before
    any MMA can start, and every CTA of the last wave stores its output after the last
    one; ``overheads.cta_cycles`` prices the latency of those round trips, this their
    bytes at the DRAM bandwidth (1.2 MB of the 2.4 MB a 197-token ViT call moves go in its
    first 0.4 us). CTAs start as their bytes arrive, so the first wave's stagger carries
    through to the last wave, and it shows only as far as the last wave is full (a partial
    last wave runs on the SMs that started first); it is counted for the last wave's CTAs,
    and never longer than one wave (the CTAs that wait run later, not longer). The first
    key/value tile is read once per KV head (once per CTA when split-K gives each CTA its
    own keys). A tile of a sequence shorter than the tile holds only the sequence's rows.
    ``grid`` is (CTAs, waves, one wave's time).
    """
    ctas, waves, wave_time = grid
    slots = np.maximum(geo.occ * rates.sm_count, 1)
    last = np.clip(ctas - (waves - 1) * slots, 0, slots)
    rows = np.minimum(geo.q_tile, geo.rows)
    q_and_o = rows * (shapes.head_dim_qk + shapes.head_dim_v) * shapes.in_bytes
    per_instance = np.maximum(ctas / np.maximum(geo.inst, 1), 1)
    instances = np.minimum(geo.inst, ceil_div(last, np.ceil(per_instance)))
    sharing = np.where(geo.pack, 1, shapes.group)   # query heads per K/V tile read
    kv_reads = np.where(np.asarray(splits) > 1, last, ceil_div(instances, sharing))
    keys = np.minimum(geo.kv_tile, shapes.seq_kv)
    kv = keys * (shapes.head_dim_qk * shapes.k_bytes + shapes.head_dim_v * shapes.v_bytes)
    return np.minimum((last * q_and_o + kv_reads * kv) / rates.dram, wave_time)


def _dram_ramp(waves: Any, shapes: Shapes, profile: KernelProfile) -> Any:
    """DRAM idle time while each wave's first requests are in flight.

    The CTAs of a wave start together (those of the wave before finish together) and
    their first bytes arrive a loaded DRAM latency (``memory.dram_latency_s``) after they
    ask; a paged cache asks twice, the page table before the pages it names (FA3's
    ``PagedKVManager`` loads a tile's page indices, then the K/V rows they point to). In a
    DRAM-bound kernel the bandwidth covers the rest of the wave, not that wait. Few waves
    of short CTAs (decode of a few hundred keys) feel it; a long kernel does not.

    >>> from simulator.gpu.model import make_shapes, resolve
    >>> profile = resolve("h100", "decode-splitk", "flash3")[2]
    >>> shapes = make_shapes(16, 32, 1, 128, 128, page_size=8)
    >>> round(float(_dram_ramp(4, shapes, profile)) * 1e6, 2)   # 4 waves x 2 round trips x 0.6 us
    4.8
    """
    trips = 1 + (np.asarray(shapes.page_size) > 0)
    return waves * trips * profile.number("memory.dram_latency_s")


def _dram_time(dram_bytes: Any, in_flight_bytes: Any, profile: KernelProfile,
               rates: SMRates) -> Any:
    """DRAM time: achievable bandwidth, capped by Little's law for few in-flight bytes."""
    latency = profile.number("memory.dram_latency_s")
    bandwidth = rates.dram if latency <= 0 else np.minimum(rates.dram, in_flight_bytes / latency)
    return dram_bytes / np.maximum(bandwidth, 1.0)


def _splits(geo: _Geometry, steps: StepCounts, gpu: GPUSpec, profile: KernelProfile) -> Any:
    """Split-K factor of a split kernel (FlashDecoding-style)."""
    slots = np.maximum(geo.occ, 1) * gpu.sm_count
    return split_count(geo.inst * steps.q_tiles, slots, steps.kv_tiles,
                       profile.number("decode.max_splits"),
                       profile.number("decode.split_below_wave_fraction"))


def _split_sizes(kernel: KernelPlan, shapes: Shapes, geo: _Geometry, steps: StepCounts,
                 split_rank: str, splits: Any) -> SizeValues:
    """Sizes of a split kernel: ``splits`` chunks of the keys; inside a chunk, key tiles.

    When the split part is the only outer part (FlashDecoding ``m1*M0 + m0``) the inner
    part is a whole chunk; otherwise (ring attention ``s*MS + m1*M0 + m0``) it stays one
    key tile and the parts between are derived.
    """
    binding = kernel.binding
    if binding.key_outer == (split_rank,):
        chunk = ceil_div(steps.kv_tiles, splits) * geo.kv_tile
        return full_sizes(kernel, shapes, chunk, {split_rank: splits})
    return full_sizes(kernel, shapes, geo.kv_tile, {split_rank: splits})


def _splitting(kernel: KernelPlan, shapes: Shapes, geo: _Geometry, steps: StepCounts,
               gpu: GPUSpec, profile: KernelProfile, split_rank: str | None,
               full: SizeValues) -> tuple[Any, SizeValues]:
    """Split count of a split-K kernel (fixed by ``--size`` or the heuristic) and its sizes."""
    fixed = _fixed_splits(kernel, shapes, split_rank)
    splits = _splits(geo, steps, gpu, profile) if fixed is None else fixed
    if split_rank:
        full = _split_sizes(kernel, shapes, geo, steps, split_rank, splits)
    return splits, full


def _fixed_splits(kernel: KernelPlan, shapes: Shapes, split_rank: str | None) -> Any:
    """A split count the user fixed with ``--size`` (ring attention's shards), else None."""
    if split_rank is None or not shapes.extra or split_rank not in shapes.extra:
        return None
    return shapes.extra[split_rank]


def traversal_kernel(kernel: KernelPlan, shapes: Shapes, gpu: GPUSpec, profile: KernelProfile,
                     rates: SMRates, *, split: bool = False, q_override: Any = None,
                     extra_per_row: Any = 0.0, split_rank: str | None = None) -> KernelResult:
    """Price a FlashAttention-style kernel that tiles queries x keys.

    Parameters
    ----------
    kernel : KernelPlan
        A ``traversal`` kernel of :func:`~simulator.gpu.plan.plan_cascade`.
    shapes : Shapes
    gpu, profile, rates
        Hardware, kernel profile and their rates (:func:`~simulator.gpu.resources.sm_rates`).
    split : bool
        Split-K: parallelise the key loop over CTAs (:func:`~simulator.gpu.tiling.split_count`,
        or the count ``shapes.extra`` gives the split rank).
    q_override : array, optional
        Force the query tile (used when holding an M fiber).
    extra_per_row : array
        Extra shared-memory bytes per query row (a held M fiber).
    split_rank : str, optional
        The key part a split kernel parallelises (the plan's ``split_rank``).

    Returns
    -------
    KernelResult

    Examples
    --------
    >>> import einsum
    >>> from simulator.gpu.model import make_shapes, resolve
    >>> from simulator.gpu.plan import plan_cascade
    >>> from simulator.gpu.resources import sm_rates
    >>> gpu, cascade, profile = resolve("h100", "attention-1pass", "flash3")
    >>> kernel = plan_cascade(cascade, "fused").spilled[0]
    >>> shapes = make_shapes(16, 16, 1024, 1024, 128)
    >>> result = traversal_kernel(kernel, shapes, gpu, profile, sm_rates(gpu, profile, "fp16"))
    >>> int(result.ctas[()]), int(result.waves[()]), int(result.kv_tile[()])
    (2048, 16, 128)
    """
    geo = _geometry(shapes, gpu, profile, q_override, extra_per_row, kernel)
    steps = _steps(kernel, shapes, geo, profile.flag("kernel.even_specialised"))
    full = full_sizes(kernel, shapes, geo.kv_tile)
    step, tile, streamed_bytes = _step_work(kernel, shapes, geo, profile, full)
    splits, full = _splitting(kernel, shapes, geo, steps, gpu, profile, split_rank, full) \
        if split else (1, full)
    serial = profile.serial
    streams, lone_streams = _streams(profile, geo, geo.inst * steps.q_tiles * splits, rates)
    pipes = {r: step[r] / rates.per_sm[r] for r in _SM_RESOURCES}
    t_step = overlap_time(pipes, serial, streams)
    t_lone = overlap_time(pipes, serial, lone_streams)
    t_tile = overlap_time({r: tile[r] / rates.per_sm[r] for r in _SM_RESOURCES}, serial, streams)
    sm_time, ctas, waves, wave_time = _sm_time(steps, geo, (t_step, t_lone, pipes["exp"]), t_tile, splits,
                                               profile, rates)
    key_work = _key_work(kernel, shapes, geo, full)
    if key_work is not None:  # a key-side phase over every SM before the query tiles
        sm_time = sm_time + overlap_time({r: key_work[r] / (rates.per_sm[r] * rates.sm_count)
                                          for r in _SM_RESOURCES}, serial, streams)
    context = {"profile": profile, "gpu": gpu, "ctas": ctas, "splits": splits, "full": full}
    dram_bytes, miss = _traversal_dram(kernel, shapes, geo, steps, context)
    gathered = dram_bytes + _page_penalty(kernel, shapes, profile, steps, geo, context)
    step_bytes = np.maximum(streamed_bytes, dram_bytes / np.maximum(geo.inst * steps.steps, 1))
    in_flight = np.minimum(ctas, np.maximum(geo.occ, 1) * gpu.sm_count) * step_bytes * \
        profile.number("kernel.kv_stages")
    launch = profile.number("overheads.launch_s")
    edge = _edge_time(shapes, geo, (ctas, waves, wave_time), splits, rates)
    dram_time = _dram_time(gathered, in_flight, profile, rates) + _dram_ramp(waves, shapes, profile)
    time = np.maximum(sm_time + edge, dram_time) + launch
    work = {r: geo.inst * (steps.steps * step[r] + steps.q_tiles * splits * tile[r])
            for r in _SM_RESOURCES}
    if key_work is not None:
        work = {r: work[r] + key_work[r] for r in _SM_RESOURCES}
    work["dram"] = dram_bytes
    spills = any(m.write and m.role == "intermediate" for m in kernel.moves)
    return KernelResult(kernel.name, time, work, _resource_times(work, rates, dram_bytes, launch),
                        dram_bytes, ctas, waves, geo.q_tile, geo.kv_tile, geo.smem, geo.occ,
                        splits, miss, spills)


# --------------------------------------------------------------------------- untiled


def untiled_kernel(kernel: KernelPlan, shapes: Shapes, profile: KernelProfile, rates: SMRates,
                   partitions: tuple[Any, Mapping[str, Any]]) -> KernelResult:
    """Price a GEMM, element-wise or merge kernel on totals (each tensor moves once).

    Parameters
    ----------
    kernel : KernelPlan
    shapes : Shapes
    profile, rates
    partitions : (key tile, outer parts)
        The inner key part's size (a key tile or a split's chunk) and the sizes of outer
        key parts that a traversal kernel fixed (a split count), by rank.

    Returns
    -------
    KernelResult

    Examples
    --------
    >>> from simulator.gpu.model import make_shapes, resolve
    >>> from simulator.gpu.plan import plan_cascade
    >>> from simulator.gpu.resources import sm_rates
    >>> gpu, cascade, profile = resolve("h100", "attention-3pass", "unfused")
    >>> softmax = plan_cascade(cascade, "unfused").spilled[1]
    >>> shapes = make_shapes(1, 1, 1024, 1024, 64)
    >>> result = untiled_kernel(softmax, shapes, profile, sm_rates(gpu, profile, "fp16"),
    ...                         (1024, {}))
    >>> int(result.dram_bytes[()])       # read QK, write A: 2 x 1024 x 1024 x 2 bytes
    4194304
    """
    values = full_sizes(kernel, shapes, partitions[0], partitions[1])
    work = {r: w * shapes.instances for r, w in _evaluate(kernel.total, values).items()}
    work["smem"] = 0.0 * work["fp32"]
    dram = 0.0
    for move in kernel.moves:
        elements = move.elements.evaluate(values)
        count = shapes.batch * shapes.kv_heads if move.streamed else shapes.instances
        dram = dram + elements * count * _move_bytes(move, shapes, profile)
        if move.streamed and not move.write:
            work["fp32"] = work["fp32"] + _dequant_ops(profile, shapes) * elements * count
    work["dram"] = dram
    spills = any(m.write and m.role == "intermediate" for m in kernel.moves)
    return _untiled_result(kernel.name, work, dram, profile.number("overheads.launch_s"), shapes,
                           profile, rates, spills)


def _untiled_result(name: str, work: dict[str, Any], dram: Any, launch: Any, shapes: Shapes,
                    profile: KernelProfile, rates: SMRates, spills: bool) -> KernelResult:
    """The record of an untiled kernel: its pipes overlap as the profile says, DRAM alongside."""
    times = _resource_times(work, rates, dram, launch)
    sm_times = {r: times[r] for r in _SM_RESOURCES}
    busy = np.maximum(overlap_time(sm_times, profile.serial, profile.streams), times["dram"])
    one = np.ones(shapes.shape, dtype=np.int64)
    return KernelResult(name, busy + launch, work, times, dram, one * 0, one * 0, one * 0,
                        one * 0, one * 0, one * 0, one, one * 0.0, spills)


def copy_kernel(kernels: tuple[KernelPlan, ...], shapes: Shapes, profile: KernelProfile,
                rates: SMRates) -> KernelResult | None:
    """Layout copies of the cascade's inputs before the first kernel (PyTorch rearranges).

    ``overheads.input_copies`` copies (read + write) of every input the kernels read from
    DRAM, one launch per copied input; None when the profile makes no copies. Of them,
    ``overheads.transposed_copies`` copies of the first kernel's key-side input (the scores'
    GEMM operand, K) transpose it, as ``attention_pytorch``'s ``rearrange(k, 'b s h d ->
    (b h) d s')`` does: a strided copy that reaches ``memory.transpose_copy_fraction`` of
    the DRAM peak instead of the profile's DRAM efficiency.

    Examples
    --------
    >>> from simulator.gpu.model import make_shapes, resolve
    >>> from simulator.gpu.plan import plan_cascade
    >>> from simulator.gpu.resources import sm_rates
    >>> gpu, cascade, profile = resolve("h100", "attention-3pass", "unfused")
    >>> shapes = make_shapes(1, 1, 1024, 1024, 64)
    >>> copies = copy_kernel(plan_cascade(cascade, "unfused").spilled, shapes, profile,
    ...                      sm_rates(gpu, profile, "fp16"))
    >>> int(copies.dram_bytes[()])       # Q, K, V read and written once: 3 x 2 x 128 KiB
    786432
    """
    copies = profile.number("overheads.input_copies")
    inputs = {m.name: m for k in kernels for m in k.moves if m.role == "input" and not m.write}
    if copies <= 0 or not inputs:
        return None
    values = full_sizes(kernels[0], shapes)
    keys = next((m.name for m in kernels[0].moves if m.role == "input" and m.streamed), None)
    transposed = min(profile.number("overheads.transposed_copies"), copies)
    fraction = profile.number("memory.transpose_copy_fraction")
    dram, slow = 0.0, 0.0
    for move in inputs.values():
        count = shapes.batch * shapes.kv_heads if move.streamed else shapes.instances
        one_copy = 2 * move.elements.evaluate(values) * count * _move_bytes(move, shapes, profile)
        dram = dram + copies * one_copy
        if move.name == keys:
            slow = slow + transposed * one_copy
    zero = 0.0 * dram
    work = {"tensor": zero, "exp": zero, "fp32": zero, "smem": zero, "dram": dram}
    launch = copies * len(inputs) * profile.number("overheads.launch_s")
    times = _resource_times(work, rates, dram, launch)
    if fraction > 0:   # the transposing copy streams at its own, lower rate
        times["dram"] = (dram - slow) / rates.dram + slow / (fraction * rates.peak["dram"])
    one = np.ones(shapes.shape, dtype=np.int64)
    return KernelResult("input-copies", times["dram"] + launch, work, times, dram, one * 0,
                        one * 0, one * 0, one * 0, one * 0, one * 0, one, one * 0.0, False)


def mask_kernel(shapes: Shapes, profile: KernelProfile, rates: SMRates) -> KernelResult | None:
    """The mask as its own element-wise kernel(s) over the full score matrix (unfused).

    PyTorch's standard attention adds the mask to all ``P x M`` scores of every instance
    and softmaxes all of them: a mask saves no work there and costs
    ``overheads.mask_passes`` passes that read and write the scores and read the mask (one
    ``P x M`` tensor broadcast over the instances). None when the profile adds none.

    Examples
    --------
    >>> from simulator.gpu.model import make_shapes, resolve
    >>> from simulator.gpu.resources import sm_rates
    >>> gpu, _, profile = resolve("h100", "attention-3pass", "unfused")
    >>> shapes = make_shapes(2, 4, 1024, 1024, 64)
    >>> result = mask_kernel(shapes, profile, sm_rates(gpu, profile, "fp16"))
    >>> int(result.dram_bytes[()]) == (2 * 8 + 1) * 1024 * 1024 * 2   # 8 instances, + the mask
    True
    """
    passes = profile.number("overheads.mask_passes")
    if passes <= 0:
        return None
    element = profile.number("memory.intermediate_bytes")
    pairs = shapes.seq_q * shapes.seq_kv
    dram = passes * element * pairs * (2 * shapes.instances + 1)
    zero = 0.0 * dram
    work = {"tensor": zero, "exp": zero, "fp32": passes * pairs * shapes.instances + zero, "smem": zero,
            "dram": dram}
    launch = passes * profile.number("overheads.launch_s")
    return _untiled_result("mask", work, dram, launch, shapes, profile, rates, True)

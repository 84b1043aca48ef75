"""The tidy record every trace importer produces: one :class:`KernelLaunch` per launch.

Importers (``kineto``, ``ncu``, ``nsys``) differ in what they can see; the record keeps
what each saw and says where the attention shape came from (``shape_source``):
``"cpu_op:<op name>"`` when a Kineto launch was linked to the CPU op that launched it,
``"manifest"`` when a workload manifest supplied it, ``"unlinked"`` when nothing did.
Times are seconds, sizes bytes (reference ``gpus_peers_traces.md`` D.6 item 2).

Examples
--------
>>> shape = AttentionShape(batch=16, heads=16, kv_heads=16, seq_q=559, seq_kv=559,
...                        head_dim=64, causal=True, dtype="bf16")
>>> launch = KernelLaunch(kernel="void pytorch_flash::flash_fwd_kernel<...>", family="fa2",
...                       duration_s=113.8e-6, shape=shape, shape_source="cpu_op:x")
>>> launch.shape.head_dim_v, launch.has_shape
(64, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from types import MappingProxyType
from typing import Any

__all__ = ["AttentionShape", "GpuInfo", "KernelLaunch", "SHAPE_KEYS", "Trace"]

#: The shape fields, in the order tables and JSON documents list them.
SHAPE_KEYS = ("batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim", "head_dim_v",
              "causal", "dtype")


@dataclass(frozen=True)
class GpuInfo:
    """The device a trace ran on, as the trace names it.

    ``name`` is the driver's device name (``"NVIDIA H100 80GB HBM3"``); ``sm_count`` SMs
    or CUs; ``compute_capability`` like ``"9.0"``; ``vendor`` ``"nvidia"``, ``"amd"`` or
    ``""`` when unknown. Any may be missing from a trace (None / "").
    """

    name: str = ""
    sm_count: int | None = None
    compute_capability: str = ""
    vendor: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return asdict(self)


@dataclass(frozen=True)
class AttentionShape:
    """The attention problem one launch computes (queries ``p``, keys ``m``).

    ``seq_q``/``seq_kv`` are per sequence; a variable-length batch is recorded as its
    ``batch`` sequences of the mean length (``note`` says so). ``window`` is the
    sliding-window size when the kernel applies one and the trace says how large;
    ``page_size`` the tokens per KV page when the cache is paged and the size is known.
    """

    batch: int
    heads: int
    kv_heads: int
    seq_q: int
    seq_kv: int
    head_dim: int
    head_dim_v: int | None = None
    causal: bool = False
    dtype: str = "bf16"
    kv_dtype: str | None = None
    window: int | None = None
    paged: bool = False
    note: str = ""
    page_size: int | None = None

    def __post_init__(self) -> None:
        if self.head_dim_v is None:
            object.__setattr__(self, "head_dim_v", self.head_dim)

    def key(self) -> tuple:
        """The fields that make two shapes the same problem (for grouping)."""
        return (self.batch, self.heads, self.kv_heads, self.seq_q, self.seq_kv,
                self.head_dim, self.head_dim_v, self.causal, self.dtype, self.kv_dtype,
                self.window, self.paged, self.page_size)

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return asdict(self)


@dataclass(frozen=True)
class KernelLaunch:
    """One kernel launch as measured.

    Attributes
    ----------
    kernel : str
        The kernel name as the tool printed it (demangled where the tool demangles).
    family : str
        The kernel family from :func:`simulator.traces.families.classify` (``"fa2"``,
        ``"gemm"``, ``"other"`` ...).
    duration_s : float
        Measured GPU time of the launch.
    start_s : float, optional
        Start on the trace's GPU timeline.
    grid, block : tuple of 3 int, optional
        Launch geometry.
    registers, shared_memory : int, optional
        Registers per thread; shared memory per block in bytes (static + dynamic).
    stream, device, correlation : int, optional
        Where and which launch (the correlation id links it to its CPU side).
    shape : AttentionShape, optional
        The problem, when known.
    shape_source : str
        Where ``shape`` came from: ``"cpu_op:<name>"``, ``"manifest"`` or ``"unlinked"``.
    ranges : tuple of str
        Names of the annotation / NVTX ranges around the launch (outermost first); a
        workload manifest can match them.
    metrics : mapping of str to float
        Counters the tool measured for the launch (Nsight Compute), base units; a
        summary row also carries ``min_s``/``max_s``.
    instances : int
        Launches this record stands for: 1, or the ``Instances`` of a summary row
        (Nsight Systems ``cuda_gpu_kern_sum``), whose ``duration_s`` is their median.
    """

    kernel: str
    family: str
    duration_s: float
    start_s: float | None = None
    grid: tuple[int, int, int] | None = None
    block: tuple[int, int, int] | None = None
    registers: int | None = None
    shared_memory: int | None = None
    stream: int | None = None
    device: int | None = None
    correlation: int | None = None
    shape: AttentionShape | None = None
    shape_source: str = "unlinked"
    ranges: tuple[str, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}),
                                         hash=False, compare=False)
    instances: int = 1

    @property
    def has_shape(self) -> bool:
        """Whether the attention problem is known."""
        return self.shape is not None

    def with_shape(self, shape: AttentionShape, source: str) -> KernelLaunch:
        """A copy with a shape and where it came from."""
        return replace(self, shape=shape, shape_source=source)


@dataclass(frozen=True)
class Trace:
    """One imported trace file: provenance, device and every kernel launch in it.

    ``tool`` is ``"kineto"``, ``"ncu"`` or ``"nsys"``; ``tool_version`` what the file
    says about its writer (Kineto ``schemaVersion``, the Nsight export schema) or "".
    ``notes`` are one-line remarks the importer wants the user to see (launches it could
    not link, a guessed batch composition).
    """

    path: str
    tool: str
    tool_version: str
    gpu: GpuInfo
    launches: tuple[KernelLaunch, ...]
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The file name without folders and trace suffixes (``.json.gz``, ``.csv``)."""
        base = self.path.replace("\\", "/").rsplit("/", 1)[-1]
        for suffix in (".gz", ".json", ".csv", ".sqlite", ".db"):
            base = base.removesuffix(suffix)
        return base

    def attention(self) -> tuple[KernelLaunch, ...]:
        """The launches whose family is an attention family."""
        from simulator.traces.families import is_attention

        return tuple(launch for launch in self.launches if is_attention(launch.family))

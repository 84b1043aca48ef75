"""GPU cost model: cascades on GPUs under named kernel profiles.

Typical use::

    >>> from simulator.gpu import predict
    >>> from simulator.workload import AttentionProblem
    >>> p = AttentionProblem(batch=4, heads=16, kv_heads=16, seq_q=4096, seq_kv=4096,
    ...                      head_dim_qk=128)
    >>> predict("h100", "attention-1pass", p, profile="flash2").bound
    'tensor'
"""

from simulator.gpu.model import MaskCounts, make_shapes, predict, predict_batch, resolve
from simulator.gpu.plan import CascadePlan, KernelPlan, plan_cascade
from simulator.gpu.profiles import KernelProfile, list_profiles, load_profile
from simulator.gpu.sparse import dense_counts, mask_counts, predict_sparse_speedup

__all__ = [
    "CascadePlan",
    "KernelPlan",
    "KernelProfile",
    "MaskCounts",
    "dense_counts",
    "list_profiles",
    "load_profile",
    "make_shapes",
    "mask_counts",
    "plan_cascade",
    "predict",
    "predict_batch",
    "predict_sparse_speedup",
    "resolve",
]

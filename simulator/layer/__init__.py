"""The layer around attention on GPUs: projections, MLP, norms, rotary and attention.

:func:`layer_step` prices one prefill or decode step of a model (per layer and per model,
kernel by kernel, with the attention share and the memory against DRAM);
:func:`max_batch` is the largest batch that fits; :mod:`simulator.layer.serving` turns
them into serving throughput and the QServe reproduction.
"""

from simulator.layer.model import LayerStep, layer_step, max_batch, memory_bytes
from simulator.layer.precision import PRECISIONS, Precision, precision
from simulator.layer.spec import LayerSpec, layer_spec

__all__ = ["LayerSpec", "LayerStep", "PRECISIONS", "Precision", "layer_spec", "layer_step",
           "max_batch", "memory_bytes", "precision"]

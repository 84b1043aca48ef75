"""Measured kernel traces: importers, the tidy launch record, validation and calibration.

``load_trace(path)`` reads a PyTorch-profiler (Kineto) JSON (plain or ``.json.gz``), an
Nsight Compute CSV, an Nsight Systems CSV or SQLite export into a
:class:`~simulator.traces.record.Trace`; ``group_launches`` groups its attention launches
by kernel and shape; ``validate`` prices each group with the GPU model and compares;
``calibrate`` refits a kernel profile's numbers to measured launches.
"""

from simulator.traces.record import SHAPE_KEYS, AttentionShape, GpuInfo, KernelLaunch, Trace

__all__ = ["SHAPE_KEYS", "AttentionShape", "GpuInfo", "KernelLaunch", "Trace"]

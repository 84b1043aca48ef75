"""The roofline explorer behind ``notebooks/02-roofline-explorer``.

:func:`explorer_roofline` prices one problem from plain choices (GPU, cascade, kernel
profile, model or head dim, sequence length, mask, dtype) and returns its
:class:`~simulator.roofline.Roofline`; :func:`explorer_figure` draws it. With ipywidgets
installed (``pip install einsim[notebooks]``) :func:`explorer_widgets` returns controls
that redraw the figure; without it returns None, and a notebook shows the static
default view instead.

Examples
--------
>>> rf = explorer_roofline(gpu="h100", cascade="attention-1pass", seq_len=2048)
>>> [c.resource for c in rf.ceilings][:3], rf.prediction.bound
(['tensor', 'exp', 'fp32'], 'tensor')
>>> explorer_roofline(mask="window", window=512, seq_len=2048).prediction.flops < rf.prediction.flops
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import einsum
from simulator.gpu.masks import window_symbol
from simulator.roofline import Roofline, roofline, roofline_figure
from simulator.workload import AttentionProblem, problem_from_model

__all__ = ["DEFAULTS", "Choices", "explorer_figure", "explorer_roofline", "explorer_widgets"]


@dataclass(frozen=True)
class Choices:
    """The explorer's inputs; ``model="custom"`` takes ``heads``/``kv_heads``/``head_dim``."""

    gpu: str = "h100-sxm5"
    cascade: str = "attention-1pass"
    profile: str = "auto"
    model: str = "custom"
    batch: int = 1
    heads: int = 32
    kv_heads: int = 8
    seq_len: int = 8192
    head_dim: int = 128
    mask: str = "dense"
    window: int = 4096
    dtype: str = "fp16"


#: The default view (what a static render shows).
DEFAULTS = Choices()

_OPTIONS = {
    "gpu": ["a100-sxm4-80gb", "l40s", "h100-sxm5", "h200", "b200"],
    "cascade": ["attention-1pass", "attention-2pass-deferred", "attention-3pass", "decode-splitk"],
    "profile": ["auto", "flash2", "flash3", "unfused"],
    "model": ["custom", "llama-3-8b", "llama-3-70b", "qwen1.5-72b"],
    "mask": ["dense", "causal", "window"],
    "dtype": ["fp16", "bf16", "fp8"],
}


def explorer_roofline(**choices: Any) -> Roofline:
    """The roofline of the problem the choices describe (keywords of :class:`Choices`)."""
    ch = Choices(**{**vars(DEFAULTS), **choices})
    if ch.model == "custom":
        problem = AttentionProblem(batch=ch.batch, heads=ch.heads, kv_heads=ch.kv_heads,
                                   seq_q=ch.seq_len, seq_kv=ch.seq_len, head_dim_qk=ch.head_dim,
                                   dtype=ch.dtype)
    else:
        problem = problem_from_model(ch.model, batch=ch.batch, seq_q=ch.seq_len, dtype=ch.dtype)
    cascade = einsum.load(ch.cascade)
    sizes = None
    if ch.mask != "dense":
        cascade = einsum.with_mask(cascade, ch.mask)
        if ch.mask == "window":
            sizes = {window_symbol(cascade): min(ch.window, ch.seq_len)}
    return roofline(ch.gpu, cascade, problem, profile=ch.profile, sizes=sizes)


def explorer_figure(**choices: Any) -> Any:
    """The roofline figure of :func:`explorer_roofline` (a matplotlib Figure)."""
    return roofline_figure(explorer_roofline(**choices))


def explorer_widgets(display: Any = None) -> Any:
    """Ipywidgets controls that redraw the roofline, or None without ipywidgets.

    Parameters
    ----------
    display : callable, optional
        How to show a figure inside the output area (default ``IPython.display.display``).
    """
    try:
        import ipywidgets as widgets
    except ImportError:
        return None
    if display is None:
        from IPython.display import display
    controls = {name: widgets.Dropdown(options=options, value=getattr(DEFAULTS, name),
                                       description=name)
                for name, options in _OPTIONS.items()}
    controls["seq_len"] = widgets.SelectionSlider(
        options=[2**k for k in range(9, 18)], value=DEFAULTS.seq_len, description="seq_len")
    controls["head_dim"] = widgets.Dropdown(options=[64, 96, 128, 256], value=DEFAULTS.head_dim,
                                            description="head_dim")
    output = widgets.Output()

    def redraw(_change: Any = None) -> None:
        output.clear_output(wait=True)
        with output:
            try:
                display(explorer_figure(**{name: w.value for name, w in controls.items()}))
            except Exception as err:  # noqa: BLE001 - shown to the user, who picks again
                print(f"cannot price this choice: {err}")

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return widgets.HBox([widgets.VBox(list(controls.values())), output])

"""``einsim hw`` (GPU catalogue) and ``einsim models`` (model catalogue): a thin typer adapter."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from simulator.cli._common import emit_json, handle_errors, text_table
from simulator.gpu.profiles import auto_profile
from simulator.hardware import GPUSpec, list_gpus, load_gpu
from simulator.workload import ModelShape, get_model, list_models

__all__ = ["register"]

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print one JSON document (snake_case keys, base SI units).")
]

_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_BINARY = ((2**40, "Ti"), (2**30, "Gi"), (2**20, "Mi"), (2**10, "Ki"))


def _binary(value: float) -> str:
    """Bytes in one binary unit per size class, so every GPU's L2 reads in MiB (126 MB -> 120.2 MiB)."""
    factor, prefix = next(((f, p) for f, p in _BINARY if value >= f), (1, ""))
    return f"{value / factor:.4g} {prefix}B"


def _si(value: float, unit: str) -> str:
    """Format a base-unit value with an SI prefix (binary prefix for whole KiB/MiB/... bytes)."""
    if unit == "B":
        factor, prefix = next(((f, p) for f, p in _BINARY if value >= f), (1, ""))
        if prefix and value % factor == 0:
            return f"{value / factor:g} {prefix}B"
    if "/clk/" in unit or unit in ("SM", "thread", "CTA"):
        return f"{value:g} {unit}"
    for factor, prefix in _PREFIXES:
        if value >= factor:
            return f"{value / factor:.4g} {prefix}{unit}"
    return f"{value:g} {unit}"


def _gpu_summary(spec: GPUSpec) -> dict[str, Any]:
    """The list-view fields of one GPU, base SI units."""
    peaks = spec.peak_tensor_flops
    return {
        "name": spec.name, "architecture": spec.architecture, "sm_count": spec.sm_count,
        "boost_clock_hz": spec.boost_clock_hz, "tensor_clock_hz": spec.tensor_clock_hz,
        "fp16_dense_flops": peaks.get("fp16"), "fp8_dense_flops": peaks.get("fp8"),
        "dram_bytes_per_s": spec.dram_bytes_per_s, "l2_bytes": spec.l2_bytes,
        "smem_bytes_per_sm": spec.smem_bytes_per_sm, "auto_profile": auto_profile(spec),
    }


def _gpu_row(summary: dict[str, Any]) -> list[str]:
    """One text-table row of the GPU list."""
    fp8 = summary["fp8_dense_flops"]
    return [
        summary["name"], summary["architecture"], str(summary["sm_count"]),
        f"{summary['boost_clock_hz'] / 1e9:.2f}",
        f"{(summary['fp16_dense_flops'] or 0) / 1e12:.1f}",
        "-" if fp8 is None else f"{fp8 / 1e12:.1f}", f"{summary['dram_bytes_per_s'] / 1e12:.2f}",
        _binary(summary["l2_bytes"]), _binary(summary["smem_bytes_per_sm"]),
    ]


def _show_text(spec: GPUSpec) -> str:
    """All fields of one GPU with units and sources, then the derived peaks."""
    lines = [f"{spec.name}: {spec.architecture}"
             + (f" (compute capability {spec.compute_capability})" if spec.compute_capability
                else ""),
             f"aliases: {', '.join(spec.aliases) or '-'}", f"file: {spec.path}",
             f"kernel profile (--kernel auto): {auto_profile(spec)}", ""]
    rows = [[row.key, _si(row.value, row.unit), row.source] for row in spec.rows()]
    lines.append(text_table(["key", "value", "source"], rows))
    lines += ["", f"derived peaks at the tensor clock ({spec.tensor_clock_hz / 1e9:.4g} GHz):"]
    for dtype, flops in spec.peak_tensor_flops.items():
        sparse = spec.peak_sparse_tensor_flops.get(dtype)
        extra = f" (2:4 sparse {_si(sparse, 'FLOP/s')})" if sparse else ""
        lines.append(f"  tensor {dtype} dense: {_si(flops, 'FLOP/s')}{extra}")
    boost_fp32 = spec.at_clock(spec.boost_clock_hz).fp32_flops
    lines += [f"  fp32 (CUDA cores): {_si(spec.fp32_flops, 'FLOP/s')} "
              f"({_si(boost_fp32, 'FLOP/s')} at the boost clock)",
              f"  exp (MUFU): {_si(spec.exp_ops_per_s, 'op/s')}",
              f"  shared memory: {_si(spec.smem_bytes_per_s, 'B/s')}",
              f"  DRAM: {_si(spec.dram_bytes_per_s, 'B/s')}"]
    return "\n".join(lines)


def _model_notes(model: ModelShape) -> str:
    """Short free-text column for the model table."""
    notes = []
    if model.sliding_window:
        notes.append(f"window {model.sliding_window}")
    if model.token_layout:
        notes.append("layout " + "x".join(map(str, model.token_layout)))
    if model.mla:
        notes.append(f"MLA d_c={model.mla.kv_lora_rank} d_R={model.mla.qk_rope_head_dim}")
    if model.head_dim_v != model.head_dim:
        notes.append(f"head_dim_v {model.head_dim_v}")
    return "; ".join(notes)


def _model_row(model: ModelShape) -> list[str]:
    """One text-table row of the model list."""
    numbers = (model.d_model, model.heads, model.kv_heads, model.group_size, model.head_dim,
               model.ffn_hidden, model.layers)
    return [model.name, *("-" if n is None else str(n) for n in numbers), _model_notes(model)]


def _models_table(models: list[ModelShape]) -> str:
    """The text table of ``einsim models``."""
    header = ["name", "d_model", "heads", "kv_heads", "G", "head_dim", "ffn", "layers", "notes"]
    return text_table(header, [_model_row(m) for m in models])


hw_app = typer.Typer(
    help="GPU specs: `einsim hw` lists the catalogue, `einsim hw show NAME` prints one GPU.",
    no_args_is_help=False,
    rich_markup_mode=None,
)


@hw_app.callback(invoke_without_command=True)
@handle_errors
def hw_list(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List the GPUs (built-ins and $EINSIM_HW_PATH) with headline peaks."""
    if ctx.invoked_subcommand is not None:
        return
    summaries = [_gpu_summary(load_gpu(name)) for name in list_gpus()]
    if json_output:
        emit_json({"gpus": summaries})
        return
    header = ["name", "architecture", "SMs", "boost GHz", "FP16 TFLOP/s", "FP8 TFLOP/s",
              "DRAM TB/s", "L2", "SMEM/SM"]
    typer.echo(text_table(header, [_gpu_row(s) for s in summaries]))
    typer.echo("\nTFLOP/s are dense (no 2:4 sparsity) at the clock the vendor peaks assume.")


@hw_app.command("show")
@handle_errors
def hw_show(
    name: Annotated[str, typer.Argument(help="GPU name or alias (e.g. H100), or a YAML path.")],
    json_output: JsonFlag = False,
) -> None:
    """Print every field of one GPU spec (with sources in text mode)."""
    spec = load_gpu(name)
    if json_output:
        emit_json(spec.to_dict())
    else:
        typer.echo(_show_text(spec))


@handle_errors
def models(
    name: Annotated[
        str | None, typer.Argument(help="Show one model (name, alias or config.json path).")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """List the model-shape catalogue, or show one model."""
    shapes = [get_model(name)] if name else [get_model(n) for n in list_models()]
    if json_output:
        emit_json(shapes[0].to_dict() if name else {"models": [m.to_dict() for m in shapes]})
        return
    typer.echo(_models_table(shapes))
    if name and shapes[0].source:
        typer.echo(f"\nsource: {shapes[0].source}")


def register(app: typer.Typer) -> None:
    """Add ``einsim hw`` and ``einsim models`` to the main app."""
    app.add_typer(hw_app, name="hw")
    app.command("models")(models)

"""``einsim traces``, ``einsim validate`` and ``einsim calibrate``: measured kernel traces.

A thin typer adapter over :mod:`simulator.traces`: import a trace, list its attention
launches, compare them with the model, refit a kernel profile to them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from simulator.cli._common import emit_json, handle_errors, text_table

__all__ = ["register"]

_Trace = Annotated[str, typer.Argument(help="Kineto JSON (.json/.json.gz), Nsight Compute CSV, "
                                            "Nsight Systems CSV or SQLite export.")]
_Manifest = Annotated[str | None, typer.Option(help="Workload manifest YAML giving shapes the trace lacks.")]
_Hw = Annotated[str, typer.Option(help="Catalogue GPU, or auto: map the trace's device name.")]
_Kernel = Annotated[str, typer.Option(help="Kernel profile (name or YAML), or auto: by kernel family.")]
_Cascade = Annotated[str, typer.Option(help="Cascade the kernels compute.")]
_Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _cells(frame: object) -> tuple[list[str], list[list[str]]]:
    header = [str(c) for c in frame.columns]
    return header, [["" if v is None else str(v) for v in row] for row in frame.itertuples(index=False)]


def _device_line(trace: object) -> str:
    gpu = trace.gpu
    parts = [gpu.name or "unknown device"]
    if gpu.sm_count:
        parts.append(f"{gpu.sm_count} SMs")
    if gpu.compute_capability:
        parts.append(f"CC {gpu.compute_capability}")
    version = f" ({trace.tool_version})" if trace.tool_version else ""
    return f"{trace.name}: {trace.tool}{version} on {', '.join(parts)}"


@handle_errors
def traces_command(trace: _Trace, manifest: _Manifest = None, json_output: _Json = False) -> None:
    """List the attention launches in a trace, grouped by kernel and shape."""
    from simulator.traces.groups import group_launches
    from simulator.traces.load import load_trace
    from simulator.traces.report import groups_frame

    loaded = load_trace(trace, manifest)
    groups = group_launches(loaded.launches, loaded.name)
    if json_output:
        emit_json({"trace": loaded.name, "tool": loaded.tool, "tool_version": loaded.tool_version,
                   "gpu": loaded.gpu.as_dict(), "kernels": len(loaded.launches),
                   "groups": [g.as_dict() for g in groups], "notes": list(loaded.notes)})
        return
    typer.echo(_device_line(loaded))
    typer.echo(f"{len(loaded.launches)} kernel launches, {sum(g.count for g in groups)} attention "
               f"launches in {len(groups)} group(s)")
    if groups:
        typer.echo(text_table(*_cells(groups_frame(groups))))
    for note in loaded.notes:
        typer.echo(f"note: {note}")


@handle_errors
def validate_command(trace: _Trace, hw: _Hw = "auto", kernel: _Kernel = "auto",
                     manifest: _Manifest = None, cascade: _Cascade = "attention-1pass",
                     out: Annotated[str | None, typer.Option(help="Folder for validation.csv, "
                                                                  "validation.md and two PNGs.")] = None,
                     json_output: _Json = False) -> None:
    """Measured vs predicted time per attention kernel group, the binding resource, and MAPE."""
    from simulator.traces.load import load_trace
    from simulator.traces.report import validation_frame, write_outputs
    from simulator.traces.validate import validate

    loaded = load_trace(trace, manifest)
    result = validate(loaded, hw=hw, kernel=kernel, cascade=cascade)
    written = write_outputs(result, out) if out else []
    if json_output:
        emit_json({**result.as_dict(), "out": [str(p) for p in written]})
        return
    typer.echo(_device_line(loaded))
    if result.hw_note:
        typer.echo(f"hw auto: {result.hw_note}")
    frame = validation_frame(result)
    if len(frame):
        typer.echo(text_table(*_cells(frame.drop(columns=["trace"]))))
        typer.echo(f"MAPE over {len(frame)} group(s): {100 * result.mape:.1f}%")
    else:
        typer.echo("no attention launch could be compared")
    for group, why in result.skipped:
        typer.echo(f"not compared: {group.kernel} ({group.family}, {group.count} launches): {why}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    for path in written:
        typer.echo(f"wrote {path}")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


@handle_errors
def calibrate_command(
    traces: Annotated[list[str], typer.Argument(help="One or more traces to fit.")],
    kernel: Annotated[str, typer.Option(help="Kernel profile to refit (name or YAML).")],
    out: Annotated[str, typer.Option(help="Where to write the calibrated profile YAML.")],
    fit: Annotated[list[str] | None, typer.Option(
        "--fit", help="Profile number to refit, e.g. overheads.cta_cycles (repeatable; default: the "
                      "numbers whose source says fit:).")] = None,
    holdout: Annotated[float, typer.Option(help="Fraction of kernel shapes held out of the fit.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the train/held-out split.")] = 0,
    hw: _Hw = "auto", manifest: _Manifest = None, json_output: _Json = False,
) -> None:
    """Refit a kernel profile's numbers to measured launches; train and held-out error before/after."""
    from simulator.traces.calibrate import calibrate, write_profile
    from simulator.traces.load import load_trace

    loaded = [load_trace(path, manifest) for path in traces]
    result = calibrate(loaded, kernel, fit, holdout=holdout, seed=seed, hw=hw)
    path = write_profile(result, kernel, out, seed, holdout)
    document = {**result.as_dict(), "out": str(path)}
    if json_output:
        emit_json(document)
        return
    typer.echo(f"calibrated {result.profile} on {', '.join(result.traces)}: "
               f"{document['train_launches']} training launches ({document['train_groups']} shapes), "
               f"{document['holdout_launches']} held out ({document['holdout_groups']} shapes)")
    rows = [[key, f"{result.before[key]:g}", f"{value:g}"] for key, value in result.fitted.items()]
    typer.echo(text_table(["key", "before", "after"], rows))
    typer.echo(f"train MAPE {_percent(document['train_mape_before'])} -> "
               f"{_percent(document['train_mape_after'])}; held-out MAPE "
               f"{_percent(document['holdout_mape_before'])} -> {_percent(document['holdout_mape_after'])}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {path} (use it with --kernel {path})")


def register(app: typer.Typer) -> None:
    """Add ``traces``, ``validate`` and ``calibrate`` to ``app``."""
    app.command("traces")(traces_command)
    app.command("validate")(validate_command)
    app.command("calibrate")(calibrate_command)

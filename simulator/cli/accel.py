"""``einsim accel`` (list spatial accelerators) and ``einsim accel show NAME``: a thin adapter."""

from __future__ import annotations

from typing import Annotated, Any

import typer

import einsum
from simulator.cli._common import emit_json, handle_errors
from simulator.spatial import (
    Architecture,
    Design,
    list_architectures,
    list_designs,
    load_accelerator,
)

__all__ = ["register"]

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print one JSON document (snake_case keys, base SI units).")
]

_UNIT = {"frequency": "Hz", "bytes": "B", "bits": "bit", "bandwidth": "B/s", "energy": "J",
         "area": "m2", "cycles": "cycle", "count": ""}


def _si(value: float, unit: str) -> str:
    """Format a base-unit value with an SI prefix (binary prefixes for whole MiB/GiB)."""
    if unit == "B" and value >= 2**20 and value % 2**20 == 0:
        return f"{value / 2**20:g} MiB"
    if unit == "B/s" and value % 2**30 == 0:
        return f"{value / 2**30:g} GiB/s"
    if unit == "m2":
        return f"{value * 1e6:.4g} mm2" if value >= 1e-6 else f"{value * 1e12:.4g} um2"
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"),
                           (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f")):
        if abs(value) >= factor:
            return f"{value / factor:.4g} {prefix}{unit}".rstrip()
    return f"{value:g} {unit}".rstrip()


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned plain-text table."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in [header, *rows])


def _summary(name: str) -> dict[str, Any]:
    """One list-view record of a design or an architecture."""
    design = load_accelerator(name)
    arch = design.load_architecture()
    one_d = [a for a in arch.arrays if len(a.shape) == 1]
    return {
        "name": name, "kind": "design" if design.binding is not None else "architecture",
        "architecture": arch.name,
        "cascade": design.cascade if design.binding is not None else None,
        "array_2d": list(arch.array_2d.shape), "pes_1d": int(one_d[0].pes) if one_d else None,
        "buffer_bytes": arch.buffer_bytes, "clock_hz": arch.clock_hz,
        "dram_bytes_per_s": arch.dram_bytes_per_s, "area_m2": arch.area_m2(),
        "title": design.title,
    }


def _summary_row(s: dict[str, Any]) -> list[str]:
    """A text row of the list view."""
    rows, cols = s["array_2d"]
    return [s["name"], s["kind"], s["architecture"], s["cascade"] or "(auto)",
            f"{rows}x{cols}", str(s["pes_1d"] or "-"), _si(s["buffer_bytes"], "B"),
            _si(s["clock_hz"], "Hz"), _si(s["dram_bytes_per_s"], "B/s"), _si(s["area_m2"], "m2")]


def _design_dict(design: Design) -> dict[str, Any]:
    """JSON form of a design (binding, residency rule) with its architecture."""
    arch = design.load_architecture()
    binding = design.binding
    phases = [] if binding is None else [
        {"name": p.name, "schedule": p.schedule, "stall_per_tile": p.stall,
         "stages": [{array: list(labels) for array, labels in stage.array2einsums}
                    for stage in p.stages]} for p in binding.phases]
    rule = design.residency
    return {"name": design.name, "kind": "design" if binding else "architecture",
            "title": design.title, "source": design.source, "path": design.path,
            "cascade": design.cascade if binding else None,
            "passes": einsum.pass_analysis(design.load_cascade()).passes if binding else None,
            "binding": {"source": binding.source if binding else "auto", "phases": phases},
            "residency": {"rule": rule.rule, "min_queries": rule.min_queries,
                          "max_queries": rule.max_queries,
                          "min_on_chip_fraction": rule.min_on_chip_fraction,
                          "source": rule.source},
            "hide_fill_drain": design.hide_fill_drain, "architecture": arch.to_dict()}


def _arch_text(arch: Architecture) -> list[str]:
    """Every quantity with its source, then the arrays' op tables."""
    rows = [[key, _si(value, _UNIT[kind]), source] for key, value, kind, source in arch.quantities]
    lines = [f"architecture {arch.name}: {arch.title}", f"file: {arch.path}",
             f"area (arrays + buffer): {_si(arch.area_m2(), 'm2')}", "",
             _table(["key", "value", "source"], rows), ""]
    for array in arch.arrays:
        shape = "x".join(str(int(x)) for x in array.shape)
        ops = ", ".join(f"{op.kind} {op.cycles:g} cyc" for op in array.ops)
        fused = "; ".join(f"{'+'.join(f.ops)} fused: {f.cycles:g} cyc" for f in array.fused)
        lines.append(f"array {array.name} ({shape} = {int(array.pes)} PEs): {ops}"
                     + (f"; {fused}" if fused else ""))
    return lines


def _design_text(design: Design) -> str:
    """The text view of ``accel show``."""
    lines = []
    if design.binding is not None:
        cascade = design.load_cascade()
        lines += [f"design {design.name}: {design.title}", f"file: {design.path}",
                  f"source: {design.source}",
                  f"cascade: {cascade.name} ({einsum.pass_analysis(cascade).passes} pass(es))",
                  f"binding ({design.binding.source}):"]
        for phase in design.binding.phases:
            stall = f", stall per tile: {phase.stall}" if phase.stall is not None else ""
            lines.append(f"  phase {phase.name} [{phase.schedule}{stall}]")
            for number, stage in enumerate(phase.stages, start=1):
                parts = "; ".join(f"{a}: {', '.join(ls)}" for a, ls in stage.array2einsums)
                lines.append(f"    stage {number}: {parts}")
        rule = design.residency
        limits = f" in [{rule.min_queries:g}, {rule.max_queries or 'P'}]" if rule.rule == "clip" else ""
        lines += [f"residency: {rule.rule}{limits} ({rule.source})", ""]
    lines += _arch_text(design.load_architecture())
    return "\n".join(lines)


accel_app = typer.Typer(
    help="Spatial-array accelerators: `einsim accel` lists designs and architectures, "
         "`einsim accel show NAME` prints one.",
    no_args_is_help=False,
    rich_markup_mode=None,
)


@accel_app.callback(invoke_without_command=True)
@handle_errors
def accel_list(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List the accelerator designs and architectures."""
    if ctx.invoked_subcommand is not None:
        return
    summaries = [_summary(n) for n in list_designs() + list_architectures()]
    if json_output:
        emit_json({"accelerators": summaries})
        return
    header = ["name", "kind", "architecture", "cascade", "2-D", "1-D PEs", "buffer", "clock",
              "DRAM", "area"]
    typer.echo(_table(header, [_summary_row(s) for s in summaries]))
    typer.echo("\nUse a name with `einsim accel show NAME` or `einsim predict --accel NAME`.")


@accel_app.command("show")
@handle_errors
def accel_show(
    name: Annotated[str, typer.Argument(help="Design (e.g. fusemax), architecture "
                                             "(e.g. fusemax-cloud) or YAML path.")],
    json_output: JsonFlag = False,
) -> None:
    """Print a design (binding, residency) and its architecture, with sources."""
    design = load_accelerator(name)
    if json_output:
        emit_json(_design_dict(design))
    else:
        typer.echo(_design_text(design))


def register(app: typer.Typer) -> None:
    """Add ``einsim accel`` to the main app."""
    app.add_typer(accel_app, name="accel")

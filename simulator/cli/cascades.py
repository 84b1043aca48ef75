"""CLI commands of the cascade language: ``cascades``, ``show``, ``passes``, ``lint``, ``check``."""

from __future__ import annotations

from typing import Annotated

import typer

import einsum
from simulator.cli._common import emit_json, handle_errors

__all__ = ["register"]

CascadeArg = Annotated[str, typer.Argument(help="A built-in cascade name or a path to a .cas file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")]


def register(app: typer.Typer) -> None:
    """Add the cascade commands to the app."""
    app.command("cascades", help="List the built-in cascades with their pass counts.")(cascades)
    app.command("show", help="Show a cascade, its dependency graph and its op counts.")(show)
    app.command("passes", help="Prove how many passes a cascade makes over a rank.")(passes)
    app.command("lint", help="Warn about lines that parse but compute something other than meant "
                             "(a filter undone by a union, a carried term inside a reduction, "
                             "a recurrence index other than i+1, dead code).")(lint)
    app.command("check", help="Run a cascade on random inputs against its direct definition.")(
        check)


@handle_errors
def cascades(as_json: JsonOpt = False) -> None:
    """List the built-in cascades."""
    from einsum.library import library_table

    rows = library_table()   # the shipped index: no parsing while the files are unchanged
    if as_json:
        emit_json({"cascades": rows})
        return
    typer.echo(f"{'name':<30} {'passes':>6}  title")
    for row in rows:
        typer.echo(f"{row['name']:<30} {row['passes']:>6}  {row['title']}")


@handle_errors
def show(cascade: CascadeArg, rank: Annotated[str | None, typer.Option(
        help="Pass rank for the edge kinds (default: the cascade's, else m).")] = None,
         as_json: JsonOpt = False) -> None:
    """Show a cascade, its graph and op counts."""
    parsed = einsum.load(cascade)
    report = einsum.pass_analysis(parsed, rank)
    from einsum.graph import cascade_graph

    graph = cascade_graph(parsed, report.rank.lower())
    counts = einsum.op_counts(parsed)
    edges = [{"from": u, "to": v, "tensor": d["tensor"], "kind": d["kind"],
              "loop_carried": d["loop_carried"]} for u, v, d in graph.edges(data=True)]
    per_einsum = {e.label: {k: str(p) for k, p in e.ops} for e in counts.per_einsum}
    if as_json:
        emit_json({
            "cascade": parsed.name, "title": parsed.meta("title"), "source": parsed.meta("source"),
            "einsums": [{"label": e.label, "text": str(e), "line": e.line,
                         "level": report.level(e.label)} for e in parsed.einsums],
            "inputs": list(parsed.inputs), "outputs": list(parsed.outputs), "edges": edges,
            "op_counts": per_einsum, "totals": {k: str(v) for k, v in counts.totals().items()},
            "densities": [str(d) for d in counts.densities],
            "warnings": _warning_dicts(parsed),
        })
        return
    _print_show(parsed, report, edges, counts)
    _print_warnings(parsed)


def _print_show(parsed: einsum.Cascade, report: einsum.PassReport, edges: list[dict],
                counts: einsum.OpCounts) -> None:
    typer.echo(f"# {parsed.name}: {parsed.meta('title') or ''}")
    if parsed.meta("source"):
        typer.echo(f"# source: {parsed.meta('source')}")
    typer.echo(f"inputs: {', '.join(parsed.inputs)}    outputs: {', '.join(parsed.outputs)}")
    typer.echo("")
    for e in parsed.einsums:
        typer.echo(f"  [pass {report.level(e.label)}] {e}")
    for stop in parsed.stops:
        typer.echo(f"  {stop}")
    typer.echo(f"\ngraph (edge kinds over {report.rank}):")
    for edge in edges:
        carried = ", loop-carried" if edge["loop_carried"] else ""
        typer.echo(f"  {edge['from']:>10} -> {edge['to']:<10} {edge['tensor']:<6} "
                   f"{edge['kind']}{carried}")
    typer.echo("")
    typer.echo(str(counts))
    typer.echo("totals: " + "; ".join(f"{k}: {v}" for k, v in counts.totals().items()))


@handle_errors
def passes(cascade: CascadeArg,
           rank: Annotated[str | None, typer.Option(
               help="The rank to count passes over (default: the cascade's '# rank:', else m).")
           ] = None,
           as_json: JsonOpt = False) -> None:
    """Count passes, fusible groups, barriers and the live footprint."""
    parsed = einsum.load(cascade)
    report = einsum.pass_analysis(parsed, rank)
    footprint = einsum.live_footprint(parsed, report.rank)
    if as_json:
        emit_json({
            "cascade": parsed.name, "rank": report.rank.lower(), "passes": report.passes,
            "groups": [list(g) for g in report.groups],
            "barriers": [b.as_dict() for b in report.barriers],
            "live_footprint": str(footprint.expr),
            "live_footprint_per": [r.lower() for r in footprint.per],
            "held": [list(h) for h in footprint.held],
            "reread_per_query": str(footprint.reread),
            "expected_passes": int(parsed.meta("passes")) if parsed.meta("passes") else None,
            "warnings": _warning_dicts(parsed),
            "splits": _split_dicts(parsed),
        })
        return
    typer.echo(str(report))
    typer.echo(str(footprint))
    if parsed.meta("results"):  # several results (a backward pass): which split accumulates what
        typer.echo(str(einsum.parallel_analysis(parsed)))
    _print_warnings(parsed)


def _split_dicts(parsed: einsum.Cascade) -> list[dict]:
    """Per split rank: passes over it, results kept per CTA, results accumulated across CTAs."""
    return [{"rank": s.rank.lower(), "passes": s.passes.passes, "local": list(s.local),
             "accumulated": [name for name, _ in s.accumulated]}
            for s in einsum.parallel_analysis(parsed).splits]


def _warning_dicts(parsed: einsum.Cascade) -> list[dict]:
    return [w.as_dict() for w in einsum.lint(parsed)]


def _print_warnings(parsed: einsum.Cascade) -> None:
    """After a report: the lint warnings, if any (``einsim lint`` prints them alone)."""
    warnings = einsum.lint(parsed)
    if warnings:
        typer.echo(f"\nwarnings ({len(warnings)}, see einsim lint):")
        for warning in warnings:
            typer.echo(str(warning))


@handle_errors
def lint(cascade: CascadeArg,
         strict: Annotated[bool, typer.Option(
             "--strict", help="Exit 1 when there are warnings (for CI).")] = False,
         as_json: JsonOpt = False) -> None:
    """Print the lint warnings of a cascade, one per line as file:line: code: message."""
    parsed = einsum.load(cascade)
    warnings = einsum.lint(parsed)
    if as_json:
        emit_json({"cascade": parsed.name, "warnings": [w.as_dict() for w in warnings]})
    elif warnings:
        for warning in warnings:
            typer.echo(str(warning))
    else:
        typer.echo("no warnings")
    if strict and warnings:
        raise typer.Exit(1)


@handle_errors
def check(cascade: CascadeArg,
          size: Annotated[list[str] | None, typer.Option(
              "--size", help="A rank size, e.g. --size M=64 (repeatable); defaults from the "
                             "cascade's '# sizes:' header.")] = None,
          seed: Annotated[int, typer.Option(help="Random seed for the inputs.")] = 0,
          tolerance: Annotated[float, typer.Option(
              help="Exit 1 if the max abs error exceeds this.")] = 1e-9,
          as_json: JsonOpt = False) -> None:
    """Compare the executor with the direct definition on random inputs."""
    parsed = einsum.load(cascade)
    sizes = einsum.parse_size_assignments(" ".join(size or []))
    result = einsum.check_cascade(parsed, sizes, seed)
    ok = result.max_abs_error <= tolerance
    if as_json:
        emit_json({"cascade": result.cascade, "reference": result.reference,
                   "output": result.output, "sizes": dict(result.sizes), "seed": seed,
                   "max_abs_error": result.max_abs_error, "tolerance": tolerance, "ok": ok})
    else:
        typer.echo(str(result))
        typer.echo("OK" if ok else f"FAILED: error above tolerance {tolerance:g}")
    if not ok:
        raise typer.Exit(1)

"""`cnncompile analyze` and `cnncompile expand`: static views of a spec."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .app import command
from .common import load_graph, load_spec_cli, spec_options


class Format(str, Enum):
    table = "table"
    tree = "tree"
    json = "json"
    textbook = "textbook"
    svg = "svg"


@command("analyze")
def analyze(
    spec: Path = typer.Argument(..., help="The spec file (YAML, or a bare layer list)."),
    input: Optional[str] = spec_options.input,
    classes: Optional[int] = spec_options.classes,
    batch: int = typer.Option(1, "--batch", min=1, help="Batch size for activation memory."),
    depth: Optional[int] = typer.Option(
        None, "--depth", min=1, help="table: group nodes by their first K name segments; "
        "tree: show K levels; svg: open macro and loop boxes K levels deep."),
    format: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Write to this file instead of stdout (atomically)."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings (layers that do "
                                "nothing, one layer holding most parameters) as errors: "
                                "exit 2 without the report."),
) -> None:
    """Shapes, parameters, MACs, memory and receptive fields of every layer, and totals.

    Exact and instant: nothing is allocated but shapes. `--format textbook` reproduces the
    textbook's structure dump line for line; `--format json` is the stable machine-readable
    form (schema cnncompile.analysis/1); `--format svg` draws the block diagram alone
    (every macro and loop open, or `--depth K` levels) for papers and slides.

    Example: `cnncompile analyze specs/ch9/residual_flower.yaml --format tree --depth 3`
    """
    from ..analysis import analyze_graph, render_json, render_table, render_textbook, render_tree

    graph = load_graph(spec, input, classes)
    report_warnings(graph, strict)
    a = analyze_graph(graph, batch)
    if format is Format.table:
        text = render_table(a, depth)
    elif format is Format.tree:
        text = render_tree(a, depth)
    elif format is Format.json:
        text = render_json(a)
    elif format is Format.svg:
        from ..report import standalone_svg

        text = standalone_svg(graph, depth)
    else:
        text = render_textbook(a)
    if out is None:
        typer.echo(text, nl=False)
    else:
        from ..artifacts.files import write_text

        write_text(out, text)
        typer.echo(f"wrote {out}")


def report_warnings(graph, strict: bool) -> None:
    """One stderr line per warning; with ``strict``, any warning ends the command (exit 2)."""
    from ..analysis.warnings import find_warnings
    from ..errors import CnnCompileError, Location
    from .app import warn

    found = find_warnings(graph)
    for w in found:
        warn(w)
    if strict and found:
        n = len(found)
        raise CnnCompileError(f"{n} warning{'s' if n != 1 else ''} above, and --strict makes "
                              "them errors", Location(path="--strict"))


@command("expand")
def expand(
    spec: Path = typer.Argument(..., help="The spec file."),
    input: Optional[str] = spec_options.input,
    classes: Optional[int] = spec_options.classes,
) -> None:
    """Print the fully expanded layer list (every macro substituted) as YAML.

    The result is a standalone spec: it analyses, trains and exports as the original does.

    Example: `cnncompile expand specs/ch9/residual_flower.yaml > residual_flat.yaml`
    """
    from ..frontend.dump import expanded_yaml

    typer.echo(expanded_yaml(load_spec_cli(spec, input, classes)), nl=False)

"""`cnncompile report`: one self-contained HTML page about a model (and its run and export)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import command
from .common import spec_options


@command("report")
def report(
    spec: Path = typer.Argument(..., help="The spec file (YAML, or a bare layer list)."),
    run: Optional[Path] = typer.Option(
        None, "--run", help="A run folder from `cnncompile train`: curves, test report, "
        "confusion matrices, samples, training options."),
    model: Optional[Path] = typer.Option(
        None, "--model", help="An .onnx file from `cnncompile export`: its metadata."),
    bench: bool = typer.Option(False, "--bench", help="With --model: time it in onnxruntime "
                               "(batch 1 and 8, CPU)."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="The page to write (default: NAME.html here)."),
    input: Optional[str] = spec_options.input,
    classes: Optional[int] = spec_options.classes,
    batch: int = typer.Option(1, "--batch", min=1, help="Batch size for activation memory."),
) -> None:
    """Write one HTML page that works offline: block diagram, layer table, totals, and runs.

    The diagram is the spec's own nesting (macro calls and loops open and close with a
    click); the table holds every figure `analyze` prints, sortable and grouped by depth.

    Example: `cnncompile report specs/ch9/residual_flower.yaml --run runs/residual_flower`
    """
    from ..workflows.report import write_report
    from .app import warn

    path = write_report(spec, out, run=run, input_shape=input, classes=classes, model=model,
                        bench=bench, batch=batch, warn=warn)
    typer.echo(f"wrote {path}")

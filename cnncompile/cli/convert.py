"""`cnncompile convert`: the textbook's Python model scripts -> spec files."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import command
from .common import spec_options


@command("convert")
def convert(
    source: Path = typer.Argument(
        ..., help="A Python file with set_macro calls and CnnBasicModel / CnnRegModel / "
        "CnnExtModel constructions. It is read, never run."),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", help="Write the spec here (spec.yaml), or one spec per model "
        "into a folder (`DIR/` -> `DIR/<name>.yaml`). Default: print the spec."),
    model: Optional[str] = typer.Option(
        None, "--model", help="Convert only the model of this name (needed with -o FILE.yaml "
        "when the file constructs several)."),
    input: Optional[str] = typer.Option(
        None, "--input", help="Input shape H,W,C (or N), for models whose data set is not "
        "FlowersDataset, Office31Dataset or DummyDataset; replaces the data set's."),
    classes: Optional[int] = spec_options.classes,
) -> None:
    """Convert a textbook model script into spec files, without executing anything.

    The layer lists (and the macros each model calls, transitively) must be Python literals,
    or names bound earlier to literals; a string literal may be at most 1 MiB (1,048,576
    characters) and an integer at most 100 digits. FlowersDataset / Office31Dataset /
    DummyDataset assignments give the input shape and the output heads; use_adam, l2_decay,
    l1_decay and exec_all(epoch_count=..., batch_size=..., learning_rate=..., report=...) become
    `train:` defaults. Every spec is checked by loading it before any is written; files are
    written atomically. Mistakes are reported as FILE.py:LINE:COL with exit status 2.

    Example: `cnncompile convert chap09_models.py -o specs/ch9/`
    """
    from ..convert import convert_file
    from ..convert.output import spec_targets, write_specs
    from ..errors import Location
    from ..frontend.spec import parse_input_shape

    shape = parse_input_shape(input, Location(path="--input")) if input else None
    models = convert_file(source, shape, classes, model)
    targets = spec_targets(models, source, output)
    if targets is None:
        typer.echo(models[0].text, nl=False)
        return
    write_specs(models, targets)
    for m, target in zip(models, targets, strict=True):
        typer.echo(f"{target}: {m.cls} {m.name!r} (line {m.line})")

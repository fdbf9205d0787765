"""`cnncompile convert`: the textbook's Python model scripts -> spec files."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import command, fail
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
    or names bound earlier to literals. FlowersDataset / Office31Dataset / DummyDataset
    assignments give the input shape and the output heads; use_adam, l2_decay, l1_decay and
    exec_all(epoch_count=..., batch_size=..., learning_rate=..., report=...) become `train:`
    defaults. Every spec is checked by loading it before it is written; files are written
    atomically. Mistakes are reported as FILE.py:LINE:COL with exit status 2.

    Example: `cnncompile convert chap09_models.py -o specs/ch9/`
    """
    from ..artifacts.files import write_text
    from ..errors import Location
    from ..frontend.convert import check_spec, convert_file
    from ..frontend.spec import parse_input_shape

    shape = parse_input_shape(input, Location(path="--input")) if input else None
    models = convert_file(source, shape, classes, model)
    as_dir = output is not None and (output.endswith(("/", "\\")) or Path(output).is_dir())
    if len(models) > 1 and not as_dir:
        names = ", ".join(m.name for m in models)
        raise fail(f"{source} constructs {len(models)} models ({names}); pick one with "
                   "--model NAME, or write them all with -o DIR/")
    if output is None:
        typer.echo(models[0].text, nl=False)
        return
    for m in models:
        target = Path(output) / f"{m.name}.yaml" if as_dir else Path(output)
        check_spec(m.text, target)  # a spec that does not load is never written
        write_text(target, m.text)
        typer.echo(f"{target}: {m.cls} {m.name!r} (line {m.line})")

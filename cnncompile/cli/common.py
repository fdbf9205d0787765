"""Options and loading steps that several commands share."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import typer


class Init(str, Enum):
    """--init choices: the textbook's N(0, 0.030), or He-normal."""

    normal = "normal"
    he = "he"


spec_options = SimpleNamespace(
    input=typer.Option(
        None, "--input", help="Override the input shape: H,W,C (or N for a vector input)."),
    classes=typer.Option(
        None, "--classes", min=1, help="Override the output: one softmax head of K classes."),
)


def load_spec_cli(spec: Path, input: Optional[str], classes: Optional[int]):
    """Load a spec, applying --input/--classes overrides."""
    from ..errors import Location
    from ..frontend import OutputSpec, load_spec, parse_input_shape
    from ..frontend.spec import Head

    shape = parse_input_shape(input, Location(path="--input")) if input else None
    output = OutputSpec("classes", (Head("output", classes),)) if classes else None
    return load_spec(spec, shape, output)


def load_graph(spec: Path, input: Optional[str] = None, classes: Optional[int] = None):
    """Load a spec and lower it to the IR."""
    from ..ir import lower

    return lower(load_spec_cli(spec, input, classes))

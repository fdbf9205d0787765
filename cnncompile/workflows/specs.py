"""The spec a workflow is given: a loaded :class:`Spec`, or the path of a spec file."""

from __future__ import annotations

from pathlib import Path

from ..errors import Location
from ..frontend.spec import Head, OutputSpec, Spec, load_spec, parse_input_shape, parse_spec


def resolve_spec(spec: Spec | str | Path, input_shape: tuple[int, ...] | str | None = None,
                 classes: int | None = None) -> Spec:
    """``spec`` loaded (a path) or taken as it is, with ``input_shape``/``classes`` overrides.

    ``input_shape`` is a tuple (H, W, C) or (N,), or the text ``--input`` takes ("28,28,1");
    ``classes`` replaces the output by one softmax head of that many classes.

    Raises:
        DslSyntaxError: a spec file or override that does not read, located.
    """
    if isinstance(input_shape, str):
        input_shape = parse_input_shape(input_shape, Location(path="--input"))
    output = OutputSpec("classes", (Head("output", classes),)) if classes else None
    if not isinstance(spec, Spec):
        return load_spec(spec, input_shape, output)
    if input_shape is None and output is None:
        return spec
    path = Path(spec.path) if spec.path else None
    return parse_spec(spec.text, spec.path or spec.name, path, input_shape, output)

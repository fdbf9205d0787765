"""The spec a workflow runs: a loaded :class:`Spec` or a path, with the caller's overrides.

Every workflow takes its model the same way (a ``Spec`` or a spec file; ``input_shape`` and
``classes`` replace the spec's own, as ``--input`` and ``--classes`` do on the command line),
so the rule lives here once. A file is read and parsed once; a new input shape on a loaded
spec needs no second parse, since the layer tree does not depend on it (shapes are inferred
when the spec is lowered).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..artifacts.inputs import note_input
from ..errors import Location
from ..frontend.spec import Spec, load_spec, parse_input_shape, parse_output


def resolve_spec(spec: Spec | str | Path, input_shape=None, classes: int | None = None) -> Spec:
    """``spec`` loaded (when a path) with ``input_shape`` (H, W, C or N, or the text
    ``--input`` takes: "28,28,1") and ``classes`` (one softmax head of K classes) in place of
    its own. A loaded spec's file counts among the command's inputs (no output replaces it).

    Raises:
        DslSyntaxError: the spec file, ``input_shape`` or ``classes`` is malformed.

    >>> from cnncompile.frontend import parse_spec
    >>> sp = parse_spec("name: t\\ninput: [8, 8, 1]\\noutput: {classes: 2}\\nlayers: [10]\\n")
    >>> sp = resolve_spec(sp, (32, 32, 1), classes=3)
    >>> sp.input_shape, [(h.name, h.size) for h in sp.output.heads]
    ((32, 32, 1), [('output', 3)])
    """
    if isinstance(input_shape, str):
        shape = parse_input_shape(input_shape, Location(path="--input"))
    else:
        shape = None if input_shape is None else parse_input_shape(
            list(input_shape), Location(path="input_shape"))
    output = None if classes is None else parse_output(
        {"classes": classes}, Location(path="classes"))
    if not isinstance(spec, Spec):
        return load_spec(spec, shape, output)
    if spec.path:
        note_input(spec.path, "spec file")
    changes = {k: v for k, v in (("input_shape", shape), ("output", output)) if v is not None}
    return replace(spec, **changes) if changes else spec


def with_input_shape(spec: Spec, input_shape: tuple[int, ...]) -> Spec:
    """``spec`` at another input shape (a checkpoint's recorded one), without a re-parse."""
    return spec if tuple(input_shape) == spec.input_shape else replace(
        spec, input_shape=tuple(input_shape))

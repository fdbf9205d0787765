"""From a textbook script to checked spec texts: one per model it constructs.

The script is read (:mod:`.reader`), its models recognised (:mod:`.conventions`) and written
(:mod:`.writer`); each written spec is then loaded, so that a spec that does not load is
reported at the script's line, never written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import CnnCompileError, DslSyntaxError
from ..frontend.options import closest
from ..frontend.spec import parse_spec
from .conventions import Model, Script, recognise, used_macros
from .reader import read_source
from .writer import spec_lines


@dataclass(frozen=True)
class ConvertedModel:
    """One model's spec: its name, where it was constructed, and the YAML text."""

    name: str
    cls: str
    line: int
    text: str


def convert_source(text: str, shown: str = "<source>", input_shape: tuple | None = None,
                   classes: int | None = None, model: str | None = None) -> list[ConvertedModel]:
    """Specs for the models constructed in Python ``text`` (only ``model`` if given).

    ``input_shape`` / ``classes`` replace what the data sets say (and are needed when a model's
    data set is not FlowersDataset, Office31Dataset or DummyDataset). A name used by several
    models gets ``_2``, ``_3``... on its later uses.

    Raises:
        DslSyntaxError: ``FILE:LINE:COL: ...`` for a syntax error, a non-literal config, a
            literal over the reader's bounds, a missing data set, or a model that does not
            make a valid spec.

    >>> src = "fd = FlowersDataset([96, 96], [96, 96, 3])\\nm = CnnBasicModel('m', fd, [30])"
    >>> print(convert_source(src)[0].text.splitlines()[3])
    input: [96, 96, 3]
    """
    script = recognise(text, shown)
    taken: set[str] = set()
    for m in script.models:
        base, k = m.name, 1
        while m.name in taken:
            k += 1
            m.name = f"{base}_{k}"
        taken.add(m.name)
    models = script.models
    if not models:
        raise DslSyntaxError(f"{shown}: no model construction found (a CnnBasicModel, "
                             "CnnRegModel or CnnExtModel call)")
    if model is not None:
        names = [m.name for m in models]
        models = [m for m in models if m.name == model]
        if not models:
            raise DslSyntaxError(f"{shown}: no model named {model!r}{closest(model, names)}; "
                                 f"the file constructs {', '.join(names)}")
    return [_convert(m, script, input_shape, classes) for m in models]


def convert_file(path: str | Path, input_shape: tuple | None = None, classes: int | None = None,
                 model: str | None = None) -> list[ConvertedModel]:
    """:func:`convert_source` for a file."""
    path = Path(path)
    return convert_source(read_source(path), str(path), input_shape, classes, model)


def check_spec(text: str, path: Path) -> None:
    """Load ``text`` as the spec file ``path`` would be (includes resolved beside it).

    The caller writes the text only after this passes, so a spec that does not load is never
    written; the converter itself writes nothing.

    Raises:
        DslSyntaxError: located at ``path``'s line, as loading the written file would be.
    """
    parse_spec(text, str(path), Path(path))


def _convert(m: Model, script: Script, input_shape, classes) -> ConvertedModel:
    if m.error is not None:
        raise m.error
    source = script.source
    data = m.dataset if isinstance(m.dataset, dict) else {}
    shape = list(input_shape) if input_shape else data.get("input")
    output = {"classes": classes} if classes else data.get("output")
    if shape is None or output is None:
        why = m.dataset if isinstance(m.dataset, str) else "its data set gives no input shape"
        need = " and ".join(o for o, v in (("--input H,W,C", shape), ("--classes K", output))
                            if v is None)
        raise source.error(m.pos, f"model {m.name!r}: {why}; give {need}")
    macros = used_macros(m.layers, m.macros)
    for macro in macros.values():
        if macro.error is not None:
            raise macro.error
    lines = spec_lines(m, script.origins, source.shown, shape, output, macros)
    text = "\n".join(line for line, _ in lines) + "\n"
    try:
        parse_spec(text, f"<{m.name}>")
    except CnnCompileError as e:
        at = e.location.line if e.location and e.location.line else 1
        pos = next((p for _, p in reversed(lines[:at]) if p), m.pos)
        where = f"{e.location.path}: " if e.location and e.location.path else ""
        raise source.error(pos, f"model {m.name!r} does not make a valid spec: {where}"
                                f"{e.message}") from None
    return ConvertedModel(m.name, m.cls, m.pos[0], text)

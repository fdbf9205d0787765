"""The YAML writer: a converted model as spec text that keeps the book's Python-literal look.

Layer lists are written in YAML flow syntax, which reads like the Python literal they came from
(``['conv', {'ksize': 3}]``). Each line remembers the script position it came from, so that an
error in the written spec can point back into the script.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..frontend.spec import NAME_RE
from .conventions import Macro, Model
from .reader import Pos

WIDTH = 100  # layer expressions longer than this are broken over lines

Line = tuple[str, Pos | None]  # a line of spec text, and the script position it came from


def flow_scalar(v) -> str:
    """A scalar in YAML flow syntax that still reads like the Python literal it came from."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return {"inf": ".inf", "-inf": "-.inf"}.get(repr(v), ".nan")
        text = repr(v)
        mantissa, _, exponent = text.partition("e")
        # YAML 1.1 reads 1e-05 as a string: it wants a dot in the mantissa
        return f"{mantissa}.0e{exponent}" if exponent and "." not in mantissa else text
    text = str(v)
    return "'" + text.replace("'", "''") + "'" if text.isprintable() else json.dumps(text)


def flow_yaml(v, plain: bool = False) -> str:
    """Flow YAML on one line; ``plain`` leaves identifier-like strings unquoted."""
    if isinstance(v, list):
        return "[" + ", ".join(flow_yaml(x, plain) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{flow_yaml(k, plain)}: {flow_yaml(x, plain)}"
                               for k, x in v.items()) + "}"
    if plain and isinstance(v, str) and NAME_RE.match(v) and v[0].isalpha() \
            and v.lower() not in ("true", "false", "yes", "no", "on", "off", "null"):
        return v
    return flow_scalar(v)


def spec_lines(model: Model, origins: dict[int, Pos], shown: str, shape, output,
               macros: dict[str, Macro]) -> list[Line]:
    """The spec of ``model`` (from the script ``shown``), line by line."""
    e = _Emitter(origins)
    base = Path(shown).name
    e.text(f"# Converted by `cnncompile convert` from {base}, line {model.pos[0]}; nothing was "
           "run.", model.pos)
    description = json.dumps(f"{model.cls} {model.name!r} of {base}, line {model.pos[0]}",
                             ensure_ascii=False)
    for key, value in (("name", model.name), ("description", None), ("input", shape),
                       ("output", output), ("train", model.train)):
        if value or key == "description":
            e.text(f"{key}: {description if value is None else flow_yaml(value, True)}",
                   model.train_pos if key == "train" and model.train_pos else model.pos)
    if macros:
        e.text("macros:", model.pos)
        for name, macro in macros.items():
            e.text(f"  {flow_yaml(name, True)}:", macro.pos)
            e.add("    ", macro.body, 4, macro.pos)
    if _is_layer_list(model.layers) and model.layers:
        e.text("layers:", model.pos)
        for item in model.layers:
            e.add("  - ", item, 4, model.pos)
    else:
        e.add("layers: ", model.layers, 8, model.pos)
    return e.lines


def _is_layer_list(layers) -> bool:
    return isinstance(layers, list) and (not layers or isinstance(layers[0], list) or (
        isinstance(layers[0], int) and not isinstance(layers[0], bool)))


class _Emitter:
    """Lays out literals as YAML flow text, remembering the Python position of each line."""

    def __init__(self, origins: dict[int, Pos]):
        self.origins = origins
        self.lines: list[Line] = []
        self._flow: dict[int, str] = {}  # id() -> flow text, so nesting does not redo it

    def layout(self, v, col: int) -> list[Line]:
        """The first line goes at column ``col``; later lines carry their own indentation."""
        pos = self.origins.get(id(v))
        text = self.flow(v)
        lists = [x for x in v if isinstance(x, list)] if isinstance(v, list) else []
        # keep the script's line breaks (errors then point at the right line), and break long ones
        lines = {p[0] for p in map(self.origins.get, map(id, [v] + lists)) if p}
        if not lists or (col + len(text) <= WIDTH and len(lines) <= 1):
            return [(text, pos)]
        k = next(i for i, x in enumerate(v) if isinstance(x, list))
        out = [("[" + ", ".join(self.flow(h) for h in v[:k]) + ",", pos)] if k else []
        for i, item in enumerate(v[k:]):
            sub = self.layout(item, col + 1)
            first, first_pos = sub[0]
            if out:
                out.append((" " * (col + 1) + first, first_pos))
            else:
                out.append(("[" + first, first_pos or pos))
            out.extend(sub[1:])
            last, last_pos = out[-1]
            out[-1] = (last + ("," if i < len(v) - k - 1 else "]"), last_pos)
        return out

    def flow(self, v) -> str:
        """:func:`flow_yaml` of ``v``, each list's text made once however deep it is laid out."""
        if not isinstance(v, list):
            return flow_yaml(v)
        text = self._flow.get(id(v))
        if text is None:
            text = self._flow[id(v)] = "[" + ", ".join(map(self.flow, v)) + "]"
        return text

    def add(self, prefix: str, v, indent: int, pos: Pos | None = None) -> None:
        sub = self.layout(v, indent)
        self.lines.append((prefix + sub[0][0], sub[0][1] or pos))
        self.lines.extend(sub[1:])

    def text(self, line: str, pos: Pos | None = None) -> None:
        self.lines.append((line, pos))

"""`cnncompile convert`: the textbook's Python model scripts become spec files, unexecuted.

Readers of the textbook have ``.py`` files full of ``CnnExtModel.set_macro('name', [...])`` calls
and model constructions such as ``CnnRegModel('flowers_cnn_2', fd, cnn2)``. This module reads
them with :mod:`ast` alone (nothing in the file runs), takes the config arguments as Python
literals (or names bound earlier to literals), recognises the book's data sets for the input
shape and output heads, and writes one spec per model whose layer lists keep the book's
Python-literal look (valid YAML flow syntax). Every mistake is one line that starts
``FILE.py:LINE:COL:`` (1-based column), pointing into the Python file.
"""

from __future__ import annotations

import ast
import io
import json
import math
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CnnCompileError, DslSyntaxError
from .options import closest
from .source import read_bounded
from .spec import NAME_RE, parse_spec

MODEL_CLASSES = ("CnnBasicModel", "CnnRegModel", "CnnExtModel")
# positional parameters after (name, dataset, hconfigs), as the book's constructors take them
EXTRA_ARGS = ("show_maps", "l2_decay", "l1_decay", "dump_structure")
EXEC_ALL = {"epoch_count": "epochs", "batch_size": "batch_size",
            "learning_rate": "learning_rate", "report": "report"}
FLOWERS = ["daisy", "dandelion", "rose", "sunflower", "tulip"]
WIDTH = 100  # layer expressions longer than this are broken over lines

Pos = tuple[int, int]  # (line, 1-based column)


@dataclass(frozen=True)
class ConvertedModel:
    """One model's spec: its name, where it was constructed, and the YAML text."""

    name: str
    cls: str
    line: int
    text: str


@dataclass
class _Macro:
    body: object = None
    pos: Pos = (0, 0)
    error: DslSyntaxError | None = None


@dataclass
class _Model:
    name: str
    cls: str
    pos: Pos
    layers: object = None
    dataset: dict | str | None = None  # {'input': [...], 'output': {...}} or why it is unknown
    train: dict = field(default_factory=dict)
    macros: dict = field(default_factory=dict)
    error: DslSyntaxError | None = None
    train_pos: Pos | None = None  # the last statement that set a training option


class _Unusable:
    """A name bound to something that is not a literal; ``why`` is said when it is used."""

    def __init__(self, why: str | DslSyntaxError):
        self.why = why


def _scalar(v) -> str:
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


def _compact(v, plain: bool = False) -> str:
    """Flow YAML on one line; ``plain`` leaves identifier-like strings unquoted."""
    if isinstance(v, list):
        return "[" + ", ".join(_compact(x, plain) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_compact(k, plain)}: {_compact(x, plain)}"
                               for k, x in v.items()) + "}"
    if plain and isinstance(v, str) and NAME_RE.match(v) and v[0].isalpha() \
            and v.lower() not in ("true", "false", "yes", "no", "on", "off", "null"):
        return v
    return _scalar(v)


class _Emitter:
    """Lays out literals as YAML flow text, remembering the Python position of each line."""

    def __init__(self, origins: dict[int, Pos]):
        self.origins = origins
        self.lines: list[tuple[str, Pos | None]] = []

    def layout(self, v, col: int) -> list[tuple[str, Pos | None]]:
        """The first line goes at column ``col``; later lines carry their own indentation."""
        pos = self.origins.get(id(v))
        text = _compact(v)
        lists = [x for x in v if isinstance(x, list)] if isinstance(v, list) else []
        # keep the script's line breaks (errors then point at the right line), and break long ones
        lines = {p[0] for p in map(self.origins.get, map(id, [v] + lists)) if p}
        if not lists or (col + len(text) <= WIDTH and len(lines) <= 1):
            return [(text, pos)]
        k = next(i for i, x in enumerate(v) if isinstance(x, list))
        out = [("[" + ", ".join(_compact(h) for h in v[:k]) + ",", pos)] if k else []
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

    def add(self, prefix: str, v, indent: int, pos: Pos | None = None) -> None:
        sub = self.layout(v, indent)
        self.lines.append((prefix + sub[0][0], sub[0][1] or pos))
        self.lines.extend(sub[1:])

    def text(self, line: str, pos: Pos | None = None) -> None:
        self.lines.append((line, pos))


class _Reader(ast.NodeVisitor):
    """Walks a module in source order, collecting bindings, data sets, macros and models."""

    def __init__(self, text: str, shown: str):
        self.text = text
        self.lines = text.splitlines()
        self.shown = shown
        self.bindings: dict[str, object] = {}
        self.datasets: dict[str, dict | str] = {}
        self.macros: dict[str, _Macro] = {}
        self.models: list[_Model] = []
        self.model_vars: dict[str, _Model] = {}
        self.model_calls: dict[int, _Model] = {}
        self.origins: dict[int, Pos] = {}

    # -- positions and errors -----------------------------------------------------------------
    def _col(self, line: int, byte_col: int) -> int:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return len(text.encode()[:byte_col].decode(errors="ignore")) + 1

    def pos(self, node: ast.AST) -> Pos:
        return node.lineno, self._col(node.lineno, node.col_offset)

    def error(self, where: ast.AST | Pos, message: str) -> DslSyntaxError:
        line, col = where if isinstance(where, tuple) else self.pos(where)
        return DslSyntaxError(f"{self.shown}:{line}:{col}: {message}")

    # -- literals -------------------------------------------------------------------------------
    def literal(self, node: ast.AST, what: str):
        """The value of a Python literal (or of a name bound to one); anything else is an error."""
        if isinstance(node, ast.Constant) and (node.value is None or isinstance(
                node.value, (bool, int, float, str))):
            if isinstance(node.value, str):
                self._check_joined_strings(node)
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) \
                and isinstance(node.operand, ast.Constant) \
                and type(node.operand.value) in (int, float):
            return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
        if isinstance(node, (ast.List, ast.Tuple)) and not any(
                isinstance(e, ast.Starred) for e in node.elts):
            out = [self.literal(e, what) for e in node.elts]
            self.origins[id(out)] = self.pos(node)
            return out
        if isinstance(node, ast.Dict) and None not in node.keys:
            return self._dict(node, what)
        if isinstance(node, ast.Name):
            return self._name(node, what)
        if isinstance(node, ast.Subscript):
            raise self.error(self._bracket_after(node.value), "missing comma before this '[': "
                             "without it Python reads the brackets as indexing the item before")
        raise self.error(node, f"{what} must be a Python literal (lists, dicts, strings, numbers, "
                               f"True/False) or a name bound to one; found {_describe(node)}")

    def _dict(self, node: ast.Dict, what: str) -> dict:
        out: dict = {}
        for k, v in zip(node.keys, node.values, strict=True):
            key = self.literal(k, what)
            if isinstance(key, (list, dict)):
                raise self.error(k, f"{what}: a dict key must be a string or a number")
            if key in out:
                raise self.error(k, f"{what}: the key {key!r} appears twice in this dict")
            out[key] = self.literal(v, what)
        self.origins[id(out)] = self.pos(node)
        return out

    def _name(self, node: ast.Name, what: str):
        if node.id not in self.bindings:
            raise self.error(node, f"{what}: `{node.id}` is not bound to a literal earlier in "
                                   "the file")
        value = self.bindings[node.id]
        if isinstance(value, _Unusable):
            if isinstance(value.why, DslSyntaxError):
                raise value.why
            raise self.error(node, f"{what}: `{node.id}` {value.why}")
        return value

    def _check_joined_strings(self, node: ast.Constant) -> None:
        segment = ast.get_source_segment(self.text, node) or ""
        try:
            tokens = [t for t in tokenize.generate_tokens(io.StringIO(segment).readline)
                      if t.type == tokenize.STRING]
        except (tokenize.TokenError, SyntaxError):
            return
        if len(tokens) > 1:
            row, col = tokens[0].end
            line, start = self.pos(node)
            where = (line + row - 1, (start - 1 if row == 1 else 0) + col + 1)
            raise self.error(where, f"missing comma between the strings {tokens[0].string} and "
                                    f"{tokens[1].string} (Python joins adjacent strings)")

    def _bracket_after(self, node: ast.AST) -> Pos:
        """Where the '[' after ``node`` is (skipping spaces, comments and line breaks)."""
        line, col = node.end_lineno, self._col(node.end_lineno, node.end_col_offset) - 1
        while line <= len(self.lines):
            rest = self.lines[line - 1][col:].split("#")[0]
            stripped = rest.lstrip()
            if stripped:
                return line, col + len(rest) - len(stripped) + 1
            line, col = line + 1, 0
        return self.pos(node)

    def try_literal(self, node: ast.AST):
        """The literal, or an :class:`_Unusable` that explains itself if the name is used."""
        try:
            return self.literal(node, "the value")
        except DslSyntaxError as e:
            if isinstance(node, (ast.List, ast.Tuple, ast.Dict)):
                return _Unusable(e)  # a literal with a mistake inside: report that mistake
            return _Unusable(f"is bound at line {node.lineno} to {_describe(node)}, "
                             "not to a literal")

    # -- statements -----------------------------------------------------------------------------
    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self._bind(target, node.value)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.generic_visit(node)
        self._bind(node.target, None)

    def visit_For(self, node: ast.For) -> None:
        self._bind(node.target, None)
        self.generic_visit(node)

    def _bind(self, target: ast.AST, value: ast.AST | None) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._bind(t, None)
            return
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            model = self.model_vars.get(target.value.id)
            if model is not None and target.attr == "use_adam" and value is not None:
                self._set_adam(model, value)
            return
        if not isinstance(target, ast.Name):
            return
        name = target.id
        self.model_vars.pop(name, None)
        self.datasets.pop(name, None)
        if value is None:
            self.bindings[name] = _Unusable("is not bound by a plain assignment of a literal")
            return
        if id(value) in self.model_calls:
            self.model_vars[name] = self.model_calls[id(value)]
        dataset = self._dataset(value)
        if dataset is not None:
            self.datasets[name] = dataset
        self.bindings[name] = self.try_literal(value)

    def _set_adam(self, model: _Model, value: ast.AST) -> None:
        try:
            flag = self.literal(value, "`use_adam`")
        except DslSyntaxError as e:
            model.error = model.error or e
            return
        model.train["optimizer"] = "adam" if flag else "sgd"
        model.train_pos = self.pos(value)

    # -- calls ----------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name == "set_macro":
            self._set_macro(node)
        elif name in MODEL_CLASSES:
            self._model(node, name)
        elif name == "exec_all" and isinstance(func, ast.Attribute) \
                and isinstance(func.value, ast.Name) and func.value.id in self.model_vars:
            self._exec_all(node, self.model_vars[func.value.id])
        self.generic_visit(node)

    def _set_macro(self, node: ast.Call) -> None:
        args = _arguments(node, ("name", "conf"))
        if "name" not in args or "conf" not in args:
            return  # another library's set_macro
        try:
            name = self.literal(args["name"], "the macro name")
            if not isinstance(name, str):
                raise self.error(args["name"], "the macro name must be a string")
            body = self.literal(args["conf"], f"the body of macro {name!r}")
        except DslSyntaxError as e:
            name = getattr(args["name"], "value", None)
            if isinstance(name, str):
                self.macros[name] = _Macro(error=e)
            return
        self.macros[name] = _Macro(body, self.pos(node))

    def _model(self, node: ast.Call, cls: str) -> None:
        model = _Model(f"model_{node.lineno}", cls, self.pos(node), macros=dict(self.macros))
        self.model_calls[id(node)] = model
        self.models.append(model)
        args = _arguments(node, ("name", "dataset", "hconfigs") + EXTRA_ARGS)
        try:
            missing = [a for a in ("name", "dataset", "hconfigs") if a not in args]
            if missing:
                raise self.error(node, f"{cls}(...) needs a name, a data set and a layer list; "
                                       f"`{'` and `'.join(missing)}` {'is' if len(missing) == 1 else 'are'} missing")
            model.name = self.literal(args["name"], "the model name")
            if not isinstance(model.name, str) or not NAME_RE.match(model.name):
                raise self.error(args["name"], "the model name must be letters, digits, _ . - "
                                               f"only. Received: {model.name!r}")
            model.layers = self.literal(args["hconfigs"], f"the layer list of {model.name!r}")
            for key in ("l2_decay", "l1_decay"):
                value = self.literal(args[key], f"`{key}`") if key in args else 0
                if value:
                    model.train[key] = value
            if "use_adam" in args:
                self._set_adam(model, args["use_adam"])
        except DslSyntaxError as e:
            model.error = e
        data = args.get("dataset")
        if isinstance(data, ast.Name):
            model.dataset = self.datasets.get(data.id, f"`{data.id}` is not a FlowersDataset, "
                                              "Office31Dataset or DummyDataset built earlier")
        elif data is not None:
            model.dataset = self._dataset(data) or f"{_describe(data)} is not a known data set"

    def _exec_all(self, node: ast.Call, model: _Model) -> None:
        for key, arg in _arguments(node, tuple(EXEC_ALL)).items():
            try:
                value = self.literal(arg, f"the `exec_all` option `{key}`") \
                    if key in EXEC_ALL else 0
            except DslSyntaxError as e:
                model.error = model.error or e
                continue
            if value != 0:  # report=0 means no reports: our default too
                model.train[EXEC_ALL[key]] = value
                model.train_pos = self.pos(arg)

    def _dataset(self, node: ast.AST) -> dict | str | None:
        """The book's data sets: input shape and output section, or why not; None if not one."""
        if not isinstance(node, ast.Call):
            return None
        func = node.func
        cls = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if cls not in ("FlowersDataset", "Office31Dataset", "DummyDataset"):
            return None
        names = ("name", "mode", "input_shape", "output_shape") if cls == "DummyDataset" \
            else ("resolution", "input_shape")
        try:
            args = {k: self.literal(v, f"`{cls}` argument `{k}`")
                    for k, v in _arguments(node, names).items()}
        except DslSyntaxError as e:
            return str(e)
        if cls == "DummyDataset":
            mode, size = args.get("mode"), args.get("output_shape")
            size = size[0] if isinstance(size, list) and len(size) == 1 else size
            kind = {"select": "classes", "regression": "regression", "binary": "binary"}.get(mode)
            if kind is None or type(size) is not int:
                return f"DummyDataset at line {node.lineno} has no usable mode and output size"
            return {"input": args.get("input_shape"),
                    "output": {kind: True if kind == "binary" else size}}
        size = args.get("resolution", [100, 100])
        if not (isinstance(size, list) and len(size) == 2 and all(
                type(n) is int and n > 0 for n in size)):
            return f"{cls} at line {node.lineno} has no usable resolution [H, W]"
        shape = args.get("input_shape", [-1])
        shape = [size[0] * size[1] * 3] if shape == [-1] else shape
        output = {"labels": FLOWERS} if cls == "FlowersDataset" \
            else {"heads": {"domain": 3, "object": 31}}
        return {"input": shape, "output": output}


def _arguments(node: ast.Call, names: tuple[str, ...]) -> dict[str, ast.AST]:
    out = dict(zip(names, node.args, strict=False))  # extra positionals: ignored
    out.update({kw.arg: kw.value for kw in node.keywords if kw.arg})
    return out


def _describe(node: ast.AST) -> str:
    kinds = {ast.Call: "a function call", ast.ListComp: "a list comprehension",
             ast.DictComp: "a dict comprehension", ast.GeneratorExp: "a generator",
             ast.BinOp: "an arithmetic expression", ast.JoinedStr: "an f-string",
             ast.Attribute: "an attribute", ast.Lambda: "a lambda", ast.IfExp: "a conditional"}
    text = ast.unparse(node)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{kinds.get(type(node), 'an expression')} `{text}`"


def _syntax_error(text: str, shown: str, e: SyntaxError) -> DslSyntaxError:
    line, col = e.lineno or 1, e.offset or 1
    message = e.msg
    if "forgot a comma" in message:
        line, col = _comma_gap(text, line, col) or (line, col)
        message = "missing comma here (Python: invalid syntax)"
    return DslSyntaxError(f"{shown}:{line}:{col}: {message}")


def _comma_gap(text: str, line: int, col: int) -> Pos | None:
    """Where a comma belongs: after the first item that another item follows directly."""
    lines = text.splitlines(keepends=True)[line - 1:]
    if not lines:
        return None
    lines[0] = " " * (col - 1) + lines[0][col - 1:]
    depth, prev, atoms = 0, None, (tokenize.NAME, tokenize.NUMBER, tokenize.STRING)
    try:
        for tok in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
            op = tok.string if tok.type == tokenize.OP else ""
            if depth == 0 and prev is not None and (tok.type in atoms or op == "{") and not (
                    prev.type == tok.type == tokenize.STRING):  # 'a' 'b' is one string
                return line + prev.end[0] - 1, prev.end[1] + 1
            depth += (op in ("(", "[", "{")) - (op in (")", "]", "}"))
            ends = tok.type in atoms or op in (")", "]", "}")
            if tok.type not in (tokenize.NL, tokenize.COMMENT):
                prev = tok if ends and depth == 0 else None
    except (tokenize.TokenError, SyntaxError):
        return None
    return None


# -- conversion ---------------------------------------------------------------------------------


def read_source(path: Path) -> str:
    """The text of a Python file (its coding declaration honoured), refusing huge or binary ones."""
    shown = str(path)
    data = read_bounded(path, "Python file")
    if b"\x00" in data:
        raise DslSyntaxError(f"{shown}: this is a binary file, not Python source")
    encoding = "utf-8"
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DslSyntaxError(f"{shown}:{line}:1: the file is not {encoding} text; save it as "
                             "UTF-8 or declare its coding (# -*- coding: cp949 -*-)") from None
    except (SyntaxError, LookupError) as e:
        raise DslSyntaxError(f"{shown}:1:1: bad coding declaration: {e}") from None


def _read(text: str, shown: str) -> _Reader:
    reader = _Reader(text, shown)
    try:
        reader.visit(ast.parse(text, filename=shown))
    except SyntaxError as e:
        raise _syntax_error(text, shown, e) from None
    except (RecursionError, MemoryError):
        raise DslSyntaxError(f"{shown}:1:1: the file nests too deeply to read") from None
    return reader


def _used_macros(layers, table: dict[str, _Macro]) -> dict[str, _Macro]:
    """The macros a layer list calls, transitively, in definition order.

    Only these go into the spec, so that each converted spec is self-contained and small, and
    a broken macro the model never calls cannot stop it. A macro name that is itself a
    placeholder cannot be followed; then every macro goes in.
    """
    used: set[str] = set()
    todo, everything = [layers], False
    while todo:
        v = todo.pop()
        if isinstance(v, dict):
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
            name = v[1].get("name") if v[:1] == ["custom"] and len(v) > 1 \
                and isinstance(v[1], dict) else None
            if isinstance(name, str) and name in table and name not in used:
                used.add(name)
                todo.append(table[name].body)
            everything |= isinstance(name, str) and name.startswith("#")
    return {n: m for n, m in table.items() if everything or n in used}


def _is_layer_list(layers) -> bool:
    return isinstance(layers, list) and (not layers or isinstance(layers[0], list) or (
        isinstance(layers[0], int) and not isinstance(layers[0], bool)))


def _spec_lines(m: _Model, reader: _Reader, shape, output, macros) -> list:
    e = _Emitter(reader.origins)
    base = Path(reader.shown).name
    e.text(f"# Converted by `cnncompile convert` from {base}, line {m.pos[0]}; nothing was run.",
           m.pos)
    description = json.dumps(f"{m.cls} {m.name!r} of {base}, line {m.pos[0]}", ensure_ascii=False)
    for key, value in (("name", m.name), ("description", None), ("input", shape),
                       ("output", output), ("train", m.train)):
        if value or key == "description":
            e.text(f"{key}: {description if value is None else _compact(value, True)}",
                   m.train_pos if key == "train" and m.train_pos else m.pos)
    if macros:
        e.text("macros:", m.pos)
        for name, macro in macros.items():
            e.text(f"  {_compact(name, True)}:", macro.pos)
            e.add("    ", macro.body, 4, macro.pos)
    if _is_layer_list(m.layers) and m.layers:
        e.text("layers:", m.pos)
        for item in m.layers:
            e.add("  - ", item, 4, m.pos)
    else:
        e.add("layers: ", m.layers, 8, m.pos)
    return e.lines


def _convert(m: _Model, reader: _Reader, input_shape, classes) -> ConvertedModel:
    if m.error is not None:
        raise m.error
    data = m.dataset if isinstance(m.dataset, dict) else {}
    shape = list(input_shape) if input_shape else data.get("input")
    output = {"classes": classes} if classes else data.get("output")
    if shape is None or output is None:
        why = m.dataset if isinstance(m.dataset, str) else "its data set gives no input shape"
        need = " and ".join(o for o, v in (("--input H,W,C", shape), ("--classes K", output))
                            if v is None)
        raise reader.error(m.pos, f"model {m.name!r}: {why}; give {need}")
    macros = _used_macros(m.layers, m.macros)
    for macro in macros.values():
        if macro.error is not None:
            raise macro.error
    lines = _spec_lines(m, reader, shape, output, macros)
    text = "\n".join(line for line, _ in lines) + "\n"
    try:
        parse_spec(text, f"<{m.name}>")
    except CnnCompileError as e:
        at = e.location.line if e.location and e.location.line else 1
        pos = next((p for _, p in reversed(lines[:at]) if p), m.pos)
        where = f"{e.location.path}: " if e.location and e.location.path else ""
        raise reader.error(pos, f"model {m.name!r} does not make a valid spec: {where}"
                                f"{e.message}") from None
    return ConvertedModel(m.name, m.cls, m.pos[0], text)


def convert_source(text: str, shown: str = "<source>", input_shape: tuple | None = None,
                   classes: int | None = None, model: str | None = None) -> list[ConvertedModel]:
    """Specs for the models constructed in Python ``text`` (only ``model`` if given).

    ``input_shape`` / ``classes`` replace what the data sets say (and are needed when a model's
    data set is not FlowersDataset, Office31Dataset or DummyDataset). A name used by several
    models gets ``_2``, ``_3``... on its later uses.

    Raises:
        DslSyntaxError: ``FILE:LINE:COL: ...`` for a syntax error, a non-literal config, a
            missing data set, or a model that does not make a valid spec.

    >>> src = "fd = FlowersDataset([96, 96], [96, 96, 3])\\nm = CnnBasicModel('m', fd, [30])"
    >>> print(convert_source(src)[0].text.splitlines()[3])
    input: [96, 96, 3]
    """
    reader = _read(text, shown)
    taken: set[str] = set()
    for m in reader.models:
        base, k = m.name, 1
        while m.name in taken:
            k += 1
            m.name = f"{base}_{k}"
        taken.add(m.name)
    models = reader.models
    if not models:
        raise DslSyntaxError(f"{shown}: no model construction found (a CnnBasicModel, "
                             "CnnRegModel or CnnExtModel call)")
    if model is not None:
        names = [m.name for m in models]
        models = [m for m in models if m.name == model]
        if not models:
            raise DslSyntaxError(f"{shown}: no model named {model!r}{closest(model, names)}; "
                                 f"the file constructs {', '.join(names)}")
    return [_convert(m, reader, input_shape, classes) for m in models]


def convert_file(path: str | Path, input_shape: tuple | None = None, classes: int | None = None,
                 model: str | None = None) -> list[ConvertedModel]:
    """:func:`convert_source` for a file."""
    path = Path(path)
    return convert_source(read_source(path), str(path), input_shape, classes, model)


def check_spec(text: str, path: Path) -> None:
    """Load ``text`` as the spec file ``path`` would be (includes resolved beside it).

    The caller writes the text only after this passes, so a spec that does not load is never
    written; the front end itself writes nothing.

    Raises:
        DslSyntaxError: located at ``path``'s line, as loading the written file would be.
    """
    parse_spec(text, str(path), Path(path))

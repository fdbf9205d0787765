"""The textbook's conventions, recognised in a script's syntax tree.

The book's scripts define macros with ``CnnExtModel.set_macro('name', [...])``, build data sets
(``FlowersDataset``, ``Office31Dataset``, ``DummyDataset``), construct models
(``CnnRegModel('flowers_cnn_2', fd, cnn2)``) and set their training options afterwards
(``m.use_adam = False``, ``m.exec_all(epoch_count=10)``). :func:`recognise` walks a module in
source order and collects these, with the values the :mod:`.reader` evaluates.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ..errors import DslSyntaxError
from ..frontend.spec import NAME_RE
from .reader import Literals, Pos, SourceText, describe

MODEL_CLASSES = ("CnnBasicModel", "CnnRegModel", "CnnExtModel")
DATASET_CLASSES = ("FlowersDataset", "Office31Dataset", "DummyDataset")
# positional parameters after (name, dataset, hconfigs), as the book's constructors take them
EXTRA_ARGS = ("show_maps", "l2_decay", "l1_decay", "dump_structure")
EXEC_ALL = {"epoch_count": "epochs", "batch_size": "batch_size",
            "learning_rate": "learning_rate", "report": "report"}
FLOWERS = ["daisy", "dandelion", "rose", "sunflower", "tulip"]


@dataclass
class Macro:
    """A ``set_macro`` call: its body, or the mistake that is reported if a model uses it."""

    body: object = None
    pos: Pos = (0, 0)
    error: DslSyntaxError | None = None


@dataclass
class Model:
    """A model construction, with everything the script said about it."""

    name: str
    cls: str
    pos: Pos
    layers: object = None
    dataset: dict | str | None = None  # {'input': [...], 'output': {...}} or why it is unknown
    train: dict = field(default_factory=dict)
    macros: dict[str, Macro] = field(default_factory=dict)  # as they stood at construction
    error: DslSyntaxError | None = None
    train_pos: Pos | None = None  # the last statement that set a training option


@dataclass
class Script:
    """What a script constructs, and where its values came from."""

    source: SourceText
    models: list[Model]
    origins: dict[int, Pos]  # id() of each list and dict -> where it was written


def recognise(text: str, shown: str) -> Script:
    """The models (with their macros, data sets and options) that Python ``text`` constructs.

    Raises:
        DslSyntaxError: ``FILE:LINE:COL: ...`` for a syntax error. Mistakes in one model's
            values are kept on that model (``Model.error``), so they stop only that model.
    """
    source = SourceText(text, shown)
    walker = _Walker(source)
    tree = source.parse()
    try:
        walker.visit(tree)
    except (RecursionError, MemoryError):
        raise DslSyntaxError(f"{shown}:1:1: the file nests too deeply to read") from None
    return Script(source, walker.models, walker.literals.origins)


def used_macros(layers, table: dict[str, Macro]) -> dict[str, Macro]:
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


class _Walker(ast.NodeVisitor):
    """Walks a module in source order, collecting bindings, data sets, macros and models."""

    def __init__(self, source: SourceText):
        self.source = source
        self.literals = Literals(source)
        self.datasets: dict[str, dict | str] = {}
        self.macros: dict[str, Macro] = {}
        self.models: list[Model] = []
        self.model_vars: dict[str, Model] = {}
        self.model_calls: dict[int, Model] = {}

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
        if value is not None:
            if id(value) in self.model_calls:
                self.model_vars[name] = self.model_calls[id(value)]
            dataset = self._dataset(value)
            if dataset is not None:
                self.datasets[name] = dataset
        self.literals.bind(name, value)

    def _set_adam(self, model: Model, value: ast.AST) -> None:
        try:
            flag = self.literals.value(value, "`use_adam`")
        except DslSyntaxError as e:
            model.error = model.error or e
            return
        model.train["optimizer"] = "adam" if flag else "sgd"
        model.train_pos = self.source.pos(value)

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
            name = self.literals.value(args["name"], "the macro name")
            if not isinstance(name, str):
                raise self.source.error(args["name"], "the macro name must be a string")
            body = self.literals.value(args["conf"], f"the body of macro {name!r}")
        except DslSyntaxError as e:
            name = getattr(args["name"], "value", None)
            if isinstance(name, str):
                self.macros[name] = Macro(error=e)
            return
        self.macros[name] = Macro(body, self.source.pos(node))

    def _model(self, node: ast.Call, cls: str) -> None:
        model = Model(f"model_{node.lineno}", cls, self.source.pos(node), macros=dict(self.macros))
        self.model_calls[id(node)] = model
        self.models.append(model)
        args = _arguments(node, ("name", "dataset", "hconfigs") + EXTRA_ARGS)
        try:
            self._model_values(model, node, args)
        except DslSyntaxError as e:
            model.error = e
        data = args.get("dataset")
        if isinstance(data, ast.Name):
            model.dataset = self.datasets.get(data.id, f"`{data.id}` is not a FlowersDataset, "
                                              "Office31Dataset or DummyDataset built earlier")
        elif data is not None:
            model.dataset = self._dataset(data) or f"{describe(data)} is not a known data set"

    def _model_values(self, model: Model, node: ast.Call, args: dict[str, ast.AST]) -> None:
        missing = [a for a in ("name", "dataset", "hconfigs") if a not in args]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            raise self.source.error(node, f"{model.cls}(...) needs a name, a data set and a "
                                          f"layer list; `{'` and `'.join(missing)}` {verb} missing")
        model.name = self.literals.value(args["name"], "the model name")
        if not isinstance(model.name, str) or not NAME_RE.match(model.name):
            raise self.source.error(args["name"], "the model name must be letters, digits, _ . "
                                                  f"- only. Received: {model.name!r}")
        model.layers = self.literals.value(args["hconfigs"], f"the layer list of {model.name!r}")
        for key in ("l2_decay", "l1_decay"):
            value = self.literals.value(args[key], f"`{key}`") if key in args else 0
            if value:
                model.train[key] = value
        if "use_adam" in args:
            self._set_adam(model, args["use_adam"])

    def _exec_all(self, node: ast.Call, model: Model) -> None:
        for key, arg in _arguments(node, tuple(EXEC_ALL)).items():
            try:
                value = self.literals.value(arg, f"the `exec_all` option `{key}`") \
                    if key in EXEC_ALL else 0
            except DslSyntaxError as e:
                model.error = model.error or e
                continue
            if value != 0:  # report=0 means no reports: our default too
                model.train[EXEC_ALL[key]] = value
                model.train_pos = self.source.pos(arg)

    def _dataset(self, node: ast.AST) -> dict | str | None:
        """The book's data sets: input shape and output section, or why not; None if not one."""
        if not isinstance(node, ast.Call):
            return None
        func = node.func
        cls = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if cls not in DATASET_CLASSES:
            return None
        names = ("name", "mode", "input_shape", "output_shape") if cls == "DummyDataset" \
            else ("resolution", "input_shape")
        try:
            args = {k: self.literals.value(v, f"`{cls}` argument `{k}`")
                    for k, v in _arguments(node, names).items()}
        except DslSyntaxError as e:
            return str(e)
        if cls == "DummyDataset":
            return _dummy_dataset(args, node.lineno)
        size = args.get("resolution", [100, 100])
        if not (isinstance(size, list) and len(size) == 2 and all(
                type(n) is int and n > 0 for n in size)):
            return f"{cls} at line {node.lineno} has no usable resolution [H, W]"
        shape = args.get("input_shape", [-1])
        shape = [size[0] * size[1] * 3] if shape == [-1] else shape
        output = {"labels": FLOWERS} if cls == "FlowersDataset" \
            else {"heads": {"domain": 3, "object": 31}}
        return {"input": shape, "output": output}


def _dummy_dataset(args: dict, line: int) -> dict | str:
    """``DummyDataset(name, mode, input_shape, output_shape)``: its input and output, or why not."""
    mode, size = args.get("mode"), args.get("output_shape")
    size = size[0] if isinstance(size, list) and len(size) == 1 else size
    kind = {"select": "classes", "regression": "regression", "binary": "binary"}.get(mode)
    if kind is None or type(size) is not int:
        return f"DummyDataset at line {line} has no usable mode and output size"
    return {"input": args.get("input_shape"), "output": {kind: True if kind == "binary" else size}}


def _arguments(node: ast.Call, names: tuple[str, ...]) -> dict[str, ast.AST]:
    out = dict(zip(names, node.args, strict=False))  # extra positionals: ignored
    out.update({kw.arg: kw.value for kw in node.keywords if kw.arg})
    return out

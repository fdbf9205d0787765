"""Reading a spec file: top-level keys, includes, macros, the output head and `train:` defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DslSyntaxError, Location
from ..training_options import SPEC_OPTIONS, BadValue
from . import layers as L
from .build import LayerBuilder, Macro, describe_value, normalise_placeholder
from .includes import IncludeGraph
from .options import closest, positive_int
from .source import LDict, LList, load_yaml, read_text

TOP_KEYS = ("name", "description", "include", "input", "output", "macros", "layers", "train")
# names of specs, heads and macros; \Z, not $, which also matches before a final newline
NAME_RE = re.compile(r"[A-Za-z0-9_.-]+\Z")
MAX_NAME_CHARS = 100  # a spec's name names its run folder and files

# `train:` keys are the option table's (cnncompile/training_options.py); flags override them.
TRAIN_KEYS = SPEC_OPTIONS


@dataclass(frozen=True)
class Head:
    """One output head: its name, its number of outputs and optional class labels."""

    name: str
    size: int
    labels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class OutputSpec:
    """The task: ``kind`` is 'classes' (softmax per head), 'binary' or 'regression'."""

    kind: str
    heads: tuple[Head, ...]
    bias: bool = True  # (ext) `output: {..., bias: false}`: the output layer without biases

    @property
    def width(self) -> int:
        return sum(h.size for h in self.heads)


@dataclass
class Spec:
    """A fully read spec: every macro expanded, every option validated."""

    name: str
    input_shape: tuple[int, ...]
    output: OutputSpec
    layers: L.Serial
    description: str = ""
    train: dict = field(default_factory=dict)
    path: str | None = None
    text: str = ""
    loc: Location = field(default_factory=Location)

    @property
    def text_hash(self) -> str:
        import hashlib  # here, not at the top: it loads OpenSSL, which `analyze` never needs

        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


def _located(raw, key, default: Location) -> Location:
    return raw.value_loc(key) if isinstance(raw, LDict) else default


def spec_name_problem(name) -> str | None:
    """Why ``name`` cannot name a spec (it becomes a folder and file names), or None.

    >>> spec_name_problem("flowers_cnn-4.1"), spec_name_problem("..")
    (None, "must not be only dots (it would name the folder '.' or '..')")
    """
    if not isinstance(name, str) or not NAME_RE.match(name):
        return "must be letters, digits, _ . - only"
    if not name.strip("."):
        return "must not be only dots (it would name the folder '.' or '..')"
    if len(name) > MAX_NAME_CHARS:
        return f"must be at most {MAX_NAME_CHARS} characters long"
    return None


def parse_input_shape(value, loc: Location) -> tuple[int, ...]:
    if isinstance(value, str):
        try:
            value = [int(v) for v in value.replace("x", ",").split(",")]
        except ValueError:
            value = None
    ok = isinstance(value, list) and len(value) in (1, 3) and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    )
    if not ok:
        raise DslSyntaxError(
            f"`input` must be [H, W, C] or [N] with positive integers. Received: {value!r}", loc
        )
    return tuple(value)


OUTPUT_KINDS = ("classes", "labels", "heads", "binary", "regression")


def parse_output(value, loc: Location) -> OutputSpec:
    """``classes``/``labels`` | ``heads`` | ``binary`` | ``regression`` (spec-format section 4)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"classes": value}
    if not isinstance(value, dict):
        raise DslSyntaxError(f"`output` must be a mapping such as {{classes: 10}}. Received: {value!r}", loc)
    if "bias" in value:
        value = dict(value)
        bias = value.pop("bias")
        if not isinstance(bias, bool):
            raise DslSyntaxError(f"`output.bias` must be true or false. Received: {bias!r}", loc)
        out = parse_output(value, loc)
        return OutputSpec(out.kind, out.heads, bias)
    kinds = [k for k in OUTPUT_KINDS if k in value]
    unknown = [k for k in value if k not in OUTPUT_KINDS]
    if unknown:
        raise DslSyntaxError(f"unknown `output` key {unknown[0]!r}"
                             f"{closest(unknown[0], [*OUTPUT_KINDS, 'bias'])}", loc)
    if "heads" in value:
        if len(kinds) > 1 and set(kinds) != {"heads"}:
            raise DslSyntaxError("give `heads` alone, not with classes/labels/binary/regression", loc)
        return OutputSpec("classes", _heads(value["heads"], _located(value, "heads", loc)))
    if "binary" in value:
        if value["binary"] is not True or len(kinds) > 1:
            raise DslSyntaxError("`output.binary` must be true, and alone",
                                 _located(value, "binary", loc))
        return OutputSpec("binary", (Head("output", 1),))
    if "regression" in value:
        if len(kinds) > 1:
            raise DslSyntaxError("`output.regression` must be alone",
                                 _located(value, "regression", loc))
        return OutputSpec("regression", (Head("output", _count(value, "regression", loc)),))
    return OutputSpec("classes", (_labelled_head(value, loc),))


def _count(value: dict, key: str, loc: Location) -> int:
    try:
        return positive_int(value[key])
    except ValueError as e:
        raise DslSyntaxError(f"`output.{key}` {e}", _located(value, key, loc)) from None


def _heads(heads, where: Location) -> tuple[Head, ...]:
    """``heads: {name: classes, ...}``: several softmax heads."""
    if not isinstance(heads, dict) or not heads:
        raise DslSyntaxError("`output.heads` must map head names to class counts", where)
    out = []
    for name, size in heads.items():
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise DslSyntaxError(f"head name {name!r} must be letters, digits, _ . -", where)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise DslSyntaxError(f"head {name!r} needs a positive class count. Received: {size!r}",
                                 where)
        out.append(Head(name, size))
    return tuple(out)


def _labelled_head(value: dict, loc: Location) -> Head:
    """One softmax head from ``classes`` and/or ``labels`` (their counts must agree)."""
    labels = value.get("labels")
    if labels is not None:
        if not isinstance(labels, list) or not all(isinstance(x, (str, int)) for x in labels) or not labels:
            raise DslSyntaxError("`output.labels` must be a list of names", _located(value, "labels", loc))
        labels = tuple(str(x) for x in labels)
    if "classes" in value:
        k = _count(value, "classes", loc)
        if labels is not None and len(labels) != k:
            raise DslSyntaxError(f"`output.labels` has {len(labels)} names for {k} classes",
                                 _located(value, "labels", loc))
    elif labels is not None:
        k = len(labels)
    else:
        raise DslSyntaxError("`output` needs classes, labels, heads, binary or regression", loc)
    return Head("output", k, labels)


def parse_train(value, loc: Location) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DslSyntaxError("`train` must be a mapping of training defaults", loc)
    out = {}
    for key, v in value.items():
        if key not in TRAIN_KEYS:
            raise DslSyntaxError(
                f"unknown `train` option {key!r}{closest(key, TRAIN_KEYS)}; valid: {', '.join(TRAIN_KEYS)}",
                _located(value, key, loc),
            )
        try:
            out[key] = TRAIN_KEYS[key].parse(v)
        except BadValue as e:
            raise DslSyntaxError(f"`train.{key}` {e}", _located(value, key, loc)) from None
    return out


def _macro_defs(raw, file_loc: Location) -> dict[str, Macro]:
    if not isinstance(raw, LDict) or "macros" not in raw or raw["macros"] is None:
        return {}
    defs = raw["macros"]
    where = raw.value_loc("macros")
    if not isinstance(defs, dict):
        raise DslSyntaxError("`macros` must map macro names to layer expressions", where)
    out = {}
    for name, body in defs.items():
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise DslSyntaxError(f"macro name {name!r} must be letters, digits, _ . -", where)
        out[name] = Macro(name, body, _located(defs, name, where))
    return out


def collect_macros(raw, path: Path | None, shown: str) -> dict[str, Macro]:
    """This file's macros over those of its includes (transitively, each file read once)."""
    return IncludeGraph(_macro_defs).macros(raw, path, shown)


def load_spec(
    path: str | Path,
    input_shape: tuple[int, ...] | None = None,
    output: OutputSpec | None = None,
) -> Spec:
    """Read, validate and expand the spec at ``path``.

    ``input_shape`` and ``output`` override the file's own (and are required when the file is a
    bare layer list).

    Raises:
        DslSyntaxError: with file, line and layer path, for any mistake in the spec.
    """
    path = Path(path)
    shown = str(path)
    text = read_text(path)
    return parse_spec(text, shown, path, input_shape, output)


def parse_spec(text, shown="<spec>", path=None, input_shape=None, output=None) -> Spec:
    """Like :func:`load_spec`, from text; ``path`` resolves includes."""
    raw = load_yaml(text, shown)
    file_loc = Location(shown, 1)
    doc, name = _document(raw, path, file_loc)
    if "layers" not in doc:
        raise DslSyntaxError("`layers` is required", file_loc)
    if input_shape is None:
        if doc.get("input") is None:
            raise DslSyntaxError("`input` is required (in the spec or as --input H,W,C)", file_loc)
        input_shape = parse_input_shape(doc["input"], _located(doc, "input", file_loc))
    if output is None:
        if doc.get("output") is None:
            raise DslSyntaxError("`output` is required (in the spec or as --classes K)", file_loc)
        output = parse_output(doc["output"], _located(doc, "output", file_loc))
    builder = LayerBuilder(collect_macros(raw, path, shown))
    root = builder.build_list(doc["layers"], _located(doc, "layers", file_loc), "layers")
    return Spec(
        name=name,
        input_shape=input_shape,
        output=output,
        layers=root,
        description=str(doc.get("description") or ""),
        train=parse_train(doc.get("train"), _located(doc, "train", file_loc)),
        path=str(path) if path else None,
        text=text,
        loc=file_loc,
    )


def _document(raw, path, file_loc: Location) -> tuple[dict, str]:
    """The spec's top-level mapping (a bare layer list is its ``layers``) and its name."""
    if isinstance(raw, LList):
        return {"layers": raw}, path.stem if path else "model"
    if not isinstance(raw, LDict):
        raise DslSyntaxError(
            f"a spec must be a mapping (name, input, output, layers) or a layer list; "
            f"this file holds a {type(raw).__name__}",
            file_loc,
        )
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        k = unknown[0]
        raise DslSyntaxError(
            f"unknown top-level key {k!r}{closest(k, TOP_KEYS)}; valid: {', '.join(TOP_KEYS)}",
            raw.value_loc(k),
        )
    name = raw.get("name", path.stem if path else None)
    problem = spec_name_problem(name)
    if problem:
        raise DslSyntaxError(f"`name` {problem}. Received: {describe_value(name)}",
                             _located(raw, "name", file_loc))
    return raw, name


__all__ = ["Spec", "OutputSpec", "Head", "load_spec", "parse_spec", "parse_input_shape",
           "normalise_placeholder"]

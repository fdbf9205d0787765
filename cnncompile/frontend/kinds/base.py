"""What a layer kind of the DSL is: one unit holding its typed layer, option schema, build,
dump and report title, registered once.

A kind module (``kinds/conv.py``...) defines its layer dataclass and one :class:`LayerKind`,
passed to :func:`register`; the builder, the YAML writer and the report look kinds up here, so
adding a kind to the DSL is one module in the front end (plus its lowering to IR ops).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from ...errors import Location
from ...registry import Registry
from ..options import REQUIRED

# option -> (parser, default); parsers take the written value and return its canonical form
Schema = dict[str, tuple[Callable[[Any], Any], Any]]


@dataclass
class Layer:
    """Base of every layer. ``loc`` has the file, line and layer path for error messages."""

    loc: Location = field(repr=False, compare=False)

    kind = "layer"

    @property
    def children(self) -> list[Layer]:
        return []


@dataclass(frozen=True)
class LayerCall:
    """One layer expression being built: where it is, its options and its raw children.

    ``options`` are parsed with the kind's defaults filled in; ``written`` names the options the
    expression wrote itself and ``option_loc(key)`` locates one. ``builder`` (a :class:`~cnncompile.frontend.build.LayerBuilder`)
    builds the children and expands macros.
    """

    where: Location
    options: dict
    written: Collection[str]
    option_loc: Callable[[str], Location]
    children: list
    child_locs: list[Location]
    depth: int
    builder: Any

    def build_children(self, indexed: bool) -> list[Layer]:
        """The children built in order; ``indexed`` adds ``[i]`` to each child's layer path."""
        built = []
        for i, child in enumerate(self.children):  # a loop, not a comprehension: one frame
            path = f"{self.where.path}[{i}]" if indexed else self.where.path  # less per level
            built.append(self.builder.build(child, self.child_locs[i], path, self.depth + 1))
        return built


@dataclass(frozen=True)
class LayerKind:
    """A DSL layer kind: ``[name, {options}, children...]``.

    Args:
        name: the kind as written in a spec.
        layer: the typed layer class it builds.
        schema: its options in the order errors and the docs list them.
        build: the typed layer of a call (options already checked against ``schema``).
        dump: the layer written back as a DSL expression (plain lists and dicts).
        title: a leaf's few words in the report's diagram ('conv 3x3 32ch'); None for
            composites, which the diagram draws as frames.
        composite: whether the kind takes child layers.
        children_error: the refusal of children written after a leaf's options.
        raw_options: options are taken as written, placeholders included (a macro call's
            arguments pass placeholders on).
    """

    name: str
    layer: type[Layer]
    schema: Schema
    build: Callable[[LayerCall], Layer]
    dump: Callable[[Any], list]
    title: Callable[[Any], str] | None = None
    composite: bool = False
    children_error: str = "{kind} takes no child layers; found {count} after its options"
    raw_options: bool = False

    @property
    def required(self) -> list[str]:
        return [key for key, (_, default) in self.schema.items() if default is REQUIRED]


KINDS: Registry[LayerKind] = Registry("layer kind")


def register(kind: LayerKind) -> LayerKind:
    """Adds ``kind`` to :data:`KINDS`; a second kind of the same name is a programming error."""
    return KINDS.add(kind.name, kind)


def kind_of(layer: Layer) -> LayerKind:
    """The kind that built ``layer``."""
    return KINDS[layer.kind]


def to_dsl(layer: Layer) -> list:
    """One layer expression as plain lists and dicts (macros already expanded)."""
    return kind_of(layer).dump(layer)


def pair_text(p: tuple) -> str:
    """A per-axis pair in a title: '2', or '2x1' when the axes differ."""
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


def dump_options(kind: str, values: dict) -> dict:
    """Only the options that differ from the kind's defaults, in schema order; per-axis pairs
    with equal axes written as one number."""
    out = {}
    for key, (parse, default) in KINDS[kind].schema.items():
        if key not in values:
            continue
        v = values[key]
        if default is not REQUIRED and default is not None and parse(default) == v:
            continue
        out[key] = (v[0] if v[0] == v[1] else list(v)) if isinstance(v, tuple) else v
    return out

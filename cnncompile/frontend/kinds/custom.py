"""`custom`: a macro call, expanded by the builder (spec-format section 5)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import REQUIRED, Layer, LayerCall, LayerKind, register, to_dsl


@dataclass
class Custom(Layer):
    name: str = ""
    body: Layer | None = None
    # the call's arguments as written (placeholder -> value), for reports; not part of equality
    args: dict = field(default_factory=dict, compare=False)
    kind = "custom"

    @property
    def children(self) -> list[Layer]:
        return [self.body] if self.body is not None else []


def _as_written(value):
    return value


def _build(call: LayerCall) -> Custom:
    return call.builder.expand_macro(call)


CUSTOM = register(LayerKind(
    name="custom",
    layer=Custom,
    schema={"name": (_as_written, REQUIRED), "args": (_as_written, None)},
    build=_build,
    dump=lambda layer: to_dsl(layer.body),  # the expansion: macros are gone from the output
    children_error="custom takes no child layers",
    raw_options=True,
))

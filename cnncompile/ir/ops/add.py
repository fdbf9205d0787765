"""``add``: the elementwise sum of inputs of equal shapes (lowering tiles channels first)."""

from __future__ import annotations

from .base import NoAttrs, OpDef, OpShapeError, Shape, register


def add_shape(in_shapes: list[Shape], attrs: NoAttrs) -> Shape:
    for s in in_shapes[1:]:
        if s != in_shapes[0]:
            raise OpShapeError(
                "add inputs must have equal shapes. Received: "
                + ", ".join(str(list(x)) for x in in_shapes)
            )
    return in_shapes[0]


ADD = register(OpDef("add", NoAttrs, add_shape, arity=(1, None), label=lambda a: "+"))

"""``concat``: the inputs joined on the channel (last) axis; H and W must agree."""

from __future__ import annotations

from .base import NoAttrs, OpDef, OpShapeError, Shape, register


def concat_shape(in_shapes: list[Shape], attrs: NoAttrs) -> Shape:
    first = in_shapes[0]
    for s in in_shapes[1:]:
        if len(s) != len(first) or s[:-1] != first[:-1]:
            raise OpShapeError(
                "parallel branches must keep the same H and W. Received: "
                + ", ".join(str(list(x)) for x in in_shapes)
            )
    return first[:-1] + (sum(s[-1] for s in in_shapes),)


CONCAT = register(OpDef("concat", NoAttrs, concat_shape, arity=(1, None)))

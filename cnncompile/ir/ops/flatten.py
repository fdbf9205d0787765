"""``flatten``: ``(H, W, C)`` to ``(H*W*C,)`` in H, W, C order (lowering puts it before dense)."""

from __future__ import annotations

import math

from .base import NoAttrs, OpDef, Shape, register


def flatten_shape(in_shapes: list[Shape], attrs: NoAttrs) -> Shape:
    return (math.prod(in_shapes[0]),)


FLATTEN = register(OpDef("flatten", NoAttrs, flatten_shape))

"""``bias_map``: a constant added per position and channel, ``y = x + bias[h, w, c]``.

No layer of the DSL makes one: the push-affine pass does, after a padded conv whose input
carried a per-channel shift. Zero padding reads the shift only on real cells, so the conv's
output gains a constant that differs near the border; the conv's bias takes the interior
value and this op the rest (:mod:`cnncompile.ir.passes.push_affine`). The bias is
``[H, W, C]`` (layout HWC) and trainable like any bias, so every backend lowers it for
training as well as inference.
"""

from __future__ import annotations

from .base import NoAttrs, OpDef, OpShapeError, ParamSpec, Shape, register


def bias_map_shape(in_shapes: list[Shape], attrs: NoAttrs) -> Shape:
    if len(in_shapes[0]) != 3:
        raise OpShapeError(f"bias_map needs an [H, W, C] input. Received: {list(in_shapes[0])}")
    return in_shapes[0]


def bias_map_params(in_shapes: list[Shape], attrs: NoAttrs) -> list[ParamSpec]:
    return [ParamSpec("bias", in_shapes[0], "bias", "HWC", start=0.0)]


BIAS_MAP = register(OpDef("bias_map", NoAttrs, bias_map_shape, bias_map_params,
                          label=lambda a: "+b"))

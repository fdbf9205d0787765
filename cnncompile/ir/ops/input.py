"""``input``: the graph's input batch; its attributes are the shape without the batch axis."""

from __future__ import annotations

from dataclasses import dataclass

from .base import OpDef, Shape, register


@dataclass(frozen=True)
class InputAttrs:
    shape: Shape


def input_shape(in_shapes: list[Shape], a: InputAttrs) -> Shape:
    return a.shape


INPUT = register(OpDef("input", InputAttrs, input_shape, arity=(0, 0)))

"""``tile``: channels repeated as whole blocks: output channel k is input channel k mod c."""

from __future__ import annotations

from dataclasses import dataclass

from .base import OpDef, Shape, register


@dataclass(frozen=True)
class TileAttrs:
    reps: int  # channel blocks


def tile_shape(in_shapes: list[Shape], a: TileAttrs) -> Shape:
    return in_shapes[0][:-1] + (in_shapes[0][-1] * a.reps,)


TILE = register(OpDef("tile", TileAttrs, tile_shape))

"""``max_pool`` and ``avg_pool``: a window reduction per channel, no parameters, no MACs.

Max ignores padded cells; avg divides by the real cells it read unless ``count_pad``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..window import AxisWindow
from .base import OpDef, Shape, register, windowed_shape


@dataclass(frozen=True)
class PoolAttrs:
    windows: tuple[AxisWindow, AxisWindow]
    count_pad: bool = False  # avg only: divide by kh*kw (True) or by the real cells (False)


def pool_shape(in_shapes: list[Shape], a: PoolAttrs) -> Shape:
    oh, ow = windowed_shape(in_shapes[0], a.windows, "pooling")
    return (oh, ow, in_shapes[0][2])


MAX_POOL = register(OpDef("max_pool", PoolAttrs, pool_shape, windowed=True))
AVG_POOL = register(OpDef("avg_pool", PoolAttrs, pool_shape, windowed=True))

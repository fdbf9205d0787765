"""The typed layer tree: what the front end hands to the rest of the compiler.

Every option is validated and canonicalised by the front end (ints become per-axis pairs,
padding strings become upper case, defaults are filled in), so nothing after it sees raw dicts.
Each layer class lives with its kind in ``frontend/kinds/``; this module is the tree's one
import for the rest of the compiler (``from cnncompile.frontend import layers as L``).
"""

from __future__ import annotations

from .kinds.act import ACTFUNCS, Act
from .kinds.base import Layer
from .kinds.batch_normal import BatchNormal
from .kinds.composite import Add, Loop, Parallel, Serial
from .kinds.conv import Conv
from .kinds.custom import Custom
from .kinds.dropout import Dropout
from .kinds.full import Full
from .kinds.noise import Noise
from .kinds.pool import Pool

__all__ = ["ACTFUNCS", "Act", "Add", "BatchNormal", "Conv", "Custom", "Dropout", "Full", "Layer",
           "Loop", "Noise", "Parallel", "Pool", "Serial", "count_layers"]


def count_layers(layer: Layer) -> int:
    """Layers after expanding every loop (each copy counted), composites included."""
    if isinstance(layer, Loop):
        return 1 + layer.repeat * (count_layers(layer.body) if layer.body else 0)
    return 1 + sum(count_layers(c) for c in layer.children)

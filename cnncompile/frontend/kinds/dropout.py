"""`dropout`: inverted dropout while training, identity at inference."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import number
from .base import Layer, LayerCall, LayerKind, register


@dataclass
class Dropout(Layer):
    keep_prob: float = 1.0
    kind = "dropout"


def _build(call: LayerCall) -> Dropout:
    return Dropout(call.where, call.options["keep_prob"])


DROPOUT = register(LayerKind(
    name="dropout",
    layer=Dropout,
    schema={"keep_prob": (number(0, 1, low_open=True), 1.0)},
    build=_build,
    dump=lambda layer: ["dropout", {"keep_prob": layer.keep_prob}],
    title=lambda layer: f"dropout keep {layer.keep_prob:g}",
))

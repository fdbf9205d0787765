"""`full`: a dense layer; a 3-D input is flattened in H, W, C order first."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import boolean, positive_int
from .act import actfunc
from .base import REQUIRED, Layer, LayerCall, LayerKind, dump_options, register


@dataclass
class Full(Layer):
    width: int = 0
    actfunc: str = "relu"
    bias: bool = True
    kind = "full"


def _build(call: LayerCall) -> Full:
    o = call.options
    return Full(call.where, o["width"], o["actfunc"], o["bias"])


def _dump(layer: Full) -> list:
    return ["full", dump_options("full", {"width": layer.width, "actfunc": layer.actfunc,
                                          "bias": layer.bias})]


def _title(layer: Full) -> str:
    return f"full {layer.width}" + (f" {layer.actfunc}" if layer.actfunc != "relu" else "")


FULL = register(LayerKind(
    name="full",
    layer=Full,
    schema={
        "width": (positive_int, REQUIRED),
        "actfunc": (actfunc, "relu"),
        "bias": (boolean, True),
    },
    build=_build,
    dump=_dump,
    title=_title,
))

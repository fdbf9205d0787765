"""`noise`: Gaussian noise added to the whole tensor while training, identity at inference."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import choice, number
from .base import Layer, LayerCall, LayerKind, dump_options, register

inf = float("inf")


@dataclass
class Noise(Layer):
    type: str = "normal"
    mean: float = 0.0
    std: float = 1.0
    ratio: float = 1.0
    kind = "noise"


def _build(call: LayerCall) -> Noise:
    o = call.options
    return Noise(call.where, o["type"], o["mean"], o["std"], o["ratio"])


def _dump(layer: Noise) -> list:
    return ["noise", dump_options("noise", {"type": layer.type, "mean": layer.mean,
                                            "std": layer.std, "ratio": layer.ratio})]


NOISE = register(LayerKind(
    name="noise",
    layer=Noise,
    schema={
        "type": (choice("normal"), "normal"),
        "mean": (number(-inf, inf), 0.0),
        "std": (number(0, inf), 1.0),
        "ratio": (number(0, 1), 1.0),
    },
    build=_build,
    dump=_dump,
    title=lambda layer: f"noise {layer.type} {layer.std:g}",
))

"""`act` (ext): a standalone activation; also the activation names every kind's `actfunc` takes."""

from __future__ import annotations

from dataclasses import dataclass

from ...ir.ops import ACTIVATIONS
from ..options import choice
from .base import Layer, LayerCall, LayerKind, register

# the IR's activations plus the textbook's "none" (a layer without one), in the order the
# refusal lists them
ACTFUNCS = (*ACTIVATIONS[:3], "none", *ACTIVATIONS[3:])
actfunc = choice(*ACTFUNCS)


@dataclass
class Act(Layer):
    actfunc: str = "relu"
    kind = "act"


def _build(call: LayerCall) -> Act:
    return Act(call.where, call.options["actfunc"])


ACT = register(LayerKind(
    name="act",
    layer=Act,
    schema={"actfunc": (actfunc, "relu")},
    build=_build,
    dump=lambda layer: ["act", {"actfunc": layer.actfunc}],
    title=lambda layer: f"act {layer.actfunc}",
))

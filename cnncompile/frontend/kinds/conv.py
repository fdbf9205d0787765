"""`conv`: a 2-D convolution followed by its `actions` (activation, batch norm)."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import actions_string, boolean, padding, positive_int, positive_pair
from .act import actfunc
from .base import REQUIRED, Layer, LayerCall, LayerKind, dump_options, pair_text, register
from .batch_normal import bn_of_actions, bn_options


@dataclass
class Conv(Layer):
    ksize: tuple[int, int] = (1, 1)
    chn: int = 0
    stride: tuple[int, int] = (1, 1)
    padding: tuple = ("SAME", "SAME")  # per axis: 'SAME' | 'VALID' | int
    actfunc: str = "relu"
    actions: str = "LA"
    bias: bool = True
    groups: int = 1
    bn: dict | None = None  # ext: {exp_ratio, epsilon} of the `B` action; None: the textbook's
    kind = "conv"


def _build(call: LayerCall) -> Conv:
    o = call.options
    return Conv(call.where, o["ksize"], o["chn"], o["stride"], o["padding"], o["actfunc"],
                o["actions"], o["bias"], o["groups"], bn_of_actions(o, call.where))


def _dump(layer: Conv) -> list:
    return ["conv", dump_options("conv", {
        "ksize": layer.ksize, "chn": layer.chn, "stride": layer.stride,
        "padding": layer.padding, "actfunc": layer.actfunc, "actions": layer.actions,
        "bias": layer.bias, "groups": layer.groups, **({"bn": layer.bn} if layer.bn else {})})]


def _title(layer: Conv) -> str:
    """'conv 3x3 /2 32ch LAB': the kernel, then only what differs from the defaults."""
    text = f"conv {layer.ksize[0]}x{layer.ksize[1]}"
    if layer.stride != (1, 1):
        text += f" /{pair_text(layer.stride)}"
    text += f" {layer.chn}ch"
    if layer.groups != 1:
        text += f" g{layer.groups}"
    if layer.actions != "LA":
        text += f" {layer.actions}"
    if "A" in layer.actions and layer.actfunc != "relu":
        text += f" {layer.actfunc}"
    return text


CONV = register(LayerKind(
    name="conv",
    layer=Conv,
    schema={
        "ksize": (positive_pair, REQUIRED),
        "chn": (positive_int, REQUIRED),
        "stride": (positive_pair, 1),
        "padding": (padding, "SAME"),
        "actfunc": (actfunc, "relu"),
        "actions": (actions_string("LAB", need_l=True), "LA"),
        "bias": (boolean, True),
        "groups": (positive_int, 1),
        "bn": (bn_options, None),
    },
    build=_build,
    dump=_dump,
    title=_title,
))

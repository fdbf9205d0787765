"""`max` and `avg`: pooling over windows (`ksize` defaults to the stride)."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import boolean, padding, positive_pair
from .base import Layer, LayerCall, LayerKind, dump_options, pair_text, register


@dataclass
class Pool(Layer):
    op: str = "max"  # 'max' | 'avg'
    ksize: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple = ("SAME", "SAME")
    count_pad: bool = True  # integer padding only: avg divides by k*k (PyTorch's default)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.op


def _build_as(op: str):
    def build(call: LayerCall) -> Pool:
        o = call.options
        return Pool(call.where, op, o["ksize"] or o["stride"], o["stride"], o["padding"],
                    o.get("count_pad", True))

    return build


def _dump(layer: Pool) -> list:
    values = {"stride": layer.stride, "ksize": layer.ksize, "padding": layer.padding}
    if layer.op == "avg":
        values["count_pad"] = layer.count_pad
    if layer.ksize == layer.stride:
        del values["ksize"]  # the default: ksize = stride
    o = dump_options(layer.op, values)
    return [layer.op, o] if o else [layer.op]


def _title(layer: Pool) -> str:
    text = f"{layer.op} {layer.ksize[0]}x{layer.ksize[1]}"
    return text + (f" /{pair_text(layer.stride)}" if layer.stride != (1, 1) else "")


_WINDOW = {
    "stride": (positive_pair, 1),
    "ksize": (positive_pair, None),
    "padding": (padding, "SAME"),
}

MAX = register(LayerKind(name="max", layer=Pool, schema=dict(_WINDOW), build=_build_as("max"),
                         dump=_dump, title=_title))
AVG = register(LayerKind(name="avg", layer=Pool,
                         schema={**_WINDOW, "count_pad": (boolean, True)},
                         build=_build_as("avg"), dump=_dump, title=_title))

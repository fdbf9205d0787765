"""``conv``: a grouped 2-D convolution over explicit windows, optionally with a fused activation.

The kernel is ``[kh, kw, cin/groups, cout]`` (layout HWIO), the bias ``[cout]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..window import AxisWindow
from .base import OpDef, OpShapeError, ParamSpec, Shape, bias_param, register, windowed_shape


@dataclass(frozen=True)
class ConvAttrs:
    """Window geometry per axis (H, W), output channels, groups, bias.

    ``activation`` is an epilogue that only the fuse-activation pass sets: the activation
    (one of ``ACTIVATIONS``) applied to the conv's output in place; None as lowered (the
    structure hash leaves None attributes out, so recorded hashes stay as they were).
    """

    windows: tuple[AxisWindow, AxisWindow]  # H, W
    cout: int
    groups: int = 1
    bias: bool = True
    activation: str | None = None

    @property
    def kernel(self) -> tuple[int, int]:
        return (self.windows[0].kernel, self.windows[1].kernel)

    @property
    def strides(self) -> tuple[int, int]:
        return (self.windows[0].stride, self.windows[1].stride)


def conv_shape(in_shapes: list[Shape], a: ConvAttrs) -> Shape:
    """``(oh, ow, cout)``; ``groups`` must divide both channel counts."""
    oh, ow = windowed_shape(in_shapes[0], a.windows, "conv")
    cin = in_shapes[0][2]
    if cin % a.groups or a.cout % a.groups:
        raise OpShapeError(
            f"`groups` must divide the input and output channels. "
            f"Received: groups={a.groups}, input channels={cin}, chn={a.cout}"
        )
    return (oh, ow, a.cout)


def conv_params(in_shapes: list[Shape], a: ConvAttrs) -> list[ParamSpec]:
    kh, kw = a.kernel
    out = [ParamSpec("kernel", (kh, kw, in_shapes[0][2] // a.groups, a.cout), "kernel", "HWIO")]
    if a.bias:
        out.append(bias_param(a.cout))
    return out


def conv_macs(in_shapes: list[Shape], out_shape: Shape, a: ConvAttrs) -> int:
    """oh*ow*cout*kh*kw*cin/groups (torch's conv_flop_count convention, halved to MACs)."""
    kh, kw = a.kernel
    return out_shape[0] * out_shape[1] * a.cout * kh * kw * (in_shapes[0][2] // a.groups)


CONV = register(OpDef("conv", ConvAttrs, conv_shape, conv_params, conv_macs, windowed=True))

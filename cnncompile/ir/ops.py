"""IR operators: frozen attributes, a pure shape rule, parameter shapes and a cost rule each.

Shapes leave out the batch axis and are NHWC: ``(H, W, C)`` or ``(N,)``. Nothing here sees an
array: analysing ResNet-152 allocates no weights. Backends (engine, ONNX emitter) register their
kernels per op name in their own packages; ``tests/ir/test_registry.py`` checks every op has them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .window import AxisWindow

Shape = tuple[int, ...]


class OpShapeError(Exception):
    """Raised by a shape rule; lowering adds the layer's location and re-raises a ShapeError."""


@dataclass(frozen=True)
class ParamSpec:
    """A parameter an op owns: its short name ('kernel'), shape and whether training updates it."""

    name: str
    shape: Shape
    trainable: bool = True


@dataclass(frozen=True)
class Cost:
    """MACs (multiply-accumulates, not FLOPs; bias adds not counted) and parameter counts."""

    macs: int = 0
    trainable: int = 0
    non_trainable: int = 0


# -- attributes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InputAttrs:
    shape: Shape


@dataclass(frozen=True)
class ConvAttrs:
    windows: tuple[AxisWindow, AxisWindow]  # H, W
    cout: int
    groups: int = 1
    bias: bool = True
    # an activation applied to the output in the same step (set by the fuse_activation pass;
    # lowering never sets it)
    activation: str | None = None

    @property
    def kernel(self) -> tuple[int, int]:
        return (self.windows[0].kernel, self.windows[1].kernel)

    @property
    def strides(self) -> tuple[int, int]:
        return (self.windows[0].stride, self.windows[1].stride)


@dataclass(frozen=True)
class PoolAttrs:
    windows: tuple[AxisWindow, AxisWindow]
    count_pad: bool = False  # avg only: divide by kh*kw (True) or by the real cells (False)


@dataclass(frozen=True)
class DenseAttrs:
    units: int
    bias: bool = True


@dataclass(frozen=True)
class NoAttrs:
    pass


@dataclass(frozen=True)
class BatchNormAttrs:
    epsilon: float = 1e-10
    exp_ratio: float = 0.001  # running stat += exp_ratio * (batch stat - running stat)
    rescale: bool = True


@dataclass(frozen=True)
class ActAttrs:
    func: str = "relu"  # relu sigmoid tanh leaky_relu elu swish


@dataclass(frozen=True)
class DropoutAttrs:
    keep_prob: float = 1.0


@dataclass(frozen=True)
class NoiseAttrs:
    mean: float = 0.0
    std: float = 1.0
    ratio: float = 1.0


@dataclass(frozen=True)
class TileAttrs:
    reps: int  # channel blocks: output channel k is input channel k mod c


# -- op definitions ------------------------------------------------------------------------


@dataclass(frozen=True)
class OpDef:
    name: str
    attrs_type: type
    infer_shape: Callable[[list[Shape], object], Shape]
    params: Callable[[list[Shape], object], list[ParamSpec]]
    macs: Callable[[list[Shape], Shape, object], int]
    arity: tuple[int, int | None] = (1, 1)  # min, max inputs (None: any)
    windowed: bool = False  # has ``attrs.windows`` (receptive field grows)


OPS: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} registered twice")
    OPS[op.name] = op
    return op


def _no_params(in_shapes, attrs) -> list[ParamSpec]:
    return []


def _no_macs(in_shapes, out_shape, attrs) -> int:
    return 0


def _same_shape(in_shapes, attrs) -> Shape:
    return in_shapes[0]


def _spatial(shape: Shape, what: str) -> Shape:
    if len(shape) != 3:
        raise OpShapeError(f"{what} needs an [H, W, C] input. Received: input={list(shape)}")
    return shape


def _windowed_shape(shape: Shape, windows, what: str) -> tuple[int, int]:
    h, w, _ = _spatial(shape, what)
    if (windows[0].size, windows[1].size) != (h, w):
        raise OpShapeError(f"window geometry is for {windows[0].size}x{windows[1].size}, input is {h}x{w}")
    return windows[0].out, windows[1].out


def _conv_shape(in_shapes, a: ConvAttrs) -> Shape:
    oh, ow = _windowed_shape(in_shapes[0], a.windows, "conv")
    cin = in_shapes[0][2]
    if cin % a.groups or a.cout % a.groups:
        raise OpShapeError(
            f"`groups` must divide the input and output channels. "
            f"Received: groups={a.groups}, input channels={cin}, chn={a.cout}"
        )
    return (oh, ow, a.cout)


def _conv_params(in_shapes, a: ConvAttrs) -> list[ParamSpec]:
    kh, kw = a.kernel
    out = [ParamSpec("kernel", (kh, kw, in_shapes[0][2] // a.groups, a.cout))]
    if a.bias:
        out.append(ParamSpec("bias", (a.cout,)))
    return out


def _conv_macs(in_shapes, out_shape, a: ConvAttrs) -> int:
    """oh*ow*cout*kh*kw*cin/groups (torch's conv_flop_count convention, halved to MACs)."""
    kh, kw = a.kernel
    return out_shape[0] * out_shape[1] * a.cout * kh * kw * (in_shapes[0][2] // a.groups)


def _pool_shape(in_shapes, a: PoolAttrs) -> Shape:
    oh, ow = _windowed_shape(in_shapes[0], a.windows, "pooling")
    return (oh, ow, in_shapes[0][2])


def _dense_shape(in_shapes, a: DenseAttrs) -> Shape:
    if len(in_shapes[0]) != 1:
        raise OpShapeError(f"dense needs a flat input. Received: input={list(in_shapes[0])}")
    return (a.units,)


def _dense_params(in_shapes, a: DenseAttrs) -> list[ParamSpec]:
    out = [ParamSpec("weight", (in_shapes[0][0], a.units))]
    if a.bias:
        out.append(ParamSpec("bias", (a.units,)))
    return out


def _bn_params(in_shapes, a: BatchNormAttrs) -> list[ParamSpec]:
    c = (in_shapes[0][-1],)
    out = [ParamSpec("scale", c), ParamSpec("shift", c)] if a.rescale else []
    return out + [ParamSpec("mean", c, False), ParamSpec("var", c, False)]


def _concat_shape(in_shapes, attrs) -> Shape:
    first = in_shapes[0]
    for s in in_shapes[1:]:
        if len(s) != len(first) or s[:-1] != first[:-1]:
            raise OpShapeError(
                "parallel branches must keep the same H and W. Received: "
                + ", ".join(str(list(x)) for x in in_shapes)
            )
    return first[:-1] + (sum(s[-1] for s in in_shapes),)


def _add_shape(in_shapes, attrs) -> Shape:
    for s in in_shapes[1:]:
        if s != in_shapes[0]:
            raise OpShapeError(
                "add inputs must have equal shapes. Received: "
                + ", ".join(str(list(x)) for x in in_shapes)
            )
    return in_shapes[0]


def _tile_shape(in_shapes, a: TileAttrs) -> Shape:
    return in_shapes[0][:-1] + (in_shapes[0][-1] * a.reps,)


def _flatten_shape(in_shapes, attrs) -> Shape:
    return (math.prod(in_shapes[0]),)


def _input_shape(in_shapes, a: InputAttrs) -> Shape:
    return a.shape


register(OpDef("input", InputAttrs, _input_shape, _no_params, _no_macs, arity=(0, 0)))
register(OpDef("conv", ConvAttrs, _conv_shape, _conv_params, _conv_macs, windowed=True))
register(OpDef("max_pool", PoolAttrs, _pool_shape, _no_params, _no_macs, windowed=True))
register(OpDef("avg_pool", PoolAttrs, _pool_shape, _no_params, _no_macs, windowed=True))
register(OpDef("dense", DenseAttrs, _dense_shape, _dense_params,
               lambda i, o, a: i[0][0] * a.units))
register(OpDef("flatten", NoAttrs, _flatten_shape, _no_params, _no_macs))
register(OpDef("batch_norm", BatchNormAttrs, _same_shape, _bn_params, _no_macs))
register(OpDef("act", ActAttrs, _same_shape, _no_params, _no_macs))
register(OpDef("dropout", DropoutAttrs, _same_shape, _no_params, _no_macs))
register(OpDef("noise", NoiseAttrs, _same_shape, _no_params, _no_macs))
register(OpDef("concat", NoAttrs, _concat_shape, _no_params, _no_macs, arity=(1, None)))
register(OpDef("add", NoAttrs, _add_shape, _no_params, _no_macs, arity=(1, None)))
register(OpDef("tile", TileAttrs, _tile_shape, _no_params, _no_macs))


def op_cost(op: str, in_shapes: list[Shape], out_shape: Shape, attrs) -> Cost:
    """Cost of one node from shapes alone."""
    d = OPS[op]
    params = d.params(in_shapes, attrs)
    return Cost(
        macs=d.macs(in_shapes, out_shape, attrs),
        trainable=sum(math.prod(p.shape) for p in params if p.trainable),
        non_trainable=sum(math.prod(p.shape) for p in params if not p.trainable),
    )

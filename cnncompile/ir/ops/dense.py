"""``dense``: ``x @ weight + bias`` on a flat input; the weight is ``[in, out]`` (layout IO)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import OpDef, OpShapeError, ParamSpec, Shape, bias_param, register


@dataclass(frozen=True)
class DenseAttrs:
    units: int
    bias: bool = True


def dense_shape(in_shapes: list[Shape], a: DenseAttrs) -> Shape:
    if len(in_shapes[0]) != 1:
        raise OpShapeError(f"dense needs a flat input. Received: input={list(in_shapes[0])}")
    return (a.units,)


def dense_params(in_shapes: list[Shape], a: DenseAttrs) -> list[ParamSpec]:
    out = [ParamSpec("weight", (in_shapes[0][0], a.units), "weight", "IO")]
    if a.bias:
        out.append(bias_param(a.units))
    return out


def dense_macs(in_shapes: list[Shape], out_shape: Shape, a: DenseAttrs) -> int:
    """in * units (bias adds not counted)."""
    return in_shapes[0][0] * a.units


DENSE = register(OpDef("dense", DenseAttrs, dense_shape, dense_params, dense_macs))

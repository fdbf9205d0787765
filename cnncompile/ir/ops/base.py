"""What every op module provides, and the registry of ops by name.

An op is one :class:`OpDef`: its frozen attributes type, a pure shape rule, the parameters it
owns (:class:`ParamSpec`: shape, role, layout, start value) and a MAC rule. Shapes leave out
the batch axis and are NHWC: ``(H, W, C)`` or ``(N,)``. Nothing here sees an array: analysing
ResNet-152 allocates no weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ...registry import Registry

Shape = tuple[int, ...]

# What a parameter is for, whatever it is called: backends convert layouts, the optimiser
# decays and the initialiser draws by role, never by the name's suffix.
WEIGHT_ROLES = ("kernel", "weight")  # drawn at random, L1/L2-decayed, laid out per op
ROLES = (*WEIGHT_ROLES, "bias", "scale", "shift", "mean", "var")
# Layouts of the IR's parameter arrays: a conv kernel [kh, kw, cin/groups, cout], a dense
# weight [in, out], a per-channel vector [C], a per-position map [H, W, C] (bias_map).
LAYOUTS = ("HWIO", "IO", "C", "HWC")


class OpShapeError(Exception):
    """Raised by a shape rule; lowering adds the layer's location and re-raises a ShapeError."""


@dataclass(frozen=True)
class ParamSpec:
    """A parameter an op owns.

    ``name`` is its short name in the node ('kernel'); ``role`` what it is for (one of
    :data:`ROLES`); ``layout`` how its axes are ordered (one of :data:`LAYOUTS`); ``start``
    the value it starts at, None for the weights drawn at random; ``trainable`` whether
    training updates it by gradient (running statistics are not).
    """

    name: str
    shape: Shape
    role: str
    layout: str
    start: float | None = None
    trainable: bool = True

    def __post_init__(self) -> None:
        if self.role not in ROLES or self.layout not in LAYOUTS:
            raise ValueError(f"parameter {self.name!r}: unknown role {self.role!r} or layout "
                             f"{self.layout!r}")
        if (self.start is None) != (self.role in WEIGHT_ROLES):
            raise ValueError(f"parameter {self.name!r}: only kernels and weights start random")


def bias_param(channels: int) -> ParamSpec:
    """The per-output-channel bias of a conv or dense op, starting at 0."""
    return ParamSpec("bias", (channels,), "bias", "C", start=0.0)


@dataclass(frozen=True)
class Cost:
    """MACs (multiply-accumulates, not FLOPs; bias adds not counted) and parameter counts."""

    macs: int = 0
    trainable: int = 0
    non_trainable: int = 0


@dataclass(frozen=True)
class NoAttrs:
    """Attributes of an op that has none (flatten, concat, add)."""


ShapeRule = Callable[[list[Shape], object], Shape]
ParamsRule = Callable[[list[Shape], object], list[ParamSpec]]
MacsRule = Callable[[list[Shape], Shape, object], int]


def no_params(in_shapes: list[Shape], attrs) -> list[ParamSpec]:
    return []


def no_macs(in_shapes: list[Shape], out_shape: Shape, attrs) -> int:
    return 0


def same_shape(in_shapes: list[Shape], attrs) -> Shape:
    return in_shapes[0]


@dataclass(frozen=True)
class OpDef:
    """One op kind: its rules, how many inputs it takes and how diagrams name it.

    ``label`` gives the few characters a diagram's join shows for a node (default: the op's
    name); ``windowed`` ops have ``attrs.windows`` (their receptive field grows).
    """

    name: str
    attrs_type: type
    infer_shape: ShapeRule
    params: ParamsRule = no_params
    macs: MacsRule = no_macs
    arity: tuple[int, int | None] = (1, 1)  # min, max inputs (None: any)
    windowed: bool = False
    label: Callable[[object], str] | None = None

    def short_label(self, attrs) -> str:
        return self.label(attrs) if self.label is not None else self.name


OPS: Registry[OpDef] = Registry("op")


def register(op: OpDef) -> OpDef:
    """Add ``op`` to :data:`OPS`; a second op of the same name is a bug."""
    return OPS.add(op.name, op)


def op_cost(op: str, in_shapes: list[Shape], out_shape: Shape, attrs) -> Cost:
    """Cost of one node from shapes alone."""
    d = OPS[op]
    params = d.params(in_shapes, attrs)
    return Cost(
        macs=d.macs(in_shapes, out_shape, attrs),
        trainable=sum(math.prod(p.shape) for p in params if p.trainable),
        non_trainable=sum(math.prod(p.shape) for p in params if not p.trainable),
    )


def windowed_shape(shape: Shape, windows, what: str) -> tuple[int, int]:
    """The output H and W of a windowed op (conv, pools) on an ``[H, W, C]`` input."""
    if len(shape) != 3:
        raise OpShapeError(f"{what} needs an [H, W, C] input. Received: input={list(shape)}")
    h, w, _ = shape
    if (windows[0].size, windows[1].size) != (h, w):
        raise OpShapeError(f"window geometry is for {windows[0].size}x{windows[1].size}, input is {h}x{w}")
    return windows[0].out, windows[1].out

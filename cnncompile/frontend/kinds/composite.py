"""`serial`, `parallel`, `loop` and `add`: kinds whose children are layer expressions."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import DslSyntaxError
from ..options import actions_string, boolean, positive_int
from .act import actfunc
from .base import Layer, LayerCall, LayerKind, dump_options, register, to_dsl
from .batch_normal import bn_of_actions, bn_options


@dataclass
class Serial(Layer):
    items: list[Layer] = field(default_factory=list)
    kind = "serial"

    @property
    def children(self) -> list[Layer]:
        return self.items


@dataclass
class Parallel(Layer):
    branches: list[Layer] = field(default_factory=list)
    kind = "parallel"

    @property
    def children(self) -> list[Layer]:
        return self.branches


@dataclass
class Loop(Layer):
    repeat: int = 1
    body: Layer | None = None
    kind = "loop"

    @property
    def children(self) -> list[Layer]:
        return [self.body] if self.body is not None else []


@dataclass
class Add(Layer):
    branches: list[Layer] = field(default_factory=list)
    x: bool = True
    actions: str = ""
    actfunc: str = "relu"
    bn: dict | None = None  # ext: {exp_ratio, epsilon} of the `B` action; None: the textbook's
    kind = "add"

    @property
    def children(self) -> list[Layer]:
        return self.branches


def _some_children(call: LayerCall, kind: str) -> LayerCall:
    """``call``, refused when it has no children (checked apart from building them, so that
    deep nesting spends no extra stack frame here)."""
    if not call.children:
        raise DslSyntaxError(f"{kind} needs at least one child layer", call.where)
    return call


def _build_loop(call: LayerCall) -> Loop:
    if len(call.children) != 1:
        raise DslSyntaxError(
            f"loop takes exactly one child layer (wrap several in [serial, ...]); "
            f"found {len(call.children)}",
            call.where,
        )
    (body,) = call.build_children(indexed=False)
    loop = Loop(call.where, call.options["repeat"], body)
    call.builder.check_size(loop, call.where)
    return loop


def _build_add(call: LayerCall) -> Add:
    o = call.options
    branches = _some_children(call, "add").build_children(indexed=len(call.children) > 1)
    return Add(call.where, branches, o["x"], o["actions"], o["actfunc"],
               bn_of_actions(o, call.where))


def _dump_add(layer: Add) -> list:
    o = dump_options("add", {"x": layer.x, "actions": layer.actions, "actfunc": layer.actfunc,
                             **({"bn": layer.bn} if layer.bn else {})})
    return ["add", o] + [to_dsl(c) for c in layer.branches]


SERIAL = register(LayerKind(
    name="serial", layer=Serial, schema={}, composite=True,
    build=lambda call: Serial(call.where, call.build_children(indexed=True)),
    dump=lambda layer: ["serial"] + [to_dsl(c) for c in layer.items],
))
PARALLEL = register(LayerKind(
    name="parallel", layer=Parallel, schema={}, composite=True,
    build=lambda call: Parallel(call.where,
                                _some_children(call, "parallel").build_children(indexed=True)),
    dump=lambda layer: ["parallel"] + [to_dsl(c) for c in layer.branches],
))
LOOP = register(LayerKind(
    name="loop", layer=Loop, schema={"repeat": (positive_int, 1)}, composite=True,
    build=_build_loop,
    dump=lambda layer: ["loop", {"repeat": layer.repeat}, to_dsl(layer.body)],
))
ADD = register(LayerKind(
    name="add", layer=Add, composite=True,
    schema={
        "x": (boolean, True),
        "actions": (actions_string("AB", need_l=False), ""),
        "actfunc": (actfunc, "relu"),
        "bn": (bn_options, None),
    },
    build=_build_add,
    dump=_dump_add,
))

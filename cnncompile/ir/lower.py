"""Lowering: the typed layer tree becomes a flat IR graph (plus the spec's block nesting).

Node names follow the spec: a composite or leaf is named by its kind (a custom by its macro
name), with ``_i`` appended when its label repeats among its siblings; a custom whose body is a
serial takes the serial's children directly. So residual_flower's second ``rhalf`` holds
``residual_flower/rhalf_1/rh/add/serial/conv_0``. Sub-steps of a leaf hang below it:
``conv_0/relu``, ``conv_0/bn``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from ..errors import Location, ShapeError
from ..frontend import layers as L
from .graph import Block, Graph, Node, make_node
from .limits import check_representable
from .ops import (
    ActAttrs,
    BatchNormAttrs,
    ConvAttrs,
    DenseAttrs,
    DropoutAttrs,
    InputAttrs,
    NoAttrs,
    NoiseAttrs,
    OpShapeError,
    PoolAttrs,
    Shape,
    TileAttrs,
)
from .window import axis_window

if TYPE_CHECKING:  # the front end imports ir.ops, so the spec type is for annotations only
    from ..frontend.spec import Spec

INPUT = "input"
OUTPUT = "output"


def _label(layer: L.Layer) -> str:
    return layer.name if isinstance(layer, L.Custom) else layer.kind


def child_names(children: list[L.Layer]) -> list[str]:
    """Sibling names: the label, with ``_i`` when the label occurs more than once."""
    labels = [_label(c) for c in children]
    totals = Counter(labels)
    seen: Counter = Counter()
    out = []
    for lab in labels:
        out.append(f"{lab}_{seen[lab]}" if totals[lab] > 1 else lab)
        seen[lab] += 1
    return out


def _join(scope: str, name: str) -> str:
    return f"{scope}/{name}" if scope else name


class Lowerer:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.nodes: dict[str, Node] = {}

    # -- node creation -------------------------------------------------------------------
    def emit(self, name: str, op: str, attrs, inputs: list[str], loc: Location) -> str:
        base, k = name, 1
        while name in self.nodes:  # a macro named like a kind can clash; keep names unique
            name, k = f"{base}_{k}", k + 1
        in_shapes = [self.nodes[i].shape for i in inputs]
        try:
            node = make_node(name, op, attrs, inputs, in_shapes, loc)
        except OpShapeError as e:
            raise ShapeError(str(e), loc) from None
        self.nodes[name] = node
        return name

    def shape(self, name: str) -> Shape:
        return self.nodes[name].shape

    # -- layers ----------------------------------------------------------------------------
    def lower(self) -> Graph:
        x = self.emit(INPUT, "input", InputAttrs(self.spec.input_shape), [], self.spec.loc)
        root = Block("model", "serial", self.shape(x), self.shape(x))
        y = self.sequence(self.spec.layers.items, x, "", root)
        out_block = Block(OUTPUT, "output", self.shape(y), ())
        y = self.dense(OUTPUT, y, self.spec.output.width, self.spec.output.bias, "none",
                       self.spec.loc, out_block)
        out_block.out_shape = self.shape(y)
        out_block.from_input = out_block.in_shape == self.spec.input_shape and not root.children
        root.children.append(out_block)
        root.out_shape = self.shape(y)
        return Graph(self.spec.name, self.nodes, INPUT, y, self.spec.output, root)

    def sequence(self, items: list[L.Layer], x: str, scope: str, parent: Block) -> str:
        for layer, name in zip(items, child_names(items), strict=True):
            x = self.layer(layer, x, _join(scope, name), parent)
        return x

    def layer(self, layer: L.Layer, x: str, name: str, parent: Block) -> str:
        block = Block(_label(layer) if not isinstance(layer, L.Custom) else f"custom {layer.name}",
                      layer.kind, self.shape(x), (), layer=layer, from_input=(x == INPUT))
        parent.children.append(block)
        y = self._lower(layer, x, name, block)
        block.out_shape = self.shape(y)
        return y

    def _lower(self, layer: L.Layer, x: str, name: str, block: Block) -> str:
        loc = layer.loc
        if isinstance(layer, L.Conv):
            return self.conv(layer, x, name, block)
        if isinstance(layer, L.Full):
            return self.dense(name, x, layer.width, layer.bias, layer.actfunc, loc, block)
        if isinstance(layer, L.Pool):
            windows = self.windows(x, layer.ksize, layer.stride, layer.padding, loc, pool=True)
            count_pad = layer.count_pad and isinstance(layer.padding[0], int)
            op = "max_pool" if layer.op == "max" else "avg_pool"
            return self.node(block, name, op, PoolAttrs(windows, count_pad), [x], loc)
        if isinstance(layer, L.Dropout):
            return self.node(block, name, "dropout", DropoutAttrs(layer.keep_prob), [x], loc)
        if isinstance(layer, L.Noise):
            return self.node(block, name, "noise", NoiseAttrs(layer.mean, layer.std, layer.ratio), [x], loc)
        if isinstance(layer, L.BatchNormal):
            attrs = BatchNormAttrs(layer.epsilon, layer.exp_ratio, layer.rescale)
            return self.node(block, name, "batch_norm", attrs, [x], loc)
        if isinstance(layer, L.Act):
            if layer.actfunc == "none":
                return x
            return self.node(block, name, "act", ActAttrs(layer.actfunc), [x], loc)
        if isinstance(layer, L.Serial):
            return self.sequence(layer.items, x, name, block)
        if isinstance(layer, L.Custom):
            body = layer.body
            if isinstance(body, L.Serial):  # the macro's serial is implied by its name
                sub = Block("serial", "serial", self.shape(x), (), layer=body, from_input=(x == INPUT))
                block.children.append(sub)
                y = self.sequence(body.items, x, name, sub)
                sub.out_shape = self.shape(y)
                return y
            return self.layer(body, x, _join(name, child_names([body])[0]), block)
        if isinstance(layer, L.Loop):
            copies = [layer.body] * layer.repeat
            return self.sequence(copies, x, name, block)
        if isinstance(layer, L.Parallel):
            outs = [self.layer(c, x, _join(name, n), block)
                    for c, n in zip(layer.branches, child_names(layer.branches), strict=True)]
            if len(outs) == 1:
                return outs[0]
            return self.node(block, name, "concat", NoAttrs(), outs, loc)
        if isinstance(layer, L.Add):
            return self.add(layer, x, name, block)
        raise AssertionError(f"no lowering for {type(layer).__name__}")

    def node(self, block: Block, name: str, op: str, attrs, inputs: list[str], loc) -> str:
        y = self.emit(name, op, attrs, inputs, loc)
        block.nodes.append(y)
        return y

    def windows(self, x: str, ksize, stride, padding, loc, pool: bool):
        shape = self.shape(x)
        if len(shape) != 3:
            raise ShapeError(f"needs an [H, W, C] input. Received: input={list(shape)}", loc)
        out = []
        for axis, (n, k, s, p) in enumerate(zip(shape[:2], ksize, stride, padding, strict=True)):
            if pool and isinstance(p, int) and p > k // 2:
                raise ShapeError(
                    f"pooling padding must be at most half the window. Received: padding={p}, ksize={k}",
                    loc,
                )
            w = axis_window(n, k, s, p)
            if w is None:
                raise ShapeError(
                    f"the {'HW'[axis]} axis would have no output cells: window {k} with stride {s} "
                    f"and padding {p!r} on {n} cells. Received: input={list(shape)}, "
                    f"ksize={list(ksize)}, stride={list(stride)}",
                    loc,
                )
            out.append(w)
        return tuple(out)

    def conv(self, layer: L.Conv, x: str, name: str, block: Block) -> str:
        loc = layer.loc
        for action in layer.actions:
            if action == "L":
                windows = self.windows(x, layer.ksize, layer.stride, layer.padding, loc, pool=False)
                attrs = ConvAttrs(windows, layer.chn, layer.groups, layer.bias)
                x = self.node(block, name, "conv", attrs, [x], loc)
            elif action == "A":
                x = self.activation(block, name, layer.actfunc, x, loc)
            else:  # 'B': batch norm without scale and shift (the textbook's rates unless `bn`)
                x = self.node(block, f"{name}/bn", "batch_norm",
                              BatchNormAttrs(rescale=False, **(layer.bn or {})), [x], loc)
        return x

    def activation(self, block: Block, name: str, func: str, x: str, loc) -> str:
        if func == "none":
            return x
        return self.node(block, f"{name}/{func}", "act", ActAttrs(func), [x], loc)

    def dense(self, name, x, units, bias, actfunc, loc, block: Block) -> str:
        if len(self.shape(x)) != 1:
            x = self.node(block, f"{name}/flatten", "flatten", NoAttrs(), [x], loc)
        x = self.node(block, name, "dense", DenseAttrs(units, bias), [x], loc)
        return self.activation(block, name, actfunc, x, loc)

    def add(self, layer: L.Add, x: str, name: str, block: Block) -> str:
        outs = [self.layer(c, x, _join(name, n), block)
                for c, n in zip(layer.branches, child_names(layer.branches), strict=True)]
        terms = outs + ([x] if layer.x else [])
        target = self.shape(outs[0])
        tiled = []
        for i, t in enumerate(terms):
            shape = self.shape(t)
            what = "the input" if (layer.x and i == len(terms) - 1) else f"branch {i}"
            if len(shape) != len(target) or shape[:-1] != target[:-1] or target[-1] % shape[-1]:
                raise ShapeError(
                    f"{what} of add has shape {list(shape)}, which cannot be added to the first "
                    f"branch's {list(target)} (same H and W, channels dividing {target[-1]})",
                    layer.loc,
                )
            if shape[-1] != target[-1]:
                t = self.node(block, f"{name}/tile_{i}", "tile",
                              TileAttrs(target[-1] // shape[-1]), [t], layer.loc)
            tiled.append(t)
        y = self.node(block, name, "add", NoAttrs(), tiled, layer.loc) if len(tiled) > 1 else tiled[0]
        for action in layer.actions:
            if action == "A":
                y = self.activation(block, name, layer.actfunc, y, layer.loc)
            else:
                y = self.node(block, f"{name}/bn", "batch_norm",
                              BatchNormAttrs(rescale=True, **(layer.bn or {})), [y], layer.loc)
        return y


def lower(spec: Spec) -> Graph:
    """The IR graph of ``spec``, shapes and costs inferred; raises located ShapeError (also
    for a tensor no backend can index: :func:`~cnncompile.ir.limits.check_representable`)."""
    graph = Lowerer(spec).lower()
    check_representable(graph)
    return graph

"""The IR graph: named nodes in topological order, each with its shape and parameters.

Modelled on torch.fx: unique stable names, a readable printout, ``lint()`` for structural checks.
Alongside the flat node list the graph keeps :class:`Block`, the spec's own nesting
(serial/parallel/add/loop/custom and leaf layers), which the tree and textbook reports print.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from ..errors import Location
from .ops import OPS, Cost, ParamSpec, Shape, op_cost


@dataclass(frozen=True)
class Param:
    """A model parameter: full IR name (``node.short``), shape, trainable or not, and its op's
    role (``kernel``, ``bias``, ...), layout (``HWIO``, ``IO``, ``C``) and start value."""

    name: str
    shape: Shape
    trainable: bool
    role: str
    layout: str
    start: float | None  # None: drawn at random (kernels and weights)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass
class Node:
    name: str
    op: str
    attrs: object
    inputs: list[str]
    shape: Shape
    params: list[Param] = field(default_factory=list)
    cost: Cost = field(default_factory=Cost)
    loc: Location = field(default_factory=Location, repr=False)

    def param(self, short: str) -> Param:
        return next(p for p in self.params if p.name == f"{self.name}.{short}")

    def param_with_role(self, role: str) -> Param | None:
        """The node's parameter with ``role`` (its op owns at most one of each)."""
        return next((p for p in self.params if p.role == role), None)


@dataclass
class Block:
    """A layer of the spec as written: a leaf (one or more IR nodes) or a composite."""

    label: str  # 'conv', 'serial', 'custom rhalf', ...
    kind: str  # the layer kind; 'output' for the appended output layer
    in_shape: Shape
    out_shape: Shape
    nodes: list[str] = field(default_factory=list)  # IR nodes this block produced directly
    children: list[Block] = field(default_factory=list)
    layer: object = None  # the frontend layer (for the textbook's pm: column)
    from_input: bool = False  # its input is the model input (the textbook prints a tuple)

    @property
    def is_leaf(self) -> bool:
        return self.kind not in ("serial", "parallel", "add", "loop", "custom")

    def all_nodes(self) -> list[str]:
        out = list(self.nodes)
        for c in self.children:
            out.extend(c.all_nodes())
        return out


@dataclass
class Graph:
    name: str
    nodes: dict[str, Node]
    input: str
    output: str
    heads: object  # frontend.OutputSpec
    block: Block | None = None

    def __iter__(self):
        return iter(self.nodes.values())

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    @property
    def input_shape(self) -> Shape:
        return self.nodes[self.input].shape

    @property
    def output_shape(self) -> Shape:
        return self.nodes[self.output].shape

    def params(self) -> list[Param]:
        return [p for n in self for p in n.params]

    def users(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {n: [] for n in self.nodes}
        for n in self:
            for i in n.inputs:
                out[i].append(n.name)
        return out

    def structure_hash(self) -> str:
        """A hash of everything that decides the computation and parameter layout."""
        import hashlib

        h = hashlib.sha256()
        for n in self:
            h.update(f"{n.name}|{n.op}|{n.attrs!r}|{n.inputs}|{n.shape}\n".encode())
        h.update(repr(self.heads).encode())
        return h.hexdigest()[:16]

    def lint(self) -> None:
        """Check topological order, unique names, known ops, arity and recorded shapes."""
        seen: set[str] = set()
        for n in self:
            if n.name in seen:
                raise ValueError(f"duplicate node name {n.name!r}\n{self}")
            if n.op not in OPS:
                raise ValueError(f"node {n.name!r} has unknown op {n.op!r}\n{self}")
            lo, hi = OPS[n.op].arity
            if len(n.inputs) < lo or (hi is not None and len(n.inputs) > hi):
                raise ValueError(f"node {n.name!r} ({n.op}) has {len(n.inputs)} inputs\n{self}")
            for i in n.inputs:
                if i not in seen:
                    raise ValueError(f"node {n.name!r} uses {i!r} before it is defined\n{self}")
            in_shapes = [self.nodes[i].shape for i in n.inputs]
            if OPS[n.op].infer_shape(in_shapes, n.attrs) != n.shape:
                raise ValueError(f"node {n.name!r} records a shape its op does not give\n{self}")
            seen.add(n.name)
        if self.input not in seen or self.output not in seen:
            raise ValueError(f"graph input or output is not a node\n{self}")

    def __str__(self) -> str:
        def t(shape: Shape) -> str:
            return "f32[N," + ",".join(map(str, shape)) + "]"

        lines = [f"graph({self.input}: {t(self.input_shape)}):"]
        for n in self:
            if n.op == "input":
                continue
            args = ", ".join("%" + i for i in n.inputs)
            lines.append(f"    %{n.name} : {t(n.shape)} = {n.op}[{format_attrs(n.attrs)}]({args})"
                         + (f"  # macs={n.cost.macs:,}" if n.cost.macs else ""))
        lines.append(f"    return %{self.output}")
        return "\n".join(lines)


def format_attrs(attrs) -> str:
    """Compact ``key=value`` attributes; windows print as kernel/stride/pads per axis, an
    unset optional attribute (None) not at all."""
    parts = []
    for f in fields(attrs):
        v = getattr(attrs, f.name)
        if v is None:
            continue
        if f.name == "windows":
            h, w = v
            parts.append(f"kernel={h.kernel}x{w.kernel}, strides={h.stride}x{w.stride}, "
                         f"pads=(({h.pad_lo},{h.pad_hi}),({w.pad_lo},{w.pad_hi}))")
        else:
            parts.append(f"{f.name}={v}")
    return ", ".join(parts)


def make_node(name: str, op: str, attrs, inputs: list[str], in_shapes: list[Shape],
              loc: Location = Location()) -> Node:
    """A node with its shape, parameters and cost computed from the op's pure rules."""
    d = OPS[op]
    shape = d.infer_shape(in_shapes, attrs)
    specs: list[ParamSpec] = d.params(in_shapes, attrs)
    params = [Param(f"{name}.{p.name}", p.shape, p.trainable, p.role, p.layout, p.start)
              for p in specs]
    return Node(name, op, attrs, list(inputs), shape, params,
                op_cost(op, in_shapes, shape, attrs), loc)

"""The IR graph: named nodes in topological order, each with its shape and parameters.

Modelled on torch.fx: unique stable names, a readable printout, ``lint()`` for structural checks,
and rewriting only through :meth:`Graph.replace_all_uses_with`, :meth:`Graph.insert_after`,
:meth:`Graph.erase` and :meth:`Graph.set_attrs`, which keep the users map right (it is computed once, not per reader).
Alongside the flat node list the graph keeps :class:`Block`, the spec's own nesting
(serial/parallel/add/loop/custom and leaf layers), which the tree and textbook reports print.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType

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

    def copy(self) -> Block:
        """The same tree with its own node lists (a rewrite of the copy leaves this one alone)."""
        return replace(self, nodes=list(self.nodes), children=[c.copy() for c in self.children])

    def forget(self, node: str) -> bool:
        """Drop an erased IR node from the block that lists it; whether one did."""
        if node in self.nodes:
            self.nodes.remove(node)
            return True
        return any(c.forget(node) for c in self.children)


@dataclass
class Graph:
    name: str
    nodes: dict[str, Node]
    input: str
    output: str
    heads: object  # frontend.OutputSpec
    block: Block | None = None
    # nodes a pass erased after handing their value to another node (``replace_all_uses_with``)
    # -> that node, so a backend can still answer for them (an export's shape check, an
    # executor's ``keep``)
    aliases: dict[str, str] = field(default_factory=dict)
    _users: dict[str, tuple[str, ...]] | None = field(default=None, init=False, repr=False,
                                                      compare=False)

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

    def users(self) -> Mapping[str, tuple[str, ...]]:
        """Node name -> the nodes reading its value, in graph order (read-only).

        Computed on first use and kept right by the rewrite methods, so every backend and pass
        shares one map instead of recomputing it.
        """
        if self._users is None:
            out: dict[str, list[str]] = {n: [] for n in self.nodes}
            for n in self:
                for i in n.inputs:
                    if n.name not in out[i]:
                        out[i].append(n.name)
            self._users = {k: tuple(v) for k, v in out.items()}
        return MappingProxyType(self._users)

    # -- rewriting ----------------------------------------------------------------------------
    def copy(self) -> Graph:
        """A graph a pass may rewrite: its own nodes, block tree and aliases; attributes,
        shapes and parameter records (all immutable) are shared."""
        nodes = {k: replace(n, inputs=list(n.inputs), params=list(n.params))
                 for k, n in self.nodes.items()}
        return Graph(self.name, nodes, self.input, self.output, self.heads,
                     self.block.copy() if self.block is not None else None, dict(self.aliases))

    def replace_all_uses_with(self, old: str, new: str) -> list[str]:
        """Make every reader of ``old`` (and the graph output) read ``new``; returns the readers.

        ``old`` is then recorded as an alias of ``new``. ``new`` must come before every reader,
        so the order stays topological.

        Raises:
            ValueError: ``new`` comes after one of ``old``'s readers.
        """
        users = self.users()
        moved = list(users[old])
        order = {name: i for i, name in enumerate(self.nodes)}
        late = [u for u in moved if order[u] <= order[new]]
        if late:
            raise ValueError(f"cannot make {late[0]!r} read {new!r}, defined after it\n{self}")
        for u in moved:
            node = self.nodes[u]
            node.inputs = [new if i == old else i for i in node.inputs]
        merged = set(users[new]) | set(moved)
        self._users[new] = tuple(sorted(merged, key=order.__getitem__))
        self._users[old] = ()
        if self.output == old:
            self.output = new
        for k, v in self.aliases.items():
            if v == old:
                self.aliases[k] = new
        self.aliases[old] = new
        return moved

    def insert_after(self, name: str, node: Node) -> None:
        """Put ``node``, which reads only ``name``, right after it and make every other reader
        of ``name`` (and the graph output) read ``node`` instead: a new op on that edge.

        Raises:
            ValueError: ``node`` does not read exactly ``name``, or its name is taken.
        """
        if node.inputs != [name] or node.name in self.nodes:
            raise ValueError(f"cannot insert {node.name!r} after {name!r}\n{self}")
        users = self.users()
        moved = users[name]
        for u in moved:
            reader = self.nodes[u]
            reader.inputs = [node.name if i == name else i for i in reader.inputs]
        items = list(self.nodes.items())
        at = next(k for k, (n, _) in enumerate(items) if n == name) + 1
        self.nodes = dict(items[:at] + [(node.name, node)] + items[at:])
        self._users[node.name] = moved
        self._users[name] = (node.name,)
        if self.output == name:
            self.output = node.name

    def erase(self, name: str) -> None:
        """Remove node ``name``, which nothing reads any more.

        Raises:
            ValueError: the node still has readers, or is the graph's input or output.
        """
        if self.users()[name] or name in (self.input, self.output):
            raise ValueError(f"cannot erase {name!r}: it is still used "
                             f"(by {list(self.users()[name]) or 'the graph'})\n{self}")
        node = self.nodes.pop(name)
        for i in set(node.inputs):
            self._users[i] = tuple(u for u in self._users[i] if u != name)
        del self._users[name]
        self.aliases = {k: v for k, v in self.aliases.items() if v != name}
        if self.block is not None:
            self.block.forget(name)

    def set_attrs(self, name: str, attrs) -> Node:
        """Give node ``name`` new attributes; its shape, parameters and cost follow from them.

        The node keeps its name, inputs and location, so the users map stays right; a new
        shape would no longer match its readers' (``lint()`` says so).
        """
        old = self.nodes[name]
        node = make_node(name, old.op, attrs, old.inputs,
                         [self.nodes[i].shape for i in old.inputs], old.loc)
        self.nodes[name] = node
        return node

    def structure_hash(self) -> str:
        """A hash of everything that decides the computation and parameter layout.

        Attributes print as their dataclass repr without the fields left at None, so adding an
        optional attribute (a conv's fused ``activation``) keeps the hash of every graph that
        does not use it, and with it every checkpoint's and export's recorded hash.
        """
        import hashlib

        h = hashlib.sha256()
        for n in self:
            h.update(f"{n.name}|{n.op}|{_attrs_key(n.attrs)}|{n.inputs}|{n.shape}\n".encode())
        h.update(repr(self.heads).encode())
        return h.hexdigest()[:16]

    def lint(self) -> None:
        """Check topological order, unique names, known ops, arity and recorded shapes; that
        the users map (once computed) matches the inputs, and that aliases name erased nodes
        and point at existing ones. Passes run it in tests."""
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
        if self._users is not None:
            fresh = replace(self, nodes=self.nodes).users()
            if dict(fresh) != self._users:
                raise ValueError(f"the users map is stale (a node's inputs changed outside "
                                 f"the rewrite methods)\n{self}")
        for k, v in self.aliases.items():
            if k in self.nodes or v not in self.nodes:
                raise ValueError(f"alias {k!r} -> {v!r} names an existing node or a missing one")

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


def _attrs_key(attrs) -> str:
    """``repr(attrs)`` without the fields that are None (see :meth:`Graph.structure_hash`)."""
    parts = [f"{f.name}={getattr(attrs, f.name)!r}" for f in fields(attrs)
             if f.repr and getattr(attrs, f.name) is not None]
    return f"{type(attrs).__qualname__}({', '.join(parts)})"


def format_attrs(attrs) -> str:
    """Compact ``key=value`` attributes (None ones left out); windows print as
    kernel/stride/pads per axis."""
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

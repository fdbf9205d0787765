"""The diagram's items: the spec's own nesting (IR blocks) as boxes to lay out and draw.

A macro call or a loop becomes a *group* (a labelled frame that can be collapsed), a serial a
*stack*, a parallel or an add a *split* (branches side by side, joined by their concat or add
node; an add with ``x`` also carries the skip path), and every other layer a *leaf*. Figures
come from the IR nodes' costs; nothing is recomputed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..frontend.kinds import kind_of
from ..ir.graph import Block, Graph
from ..ir.ops import OPS


@dataclass
class Item:
    """One box (or box arrangement) of the diagram.

    ``id`` is the path of child indices from the root (``0.3.1``): stable across every
    collapse depth, so the page can find the same block in each drawing.
    """

    id: str
    kind: str  # 'leaf' | 'group' | 'stack' | 'split'
    title: str
    shape: tuple
    trainable: int = 0
    non_trainable: int = 0
    macs: int = 0
    detail: str = ""  # a macro call's arguments
    level: int = 0  # how many groups enclose it
    children: list[Item] = field(default_factory=list)
    join: str = ""  # split: the join node's label ('concat', '+ bn relu')
    skip: bool = False  # split of an add with x: the input is added too
    leaves: int = 0  # group: leaf layers inside (shown when collapsed)

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable


def shape_text(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def leaf_title(block: Block, graph: Graph) -> str:
    """What a leaf layer does, in a few characters: 'conv 3x3 /2 32ch LAB' (its kind's title)."""
    if block.kind == "output":
        return f"output {graph.heads.kind} {graph.output_shape[0]}"
    layer = block.layer
    title = kind_of(layer).title if layer is not None else None
    return title(layer) if title else block.label


def _value_text(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def macro_args_text(layer) -> str:
    """A macro call's arguments as written: '#n=32 #s=2'."""
    args = getattr(layer, "args", None) or {}
    return " ".join(f"{k}={_value_text(v)}" for k, v in args.items())


def _join_label(block: Block, graph: Graph) -> str:
    parts = []
    for name in block.nodes:
        node = graph[name]
        parts.append(OPS[node.op].short_label(node.attrs))
    return " ".join(dict.fromkeys(parts))  # tile_0 and tile_1 say 'tile' once


class _Builder:
    def __init__(self, graph: Graph):
        self.graph = graph

    def costs(self, block: Block) -> tuple[int, int, int]:
        tr = nt = macs = 0
        for name in block.all_nodes():
            c = self.graph[name].cost
            tr, nt, macs = tr + c.trainable, nt + c.non_trainable, macs + c.macs
        return tr, nt, macs

    def item(self, block: Block, iid: str, level: int) -> Item:
        tr, nt, macs = self.costs(block)
        base = dict(id=iid, shape=block.out_shape, trainable=tr, non_trainable=nt, macs=macs,
                    level=level)
        if block.is_leaf:
            return Item(kind="leaf", title=leaf_title(block, self.graph), **base)
        if block.kind in ("custom", "loop"):
            if block.kind == "custom":
                title, detail = block.layer.name, macro_args_text(block.layer)
            else:
                title, detail = f"loop x{block.layer.repeat}", ""
            body = block.children
            if block.kind == "custom" and len(body) == 1 and body[0].kind == "serial":
                body = body[0].children  # the macro's serial is implied by its name
            children = [self.item(c, f"{iid}.{i}", level + 1) for i, c in enumerate(body)]
            content = Item(id=f"{iid}.s", kind="stack", title="", shape=block.out_shape,
                           level=level + 1, children=children)
            return Item(kind="group", title=title, detail=detail, children=[content],
                        leaves=sum(_leaf_count(c) for c in children), **base)
        children = [self.item(c, f"{iid}.{i}", level) for i, c in enumerate(block.children)]
        if block.kind == "serial":
            return Item(kind="stack", title="", children=children, **base)
        join = _join_label(block, self.graph)
        skip = block.kind == "add" and bool(block.layer.x)
        if len(children) == 1 and not join and not skip:
            return children[0]  # a one-branch parallel is its branch
        title = block.kind
        return Item(kind="split", title=title, children=children, join=join, skip=skip, **base)


def _leaf_count(item: Item) -> int:
    if item.kind == "leaf":
        return 1
    if item.kind == "group":
        return item.leaves
    return sum(_leaf_count(c) for c in item.children)


def diagram_items(graph: Graph) -> Item:
    """The whole model as one stack: the input, the spec's layers, the output layer."""
    b = _Builder(graph)
    head = Item(id="in", kind="leaf", title="input", shape=graph.input_shape)
    body = [b.item(c, str(i), 0) for i, c in enumerate(graph.block.children)]
    return Item(id="root", kind="stack", title=graph.name, shape=graph.output_shape,
                children=[head, *body])


def walk(item: Item):
    """Every item under ``item``, itself first."""
    yield item
    for c in item.children:
        yield from walk(c)


def max_level(root: Item) -> int:
    """The deepest group nesting: drawing at depth ``max_level + 1`` expands everything."""
    return max((i.level for i in walk(root) if i.kind == "group"), default=-1)

"""Pure layout of the diagram: boxes and edges with coordinates, computed from the item tree.

Rules (one pass to measure, one to place):

- a *stack* puts its items under one another, centred, joined by edges;
- a *split* puts a small fork on top, its branches side by side below it (top-aligned), and its
  join node (concat, +) underneath; an add with ``x`` routes the skip path down a lane on the
  right, from the fork's right side to the join's right side;
- a *group* (macro call, loop) drawn at a level below ``depth`` is a frame with a header around
  its content; at ``depth`` or deeper it is one collapsed box the size of a leaf.

Every edge starts on the border of its source box and ends on the border of its target box.
Coordinates are SVG user units (pixels), y downwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .data import Item

LEAF_W, LEAF_H = 216, 52
GAP = 16  # between stacked items, and above and below a split's branches
HGAP = 14  # between branches
PAD = 8  # inside a group's frame
HEADER = 20  # a group frame's title bar
FORK_W, FORK_H = 12, 6
JOIN_H = 18
LANE = 16  # the skip path's lane
MARGIN = 10
CHAR_W = 7.0  # a generous average width of an 11 px sans-serif character, for sizing labels


@dataclass(frozen=True)
class Box:
    """A drawn rectangle. ``kind``: leaf, collapsed, frame, fork or join."""

    id: str
    kind: str
    x: float
    y: float
    w: float
    h: float
    parent: str | None  # the enclosing frame's id
    item: Item | None = None
    label: str = ""  # join boxes: their text

    def contains(self, other: Box, tol: float = 1e-6) -> bool:
        return (self.x - tol <= other.x and self.y - tol <= other.y
                and other.x + other.w <= self.x + self.w + tol
                and other.y + other.h <= self.y + self.h + tol)

    def overlaps(self, other: Box, tol: float = 1e-6) -> bool:
        return (self.x < other.x + other.w - tol and other.x < self.x + self.w - tol
                and self.y < other.y + other.h - tol and other.y < self.y + self.h - tol)

    def on_border(self, p: tuple[float, float], tol: float = 1e-6) -> bool:
        x, y = p
        inside_x = self.x - tol <= x <= self.x + self.w + tol
        inside_y = self.y - tol <= y <= self.y + self.h + tol
        on_h = abs(y - self.y) <= tol or abs(y - (self.y + self.h)) <= tol
        on_v = abs(x - self.x) <= tol or abs(x - (self.x + self.w)) <= tol
        return (on_h and inside_x) or (on_v and inside_y)


@dataclass(frozen=True)
class Edge:
    """A polyline from a point on ``src``'s border to a point on ``dst``'s border."""

    src: str
    dst: str
    points: tuple[tuple[float, float], ...]
    skip: bool = False


@dataclass
class Layout:
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: float = 0
    height: float = 0
    depth: int = 0

    def box(self, box_id: str) -> Box:
        return next(b for b in self.boxes if b.id == box_id)


def join_width(label: str) -> float:
    return max(36.0, len(label) * CHAR_W + 16)


def _text_width(text: str) -> float:
    return len(text) * CHAR_W


Anchor = tuple[str, tuple[float, float]]  # box id, point on its border


class _Placer:
    def __init__(self, depth: int):
        self.depth = depth
        self.sizes: dict[str, tuple[float, float]] = {}
        self.out = Layout(depth=depth)

    def collapsed(self, item: Item) -> bool:
        return item.kind == "group" and item.level >= self.depth

    # -- measuring ---------------------------------------------------------------------
    def size(self, item: Item) -> tuple[float, float]:
        got = self.sizes.get(item.id)
        if got is None:
            got = self.sizes[item.id] = self._measure(item)
        return got

    def _measure(self, item: Item) -> tuple[float, float]:
        if item.kind == "leaf" or self.collapsed(item):
            return LEAF_W, LEAF_H
        if item.kind == "group":
            cw, ch = self.size(item.children[0])
            header = _text_width(f"{item.title} {item.detail}") + 2 * PAD + 14
            return max(cw + 2 * PAD, header, LEAF_W), HEADER + PAD + ch + PAD
        sizes = [self.size(c) for c in item.children]
        if item.kind == "stack":
            return max(w for w, _ in sizes), sum(h for _, h in sizes) + GAP * (len(sizes) - 1)
        inner = sum(w for w, _ in sizes) + HGAP * (len(sizes) - 1)
        lane = HGAP + LANE if item.skip else 0
        w = max(inner + lane, join_width(item.join))
        return w, FORK_H + GAP + max(h for _, h in sizes) + GAP + JOIN_H

    # -- placing -----------------------------------------------------------------------
    def add_box(self, box: Box) -> Box:
        self.out.boxes.append(box)
        return box

    def edge(self, a: Anchor, b: Anchor, skip: bool = False) -> None:
        (src, (x0, y0)), (dst, (x1, y1)) = a, b
        if x0 == x1:
            pts = ((x0, y0), (x1, y1))
        else:
            mid = (y0 + y1) / 2
            pts = ((x0, y0), (x0, mid), (x1, mid), (x1, y1))
        self.out.edges.append(Edge(src, dst, pts, skip))

    def place(self, item: Item, x: float, y: float, parent: str | None) -> tuple[Anchor, Anchor]:
        """Place ``item`` with its top-left corner at (x, y); returns its top and bottom anchors."""
        w, h = self.size(item)
        if item.kind == "leaf" or self.collapsed(item):
            kind = "leaf" if item.kind == "leaf" else "collapsed"
            self.add_box(Box(item.id, kind, x, y, w, h, parent, item))
            return (item.id, (x + w / 2, y)), (item.id, (x + w / 2, y + h))
        if item.kind == "group":
            self.add_box(Box(item.id, "frame", x, y, w, h, parent, item))
            content = item.children[0]
            cw, _ = self.size(content)
            self.place(content, x + (w - cw) / 2, y + HEADER + PAD, item.id)
            return (item.id, (x + w / 2, y)), (item.id, (x + w / 2, y + h))
        if item.kind == "stack":
            return self._stack(item, x, y, w, parent)
        return self._split(item, x, y, w, h, parent)

    def _stack(self, item: Item, x, y, w, parent) -> tuple[Anchor, Anchor]:
        first = last = None
        for child in item.children:
            cw, ch = self.size(child)
            top, bottom = self.place(child, x + (w - cw) / 2, y, parent)
            if last is not None:
                self.edge(last, top)
            first = first or top
            last = bottom
            y += ch + GAP
        return first, last

    def _split(self, item: Item, x, y, w, h, parent) -> tuple[Anchor, Anchor]:
        sizes = [self.size(c) for c in item.children]
        inner = sum(cw for cw, _ in sizes) + HGAP * (len(sizes) - 1)
        lane = HGAP + LANE if item.skip else 0
        cx = x + w / 2
        fork = self.add_box(Box(f"{item.id}.fork", "fork", cx - FORK_W / 2, y, FORK_W, FORK_H,
                                parent, item))
        jw = join_width(item.join)
        join = self.add_box(Box(f"{item.id}.join", "join", cx - jw / 2, y + h - JOIN_H, jw,
                                JOIN_H, parent, item, item.join))
        bx, by = x + (w - inner - lane) / 2, y + FORK_H + GAP
        for child, (cw, _) in zip(item.children, sizes, strict=True):
            top, bottom = self.place(child, bx, by, parent)
            self._route(fork, top, mid_y=y + FORK_H + GAP / 2)
            self._route_in(bottom, join, mid_y=join.y - GAP / 2)
            bx += cw + HGAP
        if item.skip:
            lane_x = bx + LANE / 2  # bx: the last branch's right side plus HGAP
            start = (fork.x + fork.w, fork.y + fork.h / 2)
            end = (join.x + join.w, join.y + join.h / 2)
            pts = (start, (lane_x, start[1]), (lane_x, end[1]), end)
            self.out.edges.append(Edge(fork.id, join.id, pts, skip=True))
        return (fork.id, (cx, y)), (join.id, (cx, y + h))

    def _route(self, fork: Box, top: Anchor, mid_y: float) -> None:
        dst, (x1, y1) = top
        x0, y0 = fork.x + fork.w / 2, fork.y + fork.h
        pts = ((x0, y0), (x1, y1)) if x0 == x1 else ((x0, y0), (x0, mid_y), (x1, mid_y), (x1, y1))
        self.out.edges.append(Edge(fork.id, dst, pts))

    def _route_in(self, bottom: Anchor, join: Box, mid_y: float) -> None:
        src, (x0, y0) = bottom
        x1, y1 = join.x + join.w / 2, join.y
        pts = ((x0, y0), (x1, y1)) if x0 == x1 else ((x0, y0), (x0, mid_y), (x1, mid_y), (x1, y1))
        self.out.edges.append(Edge(src, join.id, pts))


def layout(root: Item, depth: int) -> Layout:
    """Boxes and edges of the diagram with groups below level ``depth`` expanded.

    ``depth=0`` collapses every group; ``depth > max_level(root)`` expands them all.
    """
    p = _Placer(depth)
    w, h = p.size(root)
    p.place(root, MARGIN, MARGIN, None)
    p.out.width, p.out.height = w + 2 * MARGIN, h + 2 * MARGIN
    return p.out


def visible_boxes(root: Item, depth: int) -> int:
    """How many leaf and collapsed boxes a drawing at ``depth`` shows (without placing them)."""
    def count(item: Item) -> int:
        if item.kind == "leaf" or (item.kind == "group" and item.level >= depth):
            return 1
        return sum(count(c) for c in item.children)

    return count(root)

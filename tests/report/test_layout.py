"""The diagram's layout: no sibling boxes overlap, children lie inside their frames, every edge
runs between its two boxes' borders, and collapsing follows the depth."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest

from cnncompile.frontend import load_spec
from cnncompile.ir import lower
from cnncompile.report.data import diagram_items, max_level, walk
from cnncompile.report.layout import LEAF_H, LEAF_W, Layout, layout, visible_boxes

ROOT = Path(__file__).resolve().parents[2]
SPECS = ["specs/ch7/flowers_model_1.yaml", "specs/ch9/residual_flower.yaml",
         "specs/ch9/inception_flower.yaml", "specs/classic/inception_naive.yaml",
         "specs/torchvision/resnet18.yaml"]

# every arrangement at once: an add with x around a parallel, a one-branch add, a loop of a
# macro, nested macros, a macro whose body is not a serial
NESTED = """\
name: nested
input: [16, 16, 3]
output: {classes: 3}
macros:
  pair: [[conv, {ksize: 3, chn: '#n'}], [conv, {ksize: 1, chn: '#n'}]]
  res: [add, {actions: A}, [parallel, [conv, {ksize: 1, chn: 4}], [serial, [custom, {name: pair, args: {'#n': 4}}]]]]
  one: [add, {x: false, actions: A}, [conv, {ksize: 3, chn: 8}]]
layers:
  - [conv, {ksize: 3, chn: 8}]
  - [loop, {repeat: 2}, [custom, {name: res}]]
  - [custom, {name: one}]
  - [parallel, [max, {stride: 2}], [avg, {stride: 2}], [serial, [conv, {ksize: 1, chn: 2, stride: 2}], batch_normal]]
  - 10
"""


def _graph(spec: str, tmp_path: Path):
    if spec == "nested":
        path = tmp_path / "nested.yaml"
        path.write_text(NESTED)
        return lower(load_spec(path))
    return lower(load_spec(ROOT / spec))


def _crosses(a, b, box, tol: float = 0.5) -> bool:
    """Whether the axis-parallel segment a-b passes through the inside of ``box``."""
    x0, x1 = sorted((a[0], b[0]))
    y0, y1 = sorted((a[1], b[1]))
    return (x0 < box.x + box.w - tol and x1 > box.x + tol
            and y0 < box.y + box.h - tol and y1 > box.y + tol)


def check_layout(lay: Layout) -> None:
    """The invariants every drawing keeps."""
    ids = [b.id for b in lay.boxes]
    assert len(ids) == len(set(ids)), "box ids repeat"
    by_id = {b.id: b for b in lay.boxes}
    siblings: dict = {}
    for b in lay.boxes:
        siblings.setdefault(b.parent, []).append(b)
        assert b.w > 0 and b.h > 0
        assert 0 <= b.x and b.x + b.w <= lay.width and 0 <= b.y and b.y + b.h <= lay.height
        if b.parent is not None:
            parent = by_id[b.parent]
            assert parent.kind == "frame"
            assert parent.contains(b), f"{b.id} sticks out of {parent.id}"
            assert b.y >= parent.y + 18, f"{b.id} covers the title of {parent.id}"
    for group in siblings.values():
        for a, b in combinations(group, 2):
            assert not a.overlaps(b), f"{a.id} overlaps {b.id}"
    ends: set[str] = set()
    solid = [b for b in lay.boxes if b.kind != "frame"]
    for e in lay.edges:
        src, dst = by_id[e.src], by_id[e.dst]
        assert src.on_border(e.points[0]), f"edge {e.src}->{e.dst} does not start on {e.src}"
        assert dst.on_border(e.points[-1]), f"edge {e.src}->{e.dst} does not end on {e.dst}"
        for (x0, y0), (x1, y1) in zip(e.points, e.points[1:], strict=False):
            assert x0 == x1 or y0 == y1, "edges run horizontally or vertically"
        ends.update((e.src, e.dst))
        for box in solid:
            for a, b in zip(e.points, e.points[1:], strict=False):
                assert not _crosses(a, b, box), f"edge {e.src}->{e.dst} runs through {box.id}"
    for parent, group in siblings.items():
        if len(group) == 1 and parent is not None:
            continue  # a frame holding one box: the edges meet the frame
        for b in group:
            assert b.id in ends, f"{b.id} is not connected"


@pytest.mark.parametrize("spec", SPECS + ["nested"])
def test_every_depth_lays_out_cleanly(spec, tmp_path):
    root = diagram_items(_graph(spec, tmp_path))
    for depth in range(max_level(root) + 2):
        lay = layout(root, depth)
        check_layout(lay)
        shown = [b for b in lay.boxes if b.kind in ("leaf", "collapsed")]
        assert len(shown) == visible_boxes(root, depth)
        assert all(b.item.level <= depth for b in lay.boxes if b.item is not None)
        assert all(b.item.level == depth for b in shown if b.kind == "collapsed")
        assert all(b.item.level < depth for b in lay.boxes if b.kind == "frame")


def test_everything_expanded_draws_every_leaf_layer_once(tmp_path):
    g = _graph("nested", tmp_path)
    root = diagram_items(g)
    lay = layout(root, max_level(root) + 1)
    leaves = [b for b in lay.boxes if b.kind == "leaf"]
    # input, conv, 2 x (1x1 conv + pair's 2 convs), one's conv, max, avg, conv, batch norm, 10,
    # output
    assert len(leaves) == 1 + 1 + 2 * 3 + 1 + 4 + 1 + 1
    assert not [b for b in lay.boxes if b.kind == "collapsed"]
    frames = {b.item.title for b in lay.boxes if b.kind == "frame"}
    assert frames == {"loop x2", "res", "pair", "one"}
    skips = [e for e in lay.edges if e.skip]
    assert len(skips) == 2  # one per res copy; `one` has x: false
    joins = sorted(b.label for b in lay.boxes if b.kind == "join")
    assert joins == ["+ relu", "+ relu", "concat", "concat", "concat", "relu"]


def test_a_chain_is_one_straight_column():
    root = diagram_items(lower(load_spec(ROOT / "specs/ch7/flowers_model_1.yaml")))
    lay = layout(root, 1)
    boxes = lay.boxes
    assert all(b.kind == "leaf" and b.parent is None for b in boxes)
    centres = {b.x + b.w / 2 for b in boxes}
    assert len(centres) == 1
    assert [b.y for b in boxes] == sorted(b.y for b in boxes)
    assert len(lay.edges) == len(boxes) - 1
    assert all(len(e.points) == 2 for e in lay.edges)
    assert (boxes[0].w, boxes[0].h) == (LEAF_W, LEAF_H)


def test_depth_zero_collapses_every_macro(tmp_path):
    root = diagram_items(_graph("specs/ch9/residual_flower.yaml", tmp_path))
    lay = layout(root, 0)
    assert [b.kind for b in lay.boxes] == ["leaf", "collapsed", "leaf"]  # input, macro, output
    macro = lay.boxes[1].item
    assert (macro.title, macro.detail) == ("residual_flower", "#act=LAB")
    assert macro.params == 173_637 - 325 + 928  # all but the output layer's


def test_items_carry_the_ir_figures(tmp_path):
    g = _graph("specs/ch9/residual_flower.yaml", tmp_path)
    root = diagram_items(g)
    leaves = [i for i in walk(root) if i.kind == "leaf"]
    assert sum(i.trainable for i in leaves) == sum(p.size for p in g.params() if p.trainable)
    assert sum(i.macs for i in leaves) == sum(n.cost.macs for n in g)
    titles = [i.title for i in leaves]
    assert titles[:3] == ["input", "conv 7x7 /2 16ch LAB", "max 3x3 /2"]
    rhalf = [i for i in walk(root) if i.kind == "group" and i.title == "rhalf"]
    assert [i.detail for i in rhalf] == ["#cnt1=1 #n=32 #act=LAB", "#cnt1=1 #n=64 #act=LAB"]

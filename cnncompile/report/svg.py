"""SVG drawings: the block diagram from a :class:`Layout`, and line charts of a run's metrics.

Strings in, strings out; no file is touched. A box's fill darkens with its MACs and the blue
bar along its foot grows with its trainable parameters, both relative to the largest box drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from ..analysis.render import human
from .data import Item, shape_text
from .layout import CHAR_W, LEAF_W, PAD, Box, Layout
from .text import number_text

# Shared by the page and the standalone SVG; class names are the page's too.
DIAGRAM_CSS = """
.dg{font:11px system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.dg .lf rect.bg,.dg .cl rect.bg{stroke:#8a6d3b;stroke-width:1}
.dg .cl rect.bg{stroke:#5b4a8a;stroke-dasharray:4 2;stroke-width:1.4}
.dg rect.fb{fill:#f5f7fb;stroke:#9aa8c2;stroke-width:1}
.dg .odd>rect.fb{fill:#eaeff7}
.dg .fr rect.hd{fill:#dfe6f2;stroke:none}
.dg text.t{font-weight:600;fill:#1d2433}
.dg text.s{fill:#3b4558}
.dg text.m{fill:#5d6678;font-size:10px}
.dg .bar{fill:#3b6fd1}
.dg .fk{fill:#4a5568}
.dg .jn rect{fill:#fff;stroke:#4a5568}
.dg .jn text{fill:#1d2433;font-weight:600;text-anchor:middle}
.dg path.e{fill:none;stroke:#4a5568;stroke-width:1.2}
.dg path.e.skip{stroke:#b0413e;stroke-dasharray:5 3}
"""

_LINE_CHARS = int((LEAF_W - 12) / CHAR_W)
_SMALL_CHARS = int((LEAF_W - 12) / 5.6)  # the 10 px figures line


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "\u2026"


def mac_fill(share: float) -> str:
    """White-to-orange fill for a MAC share 0-1 (square root, so small shares still show)."""
    light = 97 - 40 * math.sqrt(max(0.0, min(1.0, share)))
    return f"hsl(32,85%,{light:.0f}%)"


def _n(v: float) -> str:
    """A coordinate, short: 12, 12.5 (layouts place boxes on half pixels at worst)."""
    return f"{v:.7g}"


class DiagramStyle:
    """What fills and bars are relative to: the largest MACs and parameters of a shown box.

    Leaves and closed groups are compared with each other, so a drawing's darkest box is its
    most expensive one at whatever depth it is drawn.
    """

    def __init__(self, lay: Layout):
        shown = [b.item for b in lay.boxes if b.kind in ("leaf", "collapsed")]
        self.max_macs = max((i.macs for i in shown), default=0) or 1
        self.max_params = max((i.trainable for i in shown), default=0) or 1


def _figures(item: Item) -> str:
    """Trainable parameters (the layer table's Params column) and MACs; the tooltip adds the
    non-trainable ones (batch-norm statistics)."""
    return f"{human(item.trainable)} params \u00b7 {human(item.macs)} MACs"


def _tooltip(item: Item) -> str:
    lines = [f"{item.title} {item.detail}".strip(), f"output {shape_text(item.shape)}",
             f"parameters {item.trainable:,} trainable, {item.non_trainable:,} non-trainable",
             f"MACs {item.macs:,}"]
    if item.kind == "group":
        lines.append(f"{item.leaves} layers inside")
    return "\n".join(lines)


def _leaf(b: Box, style: DiagramStyle, interactive: bool) -> str:
    it = b.item
    collapsed = b.kind == "collapsed"
    title = (("\u25b8 " if collapsed else "") + f"{it.title} {it.detail}").strip()
    # a closed group's layer count shares the shape's line, so the figures' line fits the box
    layers = f" \u00b7 {it.leaves} layer{'s' if it.leaves != 1 else ''}" if collapsed else ""
    bar_w = (b.w - 2) * min(1.0, it.trainable / style.max_params)
    x, y = _n(b.x), _n(b.y)
    cls = "cl tog" if collapsed and interactive else ("cl" if collapsed else "lf")
    level = f' data-level="{it.level}"' if collapsed else ""
    bar = (f'<rect class="bar" x="{_n(b.x + 1)}" y="{_n(b.y + b.h - 4)}" width="{_n(bar_w)}" '
           f'height="3"/>' if bar_w >= 0.5 else "")
    return (f'<g class="{cls}" data-id="{it.id}"{level}><title>{escape(_tooltip(it))}</title>'
            f'<rect class="bg" x="{x}" y="{y}" width="{_n(b.w)}" height="{_n(b.h)}" rx="4" '
            f'fill="{mac_fill(it.macs / style.max_macs)}"/>'
            f'<text class="t" x="{_n(b.x + 6)}" y="{_n(b.y + 14)}">'
            f'{escape(_clip(title, _LINE_CHARS))}</text>'
            f'<text class="s" x="{_n(b.x + 6)}" y="{_n(b.y + 28)}">'
            f'{escape(_clip(shape_text(it.shape) + layers, _LINE_CHARS))}</text>'
            f'<text class="m" x="{_n(b.x + 6)}" y="{_n(b.y + 42)}">'
            f'{escape(_clip(_figures(it), _SMALL_CHARS))}</text>{bar}</g>')


def _frame_open(b: Box, interactive: bool) -> str:
    it = b.item
    head = f"\u25be {it.title} {it.detail}".strip()
    right = _figures(it)
    room = (b.w - 2 * PAD) / CHAR_W
    show_right = len(head) + len(right) + 3 <= room
    cls = "fr" + (" odd" if it.level % 2 else "")
    tog = ' class="tog"' if interactive else ""
    out = (f'<g class="{cls}" data-id="{it.id}">'
           f'<rect class="fb" x="{_n(b.x)}" y="{_n(b.y)}" width="{_n(b.w)}" height="{_n(b.h)}" '
           f'rx="6"/>'
           f'<g{tog} data-id="{it.id}" data-level="{it.level}">'
           f'<title>{escape(_tooltip(it))}</title>'
           f'<rect class="hd" x="{_n(b.x + 1)}" y="{_n(b.y + 1)}" width="{_n(b.w - 2)}" '
           f'height="18" rx="5"/>'
           f'<text class="t" x="{_n(b.x + PAD)}" y="{_n(b.y + 14)}">'
           f'{escape(_clip(head, int(room)))}</text>')
    if show_right:
        out += (f'<text class="m" x="{_n(b.x + b.w - PAD)}" y="{_n(b.y + 14)}" '
                f'text-anchor="end">{escape(right)}</text>')
    return out + "</g>"


def _small(b: Box) -> str:
    if b.kind == "fork":
        return (f'<rect class="fk" data-id="{b.id}" x="{_n(b.x)}" y="{_n(b.y)}" '
                f'width="{_n(b.w)}" height="{_n(b.h)}" rx="2"/>')
    return (f'<g class="jn" data-id="{b.id}"><rect x="{_n(b.x)}" y="{_n(b.y)}" '
            f'width="{_n(b.w)}" height="{_n(b.h)}" rx="9"/>'
            f'<text x="{_n(b.x + b.w / 2)}" y="{_n(b.y + 13)}">{escape(b.label)}</text></g>')


def diagram_svg(lay: Layout, *, standalone: bool = False, interactive: bool = False,
                title: str = "") -> str:
    """The diagram as one ``<svg>`` element (a complete file when ``standalone``).

    Frames nest as ``<g>`` groups so a frame's boxes are its descendants.
    """
    style = DiagramStyle(lay)
    children: dict[str | None, list[Box]] = {}
    for b in lay.boxes:
        children.setdefault(b.parent, []).append(b)
    edges = "".join(
        f'<path class="e{" skip" if e.skip else ""}" d="M'
        + " L".join(f"{_n(x)} {_n(y)}" for x, y in e.points) + '"/>' for e in lay.edges)

    def draw(parent: str | None) -> str:
        parts = []
        for b in children.get(parent, []):
            if b.kind == "frame":
                parts.append(_frame_open(b, interactive) + draw(b.id) + "</g>")
            elif b.kind in ("fork", "join"):
                parts.append(_small(b))
            else:
                parts.append(_leaf(b, style, interactive))
        return "".join(parts)

    frames = draw(None)
    w, h = _n(lay.width), _n(lay.height)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="dg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" data-depth="{lay.depth}">')
    if title:
        head += f"<title>{escape(title)}</title>"
    # one marker per drawing: a url(#id) into another, hidden, drawing would not render
    marker = f"ah{lay.depth}"
    defs = (f'<defs><marker id="{marker}" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" '
            'markerHeight="7" orient="auto"><path d="M0 0L8 4L0 8z" fill="#4a5568"/></marker>'
            '</defs>')
    style_el = f"<style>{DIAGRAM_CSS}</style>" if standalone else ""
    # edges last: they end on box borders, so on top they hide nothing and no frame hides them
    body = (head + style_el + defs + frames
            + f'<g class="edges" marker-end="url(#{marker})">{edges}</g></svg>')
    if standalone:
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
    return body


CURVE_LIMIT = 1000.0  # a value beyond this many times the typical size is drawn at the edge
MAX_MARKED_POINTS = 60  # beyond this many epochs a line carries no dots


def _axis_limit(values: list[float]) -> float:
    """How far from zero the axis reaches: exploded values (1e308) would flatten the rest."""
    typical = sorted(abs(v) for v in values)[len(values) // 2]
    return CURVE_LIMIT * max(typical, 1.0)


@dataclass(frozen=True)
class _Frame:
    """A chart's plot area and the data range it shows; maps data to SVG coordinates."""

    left: float
    top: float
    width: float  # of the plot area
    height: float
    x0: float
    x1: float
    y0: float
    y1: float

    def sx(self, v: float) -> float:
        return self.left + (v - self.x0) / (self.x1 - self.x0) * self.width

    def sy(self, v: float) -> float:
        v = max(self.y0, min(self.y1, v))  # an exploded value sits on the axis's edge
        return self.top + (1 - (v - self.y0) / (self.y1 - self.y0)) * self.height


def line_chart(series: dict[str, list[tuple[float, float]]], title: str, y_label: str,
               width: int = 420, height: int = 240, percent: bool = False) -> str:
    """A small line chart: one polyline per series, axes with a few ticks, a legend below.

    Solid lines for names starting with 'train', dashed for the rest (validation); with
    ``percent`` the values are fractions of one and the axis reads in percent. Points
    that are not finite are left out, values far beyond the typical size (a diverged loss)
    are drawn at the axis's edge, and a line under the legend says how many of each.
    """
    finite = [p for s in series.values() for p in s
              if math.isfinite(p[0]) and math.isfinite(p[1])]
    if not finite:
        return ""
    limit = _axis_limit([p[1] for p in finite])
    inside = [p for p in finite if abs(p[1]) <= limit]
    notes = _chart_notes(sum(len(s) for s in series.values()) - len(finite),
                         len(finite) - len(inside), limit)
    plot_h = height
    height = plot_h + 14 * math.ceil(len(series) / 2) + (14 if notes else 0)
    f = _chart_frame(finite, inside, width, plot_h)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img">'
           f'<text x="{width / 2}" y="15" text-anchor="middle" class="ct">{escape(title)}</text>'
           f'<rect x="{f.left}" y="{f.top}" width="{f.width}" height="{f.height}" class="pa"/>',
           *_chart_axes(f, sorted({p[0] for p in finite}), y_label, plot_h, percent)]
    for i, (name, s) in enumerate(series.items()):
        colour = CHART_COLOURS[i // 2 % len(CHART_COLOURS)] if len(series) > 2 \
            else CHART_COLOURS[0]
        out.append(_chart_series(f, i, name, s, colour, plot_h))
    if notes:
        out.append(f'<text x="{f.left}" y="{height - 4}" class="tk nt">{escape(notes)}</text>')
    out.append("</svg>")
    return "".join(out)


CHART_COLOURS = ("#2f6fd1", "#d1652f", "#2f9d57", "#9b3fb5", "#b5983f", "#3fa9b5")


def _chart_frame(finite, inside, width: int, plot_h: int) -> _Frame:
    """The plot area inside fixed margins, over the range of the points drawn in it."""
    left, right, top, bottom = 46, 10, 24, 34
    x0, x1 = min(p[0] for p in finite), max(p[0] for p in finite)
    y0, y1 = min(p[1] for p in inside), max(p[1] for p in inside)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    return _Frame(left, top, width - left - right, plot_h - top - bottom, x0, x1, y0, y1)


def _chart_axes(f: _Frame, xs: list[float], y_label: str, plot_h: int,
                percent: bool) -> list[str]:
    """Five grid lines with their values, up to eight epoch ticks, the two axis titles."""
    out = []
    for k in range(5):
        v = f.y0 + (f.y1 - f.y0) * k / 4
        y = f.sy(v)
        out.append(f'<line x1="{f.left}" x2="{f.left + f.width}" y1="{_n(y)}" y2="{_n(y)}" '
                   f'class="gl"/><text x="{f.left - 4}" y="{_n(y + 3)}" text-anchor="end" '
                   f'class="tk">{f"{100 * v:.3g}%" if percent else f"{v:.3g}"}</text>')
    for v in xs[::max(1, math.ceil(len(xs) / 8))]:
        out.append(f'<text x="{_n(f.sx(v))}" y="{f.top + f.height + 13}" text-anchor="middle" '
                   f'class="tk">{number_text(v)}</text>')
    middle = f.top + f.height / 2
    out.append(f'<text x="{f.left + f.width / 2}" y="{plot_h - 4}" text-anchor="middle" '
               f'class="tk">epoch</text><text x="12" y="{middle}" class="tk" '
               f'transform="rotate(-90 12 {middle})" text-anchor="middle">'
               f'{escape(y_label)}</text>')
    return out


def _chart_series(f: _Frame, i: int, name: str, points, colour: str, plot_h: int) -> str:
    """Series ``i``: its polyline (dots while few), and its legend entry below the plot."""
    dash = "" if name.startswith("train") else ' stroke-dasharray="5 3"'
    shown = [(f.sx(x), f.sy(y)) for x, y in points if math.isfinite(x) and math.isfinite(y)]
    line = " ".join(f"{_n(x)},{_n(y)}" for x, y in shown)
    out = [f'<polyline points="{line}" fill="none" stroke="{colour}" '
           f'stroke-width="1.6"{dash} data-series="{escape(name)}"/>']
    if len(shown) <= MAX_MARKED_POINTS:
        out.extend(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="2.2" fill="{colour}"/>'
                   for x, y in shown)
    lx, ly = f.left + (i % 2) * f.width / 2, plot_h + 10 + 14 * (i // 2)
    out.append(f'<line x1="{_n(lx)}" x2="{_n(lx + 18)}" y1="{ly - 3}" y2="{ly - 3}" '
               f'stroke="{colour}" stroke-width="1.6"{dash}/>'
               f'<text x="{_n(lx + 22)}" y="{ly}" class="tk"><title>{escape(name)}</title>'
               f'{escape(_clip(name, int((f.width / 2 - 26) / 5.6)))}</text>')
    return "".join(out)


def _chart_notes(dropped: int, clipped: int, limit: float) -> str:
    notes = []
    if dropped:
        notes.append(f"{dropped} point{'s' * (dropped != 1)} not drawn (not a finite number)")
    if clipped:
        notes.append(f"{clipped} beyond \u00b1{limit:.3g} drawn at the edge")
    return "; ".join(notes)

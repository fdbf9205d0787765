"""The report: one self-contained HTML page per model (and run), and the block diagram as SVG.

``data`` turns the IR's block nesting into diagram items, ``layout`` places them, ``svg`` draws
them, ``sources`` reads a run folder and an exported model, ``page`` assembles the page.
"""

from .data import diagram_items
from .layout import layout
from .page import build_page
from .sections import warnings_for
from .svg import diagram_svg


def standalone_svg(graph, depth: int | None = None) -> str:
    """The block diagram alone as an SVG file's text; ``depth`` None expands every group."""
    from .data import max_level

    root = diagram_items(graph)
    d = max_level(root) + 1 if depth is None else depth
    return diagram_svg(layout(root, d), standalone=True,
                       title=f"{graph.name}: block diagram")


__all__ = ["build_page", "diagram_items", "layout", "standalone_svg", "warnings_for"]

"""Analysis: exact figures from shapes alone, and their renderings."""

from .render import render_json, render_table, render_textbook, render_tree
from .report import Analysis, analyze_graph

__all__ = ["Analysis", "analyze_graph", "render_json", "render_table", "render_textbook",
           "render_tree"]

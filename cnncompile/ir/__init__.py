"""The IR: a flat graph of primitive ops with pure shape and cost rules."""

from .graph import Block, Graph, Node, Param
from .lower import lower
from .ops import OPS
from .window import AxisWindow, axis_window

__all__ = ["AxisWindow", "Block", "Graph", "Node", "OPS", "Param", "axis_window", "lower"]

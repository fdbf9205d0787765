"""Remove dead nodes: those whose value reaches no output.

Lowering makes none, but a rewrite can (a value whose last reader was replaced), and a dead
node costs a kernel, memory and, in an export, a node and its weights.
"""

from __future__ import annotations

from ..graph import Graph
from .pipeline import Params, PassResult


def dead_nodes(graph: Graph) -> list[str]:
    """Nodes (never the input or the output) that no path leads from to the output, last
    first: each can be erased in this order, since its readers are dead and gone before it."""
    users = graph.users()
    live = {graph.output, graph.input}
    dead = []
    for n in reversed(list(graph)):
        if n.name in live or any(u in live for u in users[n.name]):
            live.add(n.name)
        else:
            dead.append(n.name)
    return dead


def remove_dead_nodes(graph: Graph, params: Params | None = None) -> PassResult:
    """The graph without its dead nodes; their parameters leave ``params`` too."""
    dead = dead_nodes(graph)
    if not dead:
        return PassResult(graph, params, False)
    out = graph.copy()
    new_params = dict(params) if params is not None else None
    for name in dead:
        if new_params is not None:
            for p in out[name].params:
                new_params.pop(p.name, None)
        out.erase(name)
    return PassResult(out, new_params, True)

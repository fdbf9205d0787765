"""Fuse an activation into the conv before it: the conv's ``activation`` epilogue.

The activation then runs on each part of the conv's output right after its matmul, while the
part is in cache, instead of as a pass of its own over the whole tensor. Only activations whose
derivative is a function of their output fuse: the conv's input gradient then needs only the
output it keeps anyway, never the pre-activation values.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from ..graph import Graph
from .pipeline import Params, PassResult

# f'(x) is a function of f(x): relu' = [y > 0], sigmoid' = y (1 - y), tanh' = 1 - y^2
EPILOGUE_ACTIVATIONS = ("relu", "sigmoid", "tanh")


def fusable_pairs(graph: Graph, keep: Collection[str] = ()) -> list[tuple[str, str]]:
    """(conv, activation after it) pairs: an epilogue activation that is the only reader of a
    conv without an activation yet, unless the conv's own output is in ``keep``."""
    users = graph.users()
    out = []
    for n in graph:
        if n.op != "act" or n.attrs.func not in EPILOGUE_ACTIVATIONS:
            continue
        conv = graph[n.inputs[0]]
        if (conv.op == "conv" and conv.attrs.activation is None and conv.name not in keep
                and users[conv.name] == (n.name,)):
            out.append((conv.name, n.name))
    return out


def fuse_activation(graph: Graph, params: Params | None = None, *,
                    keep: Collection[str] = ()) -> PassResult:
    """Every fusable activation (see :func:`fusable_pairs`) moved into its conv.

    The activation node is erased and its readers read the conv (an alias records that its
    value is now the conv's). ``keep`` names convs whose pre-activation output must stay
    observable (an executor asked for it): those stay unfused. Parameters do not change.
    """
    pairs = fusable_pairs(graph, keep)
    if not pairs:
        return PassResult(graph, params, False)
    out = graph.copy()
    for conv, act in pairs:
        func = out[act].attrs.func
        out.replace_all_uses_with(act, conv)
        out.erase(act)
        out.set_attrs(conv, replace(out[conv].attrs, activation=func))
    return PassResult(out, params, True)

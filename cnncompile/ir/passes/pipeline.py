"""What every pass is and returns, and a backend's pipeline: the passes it runs, in order.

A pass takes a graph (and, when it rewrites weights, the parameters by IR name) and returns a
new graph, the matching parameters and whether it changed anything. It never touches its
input: it rewrites ``graph.copy()``, through the graph's rewrite methods only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from ..graph import Graph

Params = dict[str, np.ndarray]


class PassResult(NamedTuple):
    """A pass's rewritten graph, its parameters (None when none were given) and whether the
    pass changed anything (False: ``graph`` computes exactly what the input did, node for
    node)."""

    graph: Graph
    params: Params | None
    changed: bool


Pass = Callable[[Graph, Params | None], PassResult]


def run_passes(graph: Graph, params: Params | None, passes: Sequence[Pass], *,
               check: bool = False) -> PassResult:
    """Run ``passes`` in order; ``changed`` is whether any of them changed the graph.

    With ``check``, every pass's result is linted (tests do; a backend need not pay for it).

    >>> from cnncompile.frontend import parse_spec
    >>> from cnncompile.ir import lower
    >>> from cnncompile.ir.passes import fold_batch_norm
    >>> g = lower(parse_spec("name: t\\ninput: [6, 6, 1]\\noutput: {classes: 3}\\n"
    ...                      "layers: [[conv, {ksize: 3, chn: 2, actions: LB}]]"))
    >>> r = run_passes(g, None, [fold_batch_norm], check=True)
    >>> r.changed, [n.op for n in r.graph]
    (True, ['input', 'conv', 'flatten', 'dense'])
    """
    changed = False
    for run in passes:
        graph, params, did = run(graph, params)
        if check:
            graph.lint()
        changed = changed or did
    return PassResult(graph, params, changed)

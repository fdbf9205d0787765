"""remove_dead_nodes: no spec has dead nodes; a dead branch leaves with its parameters."""

from __future__ import annotations

import numpy as np

from cnncompile.backends.numpy import Executor, init_params
from cnncompile.ir.graph import make_node
from cnncompile.ir.passes import remove_dead_nodes
from cnncompile.ir.passes.dead_nodes import dead_nodes


def test_lowering_leaves_no_dead_nodes(ph, spec_rel):
    graph = ph.spec_graph(spec_rel)
    assert not dead_nodes(graph)
    assert not ph.run_checked(remove_dead_nodes, graph).changed


def _with_dead_branch(ph):
    """A model whose conv also feeds a conv -> relu branch that reaches no output."""
    g = ph.inline_graph("[[conv, {ksize: 3, chn: 4}]]").copy()
    conv = g["conv"]
    extra = make_node("dead_conv", "conv", conv.attrs, ["conv/relu"], [g["conv/relu"].shape])
    g.nodes["dead_conv"] = extra
    g.nodes["dead_relu"] = make_node("dead_relu", "act", g["conv/relu"].attrs, ["dead_conv"],
                                     [extra.shape])
    g.lint()
    return g


def test_a_dead_branch_is_removed_with_its_parameters(ph):
    g = _with_dead_branch(ph)
    assert dead_nodes(g) == ["dead_relu", "dead_conv"]
    params = init_params(g, seed=0)
    r = ph.run_checked(remove_dead_nodes, g, params)
    assert r.changed and not {"dead_conv", "dead_relu"} & set(r.graph.nodes)
    assert not any(k.startswith("dead_conv.") for k in r.params)
    assert r.graph.users()["conv/relu"] == g.users()["conv/relu"][:1]
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(Executor(r.graph).forward(r.params, x),
                                  Executor(g).forward(params, x))

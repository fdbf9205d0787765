"""fuse_activation: every spec's engine output unchanged (bit for bit), the fusion rules, and
the executor's use of it (a conv asked for stays unfused; gradients through an epilogue)."""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.backends.numpy import Executor, init_params
from cnncompile.ir.passes import fuse_activation
from cnncompile.ir.passes.fuse_activation import fusable_pairs


def test_every_spec_computes_the_same_after_fusing(ph, spec_rel):
    graph, params, x, reference = ph.spec_case(spec_rel)
    pairs = fusable_pairs(graph)
    r = ph.run_checked(fuse_activation, graph, params)
    assert r.changed == bool(pairs)
    assert set(graph.nodes) - set(r.graph.nodes) == {act for _, act in pairs}
    assert all(r.graph[conv].attrs.activation == graph[act].attrs.func for conv, act in pairs)
    if r.changed:
        got = Executor(r.graph, fuse_activations=False).forward(params, x)
        np.testing.assert_array_equal(got, reference)  # the same arithmetic, fused or not
        assert not fusable_pairs(r.graph)


@pytest.mark.parametrize("func", ["relu", "sigmoid", "tanh"])
def test_an_epilogue_activation_fuses_and_its_readers_read_the_conv(ph, func):
    g = ph.inline_graph(f"[[conv, {{ksize: 3, chn: 4, actfunc: {func}}}], [max, {{stride: 2}}]]")
    r = ph.run_checked(fuse_activation, g)
    assert [n.op for n in r.graph] == ["input", "conv", "max_pool", "flatten", "dense"]
    assert r.graph["conv"].attrs.activation == func and r.graph["max"].inputs == ["conv"]
    assert r.graph.aliases == {f"conv/{func}": "conv"}
    assert "activation" not in str(g) and f"activation={func}" in str(r.graph)


@pytest.mark.parametrize("layers", [
    "[[conv, {ksize: 3, chn: 4, actfunc: leaky_relu}]]",  # its derivative needs the input
    "[[conv, {ksize: 3, chn: 4, actfunc: swish}]]",
    "[[conv, {ksize: 3, chn: 4, actions: L}], [parallel, [act, {actfunc: relu}], [max, {stride: 1}]]]",
    "[[max, {stride: 2}], [act, {actfunc: relu}]]",  # no conv before it
])
def test_activations_that_cannot_fuse_stay(ph, layers):
    g = ph.inline_graph(layers)
    assert any(n.op == "act" for n in g)
    assert not ph.run_checked(fuse_activation, g).changed


def test_a_kept_conv_stays_unfused(ph):
    g = ph.inline_graph("[[conv, {ksize: 3, chn: 4}], [conv, {ksize: 3, chn: 4}]]")
    convs = [n.name for n in g if n.op == "conv"]
    r = ph.run_checked(fuse_activation, g, keep={convs[0]})
    assert [r.graph[c].attrs.activation for c in convs] == [None, "relu"]


def _setup(ph, layers="[[conv, {ksize: 3, chn: 4}], [conv, {ksize: 3, chn: 5, actfunc: tanh}]]"):
    g = ph.inline_graph(layers)
    x = np.random.default_rng(0).standard_normal((3, 8, 8, 3)).astype(np.float32)
    return g, init_params(g, seed=1), x


def test_the_executor_runs_the_fused_graph_and_unfuses_a_conv_asked_for(ph):
    g, params, x = _setup(ph)
    ex = Executor(g)
    assert [n.op for n in ex.plan().graph].count("act") == 0  # same work: no separate pass
    conv, act = fusable_pairs(g)[0]
    want = Executor(g, fuse_activations=False).forward_all(params, x)
    got = ex.forward_all(params, x, keep=[conv, act])
    assert np.min(got[conv]) < 0 <= np.min(got[act])  # the conv's own, pre-relu output
    for name in (conv, act):
        np.testing.assert_array_equal(got[name], want[name])
    only_act = ex.forward_all(params, x, keep=[act])  # the conv stays fused
    np.testing.assert_array_equal(only_act[act], want[act])
    everything = ex.forward_all(params, x)
    assert set(everything) == set(g.nodes)
    for name, value in everything.items():
        np.testing.assert_array_equal(value, want[name])


def test_gradients_through_an_epilogue_equal_the_separate_activation(ph):
    g, params, x = _setup(ph)
    dlogits = np.random.default_rng(2).standard_normal((3, 3)).astype(np.float32)
    grads = []
    for fuse in (True, False):
        ex = Executor(g, fuse_activations=fuse)
        ex.forward(params, x, training=True)
        grads.append(ex.backward(dlogits))
    assert grads[0].keys() == grads[1].keys()
    for k in grads[0]:
        np.testing.assert_allclose(grads[0][k], grads[1][k], rtol=1e-5, atol=1e-6)


def test_backward_follows_the_plan_of_the_latest_training_forward(ph):
    g, params, x = _setup(ph)
    dlogits = np.ones((3, 3), np.float32)
    ex = Executor(g)
    conv, _ = fusable_pairs(g)[0]
    ex.forward_all(params, x, training=True, keep=[conv])
    unfused = ex.backward(dlogits)
    ex.forward(params, x, training=True)
    fused = ex.backward(dlogits)
    for k in fused:
        np.testing.assert_allclose(fused[k], unfused[k], rtol=1e-5, atol=1e-6)


def test_the_conv_kernel_refuses_an_epilogue_it_cannot_differentiate(ph):
    from dataclasses import replace

    g = ph.inline_graph("[[conv, {ksize: 3, chn: 4, actions: L}]]")
    bad = g.copy()
    bad.set_attrs("conv", replace(bad["conv"].attrs, activation="swish"))
    with pytest.raises(NotImplementedError, match="swish"):
        Executor(bad)

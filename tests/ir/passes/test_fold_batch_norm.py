"""fold_batch_norm: every spec's engine output unchanged at inference, and the folding rules."""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.backends.numpy import Executor
from cnncompile.ir.passes import fold_batch_norm, run_passes
from cnncompile.ir.passes.fold_batch_norm import foldable_pairs


def test_every_spec_computes_the_same_after_folding(ph, spec_rel):
    graph, params, x, reference = ph.spec_case(spec_rel)
    pairs = foldable_pairs(graph)
    r = ph.run_checked(fold_batch_norm, graph, params)
    assert r.changed == bool(pairs)
    assert set(graph.nodes) - set(r.graph.nodes) == {bn for _, bn in pairs}
    if r.changed:
        ph.assert_outputs_agree(Executor(r.graph).forward(r.params, x), reference)
        assert all(r.graph[layer].attrs.bias for layer, _ in pairs)
        assert {bn: layer for layer, bn in pairs}.items() <= r.graph.aliases.items()


def test_a_conv_without_bias_gains_one_and_the_batch_norm_its_parameters_leave(ph):
    g = ph.inline_graph("[[conv, {ksize: 3, chn: 4, actions: LBA, bias: false}]]")
    params = ph.random_params(g)
    assert not g["conv"].attrs.bias
    r = ph.run_checked(fold_batch_norm, g, params)
    assert r.changed and "conv/bn" not in r.graph.nodes
    conv = r.graph["conv"]
    assert conv.attrs.bias and [p.name for p in conv.params] == ["conv.kernel", "conv.bias"]
    assert conv.cost.trainable == g["conv"].cost.trainable + 4
    assert r.graph.users()["conv"] == g.users()["conv/bn"]  # the batch norm's readers moved
    assert not any(k.startswith("conv/bn.") for k in r.params)
    x = np.random.default_rng(0).standard_normal((3, 8, 8, 3)).astype(np.float32)
    want = Executor(g, fuse_activations=False).forward(params, x)
    ph.assert_outputs_agree(Executor(r.graph).forward(r.params, x), want)


def test_the_folded_weights_follow_the_formula(ph):
    """w' = w * s and b' = (b - mean) * s + shift with s = scale / sqrt(var + eps)."""
    g = ph.inline_graph("[12, [full, {width: 5, actfunc: none}], batch_normal]", "[10]")
    params = ph.random_params(g)
    [(dense, bn)] = foldable_pairs(g)
    assert g[dense].op == "dense"
    r = ph.run_checked(fold_batch_norm, g, params)
    p64 = {k: v.astype(np.float64) for k, v in params.items()}  # the maths runs in float64
    s = p64[f"{bn}.scale"] / np.sqrt(p64[f"{bn}.var"] + g[bn].attrs.epsilon)
    np.testing.assert_array_equal(r.params[f"{dense}.weight"],
                                  (p64[f"{dense}.weight"] * s).astype(np.float32))
    bias = (p64[f"{dense}.bias"] - p64[f"{bn}.mean"]) * s + p64[f"{bn}.shift"]
    np.testing.assert_array_equal(r.params[f"{dense}.bias"], bias.astype(np.float32))
    assert r.params[f"{dense}.weight"].dtype == np.float32


def test_a_batch_norm_without_rescale_folds_with_scale_one_and_shift_zero(ph):
    g = ph.inline_graph("[[conv, {ksize: 3, chn: 4, actions: LB}]]")
    assert not g["conv/bn"].attrs.rescale
    params = ph.random_params(g)
    r = ph.run_checked(fold_batch_norm, g, params)
    assert r.changed
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(np.float32)
    ph.assert_outputs_agree(Executor(r.graph).forward(r.params, x), Executor(g).forward(params, x))


@pytest.mark.parametrize("layers", [
    "[[conv, {ksize: 3, chn: 4, actions: LAB}]]",  # after the activation: not affine in z
    "[[conv, {ksize: 3, chn: 4, actions: L}], [parallel, batch_normal, [max, {stride: 1}]]]",
    "[[max, {stride: 2}], batch_normal]",  # a pool is no conv or dense
])
def test_batch_norms_that_cannot_fold_stay(ph, layers):
    g = ph.inline_graph(layers)
    assert any(n.op == "batch_norm" for n in g)
    assert not ph.run_checked(fold_batch_norm, g).changed


def test_without_parameters_only_the_graph_is_rewritten(ph):
    g = ph.inline_graph("[[conv, {ksize: 3, chn: 4, actions: LBA}]]")
    r = run_passes(g, None, [fold_batch_norm], check=True)
    assert r.changed and r.params is None
    assert [n.op for n in r.graph] == ["input", "conv", "act", "flatten", "dense"]

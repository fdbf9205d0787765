"""push_affine_forward: every spec's engine output unchanged at inference, and each rule.

Tolerance: the rewritten graph differs from the model only by float32 rounding. The pass
computes in float64 and rounds each rewritten weight and bias once (relative 6e-8), and the
engine then sums in another order; through the deepest spec (ResNet-152) that stays far below
the 1e-4 relative to the output's scale that the export's parity check allows, which the
tests use too (``ph.TOLERANCE``).
"""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.artifacts.heads import head_probabilities
from cnncompile.backends.numpy import Executor, inference_model
from cnncompile.evaluation.evaluate import engine_predictor
from cnncompile.ir.passes import fold_batch_norm, push_affine_forward, run_passes
from cnncompile.ir.passes.affine_maps import avg_pool_of_map, conv_of_map

# a batch norm with a trainable scale after an activation no scale can move back through
LAB_SIGMOID = "[conv, {ksize: 3, chn: 4, actfunc: sigmoid}], batch_normal"


def signed_params(ph, graph, seed: int = 0) -> dict[str, np.ndarray]:
    """``ph.random_params`` with batch-norm scales of both signs, some tiny (1e-3 in size)."""
    params = ph.random_params(graph, seed)
    rng = np.random.default_rng(seed + 100)
    for p in graph.params():
        if p.role == "scale":
            size = np.where(rng.random(p.shape) < 0.25, 1e-3, rng.uniform(0.5, 1.5, p.shape))
            params[p.name] = (size * rng.choice([-1.0, 1.0], p.shape)).astype(np.float32)
    return params


def bn_count(graph) -> int:
    return sum(n.op == "batch_norm" for n in graph)


def engine(graph, params, x) -> np.ndarray:
    return Executor(graph, fuse_activations=False).forward(params, x)


def test_every_spec_computes_the_same_after_pushing(ph, spec_rel):
    """Positive scales (``ph.random_params``: the backward route) and scales of both signs,
    some tiny (the forward route, and batch norms kept), bias maps allowed."""
    graph, params, x, reference = ph.spec_case(spec_rel)
    r = ph.run_checked(push_affine_forward, graph, params, bias_maps=True)
    if r.changed:
        ph.assert_outputs_agree(Executor(r.graph).forward(r.params, x), reference)
        assert bn_count(r.graph) < bn_count(graph)
    signed = signed_params(ph, graph)
    r = ph.run_checked(push_affine_forward, graph, signed, bias_maps=True)
    if r.changed:
        ph.assert_outputs_agree(Executor(r.graph).forward(r.params, x), engine(graph, signed, x))


@pytest.mark.parametrize("rel", ["ch9/residual_flower.yaml", "ch9/bottleneck_flower.yaml",
                                 "ch9/inception_flower_lab.yaml", "fashion_mnist/fmnist_bn.yaml"])
def test_the_lab_models_keep_no_batch_norm_with_positive_scales(ph, rel):
    graph, params, x, reference = ph.spec_case(rel)
    r = run_passes(graph, params, [fold_batch_norm, push_affine_forward], check=True)
    assert bn_count(graph) > 0 and bn_count(r.graph) == 0
    ph.assert_outputs_agree(Executor(r.graph).forward(r.params, x), reference)


def test_max_pool_passes_a_positive_affine_and_stops_a_negative_one(ph):
    g = ph.inline_graph(f"[{LAB_SIGMOID}, [max, {{stride: 2}}], [conv, {{ksize: 1, chn: 3}}]]")
    params = ph.random_params(g)
    x = ph.batch_for(g)
    r = ph.run_checked(push_affine_forward, g, params)
    assert r.changed and bn_count(r.graph) == 0
    ph.assert_outputs_agree(engine(r.graph, r.params, x), engine(g, params, x))
    [bn] = [n.name for n in g if n.op == "batch_norm"]
    params[f"{bn}.scale"] = params[f"{bn}.scale"] * np.array([1, -1, 1, 1], np.float32)
    assert not ph.run_checked(push_affine_forward, g, params).changed


def test_a_negative_scale_never_moves_back_through_an_activation(ph):
    g = ph.inline_graph("[[conv, {ksize: 3, chn: 4}], batch_normal, [max, {stride: 2}]]")
    params = ph.random_params(g)
    [bn] = [n.name for n in g if n.op == "batch_norm"]
    params[f"{bn}.scale"] = params[f"{bn}.scale"] * np.array([1, 1, -1, 1], np.float32)
    assert not ph.run_checked(push_affine_forward, g, params).changed
    params[f"{bn}.scale"] = np.abs(params[f"{bn}.scale"])
    r = ph.run_checked(push_affine_forward, g, params)
    assert r.changed and bn_count(r.graph) == 0


def test_a_batch_norm_after_a_max_pool_goes_back_into_the_conv(ph):
    """fmnist_bn's order: conv, max, batch norm, relu; nothing is left to push forward."""
    g = ph.inline_graph("[[conv, {ksize: 3, chn: 4, actfunc: none}], [max, {stride: 2}], "
                        "batch_normal, [act, {actfunc: relu}]]")
    params, x = ph.random_params(g), ph.batch_for(g)
    r = ph.run_checked(push_affine_forward, g, params)
    assert r.changed and bn_count(r.graph) == 0
    assert [n.op for n in r.graph if n.op == "bias_map"] == []
    ph.assert_outputs_agree(engine(r.graph, r.params, x), engine(g, params, x))


@pytest.mark.parametrize("count_pad", [True, False])
def test_an_integer_padded_average_is_pushed_exactly_through_a_map(ph, count_pad):
    """``avg`` over k*k cells (count_pad) gives a shift smaller at the border: the conv after it
    needs a bias map even without padding of its own; over real cells it does not."""
    g = ph.inline_graph(f"[{LAB_SIGMOID}, [avg, {{ksize: 3, stride: 2, padding: 1, "
                        f"count_pad: {str(count_pad).lower()}}}], [conv, {{ksize: 1, chn: 3}}]]")
    params, x = ph.random_params(g), ph.batch_for(g)
    r = ph.run_checked(push_affine_forward, g, params, bias_maps=True)
    assert r.changed and bn_count(r.graph) == 0
    maps = [n.name for n in r.graph if n.op == "bias_map"]
    assert len(maps) == (1 if count_pad else 0)
    ph.assert_outputs_agree(engine(r.graph, r.params, x), engine(g, params, x))
    kept = ph.run_checked(push_affine_forward, g, params, bias_maps=False)
    assert kept.changed != count_pad  # without maps the count_pad case keeps its batch norm


def test_a_padded_conv_gets_its_border_correction_exact_at_the_corners(ph):
    g = ph.inline_graph("[[conv, {ksize: 3, chn: 4, actions: LAB}], "
                        "[conv, {ksize: 3, chn: 5, actfunc: none}]]", "[7, 6, 3]")
    params, x = ph.random_params(g), ph.batch_for(g)
    r = ph.run_checked(push_affine_forward, g, params, bias_maps=True)
    assert [n.op for n in r.graph][:4] == ["input", "conv", "act", "conv"]
    [bias_map] = [n.name for n in r.graph if n.op == "bias_map"]
    rest = r.params[f"{bias_map}.bias"]
    assert np.all(rest[1:-1, 1:-1] == 0) and np.all(rest[[0, 0, -1, -1], [0, -1, 0, -1]] != 0)
    second = [n.name for n in g if n.op == "conv"][1]
    want = Executor(g, np.float64, fuse_activations=False).forward_all(
        params, x, keep=[second])[second]
    got = Executor(r.graph, np.float64).forward_all(r.params, x, keep=[bias_map])[bias_map]
    corners = (slice(None), [0, 0, -1, -1], [0, -1, 0, -1])
    np.testing.assert_allclose(got[corners], want[corners], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not ph.run_checked(push_affine_forward, g, params, bias_maps=False).changed


def test_a_value_with_two_readers_is_pushed_into_both_or_neither(ph):
    both = ph.inline_graph(f"[{LAB_SIGMOID}, [parallel, [conv, {{ksize: 1, chn: 2}}], "
                           "[conv, {ksize: 1, chn: 3}]]]")
    params, x = ph.random_params(both), ph.batch_for(both)
    r = ph.run_checked(push_affine_forward, both, params)
    assert r.changed and bn_count(r.graph) == 0
    ph.assert_outputs_agree(engine(r.graph, r.params, x), engine(both, params, x))
    one = ph.inline_graph(f"[{LAB_SIGMOID}, [parallel, [conv, {{ksize: 1, chn: 2}}], "
                          "[act, {actfunc: tanh}]]]")
    assert not ph.run_checked(push_affine_forward, one, ph.random_params(one)).changed


def test_a_shift_passes_a_residual_add_into_both_paths_after_it(ph):
    g = ph.inline_graph("[[conv, {ksize: 1, chn: 4, actions: LAB}], [add, {x: false}, "
                        "[conv, {ksize: 1, chn: 4, actions: LAB}]], [conv, {ksize: 1, chn: 2}]]")
    params, x = ph.random_params(g), ph.batch_for(g)
    r = ph.run_checked(push_affine_forward, g, params)
    assert r.changed and bn_count(g) == 2 and bn_count(r.graph) == 0
    ph.assert_outputs_agree(engine(r.graph, r.params, x), engine(g, params, x))


def test_the_maps_match_the_engine_on_a_constant_input(ph):
    """conv_of_map / avg_pool_of_map are the engine's conv (bias 0) and pool of a constant."""
    g = ph.inline_graph("[[conv, {ksize: 3, chn: 4, stride: 2, bias: false, actfunc: none}], "
                        "[avg, {ksize: 3, stride: 2, padding: 1}]]", "[9, 8, 3]")
    params = ph.random_params(g)
    t = np.random.default_rng(3).standard_normal((9, 8, 3))
    conv, avg = (n for n in g if n.op in ("conv", "avg_pool"))
    outs = Executor(g, np.float64, fuse_activations=False).forward_all(
        params, t[None], keep=[conv.name, avg.name])
    made = conv_of_map(t, params[f"{conv.name}.kernel"], conv.attrs.windows, 1)
    np.testing.assert_allclose(made, outs[conv.name][0], rtol=1e-6, atol=1e-6)
    pooled = avg_pool_of_map(made, avg.attrs.windows, avg.attrs.count_pad)
    np.testing.assert_allclose(pooled, outs[avg.name][0], rtol=1e-6, atol=1e-6)


def test_without_params_nothing_changes(ph):
    g = ph.inline_graph("[[conv, {ksize: 3, chn: 4, actions: LAB}]]")
    assert not ph.run_checked(push_affine_forward, g).changed


def test_the_engine_predicts_with_the_folded_graph(ph):
    graph, params, x, reference = ph.spec_case("ch9/bottleneck_flower.yaml")
    folded, folded_params = inference_model(graph, params)
    # the 6 before a padded 3x3 conv stay: their push would need a bias map
    assert bn_count(graph) == 19 and bn_count(folded) == 6
    probs = engine_predictor(graph, params)(x)
    ph.assert_outputs_agree(np.concatenate(list(probs.values()), axis=1),
                            np.concatenate(list(head_probabilities(graph.heads, reference)
                                                .values()), axis=1))

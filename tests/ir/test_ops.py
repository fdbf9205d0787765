"""Per-op shape and cost tables, computed by hand (never with the helper under test)."""

import math

import pytest

from cnncompile.ir import OPS
from cnncompile.ir.ops import (
    LAYOUTS,
    ROLES,
    WEIGHT_ROLES,
    ConvAttrs,
    ParamSpec,
    exp_ratio_from_momentum,
)


@pytest.mark.parametrize("layer,input,shape,params,macs", [
    # conv: out = floor(n/s) SAME, floor((n-k+1)/s) VALID, (n+2p-k)//s+1 integer
    ("[conv, {ksize: 3, chn: 4}]", "[7, 6, 2]", (7, 6, 4), 3 * 3 * 2 * 4 + 4, 7 * 6 * 4 * 9 * 2),
    ("[conv, {ksize: 3, chn: 4, stride: 2}]", "[7, 6, 2]", (3, 3, 4), 76, 3 * 3 * 4 * 9 * 2),
    ("[conv, {ksize: 3, chn: 4, stride: 2, padding: VALID}]", "[7, 6, 2]", (2, 2, 4), 76, 2 * 2 * 4 * 18),
    ("[conv, {ksize: [1, 5], chn: 3, padding: VALID}]", "[4, 9, 1]", (4, 5, 3), 5 * 3 + 3, 4 * 5 * 3 * 5),
    ("[conv, {ksize: [3, 1], chn: 3, stride: [1, 2]}]", "[5, 5, 1]", (5, 2, 3), 3 * 3 + 3, 5 * 2 * 3 * 3),
    ("[conv, {ksize: 7, chn: 8, stride: 2, padding: 3, bias: false}]", "[224, 224, 3]",
     (112, 112, 8), 7 * 7 * 3 * 8, 112 * 112 * 8 * 49 * 3),
    ("[conv, {ksize: 3, chn: 6, padding: [0, 1], groups: 3}]", "[5, 5, 3]", (3, 5, 6), 9 * 1 * 6 + 6, 3 * 5 * 6 * 9),
    ("[conv, {ksize: 1, chn: 2, stride: 3, padding: VALID}]", "[7, 7, 1]", (2, 2, 2), 4, 4 * 2),
    # pooling: ksize defaults to stride
    ("[max, {stride: 2}]", "[7, 6, 2]", (3, 3, 2), 0, 0),
    ("[avg, {stride: 2, ksize: 3}]", "[8, 8, 1]", (4, 4, 1), 0, 0),
    ("[max, {stride: 2, ksize: 3, padding: VALID}]", "[8, 8, 1]", (3, 3, 1), 0, 0),
    ("[max, {stride: 2, ksize: 3, padding: 1}]", "[112, 112, 1]", (56, 56, 1), 0, 0),
    ("[avg, {stride: 4}]", "[6, 6, 5]", (1, 1, 5), 0, 0),
    ("[avg, {stride: 1, ksize: 3}]", "[6, 5, 5]", (6, 5, 5), 0, 0),
    # full flattens first
    ("[full, {width: 7}]", "[2, 3, 4]", (7,), 24 * 7 + 7, 24 * 7),
    ("[full, {width: 7, bias: false}]", "[5]", (7,), 35, 35),
    ("[batch_normal]", "[3, 3, 5]", (3, 3, 5), 10, 0),
    ("[batch_normal, {rescale: false}]", "[5]", (5,), 0, 0),
    ("[dropout, {keep_prob: 0.5}]", "[3, 3, 5]", (3, 3, 5), 0, 0),
    ("[noise, {std: 0.1}]", "[3, 3, 5]", (3, 3, 5), 0, 0),
    ("[act, {actfunc: swish}]", "[3, 3, 5]", (3, 3, 5), 0, 0),
])
def test_layer_shapes_and_costs(make_graph, layer, input, shape, params, macs):
    g = make_graph(f"[{layer}]", input=input)
    body = [n for n in g if n.op not in ("input", "flatten", "act") and not n.name.startswith("output")]
    if not body:  # a standalone activation
        body = [n for n in g if n.op == "act"]
    node = body[0]
    assert node.shape == shape
    assert node.cost.trainable == params
    assert node.cost.macs == macs


def test_every_op_has_shape_params_and_cost_rules():
    for name, op in OPS.items():
        assert op.name == name
        assert callable(op.infer_shape) and callable(op.params) and callable(op.macs)


def test_duplicate_registration_is_refused():
    from cnncompile.ir.ops import register

    with pytest.raises(ValueError, match="registered twice"):
        register(OPS["conv"])


def test_output_layer_width_is_the_sum_of_heads(make_graph):
    g = make_graph("[[conv, {ksize: 3, chn: 2}]]", input="[4, 4, 1]", output="{heads: {domain: 3, object: 31}}")
    assert g["output"].shape == (34,)
    assert g["output"].cost.macs == 32 * 34 and math.prod(g["output"].params[0].shape) == 32 * 34


@pytest.mark.parametrize("momentum,rate", [(0.9, 0.1), (0.99, 0.01), (0.999, 0.001), (0.0, 1.0),
                                           (1.0, 0.0), (0.95, 0.05), (0.1, 0.9)])
def test_momentum_maps_to_the_rate_as_written(momentum, rate):
    assert exp_ratio_from_momentum(momentum) == rate  # exactly: 1 - 0.9 is 0.0999...98 in floats


def test_both_batch_norm_momentum_spellings_give_the_same_rate(make_graph):
    g = make_graph("[[batch_normal, {momentum: 0.9}], [conv, {ksize: 1, chn: 2, actions: LAB, "
                   "bn: {momentum: 0.9}}]]", input="[4, 4, 2]")
    rates = [n.attrs.exp_ratio for n in g if n.op == "batch_norm"]
    assert rates == [0.1, 0.1]


def test_every_parameter_has_a_role_a_layout_and_a_start(make_graph):
    g = make_graph("[[conv, {ksize: 3, chn: 4, actions: LAB}], [batch_normal], 5]",
                   input="[6, 6, 2]")
    got = {p.name: (p.role, p.layout, p.start, p.trainable) for p in g.params()}
    assert got == {
        "conv.kernel": ("kernel", "HWIO", None, True), "conv.bias": ("bias", "C", 0.0, True),
        "conv/bn.mean": ("mean", "C", 0.0, False), "conv/bn.var": ("var", "C", 1.0, False),
        "batch_normal.scale": ("scale", "C", 1.0, True),
        "batch_normal.shift": ("shift", "C", 0.0, True),
        "batch_normal.mean": ("mean", "C", 0.0, False),
        "batch_normal.var": ("var", "C", 1.0, False),
        "full.weight": ("weight", "IO", None, True), "full.bias": ("bias", "C", 0.0, True),
        "output.weight": ("weight", "IO", None, True), "output.bias": ("bias", "C", 0.0, True),
    }
    # every layout but the bias map's, which only a pass makes (push_affine_forward)
    assert {p.role for p in g.params()} == set(ROLES)
    assert {p.layout for p in g.params()} == set(LAYOUTS) - {"HWC"}
    assert g["conv"].param_with_role("kernel") is g["conv"].param("kernel")


@pytest.mark.parametrize("role,layout,start", [("kernal", "HWIO", None), ("kernel", "OIHW", None),
                                               ("kernel", "HWIO", 0.0), ("bias", "C", None)])
def test_param_spec_refuses_unknown_roles_layouts_and_starts(role, layout, start):
    with pytest.raises(ValueError):
        ParamSpec("p", (1,), role, layout, start)
    assert WEIGHT_ROLES == ("kernel", "weight")


def test_structure_hash_is_unchanged_by_the_fused_activation_field(make_graph):
    """Hashes recorded by checkpoints and exports before ConvAttrs had ``activation``."""
    g = make_graph("[[conv, {ksize: 3, chn: 2, actions: LAB}], [max, {stride: 2}], "
                   "[batch_normal, {momentum: 0.5}]]", input="[6, 6, 1]", output="{classes: 3}")
    assert g.structure_hash() == "3a340d53933a25bc"
    conv = g["conv"].attrs
    assert repr(conv) == repr(ConvAttrs(conv.windows, conv.cout, conv.groups, conv.bias))
    assert "activation='relu'" in repr(ConvAttrs(conv.windows, 2, activation="relu"))

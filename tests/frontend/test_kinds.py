"""Layer kinds as units (frontend/kinds/): one registry, and each kind's build, dump and title."""

import dataclasses

import pytest

from cnncompile.frontend import layers as L
from cnncompile.frontend.dump import layer_to_dsl
from cnncompile.frontend.kinds import KINDS, LayerKind, kind_of, register
from cnncompile.ir.ops import ACTIVATIONS, BN_EPSILON, BN_EXP_RATIO

BASE = "name: t\ninput: [8, 8, 3]\noutput: {classes: 2}\n"

# one expression per kind, with options off their defaults where the kind has any
EXAMPLES = {
    "full": "[full, {width: 7, actfunc: elu, bias: false}]",
    "conv": "[conv, {ksize: [3, 1], chn: 4, stride: 2, padding: 1, actfunc: swish, actions: LBA, "
            "bias: false, groups: 1, bn: {exp_ratio: 0.25, epsilon: 1e-5}}]",
    "max": "[max, {stride: 2, ksize: 3, padding: VALID}]",
    "avg": "[avg, {stride: 1, ksize: 3, padding: 1, count_pad: false}]",
    "dropout": "[dropout, {keep_prob: 0.75}]",
    "noise": "[noise, {mean: 0.5, std: 0.25, ratio: 0.5}]",
    "batch_normal": "[batch_normal, {rescale: false, epsilon: 1e-5, momentum: 0.9}]",
    "act": "[act, {actfunc: leaky_relu}]",
    "serial": "[serial, 5, [act]]",
    "parallel": "[parallel, [conv, {ksize: 1, chn: 2}], [conv, {ksize: 3, chn: 2}]]",
    "loop": "[loop, {repeat: 2}, [conv, {ksize: 3, chn: 3}]]",
    "add": "[add, {x: false, actions: BA, actfunc: tanh, bn: {momentum: 0.5}}, "
           "[conv, {ksize: 3, chn: 3}], [conv, {ksize: 1, chn: 3}]]",
    "custom": "[custom, {name: m, args: {'#n': 3}}]",
}
MACROS = "macros:\n  m: [conv, {ksize: 3, chn: '#n'}]\n"


def test_every_kind_is_registered_once_with_an_example():
    assert set(KINDS) == set(EXAMPLES)
    with pytest.raises(ValueError, match="layer kind 'conv' registered twice"):
        register(dataclasses.replace(KINDS["conv"]))
    assert isinstance(KINDS["conv"], LayerKind) and KINDS["conv"].required == ["ksize", "chn"]


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_a_kind_builds_dumps_and_reads_back_the_same_layer(make_spec, kind):
    layer = make_spec(BASE + MACROS + f"layers: [{EXAMPLES[kind]}]\n").layers.items[0]
    assert kind_of(layer) is KINDS[kind] and isinstance(layer, KINDS[kind].layer)
    written = layer_to_dsl(layer)
    again = make_spec(BASE + f"layers: [{written!r}]\n".replace("'", '"')).layers.items[0]
    expected = layer.body if kind == "custom" else layer  # a macro call is written expanded
    assert again == expected


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_leaf_kinds_have_a_report_title_and_composites_none(make_spec, kind):
    layer = make_spec(BASE + MACROS + f"layers: [{EXAMPLES[kind]}]\n").layers.items[0]
    title = KINDS[kind].title
    assert (title is None) == (kind in ("serial", "parallel", "loop", "add", "custom"))
    if title:
        assert title(layer).split()[0] in (kind, "batch")


def test_report_titles_say_what_the_layer_does(make_spec):
    items = make_spec(BASE + f"layers: [{EXAMPLES['conv']}, {EXAMPLES['max']}, "
                             f"{EXAMPLES['full']}, {EXAMPLES['dropout']}]\n").layers.items
    assert [kind_of(x).title(x) for x in items] == [
        "conv 3x1 /2 4ch LBA swish", "max 3x3 /2", "full 7 elu", "dropout keep 0.75"]


def test_both_spellings_of_a_batch_norm_momentum_give_the_same_rate(make_spec):
    bn, conv, add = make_spec(BASE + "layers: [[batch_normal, {momentum: 0.9}], "
                              "[conv, {ksize: 1, chn: 3, actions: LB, bn: {momentum: 0.9}}], "
                              "[add, {actions: B, bn: {momentum: 0.9}}, [conv, {ksize: 1, chn: 3}]]"
                              "]\n").layers.items
    assert bn.exp_ratio == conv.bn["exp_ratio"] == add.bn["exp_ratio"] == 0.1


def test_front_end_defaults_and_choices_come_from_the_ir(make_spec):
    bn = make_spec(BASE + "layers: [batch_normal]\n").layers.items[0]
    assert (bn.epsilon, bn.exp_ratio) == (BN_EPSILON, BN_EXP_RATIO)
    conv = make_spec(BASE + "layers: [[conv, {ksize: 1, chn: 3, actions: LB, bn: {}}]]\n")
    assert conv.layers.items[0].bn == {"exp_ratio": BN_EXP_RATIO, "epsilon": BN_EPSILON}
    assert set(L.ACTFUNCS) == set(ACTIVATIONS) | {"none"}
    for kind in ("full", "conv", "act", "add"):
        parse = KINDS[kind].schema["actfunc"][0]
        assert [parse(f) for f in L.ACTFUNCS] == list(L.ACTFUNCS)

"""Analysis figures: totals, receptive fields, memory, and the renderings."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from cnncompile.analysis import (
    analyze_graph,
    render_json,
    render_table,
    render_textbook,
    render_tree,
)
from cnncompile.analysis.report import block_totals
from cnncompile.errors import DslSyntaxError, ShapeError
from cnncompile.frontend import parse_spec
from cnncompile.ir import lower


def test_receptive_field_by_hand(make_graph):
    # conv3 s1 -> 3; max2 s2 -> 3 + 1*1 = 4, jump 2; conv3 -> 4 + 2*2 = 8; conv [1,5] s[1,2] -> 8x16
    g = make_graph("[[conv, {ksize: 3, chn: 2}], [max, {stride: 2}], [conv, {ksize: 3, chn: 2}],"
                   " [conv, {ksize: [1, 5], chn: 2, stride: [1, 2]}]]", input="[16, 16, 1]")
    a = analyze_graph(g)
    rf = {r.node.name: r.receptive_field for r in a.nodes}
    assert (rf["conv_0"].size, rf["conv_0"].jump) == ((3, 3), (1, 1))
    assert (rf["max"].size, rf["max"].jump) == ((4, 4), (2, 2))
    assert (rf["conv_1"].size, rf["conv_1"].jump) == ((8, 8), (2, 2))
    assert (rf["conv_2"].size, rf["conv_2"].jump) == ((8, 16), (2, 4))
    assert rf["output"] is None


def test_memory_by_hand(make_graph):
    # input 4x4x1 (16), conv 4x4x2 (32), relu (32), flatten (32), output (2); batch 10, float32
    g = make_graph("[[conv, {ksize: 3, chn: 2}]]", input="[4, 4, 1]")
    t = analyze_graph(g, batch=10).totals
    assert t.activation_bytes == (16 + 32 + 32 + 32 + 2) * 10 * 4
    # peak: conv output and relu output alive together (input freed after conv): (32 + 32)
    # vs input + conv (16 + 32); the largest is relu's step: conv (32) + relu (32)
    assert t.inference_peak_bytes == (32 + 32) * 10 * 4
    assert t.param_bytes == (3 * 3 * 1 * 2 + 2 + 32 * 2 + 2) * 4
    assert t.trainable_params == 18 + 2 + 64 + 2 and t.non_trainable_params == 0


def test_batch_norm_counts(make_graph):
    g = make_graph("[[conv, {ksize: 1, chn: 4, actions: LB}], batch_normal]", input="[2, 2, 3]")
    t = analyze_graph(g).totals
    assert t.non_trainable_params == 4 * 2 + 4 * 2  # running mean and var of both norms
    assert t.trainable_params == (3 * 4 + 4) + 4 * 2 + (16 * 2 + 2)  # conv + bn scale/shift + output
    assert t.textbook_param_count == (3 * 4 + 4) + (16 * 2 + 2)  # batch norm left out


def test_grouped_conv_macs(make_graph):
    g = make_graph("[[conv, {ksize: 3, chn: 8, groups: 4, bias: false}]]", input="[5, 5, 4]")
    conv = g["conv"]
    assert conv.params[0].shape == (3, 3, 1, 8) and len(conv.params) == 1
    assert conv.cost.macs == 5 * 5 * 8 * 9 * 1


layer = st.deferred(lambda: st.one_of(
    st.builds(lambda k, c, s, p, a: f"[conv, {{ksize: {k}, chn: {c}, stride: {s}, padding: {p}, actions: {a}}}]",
              st.sampled_from(["1", "2", "3", "[1, 3]"]), st.integers(1, 4), st.integers(1, 2),
              st.sampled_from(["SAME", "VALID", "1"]), st.sampled_from(["LA", "LAB", "LBA", "L"])),
    st.builds(lambda op, s, k: f"[{op}, {{stride: {s}, ksize: {k}}}]",
              st.sampled_from(["max", "avg"]), st.integers(1, 2), st.integers(1, 3)),
    st.just("[batch_normal]"), st.just("[dropout, {keep_prob: 0.5}]"), st.just("[act, {actfunc: elu}]"),
    st.builds(lambda c: f"[add, {{x: true}}, {c}]", layer),
    st.builds(lambda a, b: f"[parallel, {a}, {b}]", layer, layer),
    st.builds(lambda r, c: f"[loop, {{repeat: {r}}}, {c}]", st.integers(1, 3), layer),
    st.integers(1, 8).map(str),
))


@settings(max_examples=120, deadline=None)
@given(st.lists(layer, min_size=1, max_size=5), st.integers(3, 12), st.integers(1, 3))
def test_random_specs_analyse_and_totals_add_up(layers, hw, c):
    text = f"name: r\ninput: [{hw}, {hw}, {c}]\noutput: {{classes: 3}}\nlayers: [{', '.join(layers)}]\n"
    try:
        g = lower(parse_spec(text, "r.yaml"))
    except ShapeError as e:
        assert str(e).startswith("r.yaml:4: layers")
        return
    except DslSyntaxError as e:  # nested loops can multiply past the expansion limit
        assert str(e).startswith("r.yaml:4: layers") and "more than the limit of 10,000" in str(e)
        return
    g.lint()
    a = analyze_graph(g, batch=2)
    t = a.totals
    assert t.trainable_params == sum(n.cost.trainable for n in g)
    assert t.macs == sum(n.cost.macs for n in g)
    assert t.activation_bytes == sum(r.activation_bytes for r in a.nodes)
    assert block_totals(g.block, g) == (t.trainable_params, t.non_trainable_params, t.macs)
    assert max(r.activation_bytes for r in a.nodes) <= t.inference_peak_bytes <= t.activation_bytes
    doc = json.loads(render_json(a))
    assert sum(layer["macs"] for layer in doc["layers"]) == t.macs
    render_table(a), render_tree(a), render_textbook(a)


def test_json_schema(make_graph):
    a = analyze_graph(make_graph("[[conv, {ksize: 3, chn: 2, actions: LAB}]]"), batch=4)
    doc = json.loads(render_json(a))
    assert doc["schema"] == "cnncompile.analysis/1" and doc["batch"] == 4
    assert set(doc["totals"]) >= {"trainable_params", "non_trainable_params", "macs", "param_bytes",
                                  "activation_bytes"}
    conv = doc["layers"][1]
    assert conv["name"] == "conv" and conv["op"] == "conv" and conv["output_shape"] == [8, 8, 2]
    assert conv["params"] == [{"name": "conv.kernel", "shape": [3, 3, 3, 2], "trainable": True},
                              {"name": "conv.bias", "shape": [2], "trainable": True}]
    bn = next(x for x in doc["layers"] if x["op"] == "batch_norm")
    assert [p["trainable"] for p in bn["params"]] == [False, False]
    assert doc["output"] == {"kind": "classes", "heads": [{"name": "output", "size": 2, "labels": None}]}


def test_table_golden(make_graph):
    a = analyze_graph(make_graph("[[conv, {ksize: 3, chn: 2}]]", input="[4, 4, 1]"))
    assert render_table(a) == """\
Model: t   input [4, 4, 1]   batch 1
Layer           Op       Output shape  Params  Non-train  MACs  Activations  RF
------------------------------------------------------------------------------------
input           input    [4, 4, 1]          0          0     0         64 B  1x1/1x1
conv            conv     [4, 4, 2]         20          0   288        128 B  3x3/1x1
conv/relu       act      [4, 4, 2]          0          0     0        128 B  3x3/1x1
output/flatten  flatten  [32]               0          0     0        128 B  -
output          dense    [2]               66          0    64          8 B  -
------------------------------------------------------------------------------------
Trainable params:     86
Non-trainable params: 0
MACs per sample:      352 (352)
Parameter memory:     344 B
Activations (batch 1): inference peak 256 B, training 456 B
"""


def test_textbook_dump_of_a_parallel_model(make_graph):
    a = analyze_graph(make_graph("[[parallel, [conv, {ksize: 1, chn: 2}], [max, {stride: 1}]], 10]",
                                 input="[4, 4, 3]"))
    assert render_textbook(a) == """\
parallel
  1: conv, (4, 4, 3)=>[4, 4, 2] pm:1x1x3x2+2=8
  2: max, (4, 4, 3)=>[4, 4, 3]
3: full, [4, 4, 5]=>[10] pm:80x10+10=810
4: full, [10]=>[2] pm:10x2+2=22
Total parameter count: 840
"""

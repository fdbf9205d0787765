"""One-op graphs for every op and option, run in onnxruntime against the NumPy engine.

``export_layers`` raises ExportError unless onnxruntime's logits and head outputs are within
1e-4 (relative to their scale) of the engine's, so each case below is a parity test; the
assertions add what the graph must (not) contain.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.backends.onnx import EMITTERS, ExportOptions, build_model
from cnncompile.backends.onnx.checks import run_onnx
from cnncompile.ir import OPS
from cnncompile.ir.window import explicit_pads


def test_every_ir_op_has_an_emitter(ox):
    assert sorted(OPS) == sorted(EMITTERS)


CONV_CASES = {
    "same_odd_stride2": ("[conv, {ksize: 3, chn: 4, stride: 2}]", "[9, 9, 3]"),
    "same_even_size_stride2": ("[conv, {ksize: 3, chn: 4, stride: 2}]", "[10, 8, 3]"),
    "same_even_kernel": ("[conv, {ksize: 4, chn: 4, stride: 2}]", "[9, 9, 3]"),
    "same_stride3_offset": ("[conv, {ksize: 3, chn: 4, stride: 3}]", "[11, 10, 3]"),
    "same_kernel_below_stride": ("[conv, {ksize: 1, chn: 4, stride: 3}]", "[10, 10, 3]"),
    "valid_stride2": ("[conv, {ksize: 3, chn: 4, stride: 2, padding: VALID}]", "[10, 9, 3]"),
    "valid_stride3_offset": ("[conv, {ksize: 2, chn: 4, stride: 3, padding: VALID}]",
                             "[11, 11, 3]"),
    "asymmetric_kernel": ("[conv, {ksize: [1, 3], chn: 4}]", "[7, 9, 3]"),
    "asymmetric_kernel_stride": ("[conv, {ksize: [3, 2], chn: 4, stride: [2, 3]}]", "[9, 11, 3]"),
    "integer_padding": ("[conv, {ksize: 3, chn: 4, stride: 2, padding: 1}]", "[9, 10, 3]"),
    "integer_padding_pair": ("[conv, {ksize: [5, 3], chn: 4, padding: [2, 0]}]", "[9, 9, 3]"),
    "grouped": ("[conv, {ksize: 3, chn: 6, groups: 3}]", "[8, 8, 6]"),
    "depthwise_strided": ("[conv, {ksize: 3, chn: 6, groups: 6, stride: 2}]", "[9, 9, 6]"),
    "no_bias_tanh": ("[conv, {ksize: 3, chn: 4, bias: false, actfunc: tanh}]", "[8, 8, 3]"),
    "actions_lba": ("[conv, {ksize: 3, chn: 4, actions: LBA}]", "[8, 8, 3]"),
    "actions_lab": ("[conv, {ksize: 3, chn: 4, actions: LAB}]", "[8, 8, 3]"),
}


@pytest.mark.parametrize("layer,shape", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv(ox, layer, shape):
    graph, r = ox.export_layers(f"[{layer}]", shape)
    assert all("auto_pad" not in a for a in ox.attrs_of(r.model, "Conv"))
    conv = next(n for n in graph if n.op == "conv")
    expect_slice = explicit_pads(conv.attrs.windows).needs_slice
    assert ("Slice" in ox.op_types(r.model)) == expect_slice


def test_valid_offset_and_small_kernel_use_a_slice(ox):
    """The textbook's stride offset starts the first window inside the input: a Slice."""
    for layer in (CONV_CASES["valid_stride3_offset"], CONV_CASES["same_kernel_below_stride"]):
        _, r = ox.export_layers(f"[{layer[0]}]", layer[1])
        assert "Slice" in ox.op_types(r.model)


def test_batch_norm_after_conv_is_folded_and_after_activation_is_pushed(ox):
    _, r = ox.export_layers("[[conv, {ksize: 3, chn: 4, actions: LBA}]]", "[8, 8, 3]")
    assert "BatchNormalization" not in ox.op_types(r.model)
    _, r = ox.export_layers("[[conv, {ksize: 3, chn: 4, actions: LAB}]]", "[8, 8, 3]")
    assert "BatchNormalization" not in ox.op_types(r.model)  # pushed into the output layer
    _, r = ox.export_layers("[[conv, {ksize: 3, chn: 4, actions: LAB}]]", "[8, 8, 3]",
                            push_batch_norm=False)
    assert ox.op_types(r.model).count("BatchNormalization") == 1


def test_folding_is_the_ir_pass_and_can_be_switched_off(ox):
    graph, r = ox.export_layers("[[conv, {ksize: 3, chn: 4, actions: LBA}]]", "[8, 8, 3]",
                                fold_batch_norm=False)
    assert ox.op_types(r.model).count("BatchNormalization") == 1
    _, r = ox.export_layers("[[conv, {ksize: 3, chn: 4, actions: LAB}]]", "[8, 8, 3]",
                            fold_batch_norm=False)  # keeps every batch norm, pushes none
    assert ox.op_types(r.model).count("BatchNormalization") == 1
    assert r.shapes_checked == len(graph.nodes)
    model, ctx = build_model(graph, ox.random_params(graph), ExportOptions())
    assert "conv/bn" not in ctx.graph.nodes and ctx.graph["conv"].attrs.bias
    assert ctx.values["conv/bn"] == ctx.values["conv"]  # the folded value answers for both
    assert ctx.model_graph is graph


POOL_CASES = {
    "max_same_3_2": ("[max, {ksize: 3, stride: 2}]", "[9, 10, 3]"),
    "max_default_2": ("[max, {stride: 2}]", "[9, 9, 3]"),
    "max_valid_3_3_offset": ("[max, {ksize: 2, stride: 3, padding: VALID}]", "[11, 11, 3]"),
    "max_kernel_below_stride": ("[max, {ksize: 1, stride: 3}]", "[10, 9, 3]"),
    "max_integer_padding": ("[max, {ksize: 3, stride: 2, padding: 1}]", "[9, 10, 3]"),
    "max_asymmetric": ("[max, {ksize: [3, 1], stride: [1, 2]}]", "[7, 8, 3]"),
    "avg_same_overlapping": ("[avg, {ksize: 3, stride: 1}]", "[7, 8, 3]"),
    "avg_same_3_2_borders": ("[avg, {ksize: 3, stride: 2}]", "[9, 10, 3]"),
    "avg_stride4_on_6": ("[avg, {stride: 4}]", "[6, 6, 3]"),
    "avg_valid_offset": ("[avg, {ksize: 2, stride: 3, padding: VALID}]", "[11, 10, 3]"),
    "avg_int_pad_count": ("[avg, {ksize: 3, stride: 2, padding: 1}]", "[9, 10, 3]"),
    "avg_int_pad_no_count": ("[avg, {ksize: 3, stride: 2, padding: 1, count_pad: false}]",
                             "[9, 10, 3]"),
    "avg_global": ("[avg, {stride: 6}]", "[6, 6, 3]"),
    "max_global": ("[max, {stride: 5}]", "[5, 5, 3]"),
}


@pytest.mark.parametrize("layer,shape", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pool(ox, layer, shape):
    _, r = ox.export_layers(f"[[conv, {{ksize: 1, chn: 3}}], {layer}]", shape)
    for op in ("AveragePool", "MaxPool"):
        assert all("auto_pad" not in a for a in ox.attrs_of(r.model, op))


def test_avg_count_include_pad_follows_the_spec(ox):
    _, r = ox.export_layers(f"[{POOL_CASES['avg_same_overlapping'][0]}]", "[7, 8, 3]")
    assert ox.attrs_of(r.model, "AveragePool")[0]["count_include_pad"] == 0
    _, r = ox.export_layers(f"[{POOL_CASES['avg_int_pad_count'][0]}]", "[9, 10, 3]")
    assert ox.attrs_of(r.model, "AveragePool")[0]["count_include_pad"] == 1
    _, r = ox.export_layers("[[avg, {stride: 6}]]", "[6, 6, 3]")
    assert "GlobalAveragePool" in ox.op_types(r.model)


def _internal(ox, layers: str, shape: str, x: np.ndarray, node: str) -> np.ndarray:
    """An IR node's value in onnxruntime (NCHW), without the engine: hand-checked answers."""
    _, graph = ox.spec_and_graph(layers, shape)
    model, ctx = build_model(graph, ox.random_params(graph), ExportOptions())
    name = ctx.values[node].name
    return run_onnx(model.SerializeToString(), x, [name])[name]


def test_known_answer_avg_corner_divides_by_real_cells(ox):
    """k=3, s=1 SAME avg of ones is 1 everywhere (a corner divides by 4, not 9)."""
    ones = np.ones((1, 5, 5, 1), np.float32)
    y = _internal(ox, "[[avg, {ksize: 3, stride: 1}]]", "[5, 5, 1]", ones, "avg")
    np.testing.assert_allclose(y, 1.0, rtol=1e-6)
    x = np.zeros((1, 5, 5, 1), np.float32)
    x[0, 0, 0, 0] = 36.0
    y = _internal(ox, "[[avg, {ksize: 3, stride: 1}]]", "[5, 5, 1]", x, "avg")
    assert y[0, 0, 0, 0] == pytest.approx(9.0) and y[0, 0, 1, 1] == pytest.approx(4.0)


def test_known_answer_valid_stride_offset_reads_from_cell_one(ox):
    """VALID, k=1, s=3 on 7 cells reads cells 1, 4 (offset (3-1)//2 = 1); TF reads 0, 3, 6."""
    x = np.arange(49, dtype=np.float32).reshape(1, 7, 7, 1)
    y = _internal(ox, "[[max, {ksize: 1, stride: 3, padding: VALID}]]", "[7, 7, 1]", x, "max")
    np.testing.assert_array_equal(y[0, 0], [[8, 11], [29, 32]])


def test_dense_flatten_order_and_batch_norm_on_vectors(ox):
    _, r = ox.export_layers("[[conv, {ksize: 3, chn: 5}], [full, {width: 7}], batch_normal, 6]",
                         "[4, 3, 2]")
    assert "Transpose" in ox.op_types(r.model)  # only the input's
    assert ox.op_types(r.model).count("Transpose") == 1
    ox.export_layers("[12, [full, {width: 5, actfunc: none}], batch_normal]", "[10]")


@pytest.mark.parametrize("func", ["relu", "sigmoid", "tanh", "leaky_relu", "elu", "swish", "none"])
def test_activations(ox, func):
    ox.export_layers(f"[[conv, {{ksize: 3, chn: 4, actfunc: {func}}}], [act, {{actfunc: {func}}}]]")


def test_dropout_and_noise_vanish(ox):
    graph, r = ox.export_layers("[[conv, {ksize: 3, chn: 4}], [dropout, {keep_prob: 0.5}], "
                             "[noise, {std: 3.0}], 8, [dropout, {keep_prob: 0.7}]]")
    assert {"dropout", "noise"} <= {n.op for n in graph}
    assert ox.op_types(r.model) == ["Transpose", "Conv", "Relu", "Flatten", "Gemm", "Relu", "Gemm"]


def test_parallel_concatenates_in_branch_order(ox):
    _, r = ox.export_layers("[[parallel, [conv, {ksize: 1, chn: 2}], [conv, {ksize: 3, chn: 3}], "
                         "[avg, {ksize: 3, stride: 1}]], [max, {stride: 2}]]")
    assert ox.op_types(r.model).count("Concat") == 1


def test_add_with_input_and_channel_tiling(ox):
    graph, r = ox.export_layers("[[conv, {ksize: 1, chn: 2}], [add, {x: true, actions: AB}, "
                             "[conv, {ksize: 3, chn: 6}], [conv, {ksize: 1, chn: 3}]]]")
    assert [n.op for n in graph].count("tile") == 2  # the input (2 -> 6) and branch 1 (3 -> 6)
    assert "Sum" in ox.op_types(r.model)


def test_textbook_half_block_add_tiles_the_pooled_shortcut(ox):
    ox.export_layers("[[conv, {ksize: 1, chn: 4}], [add, {x: false}, [serial, [conv, {ksize: 3, "
                  "chn: 8, stride: 2}], [conv, {ksize: 3, chn: 8}]], [avg, {stride: 2}]]]",
                  "[8, 8, 3]")


@pytest.mark.parametrize("outputs", ["probs", "logits"])
def test_multi_head_outputs_one_named_output_per_head(ox, outputs):
    _, r = ox.export_layers("[[conv, {ksize: 3, chn: 4}], [max, {stride: 2}], 16]",
                         output="{heads: {domain: 3, object: 5}}", outputs=outputs)
    assert [o.name for o in r.model.graph.output] == ["domain", "object"]
    assert ox.op_types(r.model).count("Softmax") == (2 if outputs == "probs" else 0)


def test_binary_and_regression_outputs(ox):
    _, r = ox.export_layers("[8]", "[5]", "{binary: true}", outputs="probs")
    assert ox.op_types(r.model)[-1] == "Sigmoid"
    _, r = ox.export_layers("[8]", "[5]", "{regression: 2}", outputs="probs")
    assert [o.name for o in r.model.graph.output] == ["output"]
    assert "Softmax" not in ox.op_types(r.model)


def test_nchw_layout_has_no_transpose(ox):
    _, r = ox.export_layers("[[conv, {ksize: 3, chn: 4, stride: 2}], 5]", layout="nchw")
    assert "Transpose" not in ox.op_types(r.model)
    dims = [d.dim_value or d.dim_param for d in r.model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 3, 9, 9]

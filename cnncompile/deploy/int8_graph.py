"""The graph side of INT8: what goes into onnxruntime's quantizer, and what stayed float after it.

- :func:`affine_as_depthwise` rewrites each 4-D inference ``BatchNormalization`` (a per-channel
  ``a * x + b``) as the 1x1 depthwise convolution with the same ``a`` and ``b``. The quantizer
  has no INT8 batch norm, so a batch norm after an activation (the textbook's ``LAB`` order,
  which no exporter folds) would sit in float between a dequantize and a quantize; as a
  convolution it becomes a ``QLinearConv`` and the chain stays in integers. Exact in float32
  up to rounding: the convolution computes ``a * x + b`` per element.
- :func:`float_nodes` reads a quantized graph and names every node that still computes in
  float, with the reason, for ``quantize``'s report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

DEFAULT_EPSILON = 1e-5  # ONNX BatchNormalization's default

# Nodes that move between float and integer, and the integer kernels (QOperator form)
QUANTIZE, DEQUANTIZE = "QuantizeLinear", "DequantizeLinear"
INTEGER_KERNELS = frozenset({"QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul",
                             "QLinearConcat", "QLinearAveragePool", "QLinearGlobalAveragePool",
                             "QLinearSoftmax", "QLinearSigmoid", "QLinearLeakyRelu",
                             "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"})
# Operators onnxruntime fuses into an integer kernel when a QDQ graph wraps them in
# DequantizeLinear -> op -> QuantizeLinear (its QDQ selectors), or runs on 8-bit data as is
QDQ_INTEGER_OPS = frozenset({"Conv", "MatMul", "Gemm", "Add", "Mul", "Concat", "MaxPool",
                             "AveragePool", "GlobalAveragePool", "Softmax", "Sigmoid",
                             "LeakyRelu", "Transpose", "Reshape", "Flatten", "Squeeze",
                             "Unsqueeze", "Resize", "Split", "Gather", "Pad", "Relu", "Clip"})


@dataclass(frozen=True)
class FloatNode:
    """A node of a quantized graph that computes in float, and why."""

    name: str
    op: str
    reason: str


def affine_as_depthwise(model) -> int:
    """Rewrite, in place, each 4-D ``BatchNormalization`` of ``model`` (a ModelProto with
    inferred shapes or value_info) whose parameters are initializers as a 1x1 depthwise
    ``Conv``; return how many were rewritten. Others are left as they are."""
    import onnx
    from onnx import helper, numpy_helper

    inferred = onnx.shape_inference.infer_shapes(model)
    graph = model.graph
    ranks = {v.name: len(v.type.tensor_type.shape.dim)
             for v in (*inferred.graph.value_info, *graph.input, *graph.output)}
    params = {t.name: t for t in graph.initializer}
    nodes, rewritten, used = [], 0, set()
    for node in graph.node:
        if (node.op_type != "BatchNormalization" or ranks.get(node.input[0]) != 4
                or len(node.output) != 1 or not all(i in params for i in node.input[1:5])):
            nodes.append(node)
            continue
        scale, shift, mean, var = (numpy_helper.to_array(params[i]).astype(np.float64)
                                   for i in node.input[1:5])
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), DEFAULT_EPSILON)
        a = scale / np.sqrt(var + eps)
        weight = numpy_helper.from_array(a.reshape(-1, 1, 1, 1).astype(np.float32),
                                         f"{node.name}/depthwise.weight")
        bias = numpy_helper.from_array((shift - mean * a).astype(np.float32),
                                       f"{node.name}/depthwise.bias")
        graph.initializer.extend([weight, bias])
        nodes.append(helper.make_node("Conv", [node.input[0], weight.name, bias.name],
                                      list(node.output), name=f"{node.name}/depthwise",
                                      group=len(a), kernel_shape=[1, 1]))
        used.update(node.input[1:5])
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    still = {i for n in graph.node for i in n.input}
    kept = [t for t in graph.initializer if t.name not in used or t.name in still]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return rewritten


def float_nodes(model, quant_format: str) -> list[FloatNode]:
    """The nodes of a quantized ``model`` (a ModelProto) that compute in float, in graph order.

    A tensor is float when it is a float graph input, a DequantizeLinear output or the output
    of a float node. In ``quant_format`` 'QDQ' an operator of :data:`QDQ_INTEGER_OPS` whose float
    inputs all come from DequantizeLinear and whose outputs all feed QuantizeLinear is fused
    into an integer kernel by onnxruntime, so it does not count.
    """
    import onnx
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    graph = model.graph
    params = {t.name for t in graph.initializer}
    floating = {i.name for i in graph.input
                if i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT} - params
    inputs = set(floating)
    producer = {o: n.op_type for n in graph.node for o in n.output}
    consumers: dict[str, list[str]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n.op_type)
    qdq = quant_format == "QDQ"
    registry = QDQRegistry if qdq else QLinearOpsRegistry
    found = []
    for n in graph.node:
        if n.op_type == DEQUANTIZE:
            floating.update(n.output)
            continue
        float_in = [i for i in n.input if i in floating]
        if n.op_type == QUANTIZE or n.op_type in INTEGER_KERNELS or not float_in:
            continue
        if qdq and n.op_type in QDQ_INTEGER_OPS and all(
                producer.get(i) == DEQUANTIZE for i in float_in) and all(
                consumers.get(o) and set(consumers[o]) == {QUANTIZE} for o in n.output):
            continue
        floating.update(n.output)
        found.append(FloatNode(n.name or n.op_type, n.op_type,
                               _why_float(n.op_type, float_in, inputs, registry)))
    return found


def _why_float(op: str, float_in: list[str], graph_inputs: set[str], registry) -> str:
    if any(i in graph_inputs for i in float_in):
        return "takes the float graph input, ahead of the first QuantizeLinear"
    if op == "BatchNormalization":
        return "onnxruntime has no INT8 batch norm"
    if op not in registry:
        return f"onnxruntime's quantizer has no INT8 form of {op}"
    return "its input comes from a float node"


def summary(nodes: list[FloatNode], total: int) -> str:
    """One line: how many of ``total`` nodes stayed float, by operator and reason."""
    if not nodes:
        return (f"every one of the {total} nodes runs in INT8 between the first quantize and "
                "the last dequantize")
    groups = Counter((n.op, n.reason) for n in nodes)
    parts = "; ".join(f"{op} x{k}: {reason}" for (op, reason), k in groups.items())
    return f"{len(nodes)} of {total} nodes stayed float ({parts})"

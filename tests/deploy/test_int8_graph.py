"""deploy.int8_graph: batch norms as depthwise convolutions, and the float nodes an INT8 graph
keeps, on residual_flower (chapter 9: batch norm after the activation, 13 of them; the export
pushes one into the conv after it and keeps 12, whose shifts reach padded convs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from cnncompile.backends.numpy import init_params
from cnncompile.backends.onnx import ExportOptions, build_model
from cnncompile.deploy.int8_graph import FloatNode, affine_as_depthwise, float_nodes, summary
from cnncompile.deploy.quantize import INT8_FORMS, Int8Form, quantize_int8
from cnncompile.frontend import load_spec
from cnncompile.ir import lower

ROOT = Path(__file__).resolve().parents[2]
KEPT_BY_EXPORT = 12  # of residual_flower's 13 batch norms (ir/passes/push_affine.py)


@pytest.fixture(scope="module")
def flower(tmp_path_factory):
    """residual_flower exported with random weights and batch-norm statistics away from the
    identity, and a random batch."""
    graph = lower(load_spec(ROOT / "specs/ch9/residual_flower.yaml"))
    params = init_params(graph, seed=0, init="he")
    rng = np.random.default_rng(0)
    for p in graph.params():
        if p.name.endswith((".mean", ".shift")):
            params[p.name] = rng.normal(0, 0.3, p.shape).astype(np.float32)
        elif p.name.endswith((".var", ".scale")):
            params[p.name] = rng.uniform(0.5, 1.5, p.shape).astype(np.float32)
    model, _ = build_model(graph, params, ExportOptions())
    path = tmp_path_factory.mktemp("flower") / "flower.onnx"
    onnx.save(model, str(path))
    return path, rng.random((4, *graph.input_shape), dtype=np.float32)


def _run(model, x):
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})


def test_batch_norms_become_depthwise_convolutions_computing_the_same(flower):
    path, x = flower
    model = onnx.load(str(path))
    before = _run(model, x)
    assert affine_as_depthwise(model) == KEPT_BY_EXPORT
    ops = [n.op_type for n in model.graph.node]
    assert "BatchNormalization" not in ops
    depthwise = [n for n in model.graph.node if n.name.endswith("/depthwise")]
    assert len(depthwise) == KEPT_BY_EXPORT and all(
        next(a.i for a in n.attribute if a.name == "group") > 1 for n in depthwise)
    assert not any(t.name.endswith((".mean", ".var")) for t in model.graph.initializer)
    onnx.checker.check_model(model, full_check=True)
    for a, b in zip(before, _run(model, x), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def _int8(path: Path, x: np.ndarray, form, tmp_path: Path):
    out = tmp_path / "q.onnx"
    quantize_int8(path, out, iter([{"input": x}]), tmp_path, form)
    return onnx.load(str(out))


@pytest.mark.parametrize("fmt", ["qdq-u8", "qoperator", "qdq"])
def test_the_int8_chain_stays_in_integers_but_for_the_input_layout(flower, tmp_path, fmt):
    path, x = flower
    q = _int8(path, x, fmt, tmp_path)
    assert "BatchNormalization" not in {n.op_type for n in q.graph.node}
    stayed = float_nodes(q, INT8_FORMS[fmt].quant_format)
    assert [(n.op, n.reason) for n in stayed] == [
        ("Transpose", "takes the float graph input, ahead of the first QuantizeLinear")]


@pytest.mark.parametrize("quant_format", ["QOperator", "QDQ"])
def test_batch_norms_left_in_float_are_reported(flower, tmp_path, quant_format):
    # in QDQ form each one sits between a DequantizeLinear and a QuantizeLinear, which
    # onnxruntime cannot fuse into an integer kernel: still float
    path, x = flower
    q = _int8(path, x, Int8Form(quant_format, "uint8", depthwise_affine=False), tmp_path)
    stayed = float_nodes(q, quant_format)
    norms = [n for n in stayed if n.op == "BatchNormalization"]
    assert len(norms) == KEPT_BY_EXPORT and {n.reason for n in norms} == {
        "onnxruntime has no INT8 batch norm"}
    line = summary(stayed, len(q.graph.node))
    assert line.startswith(f"{len(stayed)} of {len(q.graph.node)} nodes stayed float (")
    assert f"BatchNormalization x{KEPT_BY_EXPORT}: onnxruntime has no INT8 batch norm" in line


def test_the_summary_of_a_graph_without_float_nodes():
    assert summary([], 9) == ("every one of the 9 nodes runs in INT8 between the first "
                              "quantize and the last dequantize")
    two = [FloatNode("a", "Softmax", "r"), FloatNode("b", "Softmax", "r")]
    assert summary(two, 5) == "2 of 5 nodes stayed float (Softmax x2: r)"

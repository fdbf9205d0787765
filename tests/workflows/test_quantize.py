"""workflows.quantize.quantize_model as a library function: results, options, clean failures.

The shipped model on a few hundred Fashion-MNIST samples, so each call takes about a second.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from cnncompile.errors import DataError, ExportError
from cnncompile.workflows import quantize as wq

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "exported" / "fmnist_small.onnx"


def test_the_result_holds_both_models_figures_and_the_written_path(tmp_path):
    r = wq.quantize_model(MODEL, "fashion-mnist", tmp_path / "m.int8.onnx", calibration=64,
                          eval_samples=300, seconds=0.01, max_drop=0.05, min_speedup=0)
    assert r.path == tmp_path / "m.int8.onnx" and r.path.is_file()
    assert (r.mode, r.samples, r.calibration, r.data) == ("int8", 300, 64, "fashion-mnist")
    assert set(r.float32.accuracy) == set(r.quantized.accuracy) == {"output"}
    assert r.drop == pytest.approx(r.float32.accuracy["output"] - r.quantized.accuracy["output"])
    assert r.quantized.size_bytes == r.path.stat().st_size < r.float32.size_bytes / 3
    assert r.speedup == pytest.approx(r.float32.latency_ms / r.quantized.latency_ms)
    assert "calibrated on 64 fashion-mnist training samples" in r.detail


def test_the_default_output_sits_beside_the_model(tmp_path):
    source = tmp_path / "copy.onnx"
    source.write_bytes(MODEL.read_bytes())
    r = wq.quantize_model(source, "fashion-mnist", mode="fp16", eval_samples=100,
                          seconds=0.01, min_speedup=0)
    assert r.path == tmp_path / "copy.fp16.onnx" and r.path.is_file()


def test_calibration_on_a_bad_set_is_refused_and_writes_nothing(tmp_path):
    import gzip

    pixels = np.frombuffer(gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
                           .read(), np.uint8, offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer(gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
                           .read(), np.uint8, offset=8)
    data = tmp_path / "black.npz"  # all-black calibration images: ranges that fit no real image
    np.savez(data, x=np.zeros((20, 28, 28), np.uint8), y=np.arange(20) % 10,
             x_test=pixels[:300], y_test=labels[:300])
    with pytest.raises(ExportError, match=r"int8 loses \d+\.\d\d points .* nothing written"):
        wq.quantize_model(MODEL, data, tmp_path / "o.onnx", calibration=2, seconds=0.01)
    assert list(tmp_path.iterdir()) == [data]


@pytest.mark.parametrize("options,message", [
    ({"mode": "int4"}, "`--mode` must be one of int8, fp16. Received: 'int4'"),
    ({"calibration": 0}, "`--calibration` must be >= 1"),
    ({"max_drop": 2.0}, "`--max-drop` within 0-1"),
    ({"batch": 0}, "`--batch` must be >= 1"),
    ({"min_speedup": -0.5}, "`--min-speedup` >= 0. Received: batch=1, min_speedup=-0.5"),
])
def test_bad_options_are_one_line_errors(tmp_path, options, message):
    with pytest.raises(DataError, match=re.escape(message)):
        wq.quantize_model(MODEL, "fashion-mnist", tmp_path / "o.onnx", **options)
    assert list(tmp_path.iterdir()) == []


def test_qdq_format_keeps_float_operators_between_quantize_pairs(tmp_path):
    r = wq.quantize_model(MODEL, "fashion-mnist", out=tmp_path / "qdq.onnx", calibration=100,
                          eval_samples=300, seconds=0.01, fmt="qdq", max_drop=0.05,
                          min_speedup=0)
    model = onnx.load(str(r.path))
    ops = {n.op_type for n in model.graph.node}
    assert {"Conv", "QuantizeLinear", "DequantizeLinear"} <= ops and "QLinearConv" not in ops
    assert r.detail.startswith("static, QDQ, symmetric int8 activations")
    zero_points = [i for i in model.graph.initializer if i.name.endswith("_zero_point")]
    types = {i.data_type for i in zero_points}  # int32 ones belong to the biases
    assert onnx.TensorProto.INT8 in types and onnx.TensorProto.UINT8 not in types
    assert all(not onnx.numpy_helper.to_array(i).any() for i in zero_points)  # symmetric
    with pytest.raises(DataError, match="`--format` must be one of qdq-u8, qoperator, qdq"):
        wq.quantize_model(MODEL, "fashion-mnist", fmt="qint")


def test_the_default_form_is_qdq_with_uint8_activations_and_reports_float_nodes(tmp_path):
    r = wq.quantize_model(MODEL, "fashion-mnist", out=tmp_path / "d.onnx", calibration=100,
                          eval_samples=300, seconds=0.01, max_drop=0.05, min_speedup=0)
    model = onnx.load(str(r.path))
    ops = {n.op_type for n in model.graph.node}
    assert {"Conv", "QuantizeLinear", "DequantizeLinear"} <= ops and "QLinearConv" not in ops
    assert r.detail.startswith("static, QDQ, uint8 activations, int8 per-channel weights, "
                               "batch norms as depthwise convolutions")
    activations = [i for i in model.graph.initializer if i.name.endswith("_zero_point")
                   and i.data_type != onnx.TensorProto.INT32]
    assert {i.data_type for i in activations} == {onnx.TensorProto.UINT8, onnx.TensorProto.INT8}
    # the NHWC input's transpose runs ahead of the first QuantizeLinear; nothing else is float
    assert [(n.op, n.reason) for n in r.float_nodes] == [
        ("Transpose", "takes the float graph input, ahead of the first QuantizeLinear")]
    assert r.nodes == len(model.graph.node)


def test_an_interruption_leaves_no_file(tmp_path, monkeypatch):
    calls = []
    measure = wq.measure

    def interrupted(path, *args):
        calls.append(path)
        if len(calls) == 2:  # while the quantized model is measured
            assert path.exists() and path.parent.name.startswith(".x.onnx.tmp")
            raise KeyboardInterrupt
        return measure(path, *args)

    monkeypatch.setattr(wq, "measure", interrupted)
    with pytest.raises(KeyboardInterrupt):
        wq.quantize_model(MODEL, "fashion-mnist", out=tmp_path / "x.onnx", calibration=50,
                          eval_samples=100, seconds=0.01)
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []


def test_data_that_does_not_fit_the_model(tmp_path):
    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.integers(0, 255, (40, 32, 32, 1), dtype=np.uint8),
             y=np.arange(40) % 10)
    with pytest.raises(DataError, match=r"fmnist_small.onnx: --data does not fit the model "
                                        r"\(.*samples are \[32, 32, 1\]"):
        wq.quantize_model(MODEL, str(data), out=tmp_path / "o.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


def test_sigterm_while_measuring_leaves_no_temporary_folder(tmp_path, monkeypatch):
    import os
    import signal

    from cnncompile.artifacts.files import Terminated, signals_as_exceptions

    calls = []
    measure = wq.measure

    def terminated(path, *args):
        calls.append(path)
        if len(calls) == 2:  # the quantized model sits in the temporary folder now
            os.kill(os.getpid(), signal.SIGTERM)
        return measure(path, *args)

    monkeypatch.setattr(wq, "measure", terminated)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), signals_as_exceptions():
        wq.quantize_model(MODEL, "fashion-mnist", out=tmp_path / "m.onnx", calibration=50,
                          eval_samples=100, seconds=0.01)
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is before

"""`cnncompile quantize`: the shipped model in INT8 and FP16, kept only when accurate enough.

Calibration uses 200 Fashion-MNIST training samples and accuracy the first 2,000 test samples,
so the whole file runs in seconds; the full test set is benchmarks/deploy_speed.py's job.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image
from typer.testing import CliRunner

from cnncompile.cli import app
from cnncompile.deploy import quantize as q
from cnncompile.errors import DataError, ExportError
from cnncompile.runtime import OnnxModel

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "exported" / "fmnist_small.onnx"
DATA = Path("/usr/share/datasets/fashion-mnist")
FAST = ["--calibration", "200", "--eval-samples", "2000"]

runner = CliRunner()


@pytest.fixture(scope="module")
def int8(tmp_path_factory):
    """The shipped model quantized to INT8 by the CLI, and what the command printed."""
    out = tmp_path_factory.mktemp("int8") / "small.int8.onnx"
    r = runner.invoke(app, ["quantize", str(MODEL), "--data", "fashion-mnist", "-o", str(out),
                            "--threads", "1", *FAST])
    assert r.exit_code == 0, r.output
    return out, r.output


def _accuracies(output: str) -> dict[str, float]:
    return {m[1]: float(m[2]) for m in re.finditer(r"^(float32|int8|fp16)\s+([0-9.]+)", output,
                                                   re.M)}


def test_int8_keeps_the_accuracy_and_the_metadata(int8):
    path, output = int8
    acc = _accuracies(output)
    assert set(acc) == {"float32", "int8"}
    assert acc["float32"] - acc["int8"] <= 0.01
    assert abs(acc["float32"] - 0.9175) < 0.02  # the first 2,000 test samples (0.9127 on all)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    ops = {n.op_type for n in model.graph.node}
    assert {"QLinearConv", "QuantizeLinear"} <= ops and "Conv" not in ops
    meta = {p.key: p.value for p in model.metadata_props}
    source = {p.key: p.value for p in onnx.load(str(MODEL)).metadata_props}
    assert {k: meta[k] for k in source} == source
    assert meta["cnncompile.quantization"] == "int8"
    assert "calibrated on 200 fashion-mnist training samples" in meta[
        "cnncompile.quantization_detail"]
    assert path.stat().st_size < MODEL.stat().st_size / 3
    assert f"wrote {path}" in output and [p.name for p in path.parent.iterdir()] == [path.name]


def test_int8_model_works_with_evaluate_predict_and_bench(int8, tmp_path):
    path, output = int8
    r = runner.invoke(app, ["evaluate", str(path), "--data", "fashion-mnist", "-f", "table"])
    assert r.exit_code == 0, r.output
    first = r.output.splitlines()[0]
    assert first.startswith("fmnist_small [int8 (static, QOperator") and "10,000 samples" in first
    assert float(first.rsplit("accuracy ", 1)[1]) >= 0.9127 - 0.01
    pixels = np.frombuffer(gzip.open(DATA / "t10k-images-idx3-ubyte.gz").read(), np.uint8,
                           offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer(gzip.open(DATA / "t10k-labels-idx1-ubyte.gz").read(), np.uint8,
                           offset=8)
    for i in range(3):
        Image.fromarray(pixels[i]).save(tmp_path / f"{i}.png")
    r = runner.invoke(app, ["predict", str(path), str(tmp_path), "-k", "1"])
    assert r.exit_code == 0, r.output
    assert "is quantized: [int8" in r.output
    names = OnnxModel(path).heads[0][2]
    shown = re.findall(r"output: (\S+) ", r.output)
    assert shown == [names[k] for k in labels[:3]]  # the shipped model gets these three right
    r = runner.invoke(app, ["bench", str(path), "--batch", "1,4", "--seconds", "0.05",
                            "--no-engine"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("fmnist_small [int8 (static")
    assert len(re.findall(r"^\s+[14]\s+\d", r.output, re.M)) == 2


def test_fp16_keeps_float32_inputs_and_outputs(tmp_path):
    out = tmp_path / "small.fp16.onnx"
    r = runner.invoke(app, ["quantize", str(MODEL), "--data", "fashion-mnist", "--mode", "fp16",
                            "-o", str(out), *FAST])
    assert r.exit_code == 0, r.output
    acc = _accuracies(r.output)
    assert abs(acc["fp16"] - acc["float32"]) <= 0.002
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    io = [v.type.tensor_type.elem_type for v in (*model.graph.input, *model.graph.output)]
    assert io == [onnx.TensorProto.FLOAT] * 2
    weights = {i.data_type for i in model.graph.initializer}
    assert onnx.TensorProto.FLOAT16 in weights
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["cnncompile.quantization"] == "fp16" and "spec" in meta


def test_qdq_format_keeps_float_operators_between_quantize_pairs(tmp_path):
    r = q.quantize_model(MODEL, "fashion-mnist", out=tmp_path / "qdq.onnx", calibration=100,
                         eval_samples=300, seconds=0.01, fmt="qdq", max_drop=0.05)
    model = onnx.load(str(r.path))
    ops = {n.op_type for n in model.graph.node}
    assert {"Conv", "QuantizeLinear", "DequantizeLinear"} <= ops and "QLinearConv" not in ops
    assert r.detail.startswith("static, QDQ, symmetric int8 activations")
    zero_points = [i for i in model.graph.initializer if i.name.endswith("_zero_point")]
    types = {i.data_type for i in zero_points}  # int32 ones belong to the biases
    assert onnx.TensorProto.INT8 in types and onnx.TensorProto.UINT8 not in types
    assert all(not onnx.numpy_helper.to_array(i).any() for i in zero_points)  # symmetric
    with pytest.raises(DataError, match="`--format` must be one of qoperator, qdq"):
        q.quantize_model(MODEL, "fashion-mnist", fmt="qint")


def test_a_drop_beyond_max_drop_is_an_error_and_leaves_no_file(tmp_path):
    out = tmp_path / "bad.onnx"
    # two calibration samples give ranges too narrow: 1.4 points lost on 500 samples
    r = runner.invoke(app, ["quantize", str(MODEL), "--data", "fashion-mnist", "-o", str(out),
                            "--calibration", "2", "--eval-samples", "500", "--max-drop", "0.005"])
    assert r.exit_code == 2, r.output
    assert re.search(r"error: .*fmnist_small.onnx: int8 loses \d\.\d\d points of accuracy on 500 "
                     r"fashion-mnist test samples \(output 0\.\d+ -> 0\.\d+\), more than "
                     r"--max-drop 0.005; nothing written", r.output)
    assert list(tmp_path.iterdir()) == []


def test_an_interruption_leaves_no_file(tmp_path, monkeypatch):
    calls = []
    measure = q._measure

    def interrupted(path, *args):
        calls.append(path)
        if len(calls) == 2:  # while the quantized model is measured
            assert path.exists() and path.parent.name.startswith(".x.onnx.tmp")
            raise KeyboardInterrupt
        return measure(path, *args)

    monkeypatch.setattr(q, "_measure", interrupted)
    with pytest.raises(KeyboardInterrupt):
        q.quantize_model(MODEL, "fashion-mnist", out=tmp_path / "x.onnx", calibration=50,
                         eval_samples=100, seconds=0.01)
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []


def test_bad_model_files_are_one_line_errors(tmp_path):
    (tmp_path / "dir.onnx").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    cases = {tmp_path / "dir.onnx": "is a folder, not an ONNX model file",
             tmp_path / "missing.onnx": "no such ONNX model file",
             tmp_path / "notes.txt": "expected an .onnx model file"}
    for path, message in cases.items():
        with pytest.raises(DataError, match=re.escape(f"{path}: {message}")):
            q.check_model_file(path, suffix=True)
        r = runner.invoke(app, ["quantize", str(path), "--data", "fashion-mnist"])
        assert r.exit_code == 2 and r.output.count("\n") == 1 and message in r.output


def test_data_that_does_not_fit_the_model(tmp_path):
    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.integers(0, 255, (40, 32, 32, 1), dtype=np.uint8),
             y=np.arange(40) % 10)
    with pytest.raises(DataError, match=r"fmnist_small.onnx: --data does not fit the model "
                                        r"\(.*samples are \[32, 32, 1\]"):
        q.quantize_model(MODEL, str(data), out=tmp_path / "o.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


def test_a_quantized_model_is_not_quantized_again(int8, tmp_path):
    with pytest.raises(DataError, match=r"already quantized \(int8\)"):
        q.quantize_model(int8[0], "fashion-mnist", out=tmp_path / "o.onnx")
    with pytest.raises(DataError, match="would overwrite the input model"):
        q.quantize_model(MODEL, "fashion-mnist", out=MODEL)


def test_fp16_without_onnxconverter_common_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxconverter_common", None)
    with pytest.raises(ExportError, match=re.escape("pip install 'cnncompile[deploy]'")):
        q.convert_fp16(onnx.load(str(MODEL)))


def test_quantization_label_reads_the_metadata():
    assert q.quantization_label({}) is None
    meta = {"cnncompile.quantization": "fp16", "cnncompile.quantization_detail": "x"}
    assert q.quantization_label(meta) == "fp16 (x)"


def test_sigterm_while_measuring_leaves_no_temporary_folder(tmp_path, monkeypatch):
    import os
    import signal

    from cnncompile.artifacts.files import Terminated, signals_as_exceptions

    calls = []
    measure = q._measure

    def terminated(path, *args):
        calls.append(path)
        if len(calls) == 2:  # the quantized model sits in the temporary folder now
            os.kill(os.getpid(), signal.SIGTERM)
        return measure(path, *args)

    monkeypatch.setattr(q, "_measure", terminated)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), signals_as_exceptions():
        q.quantize_model(MODEL, "fashion-mnist", out=tmp_path / "m.onnx", calibration=50,
                         eval_samples=100, seconds=0.01)
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is before

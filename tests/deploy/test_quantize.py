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
from cnncompile.runtime.session import check_model_file
from cnncompile.workflows.quantize import quantize_model

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "exported" / "fmnist_small.onnx"
DATA = Path("/usr/share/datasets/fashion-mnist")
# the shipped model runs no faster in INT8 on every CPU, nor in FP16 on any: the speed gate
# has its own tests (test_speed_gate.py)
FAST = ["--calibration", "200", "--eval-samples", "2000", "--min-speedup", "0"]

runner = CliRunner()


@pytest.fixture(scope="module")
def int8(tmp_path_factory):
    """The shipped model quantized to INT8 (QOperator form) by the CLI, and what the command
    printed; the default form has its own test."""
    out = tmp_path_factory.mktemp("int8") / "small.int8.onnx"
    r = runner.invoke(app, ["quantize", str(MODEL), "--data", "fashion-mnist", "-o", str(out),
                            "--threads", "1", "--format", "qoperator", *FAST])
    assert r.exit_code == 0, r.output
    return out, r.output


def _test_pixels() -> np.ndarray:
    return np.frombuffer(gzip.open(DATA / "t10k-images-idx3-ubyte.gz").read(), np.uint8,
                         offset=16).reshape(-1, 28, 28)


def _test_labels() -> np.ndarray:
    return np.frombuffer(gzip.open(DATA / "t10k-labels-idx1-ubyte.gz").read(), np.uint8,
                         offset=8)


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
    pixels, labels = _test_pixels(), _test_labels()
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


def test_a_drop_beyond_max_drop_is_an_error_and_leaves_no_file(tmp_path):
    # a calibration set chosen to be bad: all-black training images give activation ranges that
    # fit no real image (about 49 points lost on these 500 test samples), whatever the machine
    data = tmp_path / "black_train.npz"
    np.savez(data, x=np.zeros((20, 28, 28), np.uint8), y=np.arange(20) % 10,
             x_test=_test_pixels()[:500], y_test=_test_labels()[:500])
    out = tmp_path / "bad.onnx"
    r = runner.invoke(app, ["quantize", str(MODEL), "--data", str(data), "-o", str(out),
                            "--calibration", "2", "--max-drop", "0.005"])
    assert r.exit_code == 2, r.output
    assert re.search(r"error: .*fmnist_small.onnx: int8 loses \d+\.\d\d points of accuracy on "
                     rf"500 {re.escape(str(data))} test samples \(output 0\.\d+ -> 0\.\d+\), "
                     r"more than --max-drop 0.005; nothing written", r.output)
    assert list(tmp_path.iterdir()) == [data]


def test_bad_model_files_are_one_line_errors(tmp_path):
    (tmp_path / "dir.onnx").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    cases = {tmp_path / "dir.onnx": "is a folder, not an ONNX model file",
             tmp_path / "missing.onnx": "no such ONNX model file",
             tmp_path / "notes.txt": "expected an .onnx model file"}
    for path, message in cases.items():
        with pytest.raises(DataError, match=re.escape(f"{path}: {message}")):
            check_model_file(path, suffix=True)
        r = runner.invoke(app, ["quantize", str(path), "--data", "fashion-mnist"])
        assert r.exit_code == 2 and r.output.count("\n") == 1 and message in r.output


def test_a_quantized_model_is_not_quantized_again(int8, tmp_path):
    with pytest.raises(DataError, match=r"already quantized \(int8\)"):
        quantize_model(int8[0], "fashion-mnist", out=tmp_path / "o.onnx")
    with pytest.raises(DataError, match="is this command's ONNX model file"):
        quantize_model(MODEL, "fashion-mnist", out=MODEL)


def test_fp16_without_onnxconverter_common_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxconverter_common", None)
    with pytest.raises(ExportError, match=re.escape("pip install 'cnncompile[deploy]'")):
        q.convert_fp16(onnx.load(str(MODEL)))


def test_quantization_label_reads_the_metadata():
    assert q.quantization_label({}) is None
    meta = {"cnncompile.quantization": "fp16", "cnncompile.quantization_detail": "x"}
    assert q.quantization_label(meta) == "fp16 (x)"



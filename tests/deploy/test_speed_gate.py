"""quantize's speed gate (--min-speedup at --batch) and FP16's word about CPUs.

The timings are injected (a real comparison on a shared machine would make the gate's
outcome depend on the load); what runs for real is the quantization, the accuracy measurement
and the writing or refusing.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

import cnncompile
from cnncompile.cli import app
from cnncompile.deploy import quantize as q
from cnncompile.errors import ExportError
from cnncompile.runtime.timing import Timing
from cnncompile.workflows import quantize as wq

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "exported" / "fmnist_small.onnx"
FAST = ["--calibration", "64", "--eval-samples", "200"]

runner = CliRunner()


@pytest.fixture
def speedup(monkeypatch):
    """Make the variant run ``ratio`` times as fast as float32; record the batch asked for."""
    asked = {}

    def fake(models, batch, seconds, purpose="bench"):
        asked["batch"], asked["names"] = batch, list(models)
        ratio = asked["ratio"]
        return {name: Timing(batch, (0.004,) * 5 if name == "float32" else (0.004 / ratio,) * 5,
                             "cpu") for name in models}

    monkeypatch.setattr(wq, "time_onnx", fake)

    def set_ratio(ratio: float) -> dict:
        asked["ratio"] = ratio
        return asked

    return set_ratio


def test_the_cli_refuses_a_slower_model_in_one_line_and_writes_nothing(speedup, tmp_path):
    asked = speedup(0.8)
    out = tmp_path / "slow.int8.onnx"
    r = runner.invoke(app, ["quantize", str(MODEL), "--data", "fashion-mnist", "-o", str(out),
                            "--batch", "8", *FAST])
    assert r.exit_code == 2, r.output
    assert r.output.count("\n") == 1
    assert re.fullmatch(
        r"error: \S*fmnist_small.onnx: int8 runs 0\.80x float32's speed at batch 8 \(median CPU "
        r"time per call, 1 onnxruntime thread\), below --min-speedup 1; nothing written \(try "
        r"--format qoperator, the --batch you deploy with, or an FP16 model on a GPU; "
        r"--min-speedup 0 keeps the smaller file\)\n", r.output)
    assert asked == {"batch": 8, "names": ["float32", "int8"], "ratio": 0.8}
    assert list(tmp_path.iterdir()) == []


def test_the_cli_writes_a_faster_model_and_says_by_how_much(speedup, tmp_path):
    speedup(1.25)
    out = tmp_path / "fast.int8.onnx"
    r = runner.invoke(app, ["quantize", str(MODEL), "--data", "fashion-mnist", "-o", str(out),
                            "--min-speedup", "1.2", *FAST])
    assert r.exit_code == 0, r.output
    assert "speed-up 1.25x (median CPU time per call, 1 onnxruntime thread; required: 1.2x)" \
        in r.output
    assert re.search(r"^float32 +0\.\d{4} +4\.000 ", r.output, re.M)
    assert re.search(r"^int8 +0\.\d{4} +3\.200 ", r.output, re.M)
    assert "ms/call (batch 1)" in r.output  # the default batch
    assert out.is_file()


def test_the_python_api_gates_alike(speedup, tmp_path):
    speedup(1.1)
    with pytest.raises(ExportError, match=r"int8 runs 1\.10x float32's speed at batch 4 .*below "
                                          r"--min-speedup 1\.5; nothing written"):
        cnncompile.quantize(MODEL, "fashion-mnist", tmp_path / "a.onnx", calibration=64,
                            eval_samples=200, batch=4, min_speedup=1.5)
    assert list(tmp_path.iterdir()) == []
    r = cnncompile.quantize(MODEL, "fashion-mnist", tmp_path / "b.onnx", calibration=64,
                            eval_samples=200, batch=4, min_speedup=1.1)
    assert r.path.is_file() and r.speedup == pytest.approx(1.1) and r.batch == 4


def test_the_accuracy_gate_speaks_first(speedup, tmp_path):
    import gzip

    speedup(0.5)  # both gates fail: the accuracy is the one reported
    images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
    labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
    data = tmp_path / "black.npz"  # all-black calibration images: ranges that fit no real image
    np.savez(data, x=np.zeros((20, 28, 28), np.uint8), y=np.arange(20) % 10,
             x_test=np.frombuffer(gzip.open(images).read(), np.uint8, offset=16)
             .reshape(-1, 28, 28)[:300],
             y_test=np.frombuffer(gzip.open(labels).read(), np.uint8, offset=8)[:300])
    with pytest.raises(ExportError, match=r"int8 loses \d+\.\d\d points .* nothing written"):
        wq.quantize_model(MODEL, data, tmp_path / "o.onnx", calibration=2)
    assert list(tmp_path.iterdir()) == [data]


def test_fp16_says_once_that_it_pays_on_gpus(speedup, tmp_path):
    speedup(0.97)
    r = runner.invoke(app, ["quantize", str(MODEL), "--data", "fashion-mnist", "--mode", "fp16",
                            "-o", str(tmp_path / "h.onnx"), *FAST])
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert r.output.count("FP16 pays on GPUs, not on this CPU") == 1
    assert "on a CPU try --mode int8; --min-speedup 0 keeps the smaller file" in r.output
    r = runner.invoke(app, ["quantize", str(MODEL), "--data", "fashion-mnist", "--mode", "fp16",
                            "-o", str(tmp_path / "h.onnx"), "--min-speedup", "0", *FAST])
    assert r.exit_code == 0, r.output
    assert r.output.count("FP16 pays on GPUs, not on this CPU") == 1
    assert "note: FP16 pays on GPUs" in r.output and "float nodes" not in r.output


def _tiny_weights(tmp_path) -> Path:
    """The shipped model with weights below float16's smallest normal number, which
    onnxconverter-common warns about, one warning per tensor."""
    model = onnx.load(str(MODEL))
    for t in model.graph.initializer:
        if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 4:
            a = onnx.numpy_helper.to_array(t) * 1e-9
            t.CopyFrom(onnx.numpy_helper.from_array(a, t.name))
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    return path


def test_the_fp16_converter_s_warnings_stay_out_of_the_terminal(speedup, tmp_path, capfd):
    from onnxconverter_common import float16

    tiny = _tiny_weights(tmp_path)
    with warnings.catch_warnings(record=True) as raw:  # the converter alone does warn
        warnings.simplefilter("always")
        float16.convert_float_to_float16(onnx.load(str(tiny)), keep_io_types=True)
    assert raw, "the converter no longer warns here: the test proves nothing"
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        q.convert_fp16(onnx.load(str(tiny)))
    assert ours == []
    capfd.readouterr()
    speedup(0.97)
    r = runner.invoke(app, ["quantize", str(tiny), "--data", "fashion-mnist", "--mode", "fp16",
                            "-o", str(tmp_path / "h.onnx"), "--min-speedup", "0",
                            "--max-drop", "1", *FAST])
    assert r.exit_code == 0, r.output
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    ours_lines = ("fp16: ", " ", "float32 ", "fp16 ", "accuracy change", "note: ", "wrote ")
    assert all(line.startswith(ours_lines) for line in r.output.splitlines()), r.output


def test_json_holds_the_figures_and_each_float_node(speedup, tmp_path):
    import json

    speedup(1.5)
    out = tmp_path / "j.onnx"
    r = runner.invoke(app, ["quantize", str(MODEL), "--data", "fashion-mnist", "-o", str(out),
                            "--json", "--batch", "2", *FAST])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert (doc["mode"], doc["path"], doc["batch"], doc["speedup"]) == ("int8", str(out), 2, 1.5)
    assert doc["timed_by"] == "median CPU time per call, 1 onnxruntime thread"
    assert doc["models"]["float32"]["ms_per_call"] == pytest.approx(4.0)
    assert doc["models"]["int8"]["size_bytes"] == out.stat().st_size
    assert doc["float_nodes"] == [{"name": doc["float_nodes"][0]["name"], "op": "Transpose",
                                   "reason": "takes the float graph input, ahead of the first "
                                             "QuantizeLinear"}]
    assert doc["nodes"] == len(onnx.load(str(out)).graph.node)

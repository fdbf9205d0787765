"""ONNX models trusted only as far as their graph: lying or damaged metadata, foreign models,
files that are not models, and labels that would write to the terminal."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image
from typer.testing import CliRunner

from cnncompile.cli import app
from cnncompile.errors import DataError
from cnncompile.runtime import OnnxModel

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "exported" / "fmnist_small.onnx"
BOOT = ROOT / "exported" / "samples" / "0000_ankle-boot.png"
LABELS = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
          "ankle-boot"]


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def edited(tmp_path: Path, name: str = "edited.onnx", **props: str) -> Path:
    """The shipped model with some metadata_props replaced (None deletes one)."""
    model = onnx.load(MODEL)
    kept = {p.key: p.value for p in model.metadata_props}
    for key, value in props.items():
        if value is None:
            kept.pop(key, None)
        else:
            kept[key] = value
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, kept)
    path = tmp_path / name
    onnx.save(model, path)
    return path


def heads(labels=LABELS, size=10, name="output") -> str:
    return json.dumps([{"name": name, "size": size, "labels": labels}])


def _limited_memory():  # for the child: 3 GiB of address space, so a 40 GB claim cannot pass
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


def test_metadata_claiming_a_huge_input_is_refused_before_any_allocation(tmp_path):
    lying = edited(tmp_path, input_shape="[100000, 100000, 1]")
    # "before any allocation" is measured in bytes, not seconds: the claim is 40 GB
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"edited.onnx: its metadata says the input is "
                                            r"\[100000, 100000, 1\] \(NHWC\) but the graph "
                                            r"takes \[N, 28, 28, 1\]"):
            OnnxModel(lying)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**30, peak
    # the command itself, in a child whose memory is bounded: refused, not killed
    out = subprocess.run([sys.executable, "-m", "cnncompile", "predict", str(lying), str(BOOT)],
                         capture_output=True, text=True, timeout=120, preexec_fn=_limited_memory,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2, out.stderr[-500:]
    assert "100000" in out.stderr and "[N, 28, 28, 1]" in out.stderr
    assert len(out.stderr.splitlines()) == 1


@pytest.mark.parametrize("props, message", [
    ({"input_layout": "NCHW"}, r"input is \[28, 28, 1\] \(NCHW\) but the graph takes "
                               r"\[N, 28, 28, 1\]"),
    ({"input_layout": "HWCN"}, r"`input_layout` must be NHWC or NCHW"),
    ({"input_shape": '"big"'}, r"metadata says the input is 'big'"),
    ({"heads": heads(size=12, labels=None)}, r"head `output` has 12 outputs but the graph's "
                                             r"output `output` is \[N, 10\]"),
    ({"heads": heads(LABELS[:9])}, r"head `output` has 9 labels for 10 outputs"),
    ({"heads": heads(name="logits")}, r"head `logits` is not an output of the graph \(output\)"),
    ({"heads": "{}"}, r"`heads` must be a non-empty list"),
    ({"heads": "[1, 2"}, r"damaged metadata `heads` \(not JSON\)"),
    ({"preprocessing": '{"scale": "x"}'}, r"preprocessing `scale` must be a positive number"),
    ({"preprocessing": '{"scale": -1}'}, r"preprocessing `scale` must be a positive number"),
    ({"preprocessing": '{"scale": 1, "mean": [1, 2]}'}, r"`mean` must be 1 finite number"),
    ({"output_kind": "poetry"}, r"`output_kind`/`outputs` must be one of"),
    ({"cnncompile_version": None}, r"not a cnncompile export .* run it with onnxruntime"),
])
def test_metadata_the_graph_contradicts_is_a_one_line_error(tmp_path, props, message):
    with pytest.raises(DataError, match=message):
        OnnxModel(edited(tmp_path, **props))
    r = run("predict", edited(tmp_path, **props), BOOT)
    assert r.exit_code == 2 and "internal error" not in r.output
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("error: ")


def test_old_preprocessing_records_still_load(tmp_path):
    old = json.dumps({"color": "L", "dtype": "float32", "resize": [28, 28],
                      "resize_mode": "squash, bilinear", "scale": 1 / 255, "source": "checkpoint"})
    m = OnnxModel(edited(tmp_path, preprocessing=old))
    assert m.scale == pytest.approx(1 / 255) and m.input_shape == (28, 28, 1)
    new = m.preprocessing.to_dict()  # what a re-export writes: the old keys kept
    assert new["resize"] == [28, 28] and new["scale"] == pytest.approx(1 / 255)


def test_control_characters_in_labels_are_escaped(tmp_path):
    labels = [*LABELS[:9], "boot\x1b[2J\x07"]
    path = edited(tmp_path, heads=heads(labels), spec_name="evil\x1b]0;title\x07")
    r = run("predict", path, BOOT, "--top", "1")
    assert r.exit_code == 0, r.output
    assert "boot\\x1b[2J\\x07 " in r.stdout and "\x1b" not in r.stdout and "\x07" not in r.stdout
    r = run("predict", path, BOOT, "--format", "json", "--top", "1")
    top = json.loads(r.stdout)["predictions"][0]["heads"]["output"]["top"][0]
    assert top["label"] == "boot\\x1b[2J\\x07"


def test_files_that_are_not_models(tmp_path):
    data = MODEL.read_bytes()
    (tmp_path / "half.onnx").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.onnx").write_text("name: not a model\n")
    for name in ("half.onnx", "text.onnx"):
        with pytest.raises(DataError, match=rf"{name}: not a loadable ONNX model"):
            OnnxModel(tmp_path / name)
        r = run("predict", tmp_path / name, BOOT)
        assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1
    os.mkfifo(tmp_path / "pipe.onnx")
    with pytest.raises(DataError, match=r"pipe.onnx: is a FIFO \(named pipe\), not an ONNX model file"):
        OnnxModel(tmp_path / "pipe.onnx")
    with pytest.raises(DataError, match=r"is a folder, not an ONNX model file"):
        OnnxModel(tmp_path)


def _foreign_model(tmp_path: Path, dims) -> Path:
    """A model not made by cnncompile, with a free (symbolic) input size."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    node = helper.make_node("ReduceMean", ["x"], ["y"], axes=[1, 2], keepdims=0)
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, {
        "cnncompile_version": "0.1.0", "heads": heads(["a", "b", "c"], 3, "y"),
        "input_shape": "[100000, 100000, 3]", "output_kind": "classes", "outputs": "probs"})
    path = tmp_path / "free.onnx"
    onnx.save(model, path)
    return path


def test_a_graph_whose_input_size_is_free_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"free.onnx: the graph's input `x` is \[N, N, N, 3\]; "
                                        r"cnncompile models have a fixed sample shape"):
        OnnxModel(_foreign_model(tmp_path, ["N", "H", "W", 3]))


def test_bench_refuses_a_metadata_spec_that_is_not_the_graph(tmp_path):
    spec = onnx.load(MODEL).metadata_props
    text = next(p.value for p in spec if p.key == "spec").replace("[28, 28, 1]", "[32, 32, 1]")
    r = run("bench", edited(tmp_path, spec=text), "--batch", "1", "--seconds", "0.01")
    assert r.exit_code == 2, r.output
    assert "the spec takes [32, 32, 1]" in r.stderr and "the graph takes [28, 28, 1]" in r.stderr


def test_evaluate_of_an_onnx_model_on_data_of_another_size_names_both_shapes(tmp_path):
    data = tmp_path / "small.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.integers(0, 256, (30, 8, 8), np.uint8), y=np.arange(30) % 10)
    r = run("evaluate", MODEL, "--data", data)
    assert r.exit_code == 2
    assert "samples are [8, 8]" in r.stderr and "fmnist_small.onnx takes [28, 28, 1]" in r.stderr
    assert "--input" not in r.stderr


def test_predict_of_a_vector_model_on_images_is_refused(tmp_path):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 4])
    model = helper.make_model(helper.make_graph([helper.make_node("Softmax", ["input"],
                                                                  ["output"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, {"cnncompile_version": "0.1.0", "input_shape": "[4]",
                                   "heads": heads(None, 4)})
    onnx.save(model, tmp_path / "vec.onnx")
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(img)
    r = run("predict", tmp_path / "vec.onnx", img)
    assert r.exit_code == 2 and "takes [4], not images" in r.stderr

"""What `evaluate` and `predict` print: never a figure computed from NaN, every readable image
classified when some are not, and a JSON document that parses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from typer.testing import CliRunner

from cnncompile.backends.numpy import init_params
from cnncompile.cli import app
from cnncompile.errors import DataError
from cnncompile.frontend import parse_spec
from cnncompile.ir import lower
from cnncompile.runtime import OnnxModel

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "exported" / "fmnist_small.onnx"
SAMPLES = ROOT / "exported" / "samples"
SPEC = """\
name: tiny
input: [4, 4, 1]
output: {classes: 3}
layers: [[conv, {ksize: 3, chn: 2, actions: LBA}], 3]
"""


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def nan_model(tmp_path: Path, how: str) -> Path:
    """A 2x2x1 -> 3-class model made with onnx.helper whose outputs are NaN.

    ``weights``: an initializer holds NaN; ``inside``: finite weights, but the square root of
    negated pixels is NaN for every pixel above 0.
    """
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 2, 2, 1])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3])
    w = np.ones((4, 3), np.float32)
    if how == "weights":
        w[1, 2] = np.nan
    nodes = [helper.make_node("Flatten", ["input"], ["flat"])]
    if how == "inside":
        nodes += [helper.make_node("Neg", ["flat"], ["neg"]),
                  helper.make_node("Sqrt", ["neg"], ["root"])]
    nodes += [helper.make_node("MatMul", ["root" if how == "inside" else "flat", "w"], ["z"]),
              helper.make_node("Softmax", ["z"], ["output"], axis=1)]
    graph = helper.make_graph(nodes, "nan", [x], [y], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, {
        "cnncompile_version": "0.1.0", "spec_name": "nan", "input_shape": "[2, 2, 1]",
        "input_layout": "NHWC", "output_kind": "classes", "outputs": "probs",
        "heads": json.dumps([{"name": "output", "size": 3, "labels": ["a", "b", "c"]}]),
        "preprocessing": json.dumps({"scale": 1.0})})
    path = tmp_path / f"nan_{how}.onnx"
    onnx.save(model, path)
    return path


def npz_data(tmp_path: Path, shape, nan: bool = False) -> Path:
    rng = np.random.default_rng(0)
    x = rng.integers(1, 256, (40, *shape)).astype(np.float32)
    if nan:
        x[::2, 0, 0] = np.nan  # in every split
    path = tmp_path / "data.npz"
    np.savez(path, x=x, y=np.arange(40) % 3)
    return path


@pytest.mark.parametrize("how, cause", [
    ("weights", r"its weights hold NaN or infinity \(initializer `w`\)"),
    ("inside", r"its weights are finite: the values overflow inside the model"),
])
def test_evaluate_and_predict_of_an_onnx_model_with_nan_outputs_stop_naming_the_cause(
        tmp_path, how, cause):
    model = nan_model(tmp_path, how)
    r = run("evaluate", model, "--data", npz_data(tmp_path, (2, 2)))
    assert r.exit_code == 2, r.output
    assert "accuracy" not in r.stdout and r.stdout == ""
    assert "the model's outputs are NaN or infinite" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    with pytest.raises(DataError, match=cause):
        OnnxModel(model).predict(np.ones((2, 2, 2, 1), np.float32))
    img = tmp_path / "a.png"
    Image.fromarray(np.full((2, 2), 9, np.uint8)).save(img)
    r = run("predict", model, img)
    assert r.exit_code == 2 and "NaN" in r.stderr and "nan" not in r.stdout


def _weights(tmp_path: Path, edit) -> tuple[Path, Path]:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    params = init_params(lower(parse_spec(SPEC, "tiny.yaml")), seed=0, init="he")
    edit(params)
    path = tmp_path / "params.npz"
    np.savez(path, **params)
    return spec, path


def test_evaluate_names_negative_batch_norm_statistics(tmp_path):
    spec, weights = _weights(tmp_path, lambda p: p["conv/bn.var"].__setitem__(0, -4.0))
    r = run("evaluate", spec, "--weights", weights, "--data", npz_data(tmp_path, (4, 4)))
    assert r.exit_code == 2, r.output
    assert "params.npz: batch-norm running variance `conv/bn.var` has negative values" in r.stderr
    assert r.stdout == ""


def _huge(params):
    for name in ("full.weight", "output.weight"):  # finite, but their product is not
        params[name][:] = np.float32(1e37)


def test_evaluate_names_weights_that_overflow(tmp_path):
    spec, weights = _weights(tmp_path, _huge)
    r = run("evaluate", spec, "--weights", weights, "--data", npz_data(tmp_path, (4, 4)))
    assert r.exit_code == 2, r.output
    assert "the weights are finite, so values overflow inside the model" in r.stderr


def test_evaluate_names_nan_in_the_input_data(tmp_path):
    spec, weights = _weights(tmp_path, lambda p: None)
    r = run("evaluate", spec, "--weights", weights, "--data",
            npz_data(tmp_path, (4, 4), nan=True))
    assert r.exit_code == 2, r.output
    assert "NaN" in r.stderr and "data" in r.stderr and r.stdout == ""


def _folder_with_a_broken_file(tmp_path: Path) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("0000_ankle-boot.png", "0001_pullover.png", "0002_trouser.png"):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    (folder / "0001b_broken.png").write_bytes((SAMPLES / "0006_coat.png").read_bytes()[:60])
    return folder


def test_predict_classifies_every_readable_image_and_lists_the_others(tmp_path):
    r = run("predict", MODEL, _folder_with_a_broken_file(tmp_path), "--top", "1")
    assert r.exit_code == 2
    lines = r.stdout.splitlines()
    assert [Path(x).name for x in lines[::2]] == ["0000_ankle-boot.png", "0001_pullover.png",
                                                   "0002_trouser.png"]
    assert [x.split()[1] for x in lines[1::2]] == ["ankle-boot", "pullover", "trouser"]
    errors = r.stderr.splitlines()
    assert "0001b_broken.png: corrupt or unreadable image" in errors[0]
    assert errors[-1] == "error: 1 of 4 images could not be read"


def test_predict_json_parses_with_predictions_and_errors(tmp_path):
    r = run("predict", MODEL, _folder_with_a_broken_file(tmp_path), "--format", "json",
            "--top", "2")
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert [Path(p["file"]).name for p in doc["predictions"]] == [
        "0000_ankle-boot.png", "0001_pullover.png", "0002_trouser.png"]
    top = doc["predictions"][0]["heads"]["output"]["top"]
    assert [t["label"] for t in top][0] == "ankle-boot" and len(top) == 2
    assert top[0]["probability"] >= top[1]["probability"] > 0
    assert [Path(e["file"]).name for e in doc["errors"]] == ["0001b_broken.png"]
    assert "corrupt or unreadable image" in doc["errors"][0]["error"]
    r = run("predict", MODEL, SAMPLES / "0008_sandal.png", "-f", "json", "-k", "1")
    assert r.exit_code == 0 and json.loads(r.stdout)["errors"] == []

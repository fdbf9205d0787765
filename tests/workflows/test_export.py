"""workflows.export.export_model as a library function: the outcome, the preprocessing record
it chooses (one rule: option, checkpoint, data set, assumed), and its refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from cnncompile.artifacts.weights import save_checkpoint
from cnncompile.backends.numpy import init_params
from cnncompile.errors import DataError
from cnncompile.frontend import parse_spec
from cnncompile.ir import lower
from cnncompile.runtime import OnnxModel
from cnncompile.workflows.export import ExportOutcome, export_model

SPEC = """\
name: tiny
input: [6, 5, 1]
output: {labels: [a, b, c]}
layers: [[conv, {ksize: 3, chn: 4}], [max, {stride: 2}], 5]
"""


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC)
    return path


def _record(path) -> dict:
    return json.loads({p.key: p.value for p in onnx.load(path).metadata_props}["preprocessing"])


def _checkpoint(tmp_path, record: dict | None) -> object:
    graph = lower(parse_spec(SPEC, "tiny.yaml"))
    meta = {"preprocessing": record} if record is not None else {"epoch": 1}
    return save_checkpoint(tmp_path / "run" / "checkpoint.npz", init_params(graph, seed=2), meta)


def _idx_like_data(tmp_path):
    """An .npz of uint8 pixels: its loader records scale 1.0 ('npz')."""
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.integers(0, 256, (30, 6, 5), dtype=np.uint8), y=np.arange(30) % 3)
    return path


def test_the_outcome_and_the_default_path(spec_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = export_model(spec_file)
    assert isinstance(outcome, ExportOutcome) and outcome.name == "tiny"
    assert outcome.path == Path("exported") / "tiny.onnx" and outcome.path.is_file()
    assert outcome.parity_source == "random inputs" and outcome.result.parity.batch == 4
    assert outcome.warnings == (
        "no --weights: the weights are the spec's initialisation normal, seed 0 (untrained)",
        "input scaling not recorded: metadata says pixels are fed as float 0-255 (scale 1.0); "
        "pass --scale to change it")
    assert _record(outcome.path)["source"] == "assumed"


def test_a_loaded_spec_with_overrides(tmp_path):
    spec = parse_spec(SPEC, "tiny.yaml")
    outcome = export_model(spec, None, tmp_path / "m.onnx", input_shape="8,8,3", classes=2,
                           scale=1 / 255, parity_batch=2)
    m = OnnxModel(outcome.path, provider="cpu")
    assert m.input_shape == (8, 8, 3) and m.heads == [("output", 2, ["0", "1"])]
    assert outcome.result.parity.batch == 2 and len(outcome.warnings) == 1


def test_the_scale_is_the_options_then_the_checkpoints_then_the_data_sets(spec_file, tmp_path):
    ckpt = _checkpoint(tmp_path, {"kind": "idx", "scale": 1 / 255})
    data = _idx_like_data(tmp_path)
    cases = [({"scale": 0.25, "weights": ckpt, "data": data}, 0.25, "--scale"),
             ({"weights": ckpt, "data": data}, 1 / 255, "checkpoint"),
             ({"data": data, "scale": None}, 1.0, "data set")]
    for i, (kwargs, scale, source) in enumerate(cases):
        out = tmp_path / f"m{i}.onnx"
        outcome = export_model(spec_file, out=out, **kwargs)
        record = _record(out)
        assert (record["scale"], record["source"]) == (pytest.approx(scale), source)
        assert outcome.result.preprocessing.scale == pytest.approx(scale)
        assert not any("scaling" in w for w in outcome.warnings)
    assert outcome.parity_source == f"{data} test samples"


def test_mean_and_std_reach_the_runtime(spec_file, tmp_path):
    out = tmp_path / "m.onnx"
    export_model(spec_file, None, out, scale=0.5, mean=[2.0], std=0.5)
    m = OnnxModel(out, provider="cpu")
    assert (m.preprocessing.mean, m.preprocessing.std) == ((2.0,), (0.5,))
    pixels = np.random.default_rng(1).integers(0, 256, (3, 6, 5, 1), dtype=np.uint8)
    expected = m.predict((pixels.astype(np.float32) * 0.5 - 2.0) / 0.5)["output"]
    np.testing.assert_allclose(m.predict(pixels)["output"], expected, rtol=1e-6)


def test_a_checkpoints_mean_and_std_are_kept_unless_given(spec_file, tmp_path):
    ckpt = _checkpoint(tmp_path, {"scale": 0.5, "mean": [0.25], "std": [2.0]})
    export_model(spec_file, ckpt, tmp_path / "a.onnx")
    export_model(spec_file, ckpt, tmp_path / "b.onnx", std=[4.0])
    assert (_record(tmp_path / "a.onnx")["mean"], _record(tmp_path / "a.onnx")["std"]) == (
        [0.25], [2.0])
    assert (_record(tmp_path / "b.onnx")["mean"], _record(tmp_path / "b.onnx")["std"]) == (
        [0.25], [4.0])


@pytest.mark.parametrize("kwargs,message", [
    ({"scale": -1}, "`--scale` must be a positive number. Received: -1"),
    ({"scale": float("nan")}, "`--scale` must be a positive number. Received: nan"),
    ({"scale": True}, "`--scale` must be a positive number. Received: True"),
    ({"mean": [1, 2, 3]}, "`--mean` must be 1 finite number(s). Received: [1, 2, 3]"),
    ({"std": [-1]}, "`--std` must be positive. Received: [-1.0]"),
])
def test_bad_preprocessing_options_write_nothing(spec_file, tmp_path, kwargs, message):
    with pytest.raises(DataError, match=re.escape(message)):
        export_model(spec_file, None, tmp_path / "m.onnx", **kwargs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]


def test_a_checkpoint_record_for_another_input_is_refused(spec_file, tmp_path):
    ckpt = _checkpoint(tmp_path, {"input_shape": [28, 28, 1], "scale": 1})
    with pytest.raises(DataError, match=r"checkpoint.npz: the preprocessing record says the "
                                        r"input is \[28, 28, 1\] but the model takes \[6, 5, 1\]"):
        export_model(spec_file, ckpt, tmp_path / "m.onnx")


LAB_SPEC = """\
name: lab
input: [8, 8, 2]
output: {classes: 3}
layers: [[conv, {ksize: 3, chn: 4, actions: LAB}], [conv, {ksize: 3, chn: 4}]]
"""


@pytest.mark.parametrize("fold_all, kept", [(False, 1), (True, 0)])
def test_fold_all_removes_the_batch_norm_a_padded_conv_reads(tmp_path, fold_all, kept):
    # a batch norm after the activation whose shift reaches a padded conv: the default export
    # keeps it (faster in onnxruntime), --fold-all adds a border map and keeps none
    graph = lower(parse_spec(LAB_SPEC))
    params = init_params(graph, seed=0)
    rng = np.random.default_rng(0)
    for name in params:
        if name.endswith((".mean", ".shift")):
            params[name] = rng.normal(0, 0.5, params[name].shape).astype(np.float32)
    weights = tmp_path / "w.npz"
    np.savez(weights, **params)
    out = tmp_path / "lab.onnx"
    export_model(parse_spec(LAB_SPEC), weights, out, fold_all=fold_all)
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert ops.count("BatchNormalization") == kept  # and the parity check passed

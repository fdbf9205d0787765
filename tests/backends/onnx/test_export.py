"""`cnncompile export`: versions, determinism, metadata, atomic writes, bad checkpoints."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from cnncompile.backends.onnx import EMITTERS, ExportOptions, export_graph
from cnncompile.backends.onnx.assemble import ir_version_for
from cnncompile.cli import app
from cnncompile.errors import DataError, ExportError
from cnncompile.frontend import parse_spec
from cnncompile.ir import lower
from cnncompile.train.checkpoint import save_checkpoint
from cnncompile.workflows.export import load_weights

runner = CliRunner()

SPEC = """\
name: tiny
input: [10, 9, 1]
output: {labels: [a, b, c]}
layers:
  - [conv, {ksize: 3, chn: 4, actions: LBA}]
  - [max, {stride: 2}]
  - [conv, {ksize: 2, chn: 6, stride: 3, padding: VALID}]
  - 8
"""


@pytest.fixture
def spec_file(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(SPEC)
    return p


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def tiny():
    spec = parse_spec(SPEC, "tiny.yaml")
    return spec, lower(spec)


def test_default_opset_13_with_ir_7_and_never_above_ir_13(ox):
    spec, graph = tiny()
    w = load_weights(graph, None)
    r = export_graph(spec, graph, w, None)
    assert (r.model.opset_import[0].version, r.model.ir_version) == (13, 7)
    for opset in (17, 21, 26):
        r = export_graph(spec, graph, w, None, ExportOptions(opset=opset))  # runs in ORT inside
        assert r.model.opset_import[0].version == opset
        assert r.model.ir_version == onnx.helper.find_min_ir_version_for(
            [onnx.helper.make_opsetid("", opset)]) <= 13
    # onnx itself would stamp its own IR version (14 for onnx 1.23), which older runtimes reject
    assert ir_version_for(26) == 13 and ir_version_for(17) == 8
    for bad in (12, 27):
        with pytest.raises(ExportError, match="`--opset` must be between 13 and 26"):
            export_graph(spec, graph, w, None, ExportOptions(opset=bad))


def test_cli_export_is_deterministic_and_says_what_it_checked(spec_file, tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "sub" / "b.onnx"
    r = run("export", spec_file, "-o", a, "--seed", "3")
    assert r.exit_code == 0, r.output
    assert "warning: no --weights" in r.stderr and "seed 3" in r.stderr
    assert "checker: ok" in r.stdout and "opset 13, IR version 7" in r.stdout
    assert "max abs diff" in r.stdout and "max relative diff" in r.stdout
    assert run("export", spec_file, "-o", b, "--seed", "3").exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    assert run("export", spec_file, "-o", b, "--seed", "4").exit_code == 0
    assert a.read_bytes() != b.read_bytes()
    model = onnx.load(a)
    names = {n.name for n in model.graph.node}
    assert {"conv_0", "max", "conv_1", "full", "output", "output/softmax"} <= names
    assert not any(a.name == "auto_pad" for n in model.graph.node for a in n.attribute)


def test_dynamic_batch_and_nhwc_input(spec_file, tmp_path):
    out = tmp_path / "m.onnx"
    assert run("export", spec_file, "-o", out).exit_code == 0
    s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    shape = onnx.load(out).graph.input[0].type.tensor_type.shape
    dims = [d.dim_param or d.dim_value for d in shape.dim]
    assert dims == ["N", 10, 9, 1]
    for n in (1, 5):
        (p,) = s.run(None, {"input": np.zeros((n, 10, 9, 1), np.float32)})
        assert p.shape == (n, 3)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_metadata_from_a_checkpoint(ox, spec_file, tmp_path):
    spec, graph = tiny()
    params = ox.random_params(graph)
    meta = {"preprocessing": {"kind": "idx", "scale": 1 / 255}, "epoch": 7,
            "test_accuracy": {"output": 0.8125}, "accuracy": {"output": 0.75}}
    ckpt = save_checkpoint(tmp_path / "run" / "checkpoint.npz", params, meta)
    out = tmp_path / "m.onnx"
    r = run("export", spec_file, "--weights", ckpt, "-o", out, "--outputs", "logits")
    assert r.exit_code == 0, r.output
    assert "warning" not in r.stderr
    props = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert props["spec_name"] == "tiny" and props["input_layout"] == "NHWC"
    assert props["spec_hash"] == spec.text_hash and props["ir_hash"] == graph.structure_hash()
    assert json.loads(props["preprocessing"])["scale"] == pytest.approx(1 / 255)
    assert json.loads(props["preprocessing"])["resize"] == [10, 9]
    assert json.loads(props["accuracy"]) == {"split": "test", "per_head": {"output": 0.8125},
                                             "epoch": 7}
    assert json.loads(props["heads"]) == [{"name": "output", "size": 3, "labels": ["a", "b", "c"]}]
    assert props["outputs"] == "logits" and props["weights"] == "checkpoint checkpoint.npz"
    rebuilt = lower(parse_spec(props["spec"], "metadata"))  # standalone: rebuilds the model
    assert [(n.op, n.shape) for n in rebuilt] == [(n.op, n.shape) for n in graph]


def test_the_checkpoints_preprocessing_record_carries_into_the_metadata(ox, spec_file, tmp_path):
    from cnncompile.runtime import OnnxModel

    _, graph = tiny()
    record = {"kind": "images", "input_shape": [10, 9, 1], "scale": 0.5, "mean": [0.25],
              "std": [2.0], "source": "images"}
    ckpt = save_checkpoint(tmp_path / "run" / "checkpoint.npz", ox.random_params(graph),
                           {"preprocessing": record})
    out = tmp_path / "m.onnx"
    assert run("export", spec_file, "--weights", ckpt, "-o", out).exit_code == 0
    written = json.loads({p.key: p.value for p in onnx.load(out).metadata_props}["preprocessing"])
    assert (written["kind"], written["scale"], written["mean"], written["std"]) == (
        "images", 0.5, [0.25], [2.0])
    pre = OnnxModel(out, provider="cpu").preprocessing
    assert pre.apply(np.full((1, 10, 9, 1), 4, np.uint8)).ravel()[0] == pytest.approx(0.875)


def test_parity_batch_from_a_data_set(spec_file, tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.integers(0, 255, (30, 10, 9, 1)).astype(np.float32),
             y=rng.integers(0, 3, 30))
    r = run("export", spec_file, "-o", tmp_path / "m.onnx", "--data", data, "--parity-batch", "3")
    assert r.exit_code == 0, r.output
    assert f"on 3 {data} test samples" in r.stdout


def test_a_wrong_emitter_fails_parity_and_leaves_no_file(monkeypatch, tmp_path):
    def wrong_relu(ctx, node):  # tanh where the spec says relu
        x = ctx.value(node.inputs[0])
        out = ctx.add("Tanh", [x.name], ctx.value_name(node.name), node.name)
        ctx.set_value(node.name, type(x)(out, x.layout, x.order))

    monkeypatch.setitem(EMITTERS, "act", wrong_relu)
    spec, graph = tiny()
    out = tmp_path / "m.onnx"
    with pytest.raises(ExportError, match="onnxruntime and the NumPy engine disagree: max abs"):
        export_graph(spec, graph, load_weights(graph, None, init="he"), out)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_write_leaves_neither_file_nor_temporary(monkeypatch, tmp_path):
    import cnncompile.artifacts.files as ex  # the one atomic writer

    spec, graph = tiny()
    out = tmp_path / "m.onnx"
    out.write_bytes(b"old model")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(ex.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_graph(spec, graph, load_weights(graph, None), out)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"] and out.read_bytes() == b"old model"


def _checkpoint_with(tmp_path, graph, case: str):
    from cnncompile.backends.numpy import init_params

    params = init_params(graph)
    if case == "missing":
        del params["conv_1.bias"]
    elif case == "extra":
        params["conv_9.kernel"] = np.zeros((1,), np.float32)
    elif case == "shape":
        params["full.weight"] = np.zeros((3, 8), np.float32)
    elif case == "nan":
        params["conv_0.kernel"][0, 0, 0, 0] = np.nan
    path = tmp_path / f"{case}.npz"
    np.savez(path, **params)
    return path


@pytest.mark.parametrize("case,key,what", [
    ("missing", "conv_1.bias", "is missing"),
    ("extra", "conv_9.kernel", "is not a parameter of model 'tiny'"),
    ("shape", "full.weight", "has the wrong shape"),
    ("nan", "conv_0.kernel", "contains NaN"),
])
def test_malformed_checkpoints_give_one_line_naming_the_key(spec_file, tmp_path, case, key, what):
    _, graph = tiny()
    path = _checkpoint_with(tmp_path, graph, case)
    out = tmp_path / "m.onnx"
    r = run("export", spec_file, "--weights", path, "-o", out)
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert f"`{key}`" in r.stderr and what in r.stderr and str(path) in r.stderr
    assert not out.exists()
    with pytest.raises(DataError, match=key):
        load_weights(graph, path)


def test_unreadable_weights_and_bad_options(spec_file, tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    r = run("export", spec_file, "--weights", junk, "-o", tmp_path / "m.onnx")
    assert r.exit_code == 2 and "junk.npz" in r.stderr
    r = run("export", spec_file, "--opset", "30", "-o", tmp_path / "m.onnx")
    assert r.exit_code == 2 and "--opset" in r.stderr


def test_exact_params_file_roundtrip(ox, tmp_path):
    """A plain .npz keyed by IR names gives exactly those weights (engine parity inside)."""
    spec, graph = tiny()
    params = ox.random_params(graph, seed=5)
    path = tmp_path / "p.npz"
    np.savez(path, **params)
    w = load_weights(graph, path)
    assert w.source == "parameters p.npz" and w.trained
    assert all(np.array_equal(w.params[k], v) for k, v in params.items())
    export_graph(spec, graph, w, None, ExportOptions(outputs="logits"))


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf"])
def test_a_scale_that_is_not_a_positive_number_is_refused_naming_the_option(spec_file, tmp_path,
                                                                          value):
    out = tmp_path / "m.onnx"
    r = run("export", spec_file, "-o", out, "--scale", value)
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines() == [
        f"error: `--scale` must be a positive number. Received: {float(value)!r}"]
    assert not out.exists()


def test_mean_and_std_are_recorded_and_the_runtime_applies_them(spec_file, tmp_path):
    from cnncompile.runtime import OnnxModel

    out = tmp_path / "m.onnx"
    r = run("export", spec_file, "-o", out, "--scale", "0.5", "--mean", "1", "--std", "4")
    assert r.exit_code == 0, r.output
    written = json.loads({p.key: p.value for p in onnx.load(out).metadata_props}["preprocessing"])
    assert (written["scale"], written["mean"], written["std"]) == (0.5, [1.0], [4.0])
    assert written["source"] == "--scale"
    m = OnnxModel(out, provider="cpu")
    pixels = np.full((1, 10, 9, 1), 10, np.uint8)
    assert m.prepare(pixels).ravel()[0] == pytest.approx((10 * 0.5 - 1) / 4)
    for option, text, message in [("--std", "0", "`--std` must be positive. Received: [0.0]"),
                                  ("--mean", "1,2", "`--mean` must be 1 finite number(s)"),
                                  ("--mean", "a", "`--mean` must be numbers separated by")]:
        r = run("export", spec_file, "-o", tmp_path / "x.onnx", option, text)
        assert r.exit_code == 2 and message in r.stderr and len(r.stderr.splitlines()) == 1


def test_a_bad_preprocessing_record_in_a_checkpoint_is_refused_not_dropped(ox, spec_file,
                                                                          tmp_path):
    _, graph = tiny()
    ckpt = save_checkpoint(tmp_path / "run" / "checkpoint.npz", ox.random_params(graph),
                           {"preprocessing": {"scale": -2}})
    out = tmp_path / "m.onnx"
    r = run("export", spec_file, "--weights", ckpt, "-o", out, "--scale", "0.5")
    assert r.exit_code == 2
    assert r.stderr.strip() == (f"error: {ckpt}: preprocessing `scale` must be a positive number. "
                                "Received: -2")
    assert not out.exists()

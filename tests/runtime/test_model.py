"""OnnxModel: the API `evaluate` relies on, preprocessing from metadata, provider choice."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from cnncompile.artifacts.heads import head_probabilities
from cnncompile.backends.numpy import Executor
from cnncompile.errors import DataError
from cnncompile.runtime import OnnxModel
from cnncompile.runtime import session as session_mod


def engine_probs(m, x):
    return head_probabilities(m.graph.heads, Executor(m.graph).forward(m.params, x))


def test_api_fields(models):
    m = OnnxModel(models["images"].path)
    assert m.input_shape == (12, 10, 3)
    assert m.heads == [("output", 4, ["cat", "dog", "owl", "emu"])]
    assert m.metadata["spec_name"] == "pics" and m.metadata["preprocessing"]["scale"] == 1 / 255
    assert m.provider == "CPUExecutionProvider"
    h = OnnxModel(models["heads"].path, provider="cpu")
    assert [name for name, _, _ in h.heads] == ["domain", "object"] and h.note is None


def test_predict_matches_the_engine_and_scales_uint8_pixels(models):
    e = models["images"]
    m = OnnxModel(e.path)
    pixels = np.random.default_rng(0).integers(0, 256, (7, 12, 10, 3)).astype(np.uint8)
    x = pixels.astype(np.float32) / 255  # what the data loaders hand the model
    got = m.predict(x, batch_size=3)  # several onnxruntime batches
    want = engine_probs(e, x)
    np.testing.assert_allclose(got["output"], want["output"], atol=1e-5)
    np.testing.assert_allclose(m.predict(pixels)["output"], got["output"], atol=1e-6)
    assert not np.allclose(m.predict(pixels.astype(np.float32))["output"], got["output"], atol=1e-3)


def test_logits_export_and_nchw_export_predict_the_same_probabilities(models):
    x = np.random.default_rng(1).uniform(0, 1, (4, 12, 10, 3)).astype(np.float32)
    base = OnnxModel(models["images"].path).predict(x)["output"]
    np.testing.assert_allclose(OnnxModel(models["images_logits"].path).predict(x)["output"], base,
                               atol=1e-6)
    nchw = OnnxModel(models["images_nchw"].path)
    assert nchw.layout == "NCHW"
    np.testing.assert_allclose(nchw.predict(x)["output"], base, atol=1e-6)
    np.testing.assert_allclose(nchw.predict(x.transpose(0, 3, 1, 2))["output"], base, atol=1e-6)


def test_multi_head_and_binary_predictions(models):
    x = np.random.default_rng(2).uniform(0, 1, (5, 8, 8, 1)).astype(np.float32)
    got = OnnxModel(models["heads"].path).predict(x)
    want = engine_probs(models["heads"], x)
    assert list(got) == ["domain", "object"] and got["object"].shape == (5, 3)
    for k in got:
        np.testing.assert_allclose(got[k], want[k], atol=1e-5)
    b = models["binary"]
    x = np.random.default_rng(3).standard_normal((6, 5)).astype(np.float32)
    got = OnnxModel(b.path).predict(x)["output"]
    assert got.shape == (6, 2)
    np.testing.assert_allclose(got, engine_probs(b, x)["output"], atol=1e-5)


def test_wrong_inputs_and_files_are_one_line_data_errors(models, tmp_path):
    m = OnnxModel(models["images"].path)
    with pytest.raises(DataError, match=r"inputs have shape \[2, 10, 12, 3\]; the model takes "
                                         r"\[N, 12, 10, 3\]"):
        m.predict(np.zeros((2, 10, 12, 3), np.float32))
    with pytest.raises(DataError, match="no such ONNX model file"):
        OnnxModel(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a model")
    with pytest.raises(DataError, match="onnxruntime cannot load it"):
        OnnxModel(junk)
    plain = onnx.load(models["images"].path)
    del plain.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(plain, foreign)
    with pytest.raises(DataError, match="not a cnncompile export"):
        OnnxModel(foreign)
    with pytest.raises(DataError, match="--provider"):
        OnnxModel(models["images"].path, provider="tpu")


def test_cuda_falls_back_to_cpu_with_a_note(models, monkeypatch):
    m = OnnxModel(models["images"].path, provider="cuda")
    assert m.provider == "CPUExecutionProvider" and "install onnxruntime-gpu" in m.note
    # onnxruntime-gpu present but no GPU: the provider is listed yet does not start
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert session_mod.requested_providers("auto")[0][0] == "CUDAExecutionProvider"
    m = OnnxModel(models["images"].path, provider="auto")
    assert m.provider == "CPUExecutionProvider" and "did not start" in m.note


def test_uint8_pixels_follow_the_recorded_scale_mean_and_std(models, tmp_path):
    model = onnx.load(models["heads"].path)
    for p in model.metadata_props:
        if p.key == "preprocessing":
            p.value = '{"scale": 0.5, "mean": [3.0], "std": [2.0]}'
    onnx.save(model, tmp_path / "normed.onnx")
    m = OnnxModel(tmp_path / "normed.onnx")
    pixels = np.random.default_rng(4).integers(0, 256, (3, 8, 8, 1)).astype(np.uint8)
    want = m.predict((pixels.astype(np.float32) * 0.5 - 3.0) / 2.0)
    got = m.predict(pixels)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], atol=1e-6)
    assert m.preprocessing.mean == (3.0,) and m.preprocessing.std == (2.0,)

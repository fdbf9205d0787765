"""workflows.predict as library functions: predict_images and bench_model on a small export."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnncompile.errors import DataError
from cnncompile.runtime import OnnxModel
from cnncompile.workflows.export import export_model
from cnncompile.workflows.predict import BenchRow, ImagePrediction, bench_model, predict_images

SPEC = """\
name: pics
input: [12, 10, 3]
output: {labels: [cat, dog, owl]}
layers: [[conv, {ksize: 3, chn: 6, stride: 2}], [max, {stride: 2}], 8]
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    (folder / "pics.yaml").write_text(SPEC)
    return export_model(folder / "pics.yaml", None, folder / "pics.onnx", init="he", seed=3,
                        scale=1 / 255).path


def test_every_file_comes_back_in_order_with_its_prediction_or_error(model, tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not a png")
    Image.fromarray(rng.integers(0, 256, (9, 9), dtype=np.uint8)).save(tmp_path / "c.jpg")
    out = predict_images(model, tmp_path, top=2)
    assert [p.file.rsplit("/", 1)[1] for p in out] == ["a.png", "b.png", "c.jpg"]
    assert all(isinstance(p, ImagePrediction) for p in out)
    assert out[1].heads is None and "b.png" in out[1].error
    m = OnnxModel(model, provider="cpu")
    pixels = np.asarray(Image.open(tmp_path / "a.png").convert("RGB").resize((10, 12),
                                                                           Image.BILINEAR))
    p = m.predict(pixels[None])["output"][0]
    top = out[0].heads["output"]["top"]
    assert len(top) == 2 and out[0].error is None
    assert top[0] == {"label": ["cat", "dog", "owl"][int(np.argmax(p))],
                      "probability": pytest.approx(float(p.max()), abs=1e-6)}


def test_an_open_model_and_a_single_path_are_taken(model, tmp_path):
    Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(tmp_path / "x.png")
    m = OnnxModel(model, provider="cpu")
    (one,) = predict_images(m, tmp_path / "x.png", top=5)
    assert len(one.heads["output"]["top"]) == 3  # top is capped by the classes


def test_refusals(model, tmp_path):
    with pytest.raises(DataError, match="no such image file or folder"):
        predict_images(model, [tmp_path / "nope.png"])
    with pytest.raises(DataError, match="`--top` must be at least 1"):
        predict_images(model, [tmp_path], top=0)
    vector = tmp_path / "vec.yaml"
    vector.write_text("name: vec\ninput: [5]\noutput: {classes: 2}\nlayers: [4]\n")
    path = export_model(vector, None, tmp_path / "vec.onnx").path
    with pytest.raises(DataError, match=r"vec.onnx: the model takes \[5\], not images"):
        predict_images(path, [tmp_path])


def test_bench_rows_stream_and_compare_with_the_engine(model):
    seen = []
    rows = bench_model(model, [1, 3], seconds=0.01, provider="cpu", on_row=seen.append)
    assert rows == seen and [r.batch for r in rows] == [1, 3]
    assert all(isinstance(r, BenchRow) and r.onnx.throughput > 0 for r in rows)
    assert rows[0].ratio == pytest.approx(rows[0].onnx.throughput / rows[0].engine.throughput)
    (alone,) = bench_model(model, [2], seconds=0.01, provider="cpu", engine=False)
    assert alone.engine is None and alone.ratio is None
    with pytest.raises(DataError, match="`--batch` must be positive integers"):
        bench_model(model, [0])

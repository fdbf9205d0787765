"""A model's workflow methods on a tiny spec: train one epoch on a generated .npz, evaluate,
export, quantize, predict, report. Each result is the workflow's, and matches the files written."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cnncompile
from cnncompile.errors import DataError, OptionError

LAYERS = [["conv", {"ksize": 3, "chn": 4}], ["max", {"stride": 2}], ["full", {"width": 8}]]
LABELS = ["across", "down"]


def stripes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """12x12 grey images: bright rows (class 0) or bright columns (class 1) over noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 60, (n, 12, 12, 1)).astype(np.uint8)
    x[y == 0, ::3, :, 0] += 180
    x[y == 1, :, ::3, 0] += 180
    return x, y


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with stripes.npz, a model and its one-epoch run in runs/stripes."""
    root = tmp_path_factory.mktemp("api")
    x, y = stripes(300)
    np.savez(root / "stripes.npz", x=x, y=y)
    model = cnncompile.load(LAYERS, input_shape=(12, 12, 1), labels=LABELS, name="stripes")
    run = model.train(root / "stripes.npz", root / "runs" / "stripes", epochs=1, batch_size=10,
                      learning_rate=0.01)
    return root, model, run


def test_train_writes_the_run_with_the_options_given(work):
    from cnncompile.train import read_checkpoint

    root, model, run = work
    ckpt = read_checkpoint(root / "runs" / "stripes")
    assert ckpt.meta["config"]["epochs"] == 1 and ckpt.meta["config"]["batch_size"] == 10
    assert ckpt.meta["config"]["learning_rate"] == 0.01
    assert ckpt.meta["spec_text"] == model.spec.text and ckpt.meta["name"] == "stripes"
    test = json.loads((root / "runs" / "stripes" / "test.json").read_text())
    assert run.accuracy == pytest.approx(test["accuracy"], abs=1e-6)
    assert run.accuracy["output"] > 0.9  # stripes across or down: one epoch learns them


def test_evaluate_gives_the_run_s_test_figures(work):
    root, model, run = work
    ev = model.evaluate(root / "runs" / "stripes", root / "stripes.npz")
    assert ev.split == "test" and ev.evaluation.accuracy == pytest.approx(run.accuracy)
    train = model.evaluate(root / "runs" / "stripes" / "checkpoint.npz", root / "stripes.npz",
                           split="train")
    assert train.evaluation.samples == 240  # the textbook split: 80% of 300, rounded to tens


def test_export_predict_and_quantize_the_trained_model(work):
    root, model, _ = work
    exported = model.export(root / "stripes.onnx", weights=root / "runs" / "stripes")
    assert exported.path == root / "stripes.onnx" and exported.path.is_file()
    from PIL import Image

    x, y = stripes(6, seed=1)
    for i, img in enumerate(x):
        Image.fromarray(img[:, :, 0]).save(root / f"img{i}.png")
    one = cnncompile.predict(root / "stripes.onnx", root / "img0.png", top=2)
    assert [p.heads["output"]["top"][0]["label"] for p in one] == [LABELS[y[0]]]
    assert len(one[0].heads["output"]["top"]) == 2
    every = cnncompile.predict(str(root / "stripes.onnx"), [root / f"img{i}.png" for i in range(6)])
    assert [p.heads["output"]["top"][0]["label"] for p in every] == [LABELS[k] for k in y]
    q = cnncompile.quantize(root / "stripes.onnx", root / "stripes.npz", max_drop=0.05,
                            min_speedup=0)  # a toy model: per-call overhead, not INT8's gain
    assert q.path == root / "stripes.int8.onnx" and q.path.is_file() and q.drop <= 0.05


def test_an_untrained_export_warns_and_a_report_is_written(work, tmp_path):
    _, model, _ = work
    exported = model.export(tmp_path / "init.onnx", seed=3)
    assert exported.path.is_file()
    assert any("no --weights" in w for w in exported.warnings)
    page = model.report(tmp_path / "page.html", run=work[0] / "runs" / "stripes")
    assert page == tmp_path / "page.html" and "<svg" in page.read_text()


def test_option_mistakes_are_the_option_table_s_errors(work, tmp_path, capsys):
    root, model, _ = work
    with pytest.raises(OptionError, match=r"unknown training option 'epoch' \(did you mean "
                                          r"'epochs'\?\)"):
        model.train(root / "stripes.npz", tmp_path / "run", epoch=1)
    with pytest.raises(OptionError, match="training option `batch_size`"):
        model.train(root / "stripes.npz", tmp_path / "run", batch_size=0)
    with pytest.raises(DataError, match="no such file or folder"):
        model.train(tmp_path / "missing.npz", tmp_path / "run", epochs=1)
    with pytest.raises(DataError, match="already holds a run"):
        model.train(root / "stripes.npz", root / "runs" / "stripes", epochs=1)
    assert capsys.readouterr() == ("", "")  # raised, never printed


def test_another_model_s_weights_are_refused(work):
    root, _, _ = work
    other = cnncompile.load([["conv", {"ksize": 3, "chn": 5}], ["full", {"width": 8}]],
                            input_shape=(12, 12, 1), labels=LABELS)
    with pytest.raises(DataError, match="checkpoint.npz"):
        other.evaluate(root / "runs" / "stripes", root / "stripes.npz")


def test_resume_and_overwrite_reach_the_workflow(work, tmp_path):
    from cnncompile.train import read_checkpoint

    root, model, _ = work
    data, out = root / "stripes.npz", tmp_path / "run"
    model.train(data, out, epochs=1, batch_size=30)
    model.train(data, out, resume=True, epochs=2)
    meta = read_checkpoint(out).meta
    assert (meta["epoch"], meta["config"]["epochs"], meta["config"]["batch_size"]) == (2, 2, 30)
    model.train(data, out, overwrite=True, epochs=1)
    assert read_checkpoint(out).meta["epoch"] == 1

"""Figures and augmentation, checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.data.datasets import Split
from cnncompile.errors import DataError
from cnncompile.evaluation.evaluate import evaluate
from cnncompile.evaluation.metrics import confusion_matrix, head_probabilities, per_class_table
from cnncompile.frontend.spec import Head, OutputSpec
from cnncompile.train.augment import augment, check_augment
from cnncompile.train.plots import plot_samples


def test_per_class_table_by_hand():
    # true 0 0 0 1 1 2, predicted 0 0 1 1 2 2
    conf = confusion_matrix(np.array([0, 0, 0, 1, 1, 2]), np.array([0, 0, 1, 1, 2, 2]), 3)
    assert conf.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    rows = per_class_table(conf, ("a", "b", "c"))
    assert rows[0] == {"class": "a", "precision": 1.0, "recall": 0.6667, "f1": 0.8, "support": 3}
    assert rows[1]["precision"] == 0.5 and rows[1]["recall"] == 0.5
    assert rows[2] == {"class": "c", "precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1}


def test_heads_split_the_output_vector_in_order():
    out = OutputSpec("classes", (Head("domain", 2), Head("object", 3)))
    logits = np.array([[0.0, np.log(3.0), 0.0, 0.0, np.log(2.0)]])
    p = head_probabilities(out, logits)
    assert p["domain"][0].tolist() == pytest.approx([0.25, 0.75])
    assert p["object"][0].tolist() == pytest.approx([0.25, 0.25, 0.5])
    b = head_probabilities(OutputSpec("binary", (Head("output", 1),)), np.array([[0.0], [50.0]]))
    assert b["output"].ravel().tolist() == pytest.approx([0.5, 0.5, 0.0, 1.0])


def test_evaluate_any_predictor_two_heads():
    y = np.array([[0, 1], [1, 2], [1, 0], [0, 2]])
    split = Split(np.zeros((4, 2), np.float32), y)

    def predict(x):  # domain always 1, object always 2
        n = len(x)
        return {"domain": np.tile([0.1, 0.9], (n, 1)), "object": np.tile([0.2, 0.3, 0.5], (n, 1))}

    ev = evaluate(predict, split, ["domain", "object"], (("a", "b"), ("x", "y", "z")),
                  batch_size=3)
    assert ev.accuracy == {"domain": 0.5, "object": 0.5}
    assert ev.confusion["object"].tolist() == [[0, 0, 1], [0, 0, 1], [0, 0, 2]]
    assert ev.accuracy_text() == "0.500+0.500"


def test_flip_and_shift_move_pixels_and_never_invent_them():
    x = np.zeros((200, 28, 28, 1), np.float32)
    x[:, 10, 5, 0] = 1.0
    out = augment(x, "flip_shift", np.random.default_rng(0))
    assert out.shape == x.shape and x[:, 10, 5, 0].all()  # the input is untouched
    assert out.sum() == 200  # the pixel is never pushed off a 28x28 image by 2 cells
    pos = np.argwhere(out[..., 0] == 1.0)[:, 1:]
    assert set(np.abs(pos[:, 0] - 10)) == {0, 1, 2}  # every shift of up to 2 occurs
    assert set(pos[:, 1]) <= set(range(3, 8)) | set(range(20, 25))  # flipped: 27 - 5 = 22
    assert (pos[:, 1] >= 20).any() and (pos[:, 1] <= 7).any()


def test_cutout_zeroes_one_clipped_square_per_image():
    x = np.ones((500, 28, 28, 2), np.float32)
    out = augment(x, "flip_cutout", np.random.default_rng(0))
    assert x.all() and out.shape == x.shape  # the input is untouched
    assert (out[..., 0] == out[..., 1]).all()  # every channel of a pixel goes together
    for img in out[..., 0]:
        rows, cols = np.nonzero(img == 0)
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert len(rows) == height * width  # one solid rectangle
        assert height <= 7 and width <= 7
        assert height == 7 or rows.min() == 0 or rows.max() == 27  # only the border clips it
        assert width == 7 or cols.min() == 0 or cols.max() == 27
    cut = out[..., 0] == 0
    assert cut.any(axis=0).all()  # every pixel, corners included, gets cut sometimes
    assert 0.8 < cut.mean() / (49 / 784) < 1.0  # clipping at the border loses a little


def test_shift_then_cutout_is_each_step_in_turn():
    x = np.random.default_rng(1).random((64, 28, 28, 1)).astype(np.float32)
    both = augment(x, "flip_shift_cutout", np.random.default_rng(3))
    shifted = augment(x, "flip_shift", np.random.default_rng(3))
    changed = both != shifted
    assert (both[changed] == 0).all()  # the cutout only zeroes cells of the shifted image
    for img in changed[..., 0]:  # inside one square of side 7 (the same draws as flip_shift)
        rows, cols = np.nonzero(img)
        assert len(rows) and rows.max() - rows.min() < 7 and cols.max() - cols.min() < 7


def test_augment_needs_an_image_input():
    with pytest.raises(DataError, match=r"augment 'flip' needs an image input \[H, W, C\]"):
        check_augment("flip", (784,))


def test_samples_grid_shows_square_vectors_and_skips_others(tmp_path):
    probs = {"output": np.full((3, 2), 0.5)}
    names = {"output": ("a", "b")}
    y = np.array([0, 1, 0])
    assert plot_samples(np.random.rand(3, 16), y, probs, names, tmp_path / "s.png", "t")
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert plot_samples(np.random.rand(3, 15), y, probs, names, tmp_path / "u.png", "t") is None

"""Arrays a data file may hold that cannot be trained on: one-line errors, never internal ones."""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.data.datasets import load_dataset
from cnncompile.errors import DataError
from cnncompile.frontend.spec import Head, OutputSpec

CLASSES3 = OutputSpec(kind="classes", heads=(Head("output", 3),))


def save(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


def test_complex_inputs_are_refused_not_trained_on_their_real_part(tmp_path):
    x = np.ones((20, 4, 4, 1)) * (1 + 2j)
    with pytest.raises(DataError, match=r"d.npz: `x` holds complex numbers \(complex128\); give real ones"):
        load_dataset(save(tmp_path, x=x, y=np.arange(20) % 3), (4, 4, 1), CLASSES3)


def test_string_labels_say_what_labels_must_be(tmp_path):
    y = np.array(list("abc") * 7)[:20]
    with pytest.raises(DataError, match=r"class labels must be numbers \(class indices "
                                        r"0..K-1\). Received: dtype <U1"):
        load_dataset(save(tmp_path, x=np.zeros((20, 4, 4, 1)), y=y), (4, 4, 1), CLASSES3)


def test_an_empty_test_split_is_named(tmp_path):
    path = save(tmp_path, x=np.zeros((20, 4, 4, 1)), y=np.arange(20) % 3,
                x_test=np.zeros((0, 4, 4, 1)), y_test=np.zeros(0, np.int64))
    with pytest.raises(DataError, match=r"d.npz \(test\): holds no samples"):
        load_dataset(path, (4, 4, 1), CLASSES3)


def test_channels_first_samples_are_told_to_transpose_not_to_change_the_input(tmp_path):
    path = save(tmp_path, x=np.zeros((20, 3, 8, 8)), y=np.arange(20) % 3)
    with pytest.raises(DataError, match=r"samples are \[3, 8, 8\], channels first; cnncompile "
                                        r"reads \[H, W, C\] = \[8, 8, 3\]: transpose"):
        load_dataset(path, (8, 8, 3), CLASSES3)
    with pytest.raises(DataError, match=r"looks channels first") as e:
        load_dataset(path, (32, 32, 3), CLASSES3)
    assert "--input" not in str(e.value)


def test_loose_images_without_class_folders_are_not_called_an_empty_folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8)).save(folder / f"{i}.png")
    with pytest.raises(DataError, match=r"pics: 3 images but no class folders; put each class's "
                                        r"images in a subfolder of its own"):
        load_dataset(folder, (8, 8, 3), CLASSES3, cache=tmp_path / "cache")

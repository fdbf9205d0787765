"""Loaders on generated data: IDX, image folders (flowers, Office31), .npz; splits and errors."""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.data import images
from cnncompile.data.datasets import holdout_split, load_dataset, textbook_split
from cnncompile.data.idx import read_idx
from cnncompile.errors import DataError
from cnncompile.frontend.spec import Head, OutputSpec


def classes(k, labels=None):
    return OutputSpec("classes", (Head("output", k, labels),))


FLOWERS = ("daisy", "dandelion", "rose", "sunflower", "tulip")


# -- splits ------------------------------------------------------------------------------------

def test_textbook_split_sizes_and_disjoint():
    train, val, test = textbook_split(4323)
    assert (len(train), len(val), len(test)) == (3450, 216, 657)
    assert len(np.unique(np.concatenate([train, val, test]))) == 4323
    again = textbook_split(4323)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=True))


def test_textbook_split_other_validation_keeps_the_test_set():
    _, val, test = textbook_split(1000)
    train2, val2, test2 = textbook_split(1000, validation=0.1)
    assert np.array_equal(test, test2)
    assert (len(val), len(val2), len(train2)) == (50, 100, 750)


def test_holdout_split_takes_the_end_of_one_shuffle():
    train, val = holdout_split(60000)
    assert (len(train), len(val)) == (57000, 3000)
    assert not set(train) & set(val)


def test_too_few_samples_for_the_textbook_split():
    with pytest.raises(DataError, match="12 samples are too few"):
        textbook_split(12)


# -- IDX ---------------------------------------------------------------------------------------

def test_idx_folder_keeps_its_test_split_and_scales_to_unit_range(idx_folder):
    folder = idx_folder(n_train=100, n_test=30)
    d = load_dataset(folder, (28, 28, 1), classes(10))
    assert d.kind == "idx" and (len(d.train), len(d.val), len(d.test)) == (95, 5, 30)
    x = d.test.inputs(slice(0, 30))
    assert x.dtype == np.float32 and x.shape == (30, 28, 28, 1) and x.max() == 1.0
    # the bright pixel at (label, label) survives loading, so labels and images stay paired
    assert all(x[i, d.test.y[i], d.test.y[i], 0] == 1.0 for i in range(30))
    assert d.names[0] == tuple(str(i) for i in range(10))


def test_fashion_mnist_name_finds_the_installed_folder(idx_folder, monkeypatch):
    monkeypatch.setenv("CNNCOMPILE_FASHION_MNIST", str(idx_folder()))
    d = load_dataset("fashion-mnist", (784,), classes(10), limit=7)
    assert d.source == "fashion-mnist" and d.names[0][9] == "ankle-boot"
    assert d.train.x.shape == (7, 784)


def test_fashion_mnist_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCOMPILE_FASHION_MNIST", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", (28, 28, 1), classes(10))


def test_truncated_idx_file_is_named(idx_folder, write_idx):
    folder = idx_folder()
    path = folder / "train-labels-idx1-ubyte.gz"
    write_idx(path, np.arange(10, dtype=np.uint8))
    raw = __import__("gzip").decompress(path.read_bytes())
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    (folder / "train-labels-idx1-ubyte").write_bytes(raw[:-3])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: IDX header promises \(10,\)"):
        read_idx(folder / "train-labels-idx1-ubyte")


def test_idx_shape_and_label_count_mismatches(idx_folder):
    folder = idx_folder()
    with pytest.raises(DataError, match=r"samples are \[28, 28\] but the spec's input is "
                                        r"\[32, 32, 1\] \(try --input 28,28,1\)"):
        load_dataset(folder, (32, 32, 1), classes(10))
    with pytest.raises(DataError, match="labels of head 'output' run 0..9 .10 classes. but "
                                        "the spec's output has 5"):
        load_dataset(folder, (28, 28, 1), classes(5))


# -- image folders -----------------------------------------------------------------------------

def test_flowers_layout_sorted_classes_resized_and_cached(flowers, monkeypatch):
    root = flowers(per_class=6)
    d = load_dataset(root, (12, 10, 3), classes(5))
    assert d.kind == "images" and not d.from_cache
    assert d.names == (FLOWERS,)
    assert d.train.x.dtype == np.uint8 and d.train.x.shape[1:] == (12, 10, 3)
    x = d.train.inputs(slice(0, 4))
    assert x.dtype == np.float32 and x.max() > 1.0  # left as 0-255 (spec-format section 8)
    assert len(d.train) + len(d.val) + len(d.test) == 30
    # class 0 is reddish, class 2 bluish: the decoded pixels carry their folder's colour
    reds = d.train.x[d.train.y == 0].mean(axis=(0, 1, 2))
    assert reds[0] > reds[2] + 40

    def no_decoding(*args):
        raise AssertionError("a JPEG was decoded although the cache holds the array")

    monkeypatch.setattr(images, "decode_image", no_decoding)
    again = load_dataset(root, (12, 10, 3), classes(5))
    assert again.from_cache and np.array_equal(again.train.x, d.train.x)


def test_grey_input_and_spec_labels(flowers):
    d = load_dataset(flowers(per_class=4), (8, 8, 1), classes(5, tuple("abcde")))
    assert d.train.x.shape[1:] == (8, 8, 1) and d.names == (tuple("abcde"),)


def test_office31_layout_gives_two_heads(office31):
    root = office31()
    out = OutputSpec("classes", (Head("domain", 3), Head("object", 3)))
    d = load_dataset(root, (8, 8, 3), out)
    assert d.names == (("amazon", "dslr", "webcam"), ("back_pack", "bike", "mug"))
    y = np.concatenate([d.train.y, d.val.y, d.test.y])
    assert y.shape == (36, 2)
    counts = {tuple(r) for r in y.tolist()}
    assert counts == {(a, b) for a in range(3) for b in range(3)}
    with pytest.raises(DataError, match="the office31 layout gives 2 head.s. but the spec's "
                                        "output has 1"):
        load_dataset(root, (8, 8, 3), classes(3))


def test_image_folder_errors(tmp_path, flowers):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty folder"):
        load_dataset(empty, (8, 8, 3), classes(5))
    root = flowers(per_class=3)
    with pytest.raises(DataError, match=r"5 classes \(daisy, dandelion, rose, sunflower, tulip\) "
                                        r"for head 'output', but the spec's output has 4"):
        load_dataset(root, (8, 8, 3), classes(4))
    with pytest.raises(DataError, match=r"need a spec input of \[H, W, 3\] or \[H, W, 1\]"):
        load_dataset(root, (8, 8, 2), classes(5))
    (root / "tulip" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=r"tulip/broken.jpg: corrupt or unreadable image"):
        load_dataset(root, (8, 8, 3), classes(5))
    (root / "tulip" / "broken.jpg").unlink()
    (root / "zinnia").mkdir()
    with pytest.raises(DataError, match="zinnia: empty class folder"):
        load_dataset(root, (8, 8, 3), classes(6))


# -- .npz --------------------------------------------------------------------------------------

def test_npz_with_and_without_a_test_split(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 6, 6)).astype(np.float32), np.arange(40) % 4
    np.savez(tmp_path / "a.npz", x=x, y=y)
    d = load_dataset(tmp_path / "a.npz", (6, 6, 1), classes(4))
    assert (len(d.train), len(d.val), len(d.test)) == (30, 2, 8)
    # values as stored: model input equals the file's x, sample for sample
    i = textbook_split(40)[0][0]
    assert np.array_equal(d.train.inputs(slice(0, 1))[0, ..., 0], x[i])
    np.savez(tmp_path / "b.npz", x=x, y=y, x_test=x[:5], y_test=y[:5])
    d = load_dataset(tmp_path / "b.npz", (36,), classes(4))
    assert (len(d.train), len(d.val), len(d.test)) == (38, 2, 5)
    assert d.test.x.shape == (5, 36)


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros((3, 2)))
    with pytest.raises(DataError, match="needs arrays `x` and `y`.*found: images"):
        load_dataset(tmp_path / "a.npz", (2,), classes(2))
    np.savez(tmp_path / "b.npz", x=np.zeros((20, 2)), y=np.full(20, 7))
    with pytest.raises(DataError, match="labels of head 'output' run 7..7"):
        load_dataset(tmp_path / "b.npz", (2,), classes(3))
    (tmp_path / "c.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="c.npz: not an .npz file"):
        load_dataset(tmp_path / "c.npz", (2,), classes(3))
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset(tmp_path / "missing", (2,), classes(3))

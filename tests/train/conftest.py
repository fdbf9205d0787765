"""Small data sets made on the spot: IDX folders, image folders (flowers, Office31), .npz."""

from __future__ import annotations

import gzip
import struct
import textwrap
from pathlib import Path

import numpy as np
import pytest

COLOURS = [(220, 40, 40), (40, 200, 40), (40, 40, 220), (230, 230, 40), (200, 40, 200)]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Decoded-image caches go to the test's own folder."""
    monkeypatch.setenv("CNNCOMPILE_CACHE", str(tmp_path / "cache"))


def write_idx(path: Path, array: np.ndarray) -> Path:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def idx_folder(tmp_path):
    """make(n_train, n_test, classes) -> a folder of four gzipped IDX files; labels = class."""

    def make(n_train=60, n_test=20, classes=10, size=28, name="idx"):
        folder = tmp_path / name
        folder.mkdir()
        rng = np.random.default_rng(0)
        for part, n in (("train", n_train), ("t10k", n_test)):
            y = np.arange(n) % classes
            x = rng.integers(0, 50, (n, size, size)).astype(np.uint8)
            x[np.arange(n), y, y] = 255  # a bright pixel that says the class
            write_idx(folder / f"{part}-images-idx3-ubyte.gz", x)
            write_idx(folder / f"{part}-labels-idx1-ubyte.gz", y)
        return folder

    return make


def _image(rng, colour, size, pattern: int):
    from PIL import Image

    img = rng.integers(0, 60, (size, size, 3)).astype(np.int32)
    img += np.array(colour) // 2
    if pattern % 2:
        img[::4] += 80  # stripes for odd classes
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


@pytest.fixture
def flowers(tmp_path):
    """make(classes, per_class, size) -> a flowers-layout folder; colour and stripes give the class."""

    def make(classes=("daisy", "dandelion", "rose", "sunflower", "tulip"), per_class=8,
             size=24, name="flowers"):
        root = tmp_path / name
        rng = np.random.default_rng(1)
        for ci, c in enumerate(classes):
            (root / c).mkdir(parents=True)
            for i in range(per_class):
                _image(rng, COLOURS[ci % 5], size + i % 3, ci).save(root / c / f"{c}_{i}.jpg")
        return root

    return make


@pytest.fixture
def office31(tmp_path):
    """make(domains, classes, per_class) -> root/domain/images/class/*.jpg."""

    def make(domains=("amazon", "dslr", "webcam"), classes=("back_pack", "bike", "mug"),
             per_class=4, size=16):
        root = tmp_path / "office31"
        rng = np.random.default_rng(2)
        for di, d in enumerate(domains):
            for ci, c in enumerate(classes):
                folder = root / d / "images" / c
                folder.mkdir(parents=True)
                for i in range(per_class):
                    _image(rng, COLOURS[ci % 5], size, di).save(folder / f"frame_{i}.jpg")
        return root

    return make


@pytest.fixture
def spec_file(tmp_path):
    """spec_file(text) -> path of a dedented spec in the test's folder."""

    def make(text: str, name: str = "model.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return make


TOY_SPEC = """\
    name: toy
    input: [8, 8, 1]
    output: {classes: 3}
    layers:
      - [conv, {ksize: 3, chn: 4, actions: LBA}]
      - [noise, {std: 0.1, ratio: 0.5}]
      - [max, {stride: 2}]
      - [full, {width: 16}]
      - [dropout, {keep_prob: 0.8}]
    train: {epochs: 2, batch_size: 16, augment: flip_shift}
    """


@pytest.fixture
def toy(tmp_path, spec_file):
    """(spec path, npz path): a 3-class 8x8 problem; a bright band of rows gives the class.

    The band survives flips and one-pixel shifts, so augmentation keeps the labels true.
    """
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 1, (n, 8, 8, 1)).astype(np.float32)
    for k in range(3):
        x[y == k, 3 * k:3 * k + 2] += 2.5
    data = tmp_path / "toy.npz"
    np.savez(data, x=x, y=y)
    return spec_file(TOY_SPEC, "toy.yaml"), data

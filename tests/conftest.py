"""Shared fixtures: build specs and graphs from text; ``ox``, the export test helpers; data-set
folders; real tmpfs mounts and the temporary files a writer may leave."""

from __future__ import annotations

import gzip
import importlib.util
import struct
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from cnncompile.frontend import parse_spec
from cnncompile.ir import lower

# hypothesis keeps its examples and constants out of the checkout (default: ./.hypothesis)
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "cnncompile-hypothesis")


def pytest_configure(config):
    """Hypothesis keeps its example database outside the checkout (its default is ./.hypothesis):
    the suite leaves no files in the repository."""
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "cnncompile-tests-hypothesis")


def _spec(text: str, name: str = "t.yaml", path=None):
    return parse_spec(textwrap.dedent(text), name, path)


def _graph(layers: str, input: str = "[8, 8, 3]", output: str = "{classes: 2}"):
    text = f"name: t\ninput: {input}\noutput: {output}\nlayers: {layers}\n"
    g = lower(parse_spec(text, "t.yaml"))
    g.lint()
    return g


def load_export_helpers():
    """Import ``tests/backends/onnx/helpers.py`` once, as ``_onnx_export_tests_helpers``."""
    key = "_onnx_export_tests_helpers"
    if key not in sys.modules:
        path = Path(__file__).parent / "backends" / "onnx" / "helpers.py"
        spec = importlib.util.spec_from_file_location(key, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.fixture(scope="session")
def ox():
    """tests/backends/onnx/helpers.py: one-off specs, random parameters, exports."""
    return load_export_helpers()


@pytest.fixture
def make_spec():
    """make_spec(yaml_text) -> Spec (the text is dedented)."""
    return _spec


@pytest.fixture
def make_graph():
    """make_graph('[[conv, {ksize: 3, chn: 4}]]', input='[8, 8, 3]') -> linted Graph."""
    return _graph


@pytest.fixture
def write(tmp_path):
    """write('a.yaml', text) -> path, with the text dedented."""

    def _write(name: str, text: str):
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
        return p

    return _write


# -- data sets made by the tests (image folders, IDX files) --------------------------------
COLOURS = [(220, 40, 40), (40, 200, 40), (40, 40, 220), (230, 230, 40), (200, 40, 200)]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Decoded-image caches go to the test's own folder."""
    monkeypatch.setenv("CNNCOMPILE_CACHE", str(tmp_path / "cache"))


def write_idx_file(path: Path, array: np.ndarray) -> Path:
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
            write_idx_file(folder / f"{part}-images-idx3-ubyte.gz", x)
            write_idx_file(folder / f"{part}-labels-idx1-ubyte.gz", y)
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
def write_idx():
    """write_idx(path, array) -> path: an IDX file (gzipped when the name ends in .gz)."""
    return write_idx_file


# -- file systems ----------------------------------------------------------------------------
@pytest.fixture
def tmpfs(tmp_path):
    """tmpfs(size, ro=False) -> a fresh tmpfs mount of ``size`` bytes, unmounted afterwards."""
    mounts = []

    def make(size: int, ro: bool = False, name: str = "mnt") -> Path:
        where = tmp_path / name
        where.mkdir()
        opts = f"size={size}" + (",ro" if ro else "")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "cnncompile-test", str(where)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
        mounts.append(where)
        return where

    yield make
    for where in mounts:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if ".tmp" in p.name or p.name.startswith(".probe")]


@pytest.fixture
def leftovers():
    """leftovers(folder) -> names of temporary or probe files a writer left behind."""
    return _leftovers

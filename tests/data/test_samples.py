"""`sample-data`: a learnable folder in the flowers layout, all or nothing, never over a folder."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncompile.cli import app
from cnncompile.data.images import load_folder
from cnncompile.data.samples import draw_shape, make_shape_folder
from cnncompile.errors import DataError

runner = CliRunner()


def test_the_folder_loads_as_an_image_folder_with_one_class_per_subfolder(tmp_path):
    out = tmp_path / "flowers"
    assert make_shape_folder(out, per_class=4, size=24) == 20
    x, scan, _ = load_folder(out, (24, 24, 3), cache=tmp_path / "cache")
    assert x.shape == (20, 24, 24, 3)
    assert scan.layout == "flowers"
    assert scan.names == (("daisy", "dandelion", "rose", "sunflower", "tulip"),)
    assert np.bincount(scan.y.ravel()).tolist() == [4] * 5


def test_same_seed_same_images_and_classes_differ_in_shape():
    a = draw_shape(0, 32, np.random.default_rng(3))
    assert np.array_equal(a, draw_shape(0, 32, np.random.default_rng(3)))
    # the shape's colour fills a different share of the image per class kind
    fills = [float((draw_shape(k, 64, np.random.default_rng(1)).min(axis=2) > 150).mean())
             for k in (0, 2)]
    assert fills[0] != fills[1]


def test_an_existing_folder_is_never_replaced(tmp_path):
    out = tmp_path / "flowers"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    r = runner.invoke(app, ["sample-data", str(out)])
    assert r.exit_code == 2 and "exists; sample data goes into a new folder" in r.output
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("args, message", [
    (["--classes", "a"], "give 2 to"),
    (["--classes", "a,../b"], "is not a plain folder name"),
    (["--classes", "a,a"], "class names must differ"),
    (["--per-class", "0"], "`--per-class` must be 1 to 10000"),
    (["--size", "4"], "`--size` must be 16 to 512"),
])
def test_bad_options_are_one_line_errors_and_write_nothing(tmp_path, args, message):
    r = runner.invoke(app, ["sample-data", str(tmp_path / "d"), *args])
    assert r.exit_code == 2 and message in r.output, r.output
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_folder_leaves_nothing(tmp_path, monkeypatch):
    def stop(done, total):
        if done == 7:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        make_shape_folder(tmp_path / "f", per_class=3, size=16, progress=stop)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError):
        make_shape_folder(tmp_path / "g", classes=("x",))

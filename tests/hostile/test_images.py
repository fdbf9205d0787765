"""Hostile and unusual image files through `cnncompile predict` and the data loader: bombs, a
16-bit image, FIFOs in folders and names that are not UTF-8. The decoder's own contract (every
Pillow mode, bit depths, EXIF, limits, special and damaged files) is tested in
tests/artifacts/test_images.py."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cnncompile.artifacts.images import decode_image
from cnncompile.cli import app
from cnncompile.data.datasets import load_dataset
from cnncompile.data.images import load_folder
from cnncompile.errors import DataError
from cnncompile.frontend.spec import Head, OutputSpec

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "exported" / "fmnist_small.onnx"
BOOT = ROOT / "exported" / "samples" / "0000_ankle-boot.png"


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_a_16_bit_png_of_the_ankle_boot_is_predicted_like_the_8_bit_one(tmp_path):
    wide = tmp_path / "boot16.png"
    Image.fromarray(np.asarray(Image.open(BOOT)).astype(np.uint16) * 257).save(wide)
    assert Image.open(wide).mode.startswith("I;16")
    runs = [run("predict", MODEL, f, "--format", "json", "--top", "1") for f in (BOOT, wide)]
    assert [r.exit_code for r in runs] == [0, 0], runs[1].output
    tops = [json.loads(r.stdout)["predictions"][0]["heads"]["output"]["top"][0] for r in runs]
    assert tops[0]["label"] == "ankle-boot" and tops[1] == tops[0]


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = bytearray(data[12:29])  # 'IHDR' + 13 bytes of fields
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


@pytest.mark.parametrize("side", [10_000, 30_000])  # Pillow's warning, then its error
def test_pixel_limit_is_a_clear_error(tmp_path, side):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_claiming(side, side))
    with pytest.raises(DataError, match=r"bomb.png: .*limit of 89,478,485 pixels"):
        decode_image(bomb, (28, 28, 1))
    r = run("predict", MODEL, bomb)
    assert r.exit_code == 2 and "internal error" not in r.output
    assert "limit of 89,478,485 pixels" in r.stderr and len(r.stderr.splitlines()) == 1


def test_a_fifo_in_a_folder_is_listed_not_opened(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.open(BOOT).save(folder / "boot.png")
    os.mkfifo(folder / "stuck.png")
    # a subprocess with a timeout: opening the FIFO would block forever
    out = subprocess.run([sys.executable, "-m", "cnncompile", "predict", str(MODEL),
                          str(folder)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2, out.stderr
    assert "ankle-boot" in out.stdout and "boot.png" in out.stdout
    assert "stuck.png: is a FIFO" in out.stderr and "internal error" not in out.stderr


def test_names_that_are_not_utf8_or_hold_control_characters_are_printed_escaped(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    latin = os.fsdecode(b"caf\xe9.png")
    Image.open(BOOT).save(folder / latin)
    Image.open(BOOT).save(folder / "evil\x1b[2J.png")
    r = run("predict", MODEL, folder, "--top", "1")
    assert r.exit_code == 0, r.output
    assert "caf\\xe9.png" in r.stdout and "evil\\x1b[2J.png" in r.stdout
    assert "\x1b" not in r.stdout


def test_class_folders_with_names_that_are_not_utf8_train_and_cache(tmp_path):
    root = tmp_path / "flowers"
    for i, name in enumerate([b"ros\xe9", b"tulip"]):
        d = root / os.fsdecode(name)
        d.mkdir(parents=True)
        for j in range(8):
            Image.fromarray(np.full((6, 6, 3), 30 * i + j, np.uint8)).save(d / f"{j}.png")
    out = OutputSpec("classes", (Head("output", 2),))
    data = load_dataset(root, (6, 6, 3), out, cache=tmp_path / "cache")
    assert data.names == ((os.fsdecode(b"ros\xe9"), "tulip"),)
    assert load_dataset(root, (6, 6, 3), out, cache=tmp_path / "cache").from_cache


def test_first_decoding_reports_progress_and_the_cache_none(tmp_path):
    root = tmp_path / "flowers"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for j in range(20):
            Image.fromarray(np.full((5, 5), j, np.uint8)).save(root / c / f"{j}.png")
    calls = []
    load_folder(root, (5, 5, 1), tmp_path / "cache", lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 40) and calls[-1] == (40, 40)
    assert all(a <= b for (a, _), (b, _) in zip(calls, calls[1:], strict=False))
    again = []
    x, _, cached = load_folder(root, (5, 5, 1), tmp_path / "cache", lambda d, t: again.append(d))
    assert cached and again == [] and x.shape == (40, 5, 5, 1)

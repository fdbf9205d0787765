"""The one image decoder: every Pillow mode, bit depths, EXIF, limits, special and damaged files.

Each image is made by the test with known intended pixels; every refusal is one located line.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnncompile.artifacts.images import decode_image
from cnncompile.errors import DataError

G = np.arange(256, dtype=np.uint8).reshape(16, 16)  # every 8-bit value once
OPAQUE = (G % 3 != 0)  # a pattern of opaque (True) and transparent pixels


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luminance as Pillow's L conversion computes it."""
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


RGB = np.stack([G, 255 - G, np.full_like(G, 50)], axis=-1)


def _palette_with_transparency(path: Path) -> None:
    img = Image.fromarray(G, mode="L").convert("P")
    img.putpalette([v for i in range(256) for v in (i, i, i)])
    img.putdata(G.ravel().tolist())
    img.save(path, transparency=200)


def _make(mode: str, path: Path) -> None:
    """Save a 16x16 image of ``mode`` whose intended 8-bit grey or RGB content is known."""
    if mode == "1":
        Image.fromarray(G >= 128).save(path)
    elif mode == "L":
        Image.fromarray(G).save(path)
    elif mode == "P":
        _palette_with_transparency(path)
    elif mode == "LA":
        Image.fromarray(np.stack([G, OPAQUE * np.uint8(255)], -1), mode="LA").save(path)
    elif mode == "RGB":
        Image.fromarray(RGB).save(path)
    elif mode == "RGBA":
        Image.fromarray(np.concatenate([RGB, (OPAQUE * np.uint8(255))[..., None]], -1)).save(path)
    elif mode == "CMYK":
        Image.fromarray(np.concatenate([255 - RGB, np.zeros_like(G)[..., None]], -1),
                        mode="CMYK").save(path)
    elif mode == "I;16":
        Image.fromarray(G.astype(np.uint16) * 257).save(path)
    elif mode == "I;16B":
        Image.frombytes("I;16B", (16, 16), (G.astype(">u2") * 257).tobytes()).save(path)
    elif mode == "I":
        Image.fromarray((G.astype(np.int64) * (2**31 - 1) // 255).astype(np.int32)).save(path)
    elif mode == "F":
        Image.fromarray(G.astype(np.float32) / 255).save(path)


def _expected(mode: str, channels: int) -> np.ndarray:
    if mode == "1":
        grey = (G >= 128) * np.uint8(255)
    elif mode == "P":
        grey = np.where(G == 200, 0, G).astype(np.uint8)  # index 200 is transparent: black
    elif mode == "LA":
        grey = np.where(OPAQUE, G, 0).astype(np.uint8)
    elif mode in ("RGB", "CMYK", "RGBA"):
        rgb = RGB * (OPAQUE[..., None] if mode == "RGBA" else 1)
        return rgb.astype(np.uint8) if channels == 3 else luma(rgb)[..., None]
    else:
        grey = G
    return np.repeat(grey[..., None], channels, axis=2)


SUFFIX = {"1": "png", "L": "png", "P": "png", "LA": "png", "RGB": "png", "RGBA": "png",
          "CMYK": "tif", "I;16": "png", "I;16B": "tif", "I": "tif", "F": "tif"}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("mode", list(SUFFIX))
def test_every_mode_decodes_to_its_pixels(tmp_path, mode, channels):
    path = tmp_path / f"img.{SUFFIX[mode]}"
    _make(mode, path)
    got = decode_image(path, (16, 16, channels))
    assert got.dtype == np.uint8 and got.shape == (16, 16, channels)
    np.testing.assert_array_equal(got, _expected(mode, channels))


def test_high_depth_values_outside_their_range_are_refused_not_clipped(tmp_path):
    f = tmp_path / "hot.tif"
    Image.fromarray(np.full((4, 4), 3.5, np.float32)).save(f)
    with pytest.raises(DataError, match=r"hot.tif: pixel values run 3.5..3.5, outside 0..1"):
        decode_image(f, (4, 4, 1))


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((4, 8), np.uint8)
    pixels[:, :2] = 255  # a bright left edge, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    path = tmp_path / "phone.png"
    Image.fromarray(pixels).save(path, exif=exif)
    got = decode_image(path, (8, 4, 1))[..., 0]
    np.testing.assert_array_equal(got, np.rot90(pixels, k=-1))  # the bright edge is on top
    assert got[0].min() == 255 and got[-1].max() == 0


def test_damaged_exif_is_ignored_without_warnings(tmp_path, recwarn):
    path = tmp_path / "odd.png"
    broken = b"II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\xff\x00\x00\x00P\x00\x00\x00"
    Image.fromarray(G).save(path, exif=broken)
    np.testing.assert_array_equal(decode_image(path, (16, 16, 1))[..., 0], G)
    assert [str(w.message) for w in recwarn] == []


def test_size_and_pixel_limits_can_be_lowered(tmp_path):
    f = tmp_path / "a.png"
    Image.fromarray(G).save(f)
    with pytest.raises(DataError, match=r"a.png: 16x16 = 256 pixels is over the limit of 100"):
        decode_image(f, (4, 4, 1), max_pixels=100)
    with pytest.raises(DataError, match=r"a.png: .* MiB is more than an image file may be"):
        decode_image(f, (4, 4, 1), max_bytes=10)


def _unblock_after(fifo: Path, seconds: float) -> threading.Timer:
    """A safety net: a reader blocked opening ``fifo`` gets end-of-file instead of hanging."""

    def open_writer():
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # no reader was waiting

    timer = threading.Timer(seconds, open_writer)
    timer.start()
    return timer


def test_special_and_empty_files_are_refused_by_kind(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    timer = _unblock_after(fifo, 20)
    with pytest.raises(DataError, match=r"pipe.png: is a FIFO \(named pipe\), not an image file"):
        decode_image(fifo, (4, 4, 1))
    timer.cancel()
    with pytest.raises(DataError, match=r"is a character device"):
        decode_image(Path("/dev/zero"), (4, 4, 1))
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(DataError, match=r"dir.png: is a folder, not an image file"):
        decode_image(tmp_path / "dir.png", (4, 4, 1))
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty.png: empty file"):
        decode_image(tmp_path / "empty.png", (4, 4, 1))


def test_truncated_and_corrupt_files_are_one_line_errors_naming_them(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8)).save(buf, "PNG")
    cut = tmp_path / "cut.png"
    cut.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(DataError, match=r"cut.png: corrupt or unreadable image") as e:
        decode_image(cut, (8, 8, 1))
    assert "\n" not in str(e.value)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    with pytest.raises(DataError, match=r"junk.jpg: corrupt or unreadable image"):
        decode_image(junk, (8, 8, 3))

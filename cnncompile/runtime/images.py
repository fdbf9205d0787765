"""Image files for ``cnncompile predict``: found, decoded and resized as the training data was.

Decoding is the trainer's own (:func:`cnncompile.artifacts.images.decode_image`), so a photo is
fed exactly as an image folder was during training. A folder is searched recursively; hidden
files and names without an image suffix are skipped. A file that cannot be decoded does not
stop the others: :func:`decode_files` returns the good pixels and the errors by file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..artifacts.images import IMAGE_SUFFIXES, decode_image, is_image_name
from ..artifacts.text import printable
from ..errors import DataError


def find_images(sources: list[str | Path]) -> list[Path]:
    """Image files named directly, plus every image below each folder (sorted).

    A source named directly is kept whatever it is (a FIFO, a file without a suffix): decoding
    says what is wrong with it.

    Raises:
        DataError: a source does not exist, or no image is found at all.
    """
    files: list[Path] = []
    for src in map(Path, sources):
        if src.is_dir():
            files += sorted(p for p in src.rglob("*") if not p.is_dir() and is_image_name(p))
        elif os.path.lexists(src):
            files.append(src)
        else:
            raise DataError(f"{printable(src)}: no such image file or folder")
    if not files:
        shown = ", ".join(map(printable, sources))
        raise DataError(f"{shown}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    return files


@dataclass
class Decoded:
    """Pixels [n, H, W, C] of the files that decoded, their indices, and the others' errors."""

    pixels: np.ndarray
    good: list[int]
    errors: dict[int, str] = field(default_factory=dict)


def decode_files(files: list[Path], shape: tuple[int, int, int]) -> Decoded:
    """Decode every file; one that fails is recorded with its one-line error, not raised."""
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise DataError(f"image input needs 1 or 3 channels; the model takes {list(shape)}")
    pixels, good, errors = [], [], {}
    for i, f in enumerate(files):
        try:
            pixels.append(decode_image(Path(f), tuple(shape)))
            good.append(i)
        except DataError as e:
            errors[i] = str(e)
    stacked = np.stack(pixels) if pixels else np.empty((0, *shape), np.uint8)
    return Decoded(stacked, good, errors)


def load_images(files: list[Path], shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 pixels [N, H, W, C] of ``files``, converted to C channels and squashed to H x W.

    Raises:
        DataError: naming the first file that cannot be decoded, or a channel count other
            than 1 or 3.
    """
    decoded = decode_files(files, shape)
    if decoded.errors:
        raise DataError(next(iter(decoded.errors.values())))
    return decoded.pixels

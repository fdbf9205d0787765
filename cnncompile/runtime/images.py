"""Image files for ``cnncompile predict``: found, decoded and resized as the training data was.

Decoding is the trainer's own (:func:`cnncompile.train.images.decode_image`: Pillow, RGB or
grey, squashed to H x W with bilinear filtering), so a photo is fed exactly as the flowers
folder was during training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError


def find_images(sources: list[str | Path]) -> list[Path]:
    """Image files named directly, plus every image below each folder (sorted).

    Raises:
        DataError: a source does not exist, or no image is found at all.
    """
    from ..train.images import IMAGE_SUFFIXES

    files: list[Path] = []
    for src in map(Path, sources):
        if src.is_dir():
            files += sorted(p for p in src.rglob("*") if p.is_file()
                            and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        elif src.is_file():
            files.append(src)
        else:
            raise DataError(f"{src}: no such image file or folder")
    if not files:
        shown = ", ".join(map(str, sources))
        raise DataError(f"{shown}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    return files


def load_images(files: list[Path], shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 pixels [N, H, W, C] of ``files``, converted to C channels and squashed to H x W.

    Raises:
        DataError: naming the first file that cannot be decoded, or a channel count other
            than 1 or 3.
    """
    from ..train.images import decode_image

    if shape[2] not in (1, 3):
        raise DataError(f"image input needs 1 or 3 channels; the model takes {list(shape)}")
    return np.stack([decode_image(Path(f), tuple(shape)) for f in files])

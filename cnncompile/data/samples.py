"""A small image folder made on the spot, so the first hour needs no download.

``make_shape_folder`` draws one kind of coloured shape per class (a disc, a ring, a square, a
cross, a triangle, ...) at a random place, size and shade on a noisy background, and saves them
as PNG files in the flowers layout (``DIR/CLASS/NNN.png``) that ``train --data DIR`` reads. The
classes are easy to tell apart, yet no two images are alike, so a small CNN learns them in a few
epochs on a CPU: enough to try every command end to end.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import DataError

FLOWER_CLASSES = ("daisy", "dandelion", "rose", "sunflower", "tulip")
MAX_PER_CLASS = 10_000
MIN_SIZE, MAX_SIZE = 16, 512
NAME_MAX = 255  # bytes in one folder name on every common file system

Mask = Callable[[np.ndarray, np.ndarray, float], np.ndarray]  # (dy, dx, radius) -> bool mask


def _disc(dy, dx, r):
    return dy**2 + dx**2 <= r**2


def _ring(dy, dx, r):
    d = dy**2 + dx**2
    return (d <= r**2) & (d >= (0.55 * r) ** 2)


def _square(dy, dx, r):
    return (np.abs(dy) <= 0.8 * r) & (np.abs(dx) <= 0.8 * r)


def _cross(dy, dx, r):
    bar = 0.3 * r
    return ((np.abs(dy) <= bar) & (np.abs(dx) <= r)) | ((np.abs(dx) <= bar) & (np.abs(dy) <= r))


def _triangle(dy, dx, r):
    return (dy <= 0.7 * r) & (dy >= -r + 1.7 * np.abs(dx))


SHAPES: tuple[Mask, ...] = (_disc, _ring, _square, _cross, _triangle)
# one base colour per class (RGB), cycled with the shapes for more than five classes
COLOURS = ((235, 235, 225), (240, 200, 30), (210, 30, 50), (250, 160, 20), (200, 60, 200),
           (40, 160, 220), (60, 190, 90))


def draw_shape(cls: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One RGB image (uint8 [size, size, 3]) of class ``cls``'s shape."""
    background = rng.integers(20, 110, 3)
    img = background + rng.normal(0, 12, (size, size, 3))
    r = rng.uniform(0.22, 0.38) * size
    cy, cx = rng.uniform(r, size - r, 2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    mask = SHAPES[cls % len(SHAPES)](yy - cy, xx - cx, r)
    colour = np.asarray(COLOURS[cls % len(COLOURS)]) * rng.uniform(0.8, 1.0)
    img[mask] = colour + rng.normal(0, 8, (int(mask.sum()), 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def check_sample_options(classes: tuple[str, ...], per_class: int, size: int,
                         seed: int = 0) -> None:
    """Raise DataError for class names that are not plain folder names or numbers out of range."""
    if not 2 <= len(classes) <= len(COLOURS) * len(SHAPES):
        raise DataError(f"give 2 to {len(COLOURS) * len(SHAPES)} classes. "
                        f"Received: {len(classes)}")
    for name in classes:
        if not name or name in (".", "..") or any(c in name for c in "/\\\0") \
                or not name.isprintable():
            raise DataError(f"class name {name!r} is not a plain folder name")
        if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise DataError(f"class name {name[:20]!r}... is longer than a folder name can be "
                            f"({NAME_MAX} bytes). Received: {len(name.encode())} bytes")
    if len(set(classes)) != len(classes):
        raise DataError(f"class names must differ. Received: {', '.join(classes)}")
    if not 1 <= per_class <= MAX_PER_CLASS:
        raise DataError(f"`--per-class` must be 1 to {MAX_PER_CLASS}. Received: {per_class}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise DataError(f"`--size` must be {MIN_SIZE} to {MAX_SIZE}. Received: {size}")
    if seed < 0:  # NumPy's generators take none
        raise DataError(f"`--seed` must be 0 or more. Received: {seed}")


def make_shape_folder(out: Path | str, classes: tuple[str, ...] = FLOWER_CLASSES,
                      per_class: int = 60, size: int = 64, seed: int = 0,
                      progress: Callable[[int, int], None] | None = None) -> int:
    """Write ``per_class`` PNG images per class into ``out/CLASS/NNN.png``; returns the count.

    The folder is written whole or not at all (a temporary folder renamed into place), and an
    existing ``out`` is never replaced: choose a new name.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "shapes"
    >>> make_shape_folder(d, ("a", "b"), per_class=3, size=16)
    6
    >>> sorted(p.name for p in (d / "b").iterdir())
    ['000.png', '001.png', '002.png']
    """
    from PIL import Image

    from ..artifacts.files import atomic_dir
    from ..artifacts.text import printable

    check_sample_options(tuple(classes), per_class, size, seed)
    out = Path(out)
    rng = np.random.default_rng(seed)
    total = len(classes) * per_class
    try:
        if out.exists() or out.is_symlink():
            raise DataError(f"{printable(out)}: exists; sample data goes into a new folder")
        with atomic_dir(out) as tmp:
            for k, name in enumerate(classes):
                (tmp / name).mkdir()
                for i in range(per_class):
                    if progress is not None:
                        progress(k * per_class + i, total)
                    Image.fromarray(draw_shape(k, size, rng)).save(tmp / name / f"{i:03d}.png")
            if progress is not None:
                progress(total, total)
    except OSError as e:  # a name too long, a full or read-only disk: nothing is left behind
        raise DataError(f"{printable(out)}: cannot write the sample folder "
                        f"({e.strerror or type(e).__name__})") from None
    return total

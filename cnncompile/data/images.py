"""Image folders in the textbook's two layouts, decoded once and cached as an array file.

- flowers: ``<root>/<class>/*.jpg``, classes in sorted order, one head.
- Office31: ``<root>/<domain>/images/<class>/*.jpg``, domains and classes sorted, two heads
  (domain, then object).

Every image is decoded by :func:`cnncompile.artifacts.images.decode_image` (the runtime's
decoder too): converted to RGB (C = 3) or grey (C = 1) and resized, squashed without cropping,
to the spec's H x W with bilinear filtering; pixels stay uint8 here and become float32 0-255
per batch (spec-format section 8). The decoded array is written to a cache file
(:func:`cache_dir`: ``$CNNCOMPILE_CACHE``, else ``$XDG_CACHE_HOME/cnncompile``, else
``~/.cache/cnncompile``; one ``images-<key>.npy`` per folder and shape) keyed by the decoder's
version, the folder's absolute path, the target shape and every file's relative name, size and
modification time, so a second run (and every epoch) reads no JPEG. Deleting the folder only
costs the decoding.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifacts.images import IMAGE_SUFFIXES, decode_image, is_image_name
from ..artifacts.text import printable
from ..errors import DataError

CACHE_VERSION = 2  # 2: the shared decoder (bit depth, EXIF orientation, alpha over black)
Progress = Callable[[int, int], None]  # (images decoded, total); done == total ends it


@dataclass
class FolderSet:
    """A scanned image folder: files, integer labels [N] or [N, 2], and the names per head."""

    layout: str  # 'flowers' | 'office31'
    files: list[Path]
    y: np.ndarray
    names: tuple[tuple[str, ...], ...]  # one tuple of class names per head


def cache_dir() -> Path:
    """``$CNNCOMPILE_CACHE``, else ``$XDG_CACHE_HOME/cnncompile``, else ``~/.cache/cnncompile``."""
    if os.environ.get("CNNCOMPILE_CACHE"):
        return Path(os.environ["CNNCOMPILE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnncompile"


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    """Image names that are not folders (a FIFO named x.jpg is listed, and refused by name)."""
    return sorted(p for p in folder.iterdir() if not p.is_dir() and is_image_name(p))


def _class_files(folder: Path) -> dict[str, list[Path]]:
    classes = _subdirs(folder)
    if not classes:
        shown = printable(folder)
        raise DataError(f"{shown}: no class folders (expected {shown}/<class>/*.jpg)")
    out = {}
    for c in classes:
        files = _images(c)
        if not files:
            raise DataError(f"{printable(c)}: empty class folder (no {', '.join(IMAGE_SUFFIXES[:3])} ... images)")
        out[c.name] = files
    return out


def scan_folder(root: Path) -> FolderSet:
    """Find the layout of ``root`` and list its images with their labels.

    Office31 is recognised when every top-level folder has an ``images`` subfolder.
    """
    top = _subdirs(root)
    if not top:
        shown = printable(root)
        loose = _images(root)
        if loose:  # images straight in the folder: the classes are missing, not the images
            raise DataError(f"{shown}: {len(loose)} images but no class folders; put each "
                            f"class's images in a subfolder of its own ({shown}/<class>/*.jpg)")
        raise DataError(f"{shown}: empty folder: no class folders with images in it")
    if all((d / "images").is_dir() for d in top):
        per_domain = {d.name: _class_files(d / "images") for d in top}
        classes = sorted({c for files in per_domain.values() for c in files})
        files, labels = [], []
        for di, by_class in enumerate(per_domain.values()):
            for c, fs in by_class.items():
                files += fs
                labels += [(di, classes.index(c))] * len(fs)
        return FolderSet("office31", files, np.array(labels, np.int64).reshape(-1, 2),
                         (tuple(per_domain), tuple(classes)))
    by_class = _class_files(root)
    files, labels = [], []
    for ci, fs in enumerate(by_class.values()):
        files += fs
        labels += [ci] * len(fs)
    return FolderSet("flowers", files, np.array(labels, np.int64), (tuple(by_class),))


def _cache_key(root: Path, files: list[Path], shape: tuple[int, int, int]) -> str:
    # names as bytes: a file name that is not UTF-8 is still a name
    h = hashlib.sha256(f"v{CACHE_VERSION}|{shape}|".encode() + os.fsencode(root.resolve()))
    for f in files:
        try:
            st = f.stat()
        except OSError as e:
            raise DataError(f"{printable(f)}: cannot read the image ({e.strerror})") from None
        h.update(os.fsencode(f.relative_to(root)) + f"|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def load_folder(root: Path, shape: tuple[int, ...], cache: Path | None = None,
                progress: Progress | None = None) -> tuple[np.ndarray, FolderSet, bool]:
    """Decode every image of ``root`` to uint8 [N, H, W, C]; returns (x, scan, from_cache).

    ``progress(done, total)`` is called while decoding (not when the cache holds the array),
    and once with ``done == total`` at the end, whether decoding finished or failed.

    Raises:
        DataError: for an empty folder or class folder, a corrupt image (named), or an input
            shape that is not [H, W, 1] or [H, W, 3].
    """
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise DataError(f"image folders need a spec input of [H, W, 3] or [H, W, 1]; this spec "
                        f"takes {list(shape)}")
    scan = scan_folder(root)
    cache = cache or cache_dir()
    path = cache / f"images-{_cache_key(root, scan.files, tuple(shape))}.npy"
    if path.is_file():
        try:
            x = np.load(path, allow_pickle=False)
            if x.shape == (len(scan.files), *shape):
                return x, scan, True
        except (OSError, ValueError):
            pass  # a damaged cache file is rebuilt below
    x = np.empty((len(scan.files), *shape), np.uint8)
    total = len(scan.files)
    try:
        for i, f in enumerate(scan.files):
            if progress is not None and i % 16 == 0:
                progress(i, total)
            x[i] = decode_image(f, shape)
    finally:
        if progress is not None:
            progress(total, total)
    _write_cache(path, x)
    return x, scan, False


def _write_cache(path: Path, x: np.ndarray) -> None:
    """Atomic write; a read-only cache folder only costs the decoding next time."""
    from ..artifacts.files import atomic_write

    try:
        with atomic_write(path, "wb") as f:
            np.save(f, x)
    except DataError:
        pass

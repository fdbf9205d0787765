"""IDX files (MNIST, Fashion-MNIST): the four-file layout, plain or gzipped.

The format is a big-endian header (two zero bytes, a type code, the number of dimensions, one
uint32 size per dimension) followed by the raw array; only unsigned bytes (type 0x08) occur in
these data sets.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from ..artifacts.files import require_regular_file
from ..errors import DataError

# Where the Debian package `dataset-fashion-mnist` installs the files; CNNCOMPILE_FASHION_MNIST
# points elsewhere (a copy on a machine without the package).
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_LABELS = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                        "sneaker", "bag", "ankle-boot")
# Far above any IDX data set (Fashion-MNIST's training images: 47 MB), far below a machine's RAM.
MAX_IDX_BYTES = 4 << 30
DEFLATE_MAX_RATIO = 1100
IDX_PARTS = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def fashion_mnist_dir() -> Path:
    """The installed Fashion-MNIST folder, or a DataError that says how to install it."""
    folder = Path(os.environ.get("CNNCOMPILE_FASHION_MNIST", FASHION_MNIST_DIR))
    if not is_idx_folder(folder):
        raise DataError(
            f"Fashion-MNIST is not installed: no IDX files in {folder}. Install them with "
            "`apt-get install dataset-fashion-mnist`, or pass --data FOLDER holding "
            "train-images-idx3-ubyte.gz and the three other IDX files")
    return folder


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def is_idx_folder(folder: Path) -> bool:
    """True when ``folder`` holds at least the training images and labels as IDX files."""
    return folder.is_dir() and all(
        _find(folder, IDX_PARTS[k]) is not None for k in ("train_x", "train_y"))


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x-idx1-ubyte"
    >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    >>> read_idx(p).tolist()
    [7, 8, 9]
    """
    stored = require_regular_file(path, "IDX file").st_size
    # deflate inflates at most ~1032:1, so a header promising more than that is a lie
    most = stored * DEFLATE_MAX_RATIO if path.suffix == ".gz" else stored
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                raise DataError(f"{path}: not an IDX file (bad magic number)")
            if head[2] != 0x08:
                raise DataError(f"{path}: IDX type 0x{head[2]:02x} is not unsigned bytes (0x08)")
            ndim = head[3]
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) != 4 * ndim:
                raise DataError(f"{path}: truncated IDX header")
            dims = tuple(int.from_bytes(raw_dims[4 * i: 4 * i + 4], "big") for i in range(ndim))
            size = math.prod(dims)
            if size > MAX_IDX_BYTES:
                raise DataError(f"{path}: the IDX header claims {list(dims)} ({size:,} bytes), "
                                f"over the limit of {MAX_IDX_BYTES:,}")
            if size > most:
                raise DataError(f"{path}: the IDX header claims {list(dims)} ({size:,} bytes) "
                                f"but a {stored:,}-byte file cannot hold them (truncated or "
                                "corrupt)")
            body = f.read(size + 1)  # inflation bounded by the header's own promise
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read the IDX file ({e})") from None
    if len(body) != size:
        got = "more" if len(body) > size else f"{len(body)}"
        raise DataError(f"{path}: IDX header promises {dims} ({size} bytes of data) but the file "
                        f"holds {got} (truncated or corrupt)")
    return np.frombuffer(body, np.uint8).reshape(dims)


def load_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    """The train (and, when present, t10k) images and labels of an IDX folder.

    Returns a dict with ``train_x`` [N, H, W] uint8, ``train_y`` [N], and ``test_x``/``test_y``
    when the t10k files exist.
    """
    out = {}
    for key, stem in IDX_PARTS.items():
        path = _find(folder, stem)
        if path is None:
            if key.startswith("train"):
                raise DataError(f"{folder}: no {stem}(.gz) file")
            continue
        out[key] = read_idx(path)
    if ("test_x" in out) != ("test_y" in out):
        raise DataError(f"{folder}: the t10k images and labels must come together")
    for part in ("train", "test"):
        if part + "_x" not in out:
            continue
        x, y = out[part + "_x"], out[part + "_y"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"{folder}: {part} images {x.shape} and labels {y.shape} do not pair "
                            "up as [N, H, W] and [N]")
    return out

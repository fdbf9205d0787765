"""Data sets for `cnncompile train` and `evaluate`: what ``--data`` names, loaded and split.

``--data`` is one of:

- ``fashion-mnist``: the IDX files of the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``; ``$CNNCOMPILE_FASHION_MNIST`` overrides);
- a folder of IDX files (``train-images-idx3-ubyte[.gz]`` and labels, ``t10k-*`` for the test set);
- an image folder in the flowers layout (``root/class/*.jpg``) or the Office31 layout
  (``root/domain/images/class/*.jpg``, two heads), see :mod:`cnncompile.data.images`;
- an ``.npz`` file with ``x`` and ``y`` (and optionally ``x_test`` and ``y_test``).

Splits. A set with a test split of its own (Fashion-MNIST's t10k, an .npz with ``x_test``)
keeps it; its training set is shuffled once with the fixed seed :data:`SPLIT_SEED` and the
*last* ``floor(validation * N)`` samples (validation 0.05 unless the spec's ``train.validation``
says otherwise; Fashion-MNIST: 57,000 / 3,000) become the validation set. A set without one gets
the textbook's split (spec-format section 8): one shuffle with :data:`SPLIT_SEED`, train =
``floor(0.8 N / 10) * 10``, validation = ``floor(0.05 N)``, test = the rest (flowers: 4323 images
give 3450/216/657); another validation fraction moves samples between train and validation only,
so the test set never changes. ``--limit N`` keeps the first N samples of the (shuffled)
training set.

What the model sees is the loader's preprocessing record
(:func:`cnncompile.artifacts.preprocess.for_loader`): stored pixels times ``scale``, as float32
NHWC. ``Dataset.preprocessing`` is that record, the producer of the one record that training
writes into every checkpoint and an export carries into the model's metadata.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..artifacts.files import require_regular_file
from ..artifacts.preprocess import LOADER_SCALE, Preprocessing, for_loader
from ..artifacts.text import printable
from ..artifacts.weights import read_npz
from ..errors import DataError
from ..wording import plural
from .idx import FASHION_MNIST_LABELS, fashion_mnist_dir, is_idx_folder, load_idx_folder
from .images import load_folder

SPLIT_SEED = 20240607
DEFAULT_VALIDATION = 0.05

# The exact values the loaders hand the model (recorded in every checkpoint and read by the ONNX
# exporter): the one preprocessing record, per loader.
PREPROCESSING = LOADER_SCALE  # loader kind -> scale; the full record is for_loader(kind, shape)


@dataclass
class Split:
    """One part of a data set: stored inputs (uint8 or float32) and labels."""

    x: np.ndarray
    y: np.ndarray
    scale: float = 1.0

    def __len__(self) -> int:
        return len(self.x)

    def inputs(self, index=slice(None)) -> np.ndarray:
        """float32 model inputs for ``index`` (a slice or an index array)."""
        x = self.x[index].astype(np.float32)
        if self.scale != 1.0:
            x *= np.float32(self.scale)
        return x

    def take(self, index) -> Split:
        return Split(self.x[index], self.y[index], self.scale)


@dataclass
class Dataset:
    """Train, validation and test splits plus the class names of every head."""

    source: str
    kind: str  # 'idx' | 'images' | 'npz'
    train: Split
    val: Split
    test: Split
    names: tuple[tuple[str, ...], ...]  # per head
    preprocessing: Preprocessing | None = None  # the loader's record (for_loader)
    from_cache: bool = False
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def fingerprint(self) -> str:
        """A hash of what decides the training steps: the splits' shapes and dtypes, the scale,
        and a strided sample of the training inputs and labels (at most ~4096 rows each)."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            for split in (self.train, self.val, self.test):
                h.update(repr((split.x.shape, str(split.x.dtype), split.y.shape,
                               str(split.y.dtype), float(split.scale))).encode())
            stride = max(1, len(self.train) // 4096)
            for a in (self.train.x, self.train.y):
                h.update(np.ascontiguousarray(a[::stride]).tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def describe(self) -> str:
        shape = "x".join(map(str, self.train.x.shape[1:]))
        counts = [len(n) for n in self.names]
        classes = (plural(counts[0], "class", "classes") if len(counts) == 1
                   else "+".join(map(str, counts)) + " classes")
        return (f"{self.source}: {len(self.train):,} train / {len(self.val):,} validation / "
                f"{len(self.test):,} test, {shape}, {classes}"
                + (" (decoded images from the cache)" if self.from_cache else ""))


def load_dataset(source: str | Path, input_shape: tuple[int, ...], output, *,
                 validation: float | None = None, limit: int | None = None,
                 cache: Path | None = None, progress=None, model: str | None = None) -> Dataset:
    """Load, check and split the data set ``source`` for a model of ``input_shape``/``output``.

    ``output`` is the spec's :class:`~cnncompile.frontend.OutputSpec`. ``progress(done,
    total)`` follows the first decoding of an image folder. ``model`` names a model whose input
    is fixed (an exported one): a shape mismatch then names it instead of suggesting --input.

    Raises:
        DataError: naming the file or folder, for a missing or empty source, a corrupt file or
            image, labels that do not fit the spec's output, or inputs of another shape.
    """
    text = str(source)
    if text.lower() in ("fashion-mnist", "fashion_mnist", "fmnist"):
        folder, kind, label = fashion_mnist_dir(), "idx", "fashion-mnist"
    else:
        folder = Path(source)
        label = text
        if not _exists(folder):
            raise DataError(f"--data {text}: no such file or folder (give fashion-mnist, a folder "
                            "of IDX files, an image folder or an .npz file)")
        if not folder.is_dir():
            require_regular_file(folder, "data file")  # a FIFO or device: refused, not read
            if folder.suffix.lower() != ".npz":
                raise DataError(f"--data {text}: a data file must be .npz (x, y[, x_test, y_test])")
            kind = "npz"
        else:
            kind = "idx" if is_idx_folder(folder) else "images"
    validation = DEFAULT_VALIDATION if validation is None else validation
    if kind == "images":
        data = _from_images(folder, label, input_shape, output, validation, cache, progress)
    else:
        data = _from_arrays(folder, kind, label, input_shape, output, validation, model)
    if limit is not None and limit < len(data.train):
        data.train = data.train.take(slice(0, limit))
    return data


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; a path the system refuses to look up (a name over 255 bytes,
    a folder it may not enter) is a DataError naming it."""
    try:
        return path.exists()
    except OSError as e:
        raise DataError(f"--data {printable(path)}: cannot look this path up "
                        f"({e.strerror or type(e).__name__})") from None


def _from_images(root: Path, label: str, shape, output, validation, cache, progress) -> Dataset:
    x, scan, cached = load_folder(root, tuple(shape), cache, progress)
    if len(output.heads) != len(scan.names):
        raise DataError(f"{label}: the {scan.layout} layout gives {len(scan.names)} head(s) but "
                        f"the spec's output has {len(output.heads)}")
    for head, names in zip(output.heads, scan.names, strict=True):
        if len(names) != head.size:
            shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
            raise DataError(f"{label}: {len(names)} classes ({shown}) for head {head.name!r}, "
                            f"but the spec's output has {head.size}")
    y = scan.y
    train, val, test = textbook_split(len(x), validation)
    pre = for_loader("images", shape)
    s = pre.scale
    return Dataset(label, "images", Split(x[train], y[train], s), Split(x[val], y[val], s),
                   Split(x[test], y[test], s), _names(output, scan.names), pre, cached)


def _from_arrays(path: Path, kind: str, label: str, shape, output, validation,
                 model: str | None = None) -> Dataset:
    if kind == "idx":
        arrays = load_idx_folder(path)
        parts = {k: arrays.get(k) for k in ("train_x", "train_y", "test_x", "test_y")}
        known = FASHION_MNIST_LABELS if label == "fashion-mnist" else None
    else:
        parts = _read_npz(path)
        known = None
    x = _fit_inputs(parts["train_x"], shape, label, model)
    y = _fit_labels(parts["train_y"], output, label, exact=kind == "idx")
    pre = for_loader(kind, shape)
    scale = pre.scale
    if parts["test_x"] is None:
        train, val, test = textbook_split(len(x), validation)
        splits = [Split(x[i], y[i], scale) for i in (train, val, test)]
    else:
        xt = _fit_inputs(parts["test_x"], shape, label + " (test)", model)
        yt = _fit_labels(parts["test_y"], output, label + " (test)", exact=False)
        train, val = holdout_split(len(x), validation)
        splits = [Split(x[train], y[train], scale), Split(x[val], y[val], scale),
                  Split(xt, yt, scale)]
    return Dataset(label, kind, *splits, _names(output, _numbered(output, known)), pre)


def textbook_split(n: int, validation: float = DEFAULT_VALIDATION):
    """Index arrays (train, validation, test) of the textbook's split, shuffled with SPLIT_SEED.

    >>> [len(p) for p in textbook_split(4323)]
    [3450, 216, 657]
    """
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_test = n - math.floor(0.8 * n / 10) * 10 - math.floor(DEFAULT_VALIDATION * n)
    cut = n - n_test  # train and validation share perm[:cut]
    n_val = math.floor(validation * n)
    if cut - n_val < 1 or n_test < 1:
        raise DataError(f"{n} samples are too few for the textbook split (train "
                        f"floor(0.8N/10)*10, validation {n_val}, test {n_test}); give at least 13")
    return perm[: cut - n_val], perm[cut - n_val: cut], perm[cut:]


def holdout_split(n: int, validation: float = DEFAULT_VALIDATION):
    """(train, validation) index arrays: the last floor(validation * n) of one shuffle.

    >>> [len(p) for p in holdout_split(60000)]
    [57000, 3000]
    """
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_val = math.floor(validation * n)
    if n - n_val < 1:
        raise DataError(f"{n} training samples leave none to train on after validation")
    return perm[: n - n_val], perm[n - n_val:]


def _numbered(output, known: tuple[str, ...] | None) -> tuple[tuple[str, ...], ...]:
    """Class names for array data: the known set's (one head), else the class numbers."""
    if known is not None and len(output.heads) == 1:
        return (known,)
    return tuple(tuple(str(i) for i in range(2 if output.kind == "binary" else h.size))
                 for h in output.heads)


def _names(output, found) -> tuple[tuple[str, ...], ...]:
    """Spec labels when given, else the data set's own class names."""
    return tuple(h.labels or tuple(f) for h, f in zip(output.heads, found, strict=True))


def _read_npz(path: Path) -> dict:
    arrays = read_npz(path, "data file", "numpy.savez of x, y[, x_test, y_test]")
    if "x" not in arrays or "y" not in arrays:
        raise DataError(f"{path}: needs arrays `x` and `y` (and optionally `x_test`, `y_test`); "
                        f"found: {', '.join(arrays) or 'none'}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{path}: `x_test` and `y_test` must come together")
    for a, b in (("x", "y"), ("x_test", "y_test")):
        if a in arrays and len(arrays[a]) != len(arrays[b]):
            raise DataError(f"{path}: `{a}` has {len(arrays[a])} samples but `{b}` has "
                            f"{len(arrays[b])}")
    if len(arrays["x"]) == 0:
        raise DataError(f"{path}: `x` is empty")
    for key, a in arrays.items():
        if a.ndim == 0:
            raise DataError(f"{path}: `{key}` is a single value, not an array of samples")
        if np.issubdtype(a.dtype, np.complexfloating):  # never trained on its real part alone
            raise DataError(f"{path}: `{key}` holds complex numbers ({a.dtype}); give real ones")
        if np.issubdtype(a.dtype, np.floating):
            with np.errstate(over="ignore"):
                bad = ~np.isfinite(a.astype(np.float32, copy=False))
            if bad.any():
                first = int(np.argwhere(bad.reshape(len(a), -1).any(axis=1))[0, 0])
                raise DataError(f"{path}: `{key}` holds NaN or infinite values as float32 "
                                f"({int(bad.sum())} of them; the first in sample {first})")
    return {"train_x": arrays["x"], "train_y": arrays["y"],
            "test_x": arrays.get("x_test"), "test_y": arrays.get("y_test")}


def _fit_inputs(x: np.ndarray, shape: tuple[int, ...], label: str,
                model: str | None = None) -> np.ndarray:
    """``x`` reshaped to [N, *shape]: [N, H, W] gains C = 1, and a vector input flattens."""
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{label}: inputs must be numbers. Received: dtype {x.dtype}")
    if len(x) == 0:
        raise DataError(f"{label}: holds no samples")
    sample = x.shape[1:]
    if 0 in sample:  # no input shape fits it: never suggest one
        raise DataError(f"{label}: samples are {list(sample)}, which holds no values")
    if sample == tuple(shape):
        fitted = x
    elif len(shape) == 3 and shape[2] == 1 and sample == tuple(shape[:2]):
        fitted = x[..., None]
    elif len(shape) == 1 and math.prod(sample) == shape[0]:
        fitted = x.reshape(len(x), -1)
    elif model is not None:  # an exported model's input is fixed: --input cannot help
        raise DataError(f"{label}: samples are {list(sample)} but {model} takes "
                        f"{list(shape)}; an exported model's input is fixed: give it data of that "
                        "shape")
    elif len(shape) == 3 and sample == (shape[2], *shape[:2]):
        raise DataError(f"{label}: samples are {list(sample)}, channels first; cnncompile reads "
                        f"[H, W, C] = {list(shape)}: transpose the arrays "
                        "(x.transpose(0, 2, 3, 1)) before saving them")
    else:
        hint = ",".join(map(str, sample + ((1,) if len(sample) == 2 else ())))
        if len(sample) == 3 and sample[0] in (1, 3) and sample[2] not in (1, 3):
            raise DataError(f"{label}: samples are {list(sample)}, which looks channels first; "
                            "cnncompile reads [H, W, C]: transpose the arrays "
                            "(x.transpose(0, 2, 3, 1)) before saving them")
        raise DataError(f"{label}: samples are {list(sample)} but the spec's input is "
                        f"{list(shape)} (try --input {hint})")
    return fitted if fitted.dtype == np.uint8 else fitted.astype(np.float32)


def _fit_labels(y: np.ndarray, output, label: str, exact: bool) -> np.ndarray:
    """Check labels against the spec's heads; ``exact``: the data must have every class."""
    heads = output.heads
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        what = "regression targets" if output.kind == "regression" else "class labels"
        raise DataError(f"{label}: {what} must be numbers"
                        + ("" if output.kind == "regression" else " (class indices 0..K-1)")
                        + f". Received: dtype {y.dtype}")
    if len(y) == 0:
        raise DataError(f"{label}: holds no labels")
    if output.kind == "regression":
        y = y.reshape(len(y), -1).astype(np.float32)
        if y.shape[1] != heads[0].size:
            raise DataError(f"{label}: {y.shape[1]} regression targets per sample but the spec's "
                            f"output has {heads[0].size}")
        return y
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.mod(y, 1) == 0):
            raise DataError(f"{label}: class labels must be integers. Received: dtype {y.dtype}")
    y = y.astype(np.int64)
    cols = y.reshape(len(y), -1)
    if cols.shape[1] != len(heads):
        raise DataError(f"{label}: labels have {cols.shape[1]} column(s) but the spec's output "
                        f"has {len(heads)} head(s)")
    for j, head in enumerate(heads):
        size = 2 if output.kind == "binary" else head.size
        lo, hi = int(cols[:, j].min()), int(cols[:, j].max())
        if lo < 0 or hi >= size or (exact and hi + 1 != size):
            raise DataError(f"{label}: labels of head {head.name!r} run {lo}..{hi} ({hi + 1} "
                            f"classes) but the spec's output has {size}")
    return y if len(heads) > 1 else cols[:, 0]

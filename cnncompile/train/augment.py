"""Light, vectorised data augmentation for image batches (the spec's ``train.augment``).

- ``flip``: each image is mirrored left-right with probability 1/2.
- ``flip_shift``: ``flip``, then each image moves by up to ``max(1, min(H, W) // 14)`` pixels
  (2 for 28x28) in each direction, the uncovered border filled with zeros.
- ``flip_cutout``: ``flip``, then a square of side ``max(1, min(H, W) // 4)`` (7 for 28x28)
  centred on a uniformly drawn pixel of each image is set to zero, clipped at the border
  (DeVries and Taylor's cutout: the model cannot lean on any one region).
- ``flip_shift_cutout``: ``flip``, the shift, then the cutout.

Every random number comes from the training generator, so a resumed run draws the same ones.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def check_augment(kind: str, input_shape: tuple[int, ...]) -> None:
    """Refuse augmentation that cannot apply to this input (``kind`` is one the option table
    accepted)."""
    if kind != "none" and len(input_shape) != 3:
        raise DataError(f"augment {kind!r} needs an image input [H, W, C]; this model takes "
                        f"{list(input_shape)}")


def augment(x: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """A randomly flipped (and shifted and/or cut out) copy of the NHWC batch ``x``.

    >>> x = np.arange(8, dtype=np.float32).reshape(2, 1, 4, 1)   # two 1x4 images
    >>> augment(x, "flip", np.random.default_rng(0))[:, 0, :, 0].tolist()   # draws 0.64, 0.27
    [[0.0, 1.0, 2.0, 3.0], [7.0, 6.0, 5.0, 4.0]]
    """
    if kind == "none":
        return x
    flip = rng.random(x.shape[0]) < 0.5
    out = np.where(flip[:, None, None, None], x[:, :, ::-1], x)
    if "shift" in kind:
        out = _shift(out, rng)
    if "cutout" in kind:
        out = _cutout(out, rng)
    return out


def _shift(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image moved by up to max(1, min(H, W) // 14) pixels each way, zeros uncovered."""
    n, h, w, _ = x.shape
    s = max(1, min(h, w) // 14)
    dy = rng.integers(-s, s + 1, n)
    dx = rng.integers(-s, s + 1, n)
    padded = np.pad(x, ((0, 0), (s, s), (s, s), (0, 0)))
    rows = (s - dy)[:, None] + np.arange(h)  # output row i reads padded row i + s - dy
    cols = (s - dx)[:, None] + np.arange(w)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _cutout(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A square of side max(1, min(H, W) // 4) around a uniformly drawn pixel of each image
    set to zero, clipped at the border."""
    n, h, w, _ = x.shape
    side = max(1, min(h, w) // 4)
    top = rng.integers(0, h, n) - side // 2  # the square's first row and column
    left = rng.integers(0, w, n) - side // 2
    rows = np.arange(h) - top[:, None]  # >= 0 and < side inside the square
    cols = np.arange(w) - left[:, None]
    inside = ((rows >= 0) & (rows < side))[:, :, None] & ((cols >= 0) & (cols < side))[:, None]
    return np.where(inside[..., None], np.zeros((), x.dtype), x)

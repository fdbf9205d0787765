"""What a linear windowed op makes of a constant map: the maths the push-affine pass needs.

A shift pushed into a conv or an average pool is a constant ``[H, W, C]`` map ``T`` (or
one ``[C]`` vector, the same at every position); the op
being linear, ``op(x + T) = op(x) + op0(T)`` where ``op0`` is the op without its bias, reading
``T`` through the same windows (zero padding for a conv; real cells, or all ``k*k`` with
``count_pad``, for an average). These functions compute ``op0(T)`` in float64 from the IR's
window geometry (:class:`~cnncompile.ir.window.AxisWindow`), so the border is exactly what
each backend computes there.
"""

from __future__ import annotations

import numpy as np

from ..window import AxisWindow


def _taps(w: AxisWindow) -> tuple[np.ndarray, np.ndarray]:
    """Per output cell and kernel tap: the input cell it reads (clipped) and whether it is
    real (not padding)."""
    idx = np.arange(w.out)[:, None] * w.stride - w.pad_lo + np.arange(w.kernel)[None, :]
    real = (idx >= 0) & (idx < w.size)
    return np.clip(idx, 0, w.size - 1), real


def conv_of_map(t: np.ndarray, kernel: np.ndarray, windows: tuple[AxisWindow, AxisWindow],
                groups: int) -> np.ndarray:
    """``conv(t)`` without bias, zero-padded: ``[oh, ow, cout]`` for ``t`` ``[H, W, cin]`` and
    an HWIO ``kernel``."""
    (ih, rh), (iw, rw) = _taps(windows[0]), _taps(windows[1])
    kernel = np.asarray(kernel, np.float64)
    cpg, cout = kernel.shape[2], kernel.shape[3]
    opg = cout // groups
    out = np.zeros((windows[0].out, windows[1].out, cout))
    for dh in range(kernel.shape[0]):
        for dw in range(kernel.shape[1]):
            cells = t[ih[:, dh]][:, iw[:, dw]] * (rh[:, dh, None, None] & rw[None, :, dw, None])
            for g in range(groups):
                out[..., g * opg:(g + 1) * opg] += (cells[..., g * cpg:(g + 1) * cpg]
                                                    @ kernel[dh, dw, :, g * opg:(g + 1) * opg])
    return out


def conv_of_constant(t: np.ndarray, kernel: np.ndarray,
                     windows: tuple[AxisWindow, AxisWindow], groups: int) -> np.ndarray:
    """``conv(t)`` without bias, zero-padded, for ``t`` the same ``[cin]`` at every position:
    ``[cout]`` when no window reads padding, else ``[oh, ow, cout]``.

    Each output cell sums ``t @ kernel[dh, dw]`` over its real taps, and a tap is real when it
    is real along both axes, so the map is the two axes' masks times those sums: no ``cin``
    factor, which keeps pushing a shift through a 152-layer trunk quick.
    """
    kernel = np.asarray(kernel, np.float64)
    cpg, cout = kernel.shape[2], kernel.shape[3]
    opg = cout // groups
    per_tap = np.concatenate([t[g * cpg:(g + 1) * cpg] @ kernel[:, :, :, g * opg:(g + 1) * opg]
                              for g in range(groups)], axis=-1)  # [kh, kw, cout]
    (_, rh), (_, rw) = _taps(windows[0]), _taps(windows[1])
    if rh.all() and rw.all():
        return per_tap.sum(axis=(0, 1))
    return np.einsum("id,je,deo->ijo", rh.astype(np.float64), rw.astype(np.float64), per_tap)


def avg_pool_of_map(t: np.ndarray, windows: tuple[AxisWindow, AxisWindow],
                    count_pad: bool) -> np.ndarray:
    """The average pool of ``t`` ``[H, W, C]``: over the real cells of each window, or over
    all ``kh*kw`` of them (padding counted as zeros) with ``count_pad``."""
    (ih, rh), (iw, rw) = _taps(windows[0]), _taps(windows[1])
    total = np.zeros((windows[0].out, windows[1].out, t.shape[2]))
    count = np.zeros((windows[0].out, windows[1].out, 1))
    for dh in range(windows[0].kernel):
        for dw in range(windows[1].kernel):
            real = (rh[:, dh, None, None] & rw[None, :, dw, None])
            total += t[ih[:, dh]][:, iw[:, dw]] * real
            count += real
    if count_pad:
        count = np.full_like(count, windows[0].kernel * windows[1].kernel)
    return total / count


def is_uniform(t: np.ndarray) -> bool:
    """Whether the map holds one value per channel (the last axis) at every position."""
    flat = t.reshape(-1, t.shape[-1])
    return bool(np.all(flat == flat[0]))

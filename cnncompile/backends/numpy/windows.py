"""The tap plan shared by the conv and pooling kernels: where each kernel tap reads and writes.

Everything here reads :class:`~cnncompile.ir.window.AxisWindow` fields and never recomputes
SAME/VALID arithmetic: output cell ``j`` reads input cells ``j*stride - pad_lo + k`` for taps
``k = 0 .. kernel-1``. For one tap, the output cells whose input cell lies inside the input
form a contiguous range, and the input cells they read form a strided range; a windowed kernel
is then a loop over the few taps, each a whole-tensor operation on those two ranges. Padding is
never materialised: cells outside the input are simply not read (zero for conv, ignored by
max, not counted by avg), and negative pads (crops) fall out of the same arithmetic.

Tensors in the engine are channel-major, ``[C, N, H, W]``, so the ranges apply to the last two
axes and every tap copy moves long contiguous rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...ir.window import AxisWindow

Windows = tuple[AxisWindow, AxisWindow]


def axis_tap(w: AxisWindow, k: int) -> tuple[slice, slice]:
    """(output cells, input cells) along one axis where tap ``k`` reads a real input cell.

    >>> from cnncompile.ir import axis_window
    >>> axis_tap(axis_window(6, 3, 2, 'SAME'), 0)   # windows start at -1, 1, 3
    (slice(1, 3, None), slice(1, 4, 2))
    """
    offset = k - w.pad_lo  # input cell of output cell 0
    lo = max(0, -(offset // w.stride)) if offset < 0 else 0
    hi = min(w.out, (w.size - 1 - offset) // w.stride + 1)
    if hi <= lo:
        return slice(0, 0), slice(0, 0)
    start = lo * w.stride + offset
    return slice(lo, hi), slice(start, start + (hi - lo - 1) * w.stride + 1, w.stride)


@dataclass(frozen=True)
class Tap:
    """One kernel tap: its index (row-major kh, kw) and the output/input H, W ranges."""

    index: int
    out: tuple[slice, slice]
    inp: tuple[slice, slice]
    full: bool  # every output cell reads a real input cell for this tap

    @property
    def empty(self) -> bool:
        return self.out[0].start >= self.out[0].stop or self.out[1].start >= self.out[1].stop


def tap_plan(windows: Windows) -> list[Tap]:
    """Every kernel tap of a 2-D window, in row-major (kh, kw) order."""
    wh, ww = windows
    taps = []
    for i in range(wh.kernel):
        oh, ih = axis_tap(wh, i)
        for j in range(ww.kernel):
            ow, iw = axis_tap(ww, j)
            full = oh.stop - oh.start == wh.out and ow.stop - ow.start == ww.out
            taps.append(Tap(i * ww.kernel + j, (oh, ow), (ih, iw), full))
    return taps


def spatial(region: tuple[slice, slice]) -> tuple:
    """Index the H, W axes of a channel-major tensor (``[..., H, W]``)."""
    return (Ellipsis,) + region


def real_cell_counts(windows: Windows) -> np.ndarray:
    """[OH, OW] number of real (non-pad) input cells in each window (avg pooling's divisor)."""
    per_axis = []
    for w in windows:
        starts = np.arange(w.out) * w.stride - w.pad_lo
        per_axis.append(np.minimum(starts + w.kernel, w.size) - np.maximum(starts, 0))
    return np.outer(per_axis[0], per_axis[1])

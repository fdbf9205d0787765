"""The one window/padding rule: shape inference, NumPy kernels, torch and ONNX all read it.

A sliding window (conv, max, avg) along one spatial axis is fully described by
:class:`AxisWindow`: output cell ``j`` reads input cells ``j*stride - pad_lo`` ...
``j*stride - pad_lo + kernel - 1``. ``pad_lo``/``pad_hi`` are the cells to add before/after the
input so that exactly ``out`` windows fit; a negative value means cells to *crop* instead (the
textbook's stride offset can start the first window inside the input). Nothing downstream ever
recomputes SAME/VALID arithmetic.

Frameworks that take only non-negative pads (PyTorch, ONNX) read the same windows through
the two helpers at the end, which hold the "make pads symmetric" rule once:
:func:`symmetric_pads` for a caller that crops surplus output cells (torch),
:func:`explicit_pads` for one that must not make any (ONNX).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AxisWindow:
    """Window geometry along one axis. Invariant: size + pad_lo + pad_hi == (out-1)*stride + kernel."""

    size: int
    kernel: int
    stride: int
    pad_lo: int
    pad_hi: int
    out: int

    def start(self, j: int) -> int:
        """First input cell (may be negative = padding) read by output cell ``j``."""
        return j * self.stride - self.pad_lo

    @property
    def padded_size(self) -> int:
        return self.size + self.pad_lo + self.pad_hi


def axis_window(size: int, kernel: int, stride: int, padding: str | int) -> AxisWindow | None:
    """Window geometry for input ``size``, or None if no output cell fits.

    Textbook rule (spec-format section 3): anchor ``c = (k-1)//2``, stride offset
    ``o = (s-1)//2``. SAME gives ``size//s`` cells, cell j centred at input ``o + s*j``;
    VALID gives ``(size-k+1)//s`` cells, cell j starting at ``o + s*j``. An integer ``p`` is
    PyTorch's rule: ``(size + 2p - k)//s + 1`` cells, cell j starting at ``s*j - p``.

    >>> w = axis_window(224, 7, 2, 'SAME'); (w.out, w.start(0), w.start(1))
    (112, -3, -1)
    >>> axis_window(299, 3, 2, 'VALID').out
    148
    >>> w = axis_window(96, 2, 2, 'SAME'); (w.out, w.start(0), w.pad_lo, w.pad_hi)
    (48, 0, 0, 0)
    >>> axis_window(7, 1, 3, 'VALID').start(0)   # offset (3-1)//2 = 1: the window starts inside
    1
    """
    if padding == "SAME":
        out = size // stride
        first = (stride - 1) // 2 - (kernel - 1) // 2
    elif padding == "VALID":
        out = (size - kernel + 1) // stride
        first = (stride - 1) // 2
    elif isinstance(padding, int):
        out = (size + 2 * padding - kernel) // stride + 1
        first = -padding
    else:
        raise ValueError(f"unknown padding {padding!r}")
    if out <= 0:
        return None
    pad_lo = -first
    pad_hi = (out - 1) * stride + kernel - size - pad_lo
    return AxisWindow(size, kernel, stride, pad_lo, pad_hi, out)


def symmetric_pads(windows: Sequence[AxisWindow]) -> tuple[int, ...] | None:
    """One pad per axis, the same on both sides, that reads exactly ``windows`` first; None
    when some axis has none.

    Pad ``p = pad_lo`` starts window j where the IR does; it serves when ``pad_lo >= 0`` and
    ``pad_hi <= pad_lo``. The extra ``pad_lo - pad_hi`` cells may fit surplus trailing
    windows, which the caller crops from the output.

    >>> w = axis_window(224, 7, 2, 'SAME'); (w.pad_lo, w.pad_hi), symmetric_pads((w, w))
    ((3, 2), (3, 3))
    >>> symmetric_pads((axis_window(7, 1, 3, 'VALID'),)) is None  # starts inside the input
    True
    """
    if all(0 <= w.pad_lo and w.pad_hi <= w.pad_lo for w in windows):
        return tuple(w.pad_lo for w in windows)
    return None


@dataclass(frozen=True)
class ExplicitPads:
    """A window geometry as an optional crop, then non-negative pads, with no surplus window.

    ``starts``/``ends`` bound the H and W cells kept (a crop, when ``needs_slice``); ``pads``
    is ``[h_lo, w_lo, h_hi, w_hi]`` (ONNX's order).
    """

    starts: tuple[int, int]
    ends: tuple[int, int]
    pads: tuple[int, int, int, int]
    needs_slice: bool


def explicit_pads(windows: Sequence[AxisWindow]) -> ExplicitPads:
    """Crop and non-negative pads that give exactly ``windows`` (H, W) and not one more.

    A negative ``pad_lo`` means the first window starts inside the input: crop those cells.
    A negative ``pad_hi`` leaves trailing cells no window reads; they are cropped only when
    they would otherwise fit another output cell (``-pad_hi >= stride``). Fewer than
    ``stride`` trailing cells beyond the last window never make another output cell, so the
    high pad is raised towards the low one where that keeps it so: symmetric pads, as
    :func:`symmetric_pads` gives them, which some kernels (cuDNN's) need to avoid padding the
    input in a copy.

    >>> w = axis_window(7, 1, 3, 'VALID')            # the window starts at cell 1
    >>> explicit_pads((w, w))
    ExplicitPads(starts=(1, 1), ends=(7, 7), pads=(0, 0, 0, 0), needs_slice=True)
    >>> w = axis_window(224, 7, 2, 'SAME')           # pads 3 before, 2 after: 3 reads the same
    >>> (w.pad_lo, w.pad_hi), explicit_pads((w, w)).pads
    ((3, 2), (3, 3, 3, 3))
    """
    starts, ends, lo, hi = [], [], [], []
    for w in windows:
        unread = max(0, -w.pad_hi)  # trailing input cells after the last window
        crop_hi = unread if unread >= w.stride else 0
        spare = w.stride - 1 - (unread - crop_hi)  # more cells that make no new output cell
        starts.append(max(0, -w.pad_lo))
        ends.append(w.size - crop_hi)
        lo.append(max(0, w.pad_lo))
        hi.append(max(0, w.pad_hi) + max(0, min(spare, lo[-1] - max(0, w.pad_hi))))
    needs = any(starts) or any(e != w.size for e, w in zip(ends, windows, strict=True))
    return ExplicitPads(tuple(starts), tuple(ends), (lo[0], lo[1], hi[0], hi[1]), needs)

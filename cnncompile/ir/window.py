"""The one window/padding rule: shape inference, NumPy kernels and the ONNX emitter all read it.

A sliding window (conv, max, avg) along one spatial axis is fully described by
:class:`AxisWindow`: output cell ``j`` reads input cells ``j*stride - pad_lo`` ...
``j*stride - pad_lo + kernel - 1``. ``pad_lo``/``pad_hi`` are the cells to add before/after the
input so that exactly ``out`` windows fit; a negative value means cells to *crop* instead (the
textbook's stride offset can start the first window inside the input). Nothing downstream ever
recomputes SAME/VALID arithmetic.
"""

from __future__ import annotations

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

"""Max and average pooling: loops over the few kernel taps, each a strided whole-tensor op.

Max pooling is separable (a window's maximum is the maximum of its rows' maxima), so it runs
one pass per axis, kh + kw taps; average pooling loops over the kh * kw taps of the window.

Windows may overlap (a 3x3 window with stride 2) and may hang over the border: ``max`` ignores
cells outside the input, ``avg`` divides by the number of real cells in each window, or by
kh*kw when ``count_pad`` is set (PyTorch's count_include_pad for integer padding). Backward
scatters through the same tap ranges, so overlapping windows add up at the right positions.
Channels are independent, so blocks of them run on the work pool's threads.
"""

from __future__ import annotations

import numpy as np

from ...ir.ops import PoolAttrs
from ...ir.window import AxisWindow
from .kernel import Kernel, Params, RunContext, register
from .parallel import elementwise
from .windows import axis_tap, real_cell_counts, spatial, tap_plan


class _Pool(Kernel):
    def __init__(self, node, in_shapes, dtype):
        super().__init__(node, in_shapes, dtype)
        a: PoolAttrs = node.attrs
        self.out_hw = (a.windows[0].out, a.windows[1].out)
        self._saved: tuple | None = None

    def out_shape(self, x: np.ndarray) -> tuple[int, ...]:
        return x.shape[:2] + self.out_hw


@register("max_pool")
class MaxPool(_Pool):
    """Maximum over the real cells of each window; ties send the gradient to the first cell.

    Separable: a window's maximum is the maximum of its rows' maxima, so a pass along W takes
    each row's maximum over the kw taps, and a pass along H takes the maximum of those over the
    kh taps: kh + kw strided operations instead of kh * kw (a 3x3 window: 6, not 9). A training
    forward records which tap won on each pass (int8), and backward routes the gradient back
    through the H pass, then the W pass. Each pass keeps the first of equal maxima, so the
    winner is the first row that holds the maximum and the first such cell in it: the
    row-major first, the same cell a loop over the kh * kw taps would pick.
    """

    def __init__(self, node, in_shapes, dtype):
        super().__init__(node, in_shapes, dtype)
        wh, ww = node.attrs.windows
        self.passes = (_AxisPass(ww, -1), _AxisPass(wh, -2))  # W first: row-major ties

    def forward(self, xs: list[np.ndarray], p: Params, ctx: RunContext) -> np.ndarray:
        x = xs[0]
        y = np.empty(self.out_shape(x), self.dtype)
        pw, ph = self.passes
        rows = np.empty(x.shape[:3] + (self.out_hw[1],), self.dtype)  # each row's maxima
        track = ctx.training
        w_won = np.zeros(rows.shape, np.int8) if track and pw.taps[1:] else None
        h_won = np.zeros(y.shape, np.int8) if track and ph.taps[1:] else None

        def block(r: slice) -> None:
            pw.forward(x[r], rows[r], None if w_won is None else w_won[r])
            ph.forward(rows[r], y[r], None if h_won is None else h_won[r])

        elementwise(self.pool, block, x.shape[0], x.size)
        if track:
            self._saved = (x.shape, rows.shape, w_won, h_won)
        return y

    def backward(self, dy, p, need_dx):
        x_shape, rows_shape, w_won, h_won = self._saved
        if not need_dx[0]:
            return [None], {}
        pw, ph = self.passes
        drows, dx = self.kept("drows", rows_shape), self.kept("dx", x_shape)
        if not ph.tiles:  # some cells get no gradient; the others are added up
            drows.fill(0)
        if not pw.tiles:
            dx.fill(0)

        def block(r: slice) -> None:
            ph.backward(dy[r], None if h_won is None else h_won[r], drows[r])
            pw.backward(drows[r], None if w_won is None else w_won[r], dx[r])

        elementwise(self.pool, block, dx.shape[0], dx.size)
        return [dx], {}


class _AxisPass:
    """Max pooling along one axis (``-1``: W, ``-2``: H) of a channel-major tensor.

    The winner of each output cell is recorded as its tap's position in ``taps`` (the taps
    that read a real cell), not as the tap's own index: when tap 0 reads only padding it is
    not listed, and position 0 is then tap 1.
    """

    def __init__(self, w: AxisWindow, axis: int):
        index = (lambda s: (Ellipsis, s)) if axis == -1 else (lambda s: (Ellipsis, s, slice(None)))
        self.taps = []  # (output cells, input cells) of the taps that read a real cell
        for k in range(w.kernel):
            out, inp = axis_tap(w, k)
            if out.stop > out.start:
                self.taps.append((index(out), index(inp)))
                if len(self.taps) == 1:  # else windows that this tap misses start at -inf
                    self.first_full = out.stop - out.start == w.out
        # each input cell in at most one window: backward can assign instead of adding
        self.disjoint = w.stride >= w.kernel
        # ... and in exactly one: backward writes every input cell, none needs zeroing first
        self.tiles = w.stride == w.kernel and w.pad_lo == 0 and w.out * w.stride == w.size

    def forward(self, x: np.ndarray, y: np.ndarray, won: np.ndarray | None) -> None:
        (out, inp), rest = self.taps[0], self.taps[1:]
        if not self.first_full:
            y.fill(-np.inf)
        y[out] = x[inp]
        for i, (out, inp) in enumerate(rest, start=1):
            xt, yt = x[inp], y[out]
            if won is not None:
                wt = won[out]
                if i == 1:  # ``won`` is still all 0: record x > y directly
                    np.greater(xt, yt, out=wt.view(np.bool_))
                else:  # i exceeds every earlier position: the latest strictly greater wins
                    np.maximum(wt, np.greater(xt, yt).view(np.int8) * np.int8(i), out=wt)
            np.maximum(yt, xt, out=yt)

    def backward(self, dy: np.ndarray, won: np.ndarray | None, dx: np.ndarray) -> None:
        """Add each output cell's gradient to its winning input cell (``dx`` starts at 0
        unless the windows tile the axis)."""
        if won is None:
            out, inp = self.taps[0]
            dx[inp] = dy[out]
            return
        is_i = np.empty(won.shape, np.bool_)
        for i, (out, inp) in enumerate(self.taps):
            np.equal(won[out], i, out=is_i[out])
            if self.disjoint:
                np.multiply(dy[out], is_i[out], out=dx[inp])
            else:
                dx[inp] += dy[out] * is_i[out]


@register("avg_pool")
class AvgPool(_Pool):
    """Mean over each window's real cells (or over kh*kw cells when ``count_pad``)."""

    def __init__(self, node, in_shapes, dtype):
        super().__init__(node, in_shapes, dtype)
        a: PoolAttrs = node.attrs
        self.taps = [t for t in tap_plan(a.windows) if not t.empty]
        # stride >= kernel on both axes: every input cell is in at most one window
        self.disjoint = all(w.stride >= w.kernel for w in a.windows)
        n_taps = a.windows[0].kernel * a.windows[1].kernel
        counts = np.full(self.out_hw, n_taps) if a.count_pad else real_cell_counts(a.windows)
        if np.all(counts == counts.flat[0]):
            self.inv = self.dtype.type(1.0 / counts.flat[0])
        else:
            self.inv = (1.0 / counts).astype(self.dtype)  # [OH, OW], broadcast over C, N

    def forward(self, xs, p, ctx):
        x = xs[0]
        y = np.zeros(self.out_shape(x), self.dtype)

        def block(r: slice) -> None:
            for t in self.taps:
                y[r][spatial(t.out)] += x[r][spatial(t.inp)]
            y[r] *= self.inv

        elementwise(self.pool, block, x.shape[0], x.size)
        if ctx.training:
            self._saved = (x.shape,)
        return y

    def backward(self, dy, p, need_dx):
        (x_shape,) = self._saved
        if not need_dx[0]:
            return [None], {}
        dx = np.zeros(x_shape, self.dtype)

        def block(r: slice) -> None:
            g = dy[r] * self.inv
            for t in self.taps:
                if self.disjoint:
                    dx[r][spatial(t.inp)] = g[spatial(t.out)]
                else:
                    dx[r][spatial(t.inp)] += g[spatial(t.out)]

        elementwise(self.pool, block, dx.shape[0], dx.size)
        return [dx], {}

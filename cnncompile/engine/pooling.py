"""Max and average pooling: a loop over the few kernel taps, each a strided whole-tensor op.

Windows may overlap (a 3x3 window with stride 2) and may hang over the border: ``max`` ignores
cells outside the input, ``avg`` divides by the number of real cells in each window, or by
kh*kw when ``count_pad`` is set (PyTorch's count_include_pad for integer padding). Backward
scatters through the same tap ranges, so overlapping windows add up at the right positions.
Channels are independent, so blocks of them run on the work pool's threads.
"""

from __future__ import annotations

import numpy as np

from ..ir.ops import PoolAttrs
from .kernel import Kernel, Params, RunContext, register
from .parallel import elementwise
from .windows import real_cell_counts, spatial, tap_plan


class _Pool(Kernel):
    def __init__(self, node, in_shapes, dtype):
        super().__init__(node, in_shapes, dtype)
        a: PoolAttrs = node.attrs
        self.out_hw = (a.windows[0].out, a.windows[1].out)
        self.taps = [t for t in tap_plan(a.windows) if not t.empty]
        # stride >= kernel on both axes: every input cell is in at most one window
        self.disjoint = all(w.stride >= w.kernel for w in a.windows)
        self._saved: tuple | None = None

    def out_shape(self, x: np.ndarray) -> tuple[int, ...]:
        return x.shape[:2] + self.out_hw


@register("max_pool")
class MaxPool(_Pool):
    """Maximum over the real cells of each window; ties send the gradient to the first cell.

    A training forward records which tap won each window (int8), so backward is one masked
    product per tap. Taps run in order and a later tap wins only if strictly greater, so the
    winner can be kept as ``max(winner, t * (x_t > y))``: t exceeds every earlier index.
    """

    def forward(self, xs: list[np.ndarray], p: Params, ctx: RunContext) -> np.ndarray:
        x = xs[0]
        y = np.empty(self.out_shape(x), self.dtype)
        winner = np.zeros(y.shape, np.int8) if ctx.training and len(self.taps) > 1 else None
        elementwise(self.pool, lambda r: self._forward_block(
            x[r], y[r], None if winner is None else winner[r]), x.shape[0], x.size)
        if ctx.training:
            self._saved = (x.shape, winner)
        return y

    def _forward_block(self, x: np.ndarray, y: np.ndarray, winner: np.ndarray | None) -> None:
        first, rest = self.taps[0], self.taps[1:]
        if not first.full:
            y.fill(-np.inf)
        y[spatial(first.out)] = x[spatial(first.inp)]
        for t in rest:
            xt, yt = x[spatial(t.inp)], y[spatial(t.out)]
            if winner is not None:
                wt = winner[spatial(t.out)]
                np.maximum(wt, np.greater(xt, yt).view(np.int8) * np.int8(t.index), out=wt)
            np.maximum(yt, xt, out=yt)

    def backward(self, dy, p, need_dx):
        x_shape, winner = self._saved
        if not need_dx[0]:
            return [None], {}
        dx = np.zeros(x_shape, self.dtype)
        elementwise(self.pool, lambda r: self._backward_block(
            dy[r], None if winner is None else winner[r], dx[r]), dx.shape[0], dx.size)
        return [dx], {}

    def _backward_block(self, dy: np.ndarray, winner: np.ndarray | None, dx: np.ndarray) -> None:
        if winner is None:
            t = self.taps[0]
            dx[spatial(t.inp)] = dy[spatial(t.out)]
            return
        for t in self.taps:
            won = winner[spatial(t.out)] == t.index
            if self.disjoint:
                np.multiply(dy[spatial(t.out)], won, out=dx[spatial(t.inp)])
            else:
                region = dx[spatial(t.inp)]
                region += dy[spatial(t.out)] * won


@register("avg_pool")
class AvgPool(_Pool):
    """Mean over each window's real cells (or over kh*kw cells when ``count_pad``)."""

    def __init__(self, node, in_shapes, dtype):
        super().__init__(node, in_shapes, dtype)
        a: PoolAttrs = node.attrs
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

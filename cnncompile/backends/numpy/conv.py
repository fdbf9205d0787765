"""Convolution: im2col by one copy per kernel tap, then one BLAS matmul (per group).

Channel-major tensors make this cheap: the columns are ``[kh*kw*cin, columns]``, one column per
output cell, and ``kernel^T @ columns`` is the ``[cout, N, ...]`` output with no transposes.
Each tap copies the input cells it reads into its rows (see :mod:`.windows`); cells outside the
input stay zero in the kept buffer. Only output positions are computed (the textbook computes
strided convs at full resolution and subsamples). A stride-1 conv computes its input gradient
as the convolution of the output gradient with the flipped kernel (an im2col of ``dy``),
because short copies are cheaper than the short adds of a col2im.

(An earlier layout made one column per cell of the zero-padded grid, so that each tap was one
contiguous copy; it paid ``Hp*Wp / (OH*OW)`` more matmul work, and a training step of
fmnist_bn, flowers_model_4 and residual_flower measured 5-8% slower with it, so it was dropped.)

The batch is cut into parts that the work pool runs side by side. Columns for the whole batch
are kept between steps (and saved for backward) while they fit in :data:`KEEP_BYTES`; a larger
batch gets per-part buffers, rebuilt in backward, which bounds memory for large models. A
fused activation (the node's ``activation``, set by the fuse_activation pass; the executor
sets ``epilogue`` from the graph it runs) runs on each part right after its matmul, while the
part is in cache; backward first takes it off the output gradient, from the kept output.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ...ir.ops import ConvAttrs
from ...ir.passes import EPILOGUE_ACTIVATIONS
from ...ir.window import AxisWindow
from .activations import act_backward, act_forward
from .kernel import Kernel, Params, RunContext, register
from .parallel import elementwise, split, whole_rounds
from .windows import spatial, tap_plan

KEEP_BYTES = 64 << 20  # a training forward keeps the batch's columns up to this size
PART_BYTES = 2 << 20  # otherwise a part's columns are about this big: they stay in cache
PART_MACS = 1 << 22  # and a part has at least this much matmul work, worth a thread
_SCRATCH = threading.local()  # per-thread column buffers for parts


@register("conv")
class Conv(Kernel):
    """2-D convolution; IR kernel [kh, kw, cin/groups, cout]; any window geometry."""

    def __init__(self, node, in_shapes, dtype):
        super().__init__(node, in_shapes, dtype)
        a: ConvAttrs = node.attrs
        self.groups, self.bias = a.groups, a.bias
        cin = in_shapes[0][-1]
        self.cout = a.cout
        self.cg, self.og = cin // a.groups, a.cout // a.groups
        self.out_hw = (a.windows[0].out, a.windows[1].out)
        self.n_taps = a.windows[0].kernel * a.windows[1].kernel
        self.k = self.n_taps * self.cg
        self.pointwise = all(w.kernel == 1 and w.stride == 1 and w.pad_lo == w.pad_hi == 0
                             for w in a.windows)
        self.taps = [t for t in tap_plan(a.windows) if not t.empty]
        # every tap reads a real input cell for every output cell: no column cell stays 0
        self.dense_cols = len(self.taps) == self.n_taps and all(t.full for t in self.taps)
        self.cells = math.prod(self.out_hw)  # columns per sample
        # stride 1: the input gradient is itself a convolution, of the output gradient with
        # the flipped kernel, so backward can im2col ``dy`` (short copies) instead of
        # col2im-adding the column gradients (short, and slower, adds)
        self.back_taps = None
        if not self.pointwise and all(w.stride == 1 for w in a.windows):
            back = tuple(AxisWindow(w.out, w.kernel, 1, w.kernel - 1 - w.pad_lo,
                                    w.kernel - 1 - w.pad_hi, w.size) for w in a.windows)
            self.back_taps = [t for t in tap_plan(back) if not t.empty]
        # each tap's (column rows, input cells) as ready index tuples: a step of a small conv
        # spends as long building them as copying
        self._fill_at = _tap_indexes(self.taps)
        self._back_at = _tap_indexes(self.back_taps or [])
        self.cols_per_sample = self.cells * self.k * self.groups * self.dtype.itemsize
        self._saved: tuple | None = None
        if a.activation not in (None, *EPILOGUE_ACTIVATIONS):
            raise NotImplementedError(f"a conv cannot apply {a.activation!r} as its epilogue")
        self.epilogue: str | None = a.activation  # the activation fused into this conv

    # -- buffers and parts ------------------------------------------------------------------------
    def _parts(self, n: int, keep: bool, balanced: bool = False) -> list[slice]:
        """Batch parts: enough to share the matmuls out (each worth :data:`PART_MACS`), and,
        unless the whole batch's columns are kept, small enough for their columns to stay in
        cache (about :data:`PART_BYTES`). ``balanced`` rounds their number up to whole
        rounds of the threads: for the forward, whose columns are independent (the weight
        gradient's parts fix the order of its batch sums, so backward keeps them)."""
        macs = n * self.cells * self.k * self.cout
        parts = max(1, min(self.pool.threads * 2, macs // PART_MACS))
        if balanced:
            parts = whole_rounds(parts, self.pool.threads)
        if not keep:
            parts = max(parts, math.ceil(n * self.cols_per_sample / PART_BYTES))
        return split(n, parts)

    def _part_columns(self, x: np.ndarray, s: slice, kept: np.ndarray | None) -> np.ndarray:
        """The [G, k, columns] columns of part ``s``: the kept buffer's, or filled into this
        thread's scratch buffer (zeroed first where taps hang over the border)."""
        if self.pointwise:
            return _reshaped(x[:, s], (self.groups, self.cg, -1))
        if kept is not None:
            return kept[..., self._range(s)].reshape(self.groups, self.k, -1)
        shape = (self.groups, self.n_taps, self.cg, (s.stop - s.start) * self.cells)
        cols = _scratch(shape, self.dtype)
        if not self.dense_cols:
            cols.fill(0)
        self._fill(cols, x, s)
        return cols.reshape(self.groups, self.k, -1)

    def _range(self, s: slice) -> slice:
        return slice(s.start * self.cells, s.stop * self.cells)

    def _kernel_matrix(self, w: np.ndarray) -> np.ndarray:
        """IR [kh, kw, cg, cout] -> [G, cout/G, kh*kw*cg], rows in (tap, channel) order."""
        return np.ascontiguousarray(w.reshape(self.k, self.groups, self.og).transpose(1, 2, 0))

    # -- im2col / col2im ------------------------------------------------------------------------
    def _fill(self, cols: np.ndarray, x: np.ndarray, s: slice) -> None:
        """im2col of batch part ``s`` into ``cols`` ([G, taps, cg, part columns])."""
        xg = _grouped(x[:, s], self.groups)
        c6 = _reshaped(cols, cols.shape[:3] + (s.stop - s.start,) + self.out_hw)
        for rows, cells in self._fill_at:
            c6[rows] = xg[cells]

    def _col2im(self, dcols: np.ndarray, dst: np.ndarray, s: slice) -> None:
        """Add part ``s``'s [G, k, columns] gradients onto ``dst``."""
        d = dcols.reshape((self.groups, self.n_taps, self.cg, -1))
        dxg = _grouped(dst[:, s], self.groups)
        d6 = d.reshape(d.shape[:3] + (s.stop - s.start,) + self.out_hw)
        for rows, cells in self._fill_at:
            dxg[cells] += d6[rows]

    def _flipped(self, kernel: np.ndarray) -> np.ndarray:
        """The [G, cg, taps*og] matrix of the flipped kernel, for :meth:`_transposed`."""
        flipped = kernel[::-1, ::-1].reshape(self.n_taps, self.cg, self.groups, self.og)
        return np.ascontiguousarray(flipped.transpose(2, 1, 0, 3)).reshape(self.groups,
                                                                           self.cg, -1)

    def _transposed(self, dy: np.ndarray, wf: np.ndarray, dx: np.ndarray, s: slice,
                    cols: np.ndarray) -> None:
        """dx of part ``s`` (stride 1) as the conv of dy with the flipped kernel ``wf``."""
        g, n = self.groups, s.stop - s.start
        c = cols[:, :, :, s]
        dyg = _grouped(dy[:, s], g)
        for rows, cells in self._back_at:
            c[rows] = dyg[cells]
        out = _reshaped(dx[:, s], (g, self.cg, -1))
        cm = c.reshape(g, self.n_taps * self.og, n * math.prod(dx.shape[2:]))
        for j in range(g):
            np.matmul(wf[j], cm[j], out=out[j])

    # -- kernel ---------------------------------------------------------------------------------
    def forward(self, xs: list[np.ndarray], p: Params, ctx: RunContext) -> np.ndarray:
        x = np.ascontiguousarray(xs[0])
        n, g = x.shape[1], self.groups
        wk = self._kernel_matrix(p["kernel"])
        bias = p["bias"][:, None, None, None] if self.bias else None
        shape = (self.cout, n) + self.out_hw
        y = self.kept("y", shape) if ctx.training else np.empty(shape, self.dtype)
        kept = None
        if ctx.training and not self.pointwise and n * self.cols_per_sample <= KEEP_BYTES:
            kept = self.kept("cols", (g, self.n_taps, self.cg, n * self.cells))
        parts = self._parts(n, kept is not None or self.pointwise, balanced=True)

        def part(i: int) -> None:
            s = parts[i]
            if kept is not None:
                self._fill(kept[..., self._range(s)], x, s)
            c = self._part_columns(x, s, kept)
            ys = y[:, s]
            out = _reshaped(ys, (g, self.og, -1))
            for j in range(g):
                np.matmul(wk[j], c[j], out=out[j])
            if bias is not None:
                ys += bias
            if self.epilogue is not None:
                act_forward(self.epilogue, ys, ys, None)

        self.pool.run(part, len(parts))
        if ctx.training:
            self._saved = (x, kept, self.epilogue, y if self.epilogue else None)
        return y

    def backward(self, dy, p, need_dx):
        x, kept, epilogue, y = self._saved
        if epilogue is not None:  # dy of the activation's output -> dy of the conv's
            dz = self.kept("dz", dy.shape)
            elementwise(self.pool, lambda r: act_backward(epilogue, dy[r], None, y[r], None,
                                                          dz[r]), dy.shape[0], dy.size)
            dy = dz
        n, g = x.shape[1], self.groups
        # the kernel matrix the input gradient multiplies by (built once, not per part)
        if not need_dx[0]:
            wk_t = None
        elif self.back_taps is not None:
            wk_t = self._flipped(p["kernel"])
        else:
            wk_t = self._kernel_matrix(p["kernel"]).transpose(0, 2, 1)
        parts = self._parts(n, kept is not None or self.pointwise)
        dy = np.ascontiguousarray(dy)
        dy3 = dy.reshape(g, self.og, -1)
        dst = dy_cols = None
        if need_dx[0]:
            dst = self.kept("dx", x.shape)
            if not self.pointwise and self.back_taps is None:
                dst.fill(0)  # col2im adds
            if self.back_taps is not None:
                dy_cols = self.kept("dy_cols", (g, self.n_taps, self.og, n) + x.shape[2:])

        def weight_task(s: slice):
            """Kernel (and bias) gradient of part ``s``."""
            d = dy3[:, :, self._range(s)]
            c = self._part_columns(x, s, kept)
            # [k, columns] @ [columns, og] rather than [og, columns] @ [columns, k]: the same
            # sums, in the orientation OpenBLAS runs about 1.3x faster for a few output channels
            return np.matmul(c, d.transpose(0, 2, 1)).transpose(0, 2, 1), (
                dy[:, s].sum(axis=(1, 2, 3)) if self.bias else None)

        def input_task(s: slice) -> None:
            """Input gradient of part ``s``: columns' gradient, summed back (col2im)."""
            d = dy3[:, :, self._range(s)]
            if self.back_taps is not None:
                self._transposed(dy, wk_t, dst, s, dy_cols)
            elif self.pointwise:
                out = _reshaped(dst[:, s], (g, self.cg, -1))
                for j in range(g):
                    np.matmul(wk_t[j], d[j], out=out[j])
            else:
                self._col2im(np.matmul(wk_t, d), dst, s)

        # the two matmuls of a part are independent: two tasks, so even one part keeps two
        # threads busy
        tasks = [(weight_task, s) for s in parts] + [(input_task, s) for s in parts
                                                      if dst is not None]
        results = self.pool.run(lambda i: tasks[i][0](tasks[i][1]), len(tasks))[:len(parts)]
        dwk = sum(r[0] for r in results)
        kh, kw = self.node.attrs.kernel
        dkernel = dwk.reshape(g, self.og, self.n_taps, self.cg).transpose(2, 3, 0, 1)
        grads = {"kernel": np.ascontiguousarray(dkernel).reshape(kh, kw, self.cg, self.cout)}
        if self.bias:
            grads["bias"] = sum(r[1] for r in results)
        return [dst], grads


def _scratch(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """This thread's reusable buffer as an array of ``shape`` (contents left over)."""
    buffers = _SCRATCH.__dict__.setdefault("buffers", {})
    size = math.prod(shape)
    buf = buffers.get(dtype)
    if buf is None or buf.size < size:
        buf = buffers[dtype] = np.zeros(size, dtype)
    return buf[:size].reshape(shape)


def _tap_indexes(taps) -> list[tuple[tuple, tuple]]:
    """Per tap: the index of its rows and output cells in [G, taps, cg, N, OH, OW] columns, and
    of the input cells it reads in the [G, cg, N, H, W] grouped input."""
    return [((slice(None), t.index, Ellipsis) + t.out, spatial(t.inp)) for t in taps]


def _reshaped(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A view of ``a`` in ``shape``; raises rather than copying, since callers write into it."""
    v = a.view()
    v.shape = shape
    return v


def _grouped(a: np.ndarray, groups: int) -> np.ndarray:
    """``a`` with its channel axis split into (groups, channels/group)."""
    return _reshaped(a, (groups, a.shape[0] // groups) + a.shape[1:])

"""Convolution: im2col by one copy per kernel tap, then one BLAS matmul (per group).

Channel-major tensors make this cheap: the columns are ``[kh*kw*cin, columns]`` and
``kernel^T @ columns`` is the ``[cout, N, ...]`` output with no transposes. Only output
positions are computed (the textbook computes strided convs at full resolution and subsamples).

Two column layouts (see :mod:`.windows`):

* *tap* (any window): one column per output cell; each tap copies the input cells it reads
  into its rows; cells outside the input stay zero in the kept buffer.
* *grid* (stride 1, no crop, maps not tiny): the input is zero-padded once, and one column is
  made per cell of the padded grid, so tap (i, j) is the padded input shifted by ``i*Wp + j``
  cells: each tap row is ONE contiguous copy, and backward's col2im is one contiguous add per channel, instead
  of thousands of short strided runs. Columns of grid cells that are not output cells give
  junk outputs, which are dropped; their output gradient is zero. Costs ``Hp*Wp / (OH*OW)``
  more matmul work, so tiny maps (where that ratio is large) keep the tap layout; there, a
  stride-1 conv computes its input gradient as the convolution of the output gradient with the
  flipped kernel (an im2col of ``dy``), because short copies are cheaper than short adds.

The batch is cut into parts that the work pool runs side by side. Columns for the whole batch
are kept between steps (and saved for backward) while they fit in :data:`KEEP_BYTES`; a larger
batch gets per-part buffers, rebuilt in backward, which bounds memory for large models. An
activation that is the conv's only user can be fused in by the executor (``epilogue``): it
runs on each part right after its matmul, while the part is in cache.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ..ir.ops import ConvAttrs
from ..ir.window import AxisWindow
from .activations import act_forward
from .kernel import Kernel, Params, RunContext, register
from .parallel import split
from .windows import spatial, tap_plan

KEEP_BYTES = 64 << 20  # a training forward keeps the batch's columns up to this size
PART_BYTES = 2 << 20  # otherwise a part's columns are about this big: they stay in cache
PART_MACS = 1 << 22  # and a part has at least this much matmul work, worth a thread
_SCRATCH = threading.local()  # per-thread column buffers for parts
GRID_MAX_WASTE = 1.5  # grid layout only while Hp*Wp <= this * OH*OW (small maps: tap layout)


@register("conv")
class Conv(Kernel):
    """2-D convolution; IR kernel [kh, kw, cin/groups, cout]; any window geometry."""

    def __init__(self, node, in_shapes, dtype):
        super().__init__(node, in_shapes, dtype)
        a: ConvAttrs = node.attrs
        self.groups, self.bias = a.groups, a.bias
        h, w, cin = in_shapes[0]
        self.cin, self.cout = cin, a.cout
        self.cg, self.og = cin // a.groups, a.cout // a.groups
        self.out_hw = (a.windows[0].out, a.windows[1].out)
        self.n_taps = a.windows[0].kernel * a.windows[1].kernel
        self.k = self.n_taps * self.cg
        self.pointwise = all(w.kernel == 1 and w.stride == 1 and w.pad_lo == w.pad_hi == 0
                             for w in a.windows)
        self.grid = not self.pointwise and all(
            w.stride == 1 and w.pad_lo >= 0 and w.pad_hi >= 0 for w in a.windows) and (
            math.prod(w.padded_size for w in a.windows) <= GRID_MAX_WASTE * math.prod(
                self.out_hw))
        if self.grid:
            self.padded_hw = (a.windows[0].padded_size, a.windows[1].padded_size)
            wp = self.padded_hw[1]
            self.offsets = [i * wp + j for i in range(a.windows[0].kernel)
                            for j in range(a.windows[1].kernel)]
            self.interior = (slice(a.windows[0].pad_lo, a.windows[0].pad_lo + h),
                             slice(a.windows[1].pad_lo, a.windows[1].pad_lo + w))
            self.cells = math.prod(self.padded_hw)  # columns per sample
        else:
            self.taps = [t for t in tap_plan(a.windows) if not t.empty]
            self.cells = math.prod(self.out_hw)
        # stride 1 in the tap layout: the input gradient is itself a convolution, of the output
        # gradient with the flipped kernel, so backward can im2col ``dy`` (short copies)
        # instead of col2im-adding the column gradients (short, and slower, adds)
        self.back_taps = None
        if not self.grid and not self.pointwise and all(w.stride == 1 for w in a.windows):
            back = tuple(AxisWindow(w.out, w.kernel, 1, w.kernel - 1 - w.pad_lo,
                                    w.kernel - 1 - w.pad_hi, w.size) for w in a.windows)
            self.back_taps = [t for t in tap_plan(back) if not t.empty]
        self.cols_per_sample = self.cells * self.k * self.groups * self.dtype.itemsize
        self._buffers: dict[str, np.ndarray] = {}
        self._saved: tuple | None = None
        self.epilogue: str | None = None  # an activation the executor fused into this conv

    # -- buffers and parts ------------------------------------------------------------------------
    def _kept(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A buffer kept between steps; cells this kernel never writes stay zero."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = self._buffers[name] = np.zeros(shape, self.dtype)
        return buf

    def _parts(self, n: int, keep: bool) -> list[slice]:
        """Batch parts: enough to share the matmuls out (each worth :data:`PART_MACS`), and,
        unless the whole batch's columns are kept, small enough for their columns to stay in
        cache (about :data:`PART_BYTES`)."""
        macs = n * self.cells * self.k * self.cout
        parts = max(1, min(self.pool.threads * 2, macs // PART_MACS))
        if not keep:
            parts = max(parts, math.ceil(n * self.cols_per_sample / PART_BYTES))
        return split(n, parts)

    def _part_columns(self, src: np.ndarray, s: slice, kept: np.ndarray | None) -> np.ndarray:
        """The [G, k, columns] columns of part ``s``: the kept buffer's, or filled into this
        thread's scratch buffer (zeroed first where the tap layout leaves cells unwritten)."""
        if self.pointwise:
            return _reshaped(src[:, s], (self.groups, self.cg, -1))
        if kept is not None:
            return kept[..., self._range(s)].reshape(self.groups, self.k, -1)
        shape = (self.groups, self.n_taps, self.cg, (s.stop - s.start) * self.cells)
        cols = _scratch(shape, self.dtype)
        if not self.grid:
            cols.fill(0)
        self._fill(cols, src, s)
        return cols.reshape(self.groups, self.k, -1)

    def _range(self, s: slice) -> slice:
        return slice(s.start * self.cells, s.stop * self.cells)

    def _kernel_matrix(self, w: np.ndarray) -> np.ndarray:
        """IR [kh, kw, cg, cout] -> [G, cout/G, kh*kw*cg], rows in (tap, channel) order."""
        return np.ascontiguousarray(w.reshape(self.k, self.groups, self.og).transpose(1, 2, 0))

    # -- im2col / col2im ------------------------------------------------------------------------
    def _padded(self, x: np.ndarray) -> np.ndarray:
        """The zero-padded [cin, N, Hp, Wp] input (grid layout)."""
        xp = self._kept("xp", (self.cin, x.shape[1]) + self.padded_hw)
        xp[spatial(self.interior)] = x
        return xp

    def _fill(self, cols: np.ndarray, src: np.ndarray, s: slice) -> None:
        """im2col of batch part ``s`` into ``cols`` ([G, taps, cg, part columns])."""
        if self.grid:
            flat = _reshaped(src, (self.groups, self.cg, -1))
            lo, hi = self._range(s).start, self._range(s).stop
            for t, off in enumerate(self.offsets):
                cols[:, t, :, :hi - lo - off] = flat[:, :, lo + off:hi]
                cols[:, t, :, hi - lo - off:] = 0  # junk cells: any finite value would do
            return
        xg = _grouped(src[:, s], self.groups)
        c6 = _reshaped(cols, cols.shape[:3] + (s.stop - s.start,) + self.out_hw)
        for t in self.taps:
            c6[:, t.index][spatial(t.out)] = xg[spatial(t.inp)]

    def _col2im(self, dcols: np.ndarray, dst: np.ndarray, s: slice) -> None:
        """Add part ``s``'s [G, k, columns] gradients onto ``dst`` (dxp for grid, else dx)."""
        d = dcols.reshape((self.groups, self.n_taps, self.cg, -1))
        if self.grid:
            flat = _reshaped(dst, (self.groups, self.cg, -1))
            lo, hi = self._range(s).start, self._range(s).stop
            for t, off in enumerate(self.offsets):
                flat[:, :, lo + off:hi] += d[:, t, :, :hi - lo - off]
            return
        dxg = _grouped(dst[:, s], self.groups)
        d6 = d.reshape(d.shape[:3] + (s.stop - s.start,) + self.out_hw)
        for t in self.taps:
            dxg[spatial(t.inp)] += d6[:, t.index][spatial(t.out)]

    def _transposed(self, dy: np.ndarray, kernel: np.ndarray, dx: np.ndarray, s: slice,
                    cols: np.ndarray) -> None:
        """dx of part ``s`` (stride 1, tap layout) as the conv of dy with the flipped kernel."""
        g, n = self.groups, s.stop - s.start
        c = cols[:, :, :, s]
        dyg = _grouped(dy[:, s], g)
        for t in self.back_taps:
            c[:, t.index][spatial(t.out)] = dyg[spatial(t.inp)]
        flipped = kernel[::-1, ::-1].reshape(self.n_taps, self.cg, g, self.og)
        wf = np.ascontiguousarray(flipped.transpose(2, 1, 0, 3)).reshape(g, self.cg, -1)
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
        y = np.empty((self.cout, n) + self.out_hw, self.dtype)
        src = self._padded(x) if self.grid else x
        kept = None
        if ctx.training and not self.pointwise and n * self.cols_per_sample <= KEEP_BYTES:
            kept = self._kept("cols", (g, self.n_taps, self.cg, n * self.cells))
        parts = self._parts(n, kept is not None or self.pointwise)

        def part(i: int) -> None:
            s = parts[i]
            if kept is not None:
                self._fill(kept[..., self._range(s)], src, s)
            c = self._part_columns(src, s, kept)
            ys = y[:, s]
            if self.grid:  # drop the junk cells, adding the bias on the way
                out = np.matmul(wk, c).reshape((self.cout, -1) + self.padded_hw)
                cells = out[:, :, :self.out_hw[0], :self.out_hw[1]]
                if bias is not None:
                    np.add(cells, bias, out=ys)
                else:
                    ys[...] = cells
            else:
                out = _reshaped(ys, (g, self.og, -1))
                for j in range(g):
                    np.matmul(wk[j], c[j], out=out[j])
                if bias is not None:
                    ys += bias
            if self.epilogue is not None:
                act_forward(self.epilogue, ys, ys, None)

        self.pool.run(part, len(parts))
        if ctx.training:
            self._saved = (x, src, kept)
        return y

    def backward(self, dy, p, need_dx):
        x, src, kept = self._saved
        n, g = x.shape[1], self.groups
        wk_t = self._kernel_matrix(p["kernel"]).transpose(0, 2, 1)
        parts = self._parts(n, kept is not None or self.pointwise)
        if self.grid:  # output gradients on the padded grid, zero at junk cells
            dyg = self._kept("dy", (self.cout, n) + self.padded_hw)
            dyg[:, :, :self.out_hw[0], :self.out_hw[1]] = dy
        else:
            dyg = np.ascontiguousarray(dy)
        dy3 = dyg.reshape(g, self.og, -1)
        dst = dy_cols = None
        if need_dx[0]:
            shape = (self.cin, n) + (self.padded_hw if self.grid else x.shape[2:])
            fresh = np.empty if self.pointwise or self.back_taps is not None else np.zeros
            dst = fresh(shape, self.dtype)
            if self.back_taps is not None:
                dy_cols = self._kept("dy_cols", (g, self.n_taps, self.og, n) + x.shape[2:])

        def weight_task(s: slice):
            """Kernel (and bias) gradient of part ``s``."""
            d = dy3[:, :, self._range(s)]
            c = self._part_columns(src, s, kept)
            return np.matmul(d, c.transpose(0, 2, 1)), (
                dy[:, s].sum(axis=(1, 2, 3)) if self.bias else None)

        def input_task(s: slice) -> None:
            """Input gradient of part ``s``: columns' gradient, summed back (col2im)."""
            d = dy3[:, :, self._range(s)]
            if self.back_taps is not None:
                self._transposed(dyg, p["kernel"], dst, s, dy_cols)
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
        dx = dst[spatial(self.interior)] if self.grid and dst is not None else dst
        return [dx], grads


def _scratch(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """This thread's reusable buffer as an array of ``shape`` (contents left over)."""
    buffers = _SCRATCH.__dict__.setdefault("buffers", {})
    size = math.prod(shape)
    buf = buffers.get(dtype)
    if buf is None or buf.size < size:
        buf = buffers[dtype] = np.zeros(size, dtype)
    return buf[:size].reshape(shape)


def _reshaped(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A view of ``a`` in ``shape``; raises rather than copying, since callers write into it."""
    v = a.view()
    v.shape = shape
    return v


def _grouped(a: np.ndarray, groups: int) -> np.ndarray:
    """``a`` with its channel axis split into (groups, channels/group)."""
    return _reshaped(a, (groups, a.shape[0] // groups) + a.shape[1:])

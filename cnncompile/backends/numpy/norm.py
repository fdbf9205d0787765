"""Batch normalisation over N, H, W with the textbook's options and its true gradient.

Training uses the batch mean and the biased batch variance and moves the running statistics by
``m += exp_ratio * (batch - m)``; inference uses the running statistics. With ``moments`` set, a forward also accumulates the exact
population statistics of its inputs, and with ``own_statistics`` an inference forward normalises
by them (precise batch norm, ``train/recalibrate.py``). The backward is the
full one, ``(1/sigma)(g - mean(g) - x_hat * mean(g * x_hat))`` (spec-format section 7: the
textbook drops the two mean terms). Tensors are channel-major, so every channel's statistics
are a reduction over one contiguous row.
"""

from __future__ import annotations

import numpy as np

from ...ir.ops import BatchNormAttrs
from .kernel import Kernel, Params, RunContext, register
from .parallel import elementwise


class Moments:
    """Exact per-channel count, mean and sum of squared deviations of every input seen.

    Batches are merged with Chan et al.'s pairwise rule in float64, so the result is the
    population mean and biased variance of all inputs together, whatever the batch sizes,
    without the cancellation of summing squares.
    """

    def __init__(self, channels: int):
        self.count = 0
        self.mean = np.zeros(channels, np.float64)
        self.m2 = np.zeros(channels, np.float64)

    def add(self, x2: np.ndarray) -> None:
        """Merge a channel-major [C, m] block of inputs."""
        m = x2.shape[1]
        if m == 0:
            return
        mean_b = x2.mean(axis=1, dtype=np.float64)
        # deviations from the mean rounded to x's dtype (no float64 copy of x), squared and
        # summed in float64, then corrected for that rounding: sum (x - mean)^2 exactly
        centre = mean_b.astype(x2.dtype)
        dev = x2 - centre[:, None]
        m2_b = np.einsum("ij,ij->i", dev, dev, dtype=np.float64)
        m2_b -= m * (mean_b - centre) ** 2
        n = self.count + m
        delta = mean_b - self.mean
        self.mean += delta * (m / n)
        self.m2 += m2_b + delta * delta * (self.count * m / n)
        self.count = n

    @property
    def var(self) -> np.ndarray:
        """The biased (population) variance, as batch norm uses it."""
        return self.m2 / max(self.count, 1)


@register("batch_norm")
class BatchNorm(Kernel):
    """Per-channel normalisation; ``scale``/``shift`` only when ``rescale``."""

    def __init__(self, node, in_shapes, dtype):
        super().__init__(node, in_shapes, dtype)
        self.attrs: BatchNormAttrs = node.attrs
        self.channels = in_shapes[0][-1]
        self._saved: tuple | None = None
        self.moments: Moments | None = None  # set: every forward adds its input's moments
        self.own_statistics = False  # with moments: inference normalises by those moments

    def forward(self, xs: list[np.ndarray], p: Params, ctx: RunContext) -> np.ndarray:
        x = xs[0]
        a = self.attrs
        c = self.channels
        x2 = x.reshape(c, -1)
        if self.moments is not None:
            self.moments.add(x2)
        eps = self.dtype.type(a.epsilon)
        scale = p["scale"][:, None] if a.rescale else None
        shift = p["shift"][:, None] if a.rescale else None
        if not ctx.training:
            mean, var = p["mean"], p["var"]
            if self.moments is not None and self.own_statistics:
                mean, var = self.moments.mean, self.moments.var
            mul = 1.0 / np.sqrt(var.astype(self.dtype) + eps)
            if a.rescale:
                mul *= p["scale"]
            add = -mean.astype(self.dtype) * mul
            if a.rescale:
                add += p["shift"]
            y = np.empty(x2.shape, self.dtype)

            def infer(r: slice) -> None:
                np.multiply(x2[r], mul[r, None], out=y[r])
                y[r] += add[r, None]

            elementwise(self.pool, infer, c, x2.size)
            return y.reshape(x.shape)
        m = x2.shape[1]
        mean, var = np.empty(c, self.dtype), np.empty(c, self.dtype)
        xhat = np.empty(x2.shape, self.dtype)
        y = np.empty(x2.shape, self.dtype) if a.rescale else xhat

        def train(r: slice) -> None:
            np.mean(x2[r], axis=1, out=mean[r])
            np.subtract(x2[r], mean[r, None], out=xhat[r])
            var[r] = np.einsum("ij,ij->i", xhat[r], xhat[r]) / m
            xhat[r] *= 1.0 / np.sqrt(var[r, None] + eps)
            if a.rescale:
                np.multiply(xhat[r], scale[r], out=y[r])
                y[r] += shift[r]

        elementwise(self.pool, train, c, x2.size)
        p["mean"] += a.exp_ratio * (mean - p["mean"])
        p["var"] += a.exp_ratio * (var - p["var"])
        self._saved = (x.shape, xhat, 1.0 / np.sqrt(var + eps))
        return y.reshape(x.shape)

    def backward(self, dy, p, need_dx):
        x_shape, xhat, inv_std = self._saved
        c = self.channels
        g = dy.reshape(c, -1)
        m = g.shape[1]
        sum_g, sum_gx = np.empty(c, self.dtype), np.empty(c, self.dtype)
        mul = inv_std * p["scale"] if self.attrs.rescale else inv_std
        dx = np.empty(g.shape, self.dtype) if need_dx[0] else None

        def block(r: slice) -> None:
            np.sum(g[r], axis=1, out=sum_g[r])
            sum_gx[r] = np.einsum("ij,ij->i", g[r], xhat[r])
            if dx is not None:
                np.multiply(xhat[r], (-sum_gx[r] / m)[:, None], out=dx[r])
                dx[r] += g[r]
                dx[r] -= (sum_g[r] / m)[:, None]
                dx[r] *= mul[r, None]

        elementwise(self.pool, block, c, g.size)
        grads = {"scale": sum_gx, "shift": sum_g} if self.attrs.rescale else {}
        return [None if dx is None else dx.reshape(x_shape)], grads

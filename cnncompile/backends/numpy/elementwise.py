"""Dropout, noise, and the ops that join or widen tensors (add, tile, concat).

Tensors are channel-major (``[C, N, H, W]`` or ``[F, N]``): channels are the first axis, so
concatenation and tiling copy whole contiguous blocks.
"""

from __future__ import annotations

import numpy as np

from .kernel import Kernel, RunContext, register
from .parallel import elementwise


@register("dropout")
class Dropout(Kernel):
    """Inverted dropout: keep each cell with probability keep_prob and divide by it."""

    def forward(self, xs: list[np.ndarray], p, ctx: RunContext) -> np.ndarray:
        keep = self.node.attrs.keep_prob
        if not ctx.training or keep >= 1.0:
            self._mask = None
            return xs[0]
        x = xs[0]
        mask = ctx.rng.random(x.shape, dtype=np.float32) < keep
        self._mask = mask.astype(self.dtype) * self.dtype.type(1.0 / keep)
        return x * self._mask

    def backward(self, dy, p, need_dx):
        if not need_dx[0]:
            return [None], {}
        return [dy if self._mask is None else dy * self._mask], {}


@register("noise")
class Noise(Kernel):
    """With probability ``ratio`` per training pass, adds N(mean, std) noise to the tensor."""

    def forward(self, xs, p, ctx):
        a = self.node.attrs
        x = xs[0]
        if not ctx.training or ctx.rng.random() >= a.ratio:
            return x
        noise = ctx.rng.standard_normal(x.shape, dtype=np.float32).astype(self.dtype, copy=False)
        noise *= a.std
        noise += a.mean
        noise += x
        return noise

    def backward(self, dy, p, need_dx):
        return [dy if need_dx[0] else None], {}


@register("add")
class Add(Kernel):
    """Sum of equal-shaped inputs (channel tiling is its own op, ``tile``)."""

    def forward(self, xs, p, ctx):
        y = np.empty(xs[0].shape, self.dtype)

        def block(r: slice) -> None:
            if len(xs) == 1:
                np.copyto(y[r], xs[0][r])
            else:
                np.add(xs[0][r], xs[1][r], out=y[r])
            for x in xs[2:]:
                y[r] += x[r]

        elementwise(self.pool, block, y.shape[0], y.size)
        return y

    def backward(self, dy, p, need_dx):
        return [dy if need else None for need in need_dx], {}


@register("tile")
class Tile(Kernel):
    """Channels repeated as whole blocks: output channel k is input channel k mod c."""

    def forward(self, xs, p, ctx):
        x = xs[0]
        return np.concatenate([x] * self.node.attrs.reps, axis=0)

    def backward(self, dy, p, need_dx):
        if not need_dx[0]:
            return [None], {}
        c = self.in_shapes[0][-1]
        return [dy.reshape((self.node.attrs.reps, c) + dy.shape[1:]).sum(axis=0)], {}


@register("concat")
class Concat(Kernel):
    """Channel concatenation in input order; backward hands each input its own channels."""

    def __init__(self, node, in_shapes, dtype):
        super().__init__(node, in_shapes, dtype)
        self.bounds = np.cumsum([0] + [s[-1] for s in in_shapes]).tolist()

    def forward(self, xs, p, ctx):
        return np.concatenate(xs, axis=0)

    def backward(self, dy, p, need_dx):
        b = self.bounds
        return [dy[b[i]:b[i + 1]] if need else None for i, need in enumerate(need_dx)], {}

"""Dense (fully connected) layers, the NHWC flatten in front of them, and the input node.

Flat tensors are feature-major, ``[F, N]``, like every tensor in the engine, so a dense layer
is ``weight^T @ x`` with the IR's ``weight [in, out]``.
"""

from __future__ import annotations

import numpy as np

from .kernel import Kernel, Params, RunContext, register
from .parallel import split

PARALLEL_MACS = 1 << 21  # smaller layers run whole: splitting would cost more than it saves


@register("dense")
class Dense(Kernel):
    """y = weight^T x + bias; big layers are split over batch columns for the work pool."""

    def _parts(self, x: np.ndarray) -> list[slice]:
        n = x.shape[1]
        macs = x.shape[0] * self.node.attrs.units * n
        return split(n, self.pool.threads * 2 if macs >= PARALLEL_MACS else 1)

    def forward(self, xs: list[np.ndarray], p: Params, ctx: RunContext) -> np.ndarray:
        x = xs[0]
        w_t = p["weight"].T
        y = np.empty((self.node.attrs.units, x.shape[1]), self.dtype)
        parts = self._parts(x)

        def part(i: int) -> None:
            s = parts[i]
            np.matmul(w_t, x[:, s], out=y[:, s])
            if self.node.attrs.bias:
                y[:, s] += p["bias"][:, None]

        self.pool.run(part, len(parts))
        if ctx.training:
            self._x = x
        return y

    def backward(self, dy, p, need_dx):
        x, w = self._x, p["weight"]
        dx = np.empty(x.shape, self.dtype) if need_dx[0] else None
        parts = self._parts(x)

        def part(i: int):
            s = parts[i]
            if dx is not None:
                np.matmul(w, dy[:, s], out=dx[:, s])
            return x[:, s] @ dy[:, s].T, dy[:, s].sum(axis=1)

        results = self.pool.run(part, len(parts))
        grads = {"weight": sum(r[0] for r in results)}
        if self.node.attrs.bias:
            grads["bias"] = sum(r[1] for r in results)
        return [dx], grads


@register("flatten")
class Flatten(Kernel):
    """[C, N, H, W] -> [H*W*C, N]: the IR flattens in H, W, C order (NHWC row-major)."""

    def forward(self, xs, p, ctx):
        x = xs[0]
        if x.ndim == 2:
            return x
        return np.ascontiguousarray(x.transpose(2, 3, 0, 1)).reshape(-1, x.shape[1])

    def backward(self, dy, p, need_dx):
        if not need_dx[0]:
            return [None], {}
        if len(self.in_shapes[0]) == 1:
            return [dy], {}
        h, w, c = self.in_shapes[0]
        return [np.ascontiguousarray(dy.reshape(h, w, c, -1).transpose(2, 3, 0, 1))], {}


@register("input")
class Input(Kernel):
    """The model input; the executor feeds it, already channel-major."""

    def forward(self, xs, p, ctx):
        return xs[0]

    def backward(self, dy, p, need_dx):
        return [], {}

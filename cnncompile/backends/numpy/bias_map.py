"""The ``bias_map`` kernel: a constant ``[H, W, C]`` map added to every sample."""

from __future__ import annotations

import numpy as np

from .kernel import Kernel, register
from .parallel import elementwise


@register("bias_map")
class BiasMap(Kernel):
    """``y = x + bias``; the bias (IR layout HWC) is read channel-major as ``[C, 1, H, W]``."""

    def forward(self, xs, p, ctx):
        x = xs[0]
        bias = np.moveaxis(np.asarray(p["bias"], self.dtype), -1, 0)[:, None]
        y = np.empty(x.shape, self.dtype)

        def block(r: slice) -> None:
            np.add(x[r], bias[r], out=y[r])

        elementwise(self.pool, block, y.shape[0], y.size)
        return y

    def backward(self, dy, p, need_dx):
        return [dy if need_dx[0] else None], {"bias": np.moveaxis(dy.sum(axis=1), 0, -1)}

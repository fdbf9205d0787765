"""Activation functions, computed block by block into preallocated arrays by the work pool.

Each function writes into ``out`` (and a second saved array where its derivative needs one), so
blocks of channels can run on different threads without a concatenation afterwards. Masks are
multiplied, never ``np.where``d: a float-times-bool product is several times faster than
``np.where`` with a scalar.
"""

from __future__ import annotations

import numpy as np

from ...ir.ops import LEAKY_SLOPE
from .kernel import Kernel, Params, RunContext, register
from .parallel import elementwise

NEEDS_AUX = ("elu", "swish")  # activations that save a second array for backward


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Overflow-free logistic function: 0.5 * (1 + tanh(x / 2))."""
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def act_forward(func: str, x: np.ndarray, out: np.ndarray, aux: np.ndarray | None) -> None:
    """``out = func(x)``; ``aux`` receives what the derivative needs besides ``out``/``x``."""
    if func == "relu":
        np.maximum(x, 0, out=out)
    elif func == "sigmoid":
        sigmoid(x, out)
    elif func == "tanh":
        np.tanh(x, out=out)
    elif func == "leaky_relu":  # max(x, a x) for a slope a < 1
        np.multiply(x, LEAKY_SLOPE, out=out)
        np.maximum(x, out, out=out)
    elif func == "elu":  # x for x > 0, e^x - 1 otherwise (alpha 1); aux = min(x, 0)
        np.minimum(x, 0, out=aux)
        np.expm1(aux, out=out)
        out += np.maximum(x, 0)
    elif func == "swish":  # x * sigmoid(x); aux = sigmoid(x)
        sigmoid(x, aux)
        np.multiply(x, aux, out=out)
    else:
        raise ValueError(f"unknown activation {func!r}")


def act_backward(func: str, dy: np.ndarray, x: np.ndarray | None, y: np.ndarray,
                 aux: np.ndarray | None, out: np.ndarray) -> None:
    """``out = dy * func'(x)``, from the saved input, output and aux arrays."""
    if func == "relu":
        np.multiply(dy, y > 0, out=out)
    elif func == "sigmoid":
        np.subtract(1, y, out=out)
        out *= y
        out *= dy
    elif func == "tanh":
        np.multiply(y, y, out=out)
        np.subtract(1, out, out=out)
        out *= dy
    elif func == "leaky_relu":
        np.multiply(x > 0, 1 - LEAKY_SLOPE, out=out)
        out += LEAKY_SLOPE
        out *= dy
    elif func == "elu":  # 1 where x > 0, e^x elsewhere
        np.exp(aux, out=out)
        out *= dy
    elif func == "swish":  # s (1 + x (1 - s))
        np.subtract(1, aux, out=out)
        out *= x
        out += 1
        out *= aux
        out *= dy
    else:
        raise ValueError(f"unknown activation {func!r}")


@register("act")
class Act(Kernel):
    """The activations of ``ir.ops.act``: relu, sigmoid, tanh, leaky_relu, elu (alpha 1), swish."""

    def forward(self, xs: list[np.ndarray], p: Params, ctx: RunContext) -> np.ndarray:
        func = self.node.attrs.func
        x = xs[0]
        y = np.empty(x.shape, self.dtype)
        aux = np.empty(x.shape, self.dtype) if func in NEEDS_AUX else None
        elementwise(self.pool, lambda r: act_forward(
            func, x[r], y[r], None if aux is None else aux[r]), x.shape[0], x.size)
        if ctx.training:
            self._saved = (x if func in ("leaky_relu", "swish") else None, y, aux)
        return y

    def backward(self, dy, p, need_dx):
        if not need_dx[0]:
            return [None], {}
        x, y, aux = self._saved
        func = self.node.attrs.func
        dx = np.empty(dy.shape, self.dtype)
        elementwise(self.pool, lambda r: act_backward(
            func, dy[r], None if x is None else x[r], y[r], None if aux is None else aux[r],
            dx[r]), dy.shape[0], dy.size)
        return [dx], {}

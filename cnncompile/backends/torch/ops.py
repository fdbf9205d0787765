"""One torch lowering per IR op: ``fn(module, node, xs) -> tensor`` on NCHW (or [N, F]) tensors.

Every windowed op reads its geometry from the IR (:class:`~cnncompile.ir.window.AxisWindow`),
never from SAME/VALID strings: a window whose pads PyTorch's own ``padding`` argument can
express runs with it (surplus trailing output cells cropped, :func:`symmetric_pads`), any
other gets an explicit ``F.pad`` (a negative pad crops the cells a window never reads).
``avg`` divides by the real cells unless the IR says ``count_pad``; ``max`` pads with -inf.
Batch norm normalises with the biased batch variance and moves its running statistics by
``exp_ratio`` towards the batch mean and the *biased* variance, as the engine does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ...ir.graph import Node
from ...ir.ops import LEAKY_SLOPE
from ...ir.window import symmetric_pads
from ..registry import Lowerings

Lowering = Callable[..., torch.Tensor]  # (module: GraphModule, node, xs) -> tensor
LOWERINGS: Lowerings[Lowering] = Lowerings("torch")
lowering = LOWERINGS.register

ACTIVATIONS = {
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "leaky_relu": lambda x: F.leaky_relu(x, LEAKY_SLOPE),
    "elu": F.elu,  # alpha 1, as the IR's elu
    "swish": F.silu,
}


# -- windows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowPlan:
    """How one conv or pool reads its windows: an explicit pad or the op's own padding."""

    pad: tuple[int, int, int, int] | None  # F.pad order: W lo, W hi, H lo, H hi
    padding: tuple[int, int]
    out: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]


def window_plan(node: Node) -> WindowPlan:
    """PyTorch's symmetric ``padding`` where it gives the same windows, else an explicit pad.

    Pools also need ``padding <= kernel / 2`` (PyTorch refuses more).
    """
    windows = node.attrs.windows
    kernel = tuple(w.kernel for w in windows)
    stride = tuple(w.stride for w in windows)
    out = tuple(w.out for w in windows)
    pads = symmetric_pads(windows)
    if pads is not None and (node.op == "conv" or all(2 * p <= k for p, k in zip(pads, kernel, strict=True))):
        return WindowPlan(None, pads, out, kernel, stride)
    wh, ww = windows
    return WindowPlan((ww.pad_lo, ww.pad_hi, wh.pad_lo, wh.pad_hi), (0, 0), out, kernel, stride)


def _crop(y: torch.Tensor, out: tuple[int, int]) -> torch.Tensor:
    return y if tuple(y.shape[2:]) == out else y[:, :, :out[0], :out[1]]


# -- ops ---------------------------------------------------------------------------------------


@lowering("input")
def lower_input(m, n: Node, xs):
    """The batch as it comes: NHWC images become NCHW once, here."""
    x = xs[0]
    return x.permute(0, 3, 1, 2).contiguous() if x.dim() == 4 else x


@lowering("conv")
def lower_conv(m, n: Node, xs):
    a, plan = n.attrs, m.plan(n)
    x = xs[0] if plan.pad is None else F.pad(xs[0], plan.pad)
    y = F.conv2d(x, m.node_param(n, "kernel"), m.node_param(n, "bias") if a.bias else None,
                 plan.stride, plan.padding, 1, a.groups)
    return _crop(y, plan.out)


@lowering("max_pool")
def lower_max_pool(m, n: Node, xs):
    plan = m.plan(n)
    x = xs[0] if plan.pad is None else F.pad(xs[0], plan.pad, value=float("-inf"))
    return _crop(F.max_pool2d(x, plan.kernel, plan.stride, plan.padding), plan.out)


@lowering("avg_pool")
def lower_avg_pool(m, n: Node, xs):
    plan, count_pad = m.plan(n), n.attrs.count_pad
    if plan.pad is None:
        return _crop(F.avg_pool2d(xs[0], plan.kernel, plan.stride, plan.padding,
                                  count_include_pad=count_pad), plan.out)
    y = F.avg_pool2d(F.pad(xs[0], plan.pad), plan.kernel, plan.stride)
    if count_pad:
        return y
    ones = torch.ones((1, 1) + tuple(xs[0].shape[2:]), dtype=y.dtype, device=y.device)
    return y / F.avg_pool2d(F.pad(ones, plan.pad), plan.kernel, plan.stride)


@lowering("dense")
def lower_dense(m, n: Node, xs):
    return F.linear(xs[0], m.node_param(n, "weight"),
                    m.node_param(n, "bias") if n.attrs.bias else None)


@lowering("flatten")
def lower_flatten(m, n: Node, xs):
    x = xs[0]
    if x.dim() == 4:  # the IR flattens in H, W, C order
        x = x.permute(0, 2, 3, 1)
    return x.reshape(x.shape[0], -1)


@lowering("act")
def lower_act(m, n: Node, xs):
    return ACTIVATIONS[n.attrs.func](xs[0])


@lowering("concat")
def lower_concat(m, n: Node, xs):
    return torch.cat(xs, 1)


@lowering("add")
def lower_add(m, n: Node, xs):
    y = xs[0]
    for x in xs[1:]:
        y = y + x
    return y


@lowering("bias_map")
def lower_bias_map(m, n: Node, xs):
    return xs[0] + m.node_param(n, "bias")  # [C, H, W] (layout HWC, out-first)


@lowering("tile")
def lower_tile(m, n: Node, xs):
    x = xs[0]
    return x.repeat((1, n.attrs.reps) + (1,) * (x.dim() - 2))


@lowering("batch_norm")
def lower_batch_norm(m, n: Node, xs):
    x, a = xs[0], n.attrs
    mean, var = m.node_param(n, "mean"), m.node_param(n, "var")
    scale = m.node_param(n, "scale") if a.rescale else None
    shift = m.node_param(n, "shift") if a.rescale else None
    if not m.training:
        return F.batch_norm(x, mean, var, scale, shift, False, 0.0, a.epsilon)
    count = x.numel() // max(1, x.shape[1])
    if m.sync is None and count > 1:
        # PyTorch's kernel with momentum 1 leaves the batch mean and the *unbiased*
        # variance in the buffers it is given; the textbook moves towards the biased one
        batch_mean, batch_var = torch.zeros_like(mean), torch.zeros_like(var)
        y = F.batch_norm(x, batch_mean, batch_var, scale, shift, True, 1.0, a.epsilon)
        batch_var = batch_var * ((count - 1) / count)
    else:
        batch_mean, batch_var = m.global_moments(x)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        y = (x - batch_mean.view(shape)) * torch.rsqrt(batch_var.view(shape) + a.epsilon)
        if a.rescale:
            y = y * scale.view(shape) + shift.view(shape)
    with torch.no_grad():
        mean.add_(a.exp_ratio * (batch_mean.detach() - mean))
        var.add_(a.exp_ratio * (batch_var.detach() - var))
    return y


def _np_dtype(x: torch.Tensor):
    return np.float64 if x.dtype == torch.float64 else np.float32


@lowering("dropout")
def lower_dropout(m, n: Node, xs):
    x, keep = xs[0], n.attrs.keep_prob
    if not m.training or keep >= 1.0:
        return x
    if m.random is None:
        return F.dropout(x, 1.0 - keep, True)
    dt = _np_dtype(x)
    mask = m.draw(x, lambda rng, shape: (rng.random(shape, dtype=np.float32) < keep)
                  .astype(dt) * dt(1.0 / keep))
    return x * mask


@lowering("noise")
def lower_noise(m, n: Node, xs):
    x, a = xs[0], n.attrs
    if not m.training:
        return x
    if m.random is None:
        if float(torch.rand(())) >= a.ratio:
            return x
        return x + (torch.randn_like(x) * a.std + a.mean)
    if m.random.rng.random() >= a.ratio:
        return x
    dt = _np_dtype(x)

    def gauss(rng, shape):
        g = rng.standard_normal(shape, dtype=np.float32).astype(dt, copy=False)
        g *= a.std
        g += a.mean
        return g

    return x + m.draw(x, gauss)

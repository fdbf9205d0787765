"""Any IR graph as an idiomatic PyTorch (NCHW) module with the engine's weights.

Test and benchmark only: the independent oracle for the engine, and the "same architecture in
PyTorch" of ``benchmarks/engine_speed.py``. Built generically by walking the IR nodes. Windows
use the ops' own ``padding`` argument when the AxisWindow pads allow it (symmetric, or a larger
leading pad whose extra trailing output cells are cropped), and an explicit ``F.pad`` (negative
values crop) otherwise. Dense weights after a flatten are permuted once so that PyTorch's
C, H, W flatten order needs no transpose of the activations.

NB: PyTorch moves the running variance towards the *unbiased* batch variance, the engine
(and the textbook) towards the biased one; outputs and gradients are unaffected.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cnncompile.ir.graph import Graph, Node

ACTS = {"relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "elu": F.elu,
        "leaky_relu": lambda x: F.leaky_relu(x, 0.01), "swish": F.silu}


def _plan(windows):
    """(explicit F.pad tuple or None, op padding (h, w), output size (h, w))."""
    if all(w.pad_lo >= 0 and w.pad_hi <= w.pad_lo for w in windows):
        return None, tuple(w.pad_lo for w in windows), tuple(w.out for w in windows)
    wh, ww = windows
    return (ww.pad_lo, ww.pad_hi, wh.pad_lo, wh.pad_hi), (0, 0), (wh.out, ww.out)


def _crop(y: torch.Tensor, out) -> torch.Tensor:
    return y if tuple(y.shape[2:]) == tuple(out) else y[:, :, :out[0], :out[1]]


class TorchGraph(torch.nn.Module):
    """``forward(x_nhwc)`` gives the logits; ``ir_grads()`` the gradients in IR layouts."""

    def __init__(self, graph: Graph, params: dict[str, np.ndarray], dtype=torch.float32):
        super().__init__()
        self.graph = graph
        self.weights = torch.nn.ParameterList()
        self.stats: dict[str, torch.Tensor] = {}
        self.slot: dict[str, int] = {}
        self.flat_from: dict[str, tuple[int, int, int]] = {}
        for n in graph:
            if n.op == "dense" and graph[n.inputs[0]].op == "flatten":
                src = graph[graph[n.inputs[0]].inputs[0]].shape
                if len(src) == 3:
                    self.flat_from[n.name] = src
            for p in n.params:
                t = torch.tensor(self._to_torch(n, p.name, np.asarray(params[p.name])),
                                 dtype=dtype)
                if p.trainable:
                    self.slot[p.name] = len(self.weights)
                    self.weights.append(torch.nn.Parameter(t))
                else:
                    self.stats[p.name] = t

    # -- layouts ------------------------------------------------------------------------------
    def _to_torch(self, n: Node, name: str, a: np.ndarray) -> np.ndarray:
        if name.endswith(".kernel"):
            return np.ascontiguousarray(a.transpose(3, 2, 0, 1))
        if name.endswith(".weight"):
            if n.name in self.flat_from:
                h, w, c = self.flat_from[n.name]
                return np.ascontiguousarray(
                    a.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(a.shape[1], -1))
            return np.ascontiguousarray(a.T)
        return a

    def _from_torch(self, n: Node, name: str, a: np.ndarray) -> np.ndarray:
        if name.endswith(".kernel"):
            return a.transpose(2, 3, 1, 0)
        if name.endswith(".weight"):
            if n.name in self.flat_from:
                h, w, c = self.flat_from[n.name]
                return a.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1)
            return a.T
        return a

    def w(self, name: str) -> torch.Tensor:
        return self.weights[self.slot[name]]

    def ir_grads(self) -> dict[str, np.ndarray]:
        """Gradients of the last backward, keyed and laid out as the engine's."""
        out = {}
        for n in self.graph:
            for p in n.params:
                if p.trainable:
                    g = self.w(p.name).grad.detach().numpy()
                    out[p.name] = self._from_torch(n, p.name, g)
        return out

    def ir_stats(self) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in self.stats.items()}

    # -- ops ----------------------------------------------------------------------------------
    def _conv(self, n: Node, x):
        a = n.attrs
        pad, padding, out = _plan(a.windows)
        if pad is not None:
            x = F.pad(x, pad)
        bias = self.w(f"{n.name}.bias") if a.bias else None
        y = F.conv2d(x, self.w(f"{n.name}.kernel"), bias, a.strides, padding, 1, a.groups)
        return _crop(y, out)

    def _pool(self, n: Node, x):
        a = n.attrs
        k = tuple(w.kernel for w in a.windows)
        s = tuple(w.stride for w in a.windows)
        pad, padding, out = _plan(a.windows)
        if n.op == "max_pool":
            if pad is not None:
                x = F.pad(x, pad, value=float("-inf"))
            return _crop(F.max_pool2d(x, k, s, padding), out)
        if pad is None:
            return _crop(F.avg_pool2d(x, k, s, padding, count_include_pad=a.count_pad), out)
        y = F.avg_pool2d(F.pad(x, pad), k, s)
        if a.count_pad:
            return y
        ones = torch.ones((1, 1, a.windows[0].size, a.windows[1].size), dtype=x.dtype)
        return y / F.avg_pool2d(F.pad(ones, pad), k, s)  # divide by the real cells

    def _node(self, n: Node, xs):
        op, a = n.op, n.attrs
        if op == "conv":
            return self._conv(n, xs[0])
        if op in ("max_pool", "avg_pool"):
            return self._pool(n, xs[0])
        if op == "dense":
            b = self.w(f"{n.name}.bias") if a.bias else None
            return F.linear(xs[0], self.w(f"{n.name}.weight"), b)
        if op == "flatten":
            return xs[0].flatten(1)
        if op == "batch_norm":
            scale = self.w(f"{n.name}.scale") if a.rescale else None
            shift = self.w(f"{n.name}.shift") if a.rescale else None
            return F.batch_norm(xs[0], self.stats[f"{n.name}.mean"], self.stats[f"{n.name}.var"],
                                scale, shift, self.training, a.exp_ratio, a.epsilon)
        if op == "act":
            return ACTS[a.func](xs[0])
        if op == "dropout":
            return F.dropout(xs[0], 1.0 - a.keep_prob, self.training)
        if op == "noise":
            if self.training and float(torch.rand(())) < a.ratio:
                return xs[0] + torch.randn_like(xs[0]) * a.std + a.mean
            return xs[0]
        if op == "concat":
            return torch.cat(xs, dim=1)
        if op == "add":
            y = xs[0]
            for x in xs[1:]:
                y = y + x
            return y
        if op == "tile":
            return xs[0].repeat(1, a.reps, 1, 1)
        raise NotImplementedError(op)

    def forward(self, x_nhwc: torch.Tensor) -> torch.Tensor:
        users = self.graph.users()
        left = {k: len(v) for k, v in users.items()}
        x = x_nhwc.permute(0, 3, 1, 2) if x_nhwc.dim() == 4 else x_nhwc
        values = {self.graph.input: x.contiguous()}
        for n in self.graph:
            if n.op == "input":
                continue
            values[n.name] = self._node(n, [values[i] for i in n.inputs])
            for i in n.inputs:
                left[i] -= 1
                if left[i] == 0:
                    del values[i]
        return values[self.graph.output]

"""Naive float64 reference for every IR op: plain loops over output cells, the forward oracle.

Written independently of the engine's kernels: every windowed op walks its output cells and
asks the node's AxisWindow where each window starts (``start(j)``), skipping cells outside the
input. Slow on purpose; use it on small tensors only.
"""

from __future__ import annotations

import numpy as np

from cnncompile.ir.graph import Graph, Node


def _cells(window, j: int) -> list[int]:
    """Real input cells (inside the input) read by output cell ``j``."""
    s = window.start(j)
    return [i for i in range(s, s + window.kernel) if 0 <= i < window.size]


def conv(node: Node, x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    wh, ww = node.attrs.windows
    g = node.attrs.groups
    n, _, _, cin = x.shape
    cout = kernel.shape[3]
    cg, og = cin // g, cout // g
    y = np.zeros((n, wh.out, ww.out, cout))
    for jh in range(wh.out):
        for jw in range(ww.out):
            for r in _cells(wh, jh):
                for c in _cells(ww, jw):
                    tap = kernel[r - wh.start(jh), c - ww.start(jw)]  # [cg, cout]
                    for grp in range(g):
                        y[:, jh, jw, grp * og:(grp + 1) * og] += (
                            x[:, r, c, grp * cg:(grp + 1) * cg] @ tap[:, grp * og:(grp + 1) * og])
    if bias is not None:
        y += bias
    return y


def pool(node: Node, x: np.ndarray) -> np.ndarray:
    wh, ww = node.attrs.windows
    n, _, _, c = x.shape
    y = np.zeros((n, wh.out, ww.out, c))
    for jh in range(wh.out):
        for jw in range(ww.out):
            cells = [x[:, r, q] for r in _cells(wh, jh) for q in _cells(ww, jw)]
            if node.op == "max_pool":
                y[:, jh, jw] = np.max(cells, axis=0)
            else:
                count = wh.kernel * ww.kernel if node.attrs.count_pad else len(cells)
                y[:, jh, jw] = np.sum(cells, axis=0) / count
    return y


def batch_norm(node: Node, x: np.ndarray, p: dict, training: bool) -> np.ndarray:
    axes = tuple(range(x.ndim - 1))
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    else:
        mean, var = p["mean"], p["var"]
    y = (x - mean) / np.sqrt(var + node.attrs.epsilon)
    if node.attrs.rescale:
        y = y * p["scale"] + p["shift"]
    return y


def act(func: str, x: np.ndarray) -> np.ndarray:
    sig = 1.0 / (1.0 + np.exp(-x))
    return {
        "relu": lambda: np.where(x > 0, x, 0.0),
        "sigmoid": lambda: sig,
        "tanh": lambda: np.tanh(x),
        "leaky_relu": lambda: np.where(x > 0, x, 0.01 * x),
        "elu": lambda: np.where(x > 0, x, np.exp(np.minimum(x, 0)) - 1.0),
        "swish": lambda: x * sig,
    }[func]()


def run_node(node: Node, xs: list[np.ndarray], params: dict, training: bool) -> np.ndarray:
    """One node's output; dropout and noise are the identity (inference semantics)."""
    p = {q.name[len(node.name) + 1:]: np.asarray(params[q.name], np.float64) for q in node.params}
    op, a = node.op, node.attrs
    if op == "conv":
        return conv(node, xs[0], p["kernel"], p.get("bias"))
    if op in ("max_pool", "avg_pool"):
        return pool(node, xs[0])
    if op == "dense":
        return xs[0] @ p["weight"] + (p["bias"] if a.bias else 0.0)
    if op == "flatten":
        return xs[0].reshape(len(xs[0]), -1)
    if op == "batch_norm":
        return batch_norm(node, xs[0], p, training)
    if op == "act":
        return act(a.func, xs[0])
    if op in ("dropout", "noise", "input"):
        return xs[0]
    if op == "concat":
        return np.concatenate(xs, axis=-1)
    if op == "add":
        return np.sum(xs, axis=0)
    if op == "tile":
        c = xs[0].shape[-1]
        out = np.zeros(xs[0].shape[:-1] + (c * a.reps,))
        for k in range(c * a.reps):
            out[..., k] = xs[0][..., k % c]
        return out
    raise NotImplementedError(op)


def run_graph(graph: Graph, params: dict, x: np.ndarray, training: bool = False) -> dict:
    """Every node's output, float64; ``training`` only switches batch norm to batch statistics."""
    values: dict[str, np.ndarray] = {}
    for n in graph:
        xs = [np.asarray(x, np.float64)] if n.op == "input" else [values[i] for i in n.inputs]
        values[n.name] = run_node(n, xs, params, training)
    return values

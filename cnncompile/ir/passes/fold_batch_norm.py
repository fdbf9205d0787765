"""Fold a batch norm into the conv or dense layer before it, for inference.

At inference a batch norm is an affine map per channel: with ``s = scale / sqrt(var + eps)``,
``bn(z) = (z - mean) * s + shift``. When ``z = w x + b`` comes from a conv or dense layer that
nothing else reads, ``bn(z) = (w * s) x + ((b - mean) * s + shift)``: the layer with its weight
scaled per output channel (the last weight axis) and a new bias, and the batch norm gone. The
rewritten graph is for inference only (training normalises by batch statistics).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..graph import Graph, Node
from .pipeline import Params, PassResult

FOLDABLE = {"conv": "kernel", "dense": "weight"}  # op -> the weight the scale multiplies


def foldable_pairs(graph: Graph) -> list[tuple[str, str]]:
    """(conv/dense node, batch norm after it) pairs where folding is exact: the batch norm is
    the only reader of the layer's output, so the unnormalised value is needed nowhere else."""
    users = graph.users()
    return [(n.inputs[0], n.name) for n in graph if n.op == "batch_norm"
            and graph[n.inputs[0]].op in FOLDABLE and users[n.inputs[0]] == (n.name,)]


def fold_batch_norm(graph: Graph, params: Params | None = None) -> PassResult:
    """Every foldable batch norm folded into its conv or dense layer (see the module doc).

    ``params`` (by IR name) are rewritten to match: the layer's weight and bias replaced (a
    bias appears where the layer had none), the batch norm's dropped. Without ``params`` only
    the graph is rewritten (for analyses). The maths runs in float64 and is stored in the
    weight's dtype, exactly as the ONNX export has always folded.
    """
    pairs = foldable_pairs(graph)
    if not pairs:
        return PassResult(graph, params, False)
    out = graph.copy()
    new_params = dict(params) if params is not None else None
    for layer, bn in pairs:
        if new_params is not None:
            new_params.update(_folded_weights(graph[layer], graph[bn], new_params))
            for p in graph[bn].params:
                del new_params[p.name]
        out.replace_all_uses_with(bn, layer)
        out.erase(bn)
        out.set_attrs(layer, replace(out[layer].attrs, bias=True))
    return PassResult(out, new_params, True)


def _folded_weights(layer: Node, bn: Node, params: Params) -> Params:
    """The layer's weight ``w * s`` and bias ``(b - mean) * s + shift`` (float64 maths)."""
    weight_name = f"{layer.name}.{FOLDABLE[layer.op]}"
    weight = np.asarray(params[weight_name])
    scale, shift, mean, var = (np.asarray(a, dtype=np.float64) for a in _bn_affine(bn, params))
    s = scale / np.sqrt(var + bn.attrs.epsilon)
    bias = (np.asarray(params[f"{layer.name}.bias"], dtype=np.float64) if layer.attrs.bias
            else 0.0)
    return {weight_name: (weight.astype(np.float64) * s).astype(weight.dtype),
            f"{layer.name}.bias": ((bias - mean) * s + shift).astype(weight.dtype)}


def _bn_affine(bn: Node, params: Params) -> tuple[np.ndarray, ...]:
    """scale, shift, mean, var of a batch norm (scale 1 and shift 0 without ``rescale``)."""
    mean, var = params[f"{bn.name}.mean"], params[f"{bn.name}.var"]
    if bn.attrs.rescale:
        return params[f"{bn.name}.scale"], params[f"{bn.name}.shift"], mean, var
    return np.ones_like(mean), np.zeros_like(mean), mean, var


def bn_scale_shift(bn: Node, params: Params) -> tuple[np.ndarray, np.ndarray]:
    """A batch norm at inference as ``s * x + t`` per channel, in float64 (the push-affine
    pass's view of it)."""
    scale, shift, mean, var = (np.asarray(a, dtype=np.float64) for a in _bn_affine(bn, params))
    s = scale / np.sqrt(var + bn.attrs.epsilon)
    return s, shift - mean * s

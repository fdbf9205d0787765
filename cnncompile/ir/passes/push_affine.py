"""Push a batch norm that no layer before it can absorb forward, into the linear layers after it.

At inference a batch norm is a per-channel affine map ``y = s*x + t`` (``s = scale /
sqrt(var + eps)``, ``t = shift - mean*s``). :func:`fold_batch_norm` folds one that directly
follows a conv or dense; the textbook's ``LAB`` layers put it after the activation, where
that fold cannot reach. This pass removes such a batch norm when an exact rewrite exists:

1. **Backwards.** When every ``s`` is positive and the batch norm reads, through a chain of
   single-reader nodes, a conv or dense, the scale moves into that layer's output channels
   through max pools (``max(s*z) = s*max(z)``), relus and leaky relus (``f(s*z) = s*f(z)``)
   and identities. The shift goes back too when no activation is on the way (a batch norm
   after a max pool, as in ``fmnist_bn``); after an activation it is pushed forwards.
2. **Push forwards.** Otherwise the whole affine ``(s, t)`` goes forward from the batch norm.

Either way the affine travels to every reader of the value, as a per-channel scale (None
when 1) and a shift map of the value's shape, through the ops it commutes with exactly:

- dropout and noise (identities at inference), and a ``bias_map``;
- a max pool when every ``s >= 0`` and the shift is the same at every position;
- an average pool (linear: the scale passes, the shift map is averaged through the same
  windows, so an integer-padded ``count_pad`` pool gives an exact map, not a per-channel shift);
- flatten and tile (the scale and the map are laid out as the op lays out the values);
- concat (scale 1 and shift 0 on the other inputs' channels);
- add, and a later batch norm, for a shift alone (``add(x + t, y) = add(x, y) + t``).

It ends in a conv or dense: the scale multiplies the weights per *input* channel and the
layer's bias gains ``op(t)``, the layer applied to the shift map without bias. A conv with
zero padding reads the shift only on real cells, so ``op(t)`` differs near the border: the
conv's bias takes the interior value and a ``bias_map`` node after the conv adds the rest
(measured against keeping the batch norm in :mod:`benchmarks.onnx_speed`). Any other reader
(an activation, the graph output, a max pool the scale cannot pass) keeps the batch norm as it
is: the push happens on every path or on none, so a value read twice is rewritten for both
readers or left alone. The graph is for inference only (training normalises by the batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..graph import Graph, Node, make_node
from ..ops import NoAttrs
from .affine_maps import avg_pool_of_map, conv_of_constant, conv_of_map, is_uniform
from .fold_batch_norm import bn_scale_shift
from .pipeline import Params, PassResult

HOMOGENEOUS = ("relu", "leaky_relu")  # f(s*z) = s*f(z) for every s > 0
PASS_THROUGH = ("dropout", "noise", "bias_map")


@dataclass(frozen=True)
class Affine:
    """``x -> scale * x + shift`` on a value: ``scale`` per last-axis entry (None: 1),
    ``shift`` one ``[C]`` vector for every position or a map of the value's shape (float64).
    """

    scale: np.ndarray | None
    shift: np.ndarray

    def per_channel(self, shape: tuple[int, ...]) -> np.ndarray | None:
        """The shift as one ``[C]`` vector, or None when it differs between positions."""
        if self.shift.ndim < len(shape) or len(shape) == 1:
            return self.shift
        return self.shift.reshape(-1, shape[-1])[0] if is_uniform(self.shift) else None

    def full(self, shape: tuple[int, ...]) -> np.ndarray:
        """The shift as a map of ``shape``."""
        return np.broadcast_to(self.shift, shape)


@dataclass
class Absorbed:
    """What the conv and dense layers at the end of the push take in, by node: a factor per
    input channel (or feature), and what the layer makes of the shift (``[cout]``, or for a
    conv whose windows read padding ``[oh, ow, cout]``), computed with the layer's weights as
    they were before the push (the scale applies to them after)."""

    scale: dict[str, np.ndarray] = field(default_factory=dict)
    shift: dict[str, np.ndarray] = field(default_factory=dict)


def push_affine_forward(graph: Graph, params: Params | None = None, *,
                        bias_maps: bool = True) -> PassResult:
    """Every batch norm that can be pushed exactly (see the module doc) removed, its affine
    absorbed by the conv and dense layers after it. Without ``params`` the graph is returned
    unchanged: whether a push is exact depends on the values (the signs of the scales).
    ``bias_maps=False`` keeps a batch norm whose push would need a ``bias_map``."""
    if params is None:
        return PassResult(graph, params, False)
    out, new_params, changed = graph, params, False
    for name in [n.name for n in graph if n.op == "batch_norm"]:
        rewritten = _push_one(out, new_params, name, bias_maps)
        if rewritten is not None:
            out, new_params = rewritten
            changed = True
    return PassResult(out, new_params, changed)


def _push_one(graph: Graph, params: Params, bn_name: str,
              bias_maps: bool) -> tuple[Graph, Params] | None:
    """The graph and parameters without batch norm ``bn_name``, or None where no exact push
    exists."""
    bn = graph[bn_name]
    if bn_name == graph.output:
        return None
    s, t = bn_scale_shift(bn, params)
    chain, shift_back = _backward_chain(graph, bn) if np.all(s > 0) else ([], False)
    absorbed = Absorbed()
    if not shift_back:
        affine = Affine(None if chain else s, t)
        if not _push(graph, params, bn_name, affine, absorbed):
            return None
        if not bias_maps and not all(m.ndim == 1 or is_uniform(m)
                                     for m in absorbed.shift.values()):
            return None
    out, new_params = graph.copy(), dict(params)
    if chain:
        _scale_outputs(out, new_params, chain, s, t if shift_back else None)
    out.replace_all_uses_with(bn_name, bn.inputs[0])
    out.erase(bn_name)
    for p in bn.params:
        del new_params[p.name]
    for name, factor in absorbed.scale.items():
        _scale_inputs(out[name], new_params, factor)
    for name, shift in absorbed.shift.items():
        _add_shift(out, new_params, name, shift)
    return out, new_params


def _backward_chain(graph: Graph, bn: Node) -> tuple[list[str], bool]:
    """The conv or dense layer a positive scale can move back into, with the nodes between it
    and the batch norm (layer first), and whether the shift can go back too (no activation on
    the way); ([], False) when there is none. Every node of the chain has one reader."""
    users = graph.users()
    chain: list[str] = []
    shift_back = True
    node, reader = graph[bn.inputs[0]], bn.name
    while users[node.name] == (reader,):
        chain.insert(0, node.name)
        if node.op in ("conv", "dense"):
            # right after the layer it is fold_batch_norm's case, not this pass's
            ok = getattr(node.attrs, "activation", None) is None and len(chain) > 1
            return (chain, shift_back) if ok else ([], False)
        if node.op == "act" and node.attrs.func in HOMOGENEOUS:
            shift_back = False
        elif node.op not in ("max_pool", *PASS_THROUGH):
            break
        node, reader = graph[node.inputs[0]], node.name
    return [], False


def _push(graph: Graph, params: Params, value: str, affine: Affine, absorbed: Absorbed) -> bool:
    """Push ``affine`` on ``value`` into all its readers; False when one cannot take it."""
    if value == graph.output:
        return False
    for reader in graph.users()[value]:
        node = graph[reader]
        slots = [k for k, i in enumerate(node.inputs) if i == value]
        if not _into(graph, params, node, slots, affine, absorbed):
            return False
    return True


def _into(graph: Graph, params: Params, node: Node, slots: list[int], a: Affine,
          absorbed: Absorbed) -> bool:
    """Push ``a``, on the inputs ``slots`` of ``node``, through or into it."""
    op = node.op
    if op in PASS_THROUGH:
        return _push(graph, params, node.name, a, absorbed)
    if op == "add" or op == "batch_norm":
        if a.scale is not None:
            return False
        if op == "batch_norm":
            return _push(graph, params, node.name,
                         Affine(None, a.shift * bn_scale_shift(node, params)[0]), absorbed)
        return _push(graph, params, node.name, Affine(None, a.shift * len(slots)), absorbed)
    shape = graph[node.inputs[slots[0]]].shape
    if op == "max_pool":
        vector = a.per_channel(shape)
        if (a.scale is not None and np.any(a.scale < 0)) or vector is None:
            return False
        return _push(graph, params, node.name, Affine(a.scale, vector), absorbed)
    if op == "avg_pool":
        vector = a.per_channel(shape)
        if vector is not None and not (node.attrs.count_pad
                                       and _reads_padding(node.attrs.windows)):
            shift = vector  # the mean of equal values
        else:
            shift = avg_pool_of_map(a.full(shape), node.attrs.windows, node.attrs.count_pad)
        return _push(graph, params, node.name, Affine(a.scale, shift), absorbed)
    if op == "flatten":
        cells = int(np.prod(shape[:-1]))
        scale = None if a.scale is None else np.tile(a.scale, cells)
        return _push(graph, params, node.name, Affine(scale, a.full(shape).reshape(-1)),
                     absorbed)
    if op == "tile":
        reps = node.attrs.reps
        scale = None if a.scale is None else np.tile(a.scale, reps)
        shift = np.tile(a.shift, (1,) * (a.shift.ndim - 1) + (reps,))
        return _push(graph, params, node.name, Affine(scale, shift), absorbed)
    if op == "concat":
        return _push(graph, params, node.name, _concatenated(graph, node, slots, a), absorbed)
    if op in ("conv", "dense") and getattr(node.attrs, "activation", None) is None:
        _absorb(node, params, a, absorbed)
        return True
    return False


def _concatenated(graph: Graph, node: Node, slots: list[int], a: Affine) -> Affine:
    """The affine on a concat's output: ``a`` on the channels of ``slots``, identity on the rest."""
    vector = a.shift.ndim == 1
    scales, shifts = [], []
    for k, i in enumerate(node.inputs):
        shape = graph[i].shape
        here = k in slots
        scales.append(a.scale if here and a.scale is not None else np.ones(shape[-1]))
        shifts.append(a.shift if here else np.zeros(shape[-1:] if vector else shape))
    return Affine(None if a.scale is None else np.concatenate(scales),
                  np.concatenate(shifts, axis=-1))


def _reads_padding(windows) -> bool:
    return any(w.pad_lo > 0 or w.pad_hi > 0 for w in windows)


def _absorb(node: Node, params: Params, a: Affine, absorbed: Absorbed) -> None:
    """Record what conv or dense ``node`` takes in: ``a``'s scale on its inputs, and its weights
    (before this push) applied to ``a``'s shift."""
    if a.scale is not None:
        absorbed.scale[node.name] = absorbed.scale.get(node.name, 1.0) * a.scale
    if node.op == "conv":
        kernel, windows, groups = (params[f"{node.name}.kernel"], node.attrs.windows,
                                   node.attrs.groups)
        made = (conv_of_constant(a.shift, kernel, windows, groups) if a.shift.ndim == 1
                else conv_of_map(a.shift, kernel, windows, groups))
    else:
        made = a.shift @ np.asarray(params[f"{node.name}.weight"], np.float64)
    absorbed.shift[node.name] = absorbed.shift.get(node.name, 0.0) + made


def _scale_outputs(graph: Graph, params: Params, chain: list[str], s: np.ndarray,
                   t: np.ndarray | None) -> None:
    """Make the layer at the head of ``chain`` output ``s * y (+ t)``: its weight and bias, and
    every bias map on the way, times ``s``; ``t`` added to its bias."""
    layer = graph[chain[0]]
    weight = f"{layer.name}.{'kernel' if layer.op == 'conv' else 'weight'}"
    dtype = params[weight].dtype
    params[weight] = (np.asarray(params[weight], np.float64) * s).astype(dtype)
    for name in chain[1:]:
        if graph[name].op == "bias_map":
            key = f"{name}.bias"
            params[key] = (np.asarray(params[key], np.float64) * s).astype(dtype)
    if layer.attrs.bias or t is not None:
        bias = np.asarray(params[f"{layer.name}.bias"], np.float64) if layer.attrs.bias else 0.0
        params[f"{layer.name}.bias"] = (bias * s + (0.0 if t is None else t)).astype(dtype)
    if not layer.attrs.bias:
        graph.set_attrs(layer.name, replace(layer.attrs, bias=True))


def _scale_inputs(node: Node, params: Params, factor: np.ndarray) -> None:
    """Multiply a conv's kernel per input channel (within its group) or a dense weight's rows."""
    if node.op == "conv":
        name = f"{node.name}.kernel"
        kernel = np.asarray(params[name], np.float64)
        cpg, cout = kernel.shape[2], kernel.shape[3]
        groups = node.attrs.groups
        # input channel of (local input c, output o): (o // (cout/groups)) * cpg + c
        channel = (np.arange(cout) // (cout // groups))[None, :] * cpg + np.arange(cpg)[:, None]
        params[name] = (kernel * factor[channel]).astype(params[name].dtype)
    else:
        name = f"{node.name}.weight"
        params[name] = (np.asarray(params[name], np.float64)
                        * factor[:, None]).astype(params[name].dtype)


def _add_shift(graph: Graph, params: Params, name: str, made: np.ndarray) -> None:
    """Add ``made`` to the output of conv or dense ``name``: into its bias, and for a conv whose
    map is not the same at every position, the rest into a ``bias_map`` after it."""
    node = graph[name]
    dtype = params[f"{name}.{'kernel' if node.op == 'conv' else 'weight'}"].dtype
    bias = np.asarray(params[f"{name}.bias"], np.float64) if node.attrs.bias else 0.0
    total = bias + made
    if node.op == "dense" or total.ndim == 1 or is_uniform(total):
        params[f"{name}.bias"] = total.reshape(-1, total.shape[-1])[0].astype(dtype)
    else:
        interior = total[total.shape[0] // 2, total.shape[1] // 2]
        params[f"{name}.bias"] = interior.astype(dtype)
        _add_bias_map(graph, params, name, total - interior, dtype)
    if not node.attrs.bias:
        graph.set_attrs(name, replace(node.attrs, bias=True))


def _add_bias_map(graph: Graph, params: Params, conv: str, rest: np.ndarray, dtype) -> None:
    """Add ``rest`` to the conv's ``bias_map`` (made here when the conv has none yet)."""
    users = graph.users()[conv]
    if len(users) == 1 and graph[users[0]].op == "bias_map":
        key = f"{users[0]}.bias"
        params[key] = (np.asarray(params[key], np.float64) + rest).astype(dtype)
        return
    name = f"{conv}/bias_map"
    graph.insert_after(conv, make_node(name, "bias_map", NoAttrs(), [conv],
                                       [graph[conv].shape], graph[conv].loc))
    params[f"{name}.bias"] = rest.astype(dtype)

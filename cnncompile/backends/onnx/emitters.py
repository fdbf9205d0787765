"""One emit function per IR op: it appends the ONNX nodes that compute the op exactly.

Every emitter reads the IR's window geometry (:class:`~cnncompile.ir.window.AxisWindow`) as it
is: explicit ``pads``, never ``auto_pad``, and a ``Slice`` where a window starts inside the
input (the textbook's stride offset). Nothing here recomputes SAME/VALID arithmetic.
``EMITTERS`` is the ONNX backend's :class:`~cnncompile.backends.registry.Lowerings`;
``tests/backends/test_op_coverage.py`` fails if an op has none.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...ir.layout import to_out_first
from ...ir.ops import LEAKY_SLOPE
from ...ir.window import ExplicitPads, explicit_pads
from ..registry import Lowerings
from .context import FLAT, NCHW, EmitContext, Value

Emitter = Callable[[EmitContext, object], None]
EMITTERS: Lowerings[Emitter] = Lowerings("onnx")
emitter = EMITTERS.register  # decorator: the emitter of one IR op


# -- windows -----------------------------------------------------------------------------------


def windowed_input(ctx: EmitContext, node, geometry: ExplicitPads) -> str:
    """The node's input, sliced first when the geometry crops it."""
    x = ctx.value(node.inputs[0]).name
    if not geometry.needs_slice:
        return x
    args = [x, ctx.int64s(f"{node.name}/slice.starts", geometry.starts),
            ctx.int64s(f"{node.name}/slice.ends", geometry.ends),
            ctx.int64s(f"{node.name}/slice.axes", (2, 3))]
    return ctx.add("Slice", args, ctx.reserve(f"{node.name}/slice"), f"{node.name}/slice")


def _window_attrs(windows, geometry: ExplicitPads) -> dict:
    return {"kernel_shape": [w.kernel for w in windows], "strides": [w.stride for w in windows],
            "pads": list(geometry.pads)}


def _is_global(windows, geometry: ExplicitPads) -> bool:
    """One window covering the whole (possibly cropped) input, no padding."""
    spans = zip(geometry.starts, geometry.ends, windows, strict=True)
    return (not any(geometry.pads) and all(w.out == 1 for w in windows)
            and all(e - s == w.kernel for s, e, w in spans))


def _emit_spatial(ctx: EmitContext, node, op_type: str, inputs: list[str], **attrs) -> None:
    out = ctx.add(op_type, inputs, ctx.value_name(node.name), node.name, **attrs)
    ctx.set_value(node.name, Value(out, NCHW))


# -- ops ---------------------------------------------------------------------------------------


@emitter("input")
def emit_input(ctx: EmitContext, node) -> None:
    """The graph input; an NHWC image input is transposed to NCHW once, here."""
    name = ctx.input_name
    if len(node.shape) == 3 and ctx.layout == "nhwc":
        out = ctx.add("Transpose", [name], ctx.reserve(f"{name}/nchw"), f"{node.name}/to_nchw",
                      perm=[0, 3, 1, 2])
        ctx.set_value(node.name, Value(out, NCHW))
    else:
        ctx.set_value(node.name, Value(name, NCHW if len(node.shape) == 3 else FLAT))


@emitter("conv")
def emit_conv(ctx: EmitContext, node) -> None:
    """Conv: kernel [kh, kw, cin/groups, cout] -> OIHW."""
    a = node.attrs
    geometry = explicit_pads(a.windows)
    kernel = to_out_first(node.param("kernel").layout, ctx.param(f"{node.name}.kernel"))
    inputs = [windowed_input(ctx, node, geometry), ctx.initializer(f"{node.name}.kernel", kernel)]
    if a.bias:
        inputs.append(ctx.initializer(f"{node.name}.bias", ctx.param(f"{node.name}.bias")))
    _emit_spatial(ctx, node, "Conv", inputs, group=a.groups, dilations=[1, 1],
                  **_window_attrs(a.windows, geometry))


def _emit_pool(ctx: EmitContext, node, op: str, **attrs) -> None:
    """``op`` over the node's windows, or ``Global<op>`` where one window covers the input."""
    geometry = explicit_pads(node.attrs.windows)
    x = windowed_input(ctx, node, geometry)
    if _is_global(node.attrs.windows, geometry):
        _emit_spatial(ctx, node, f"Global{op}", [x])
    else:
        _emit_spatial(ctx, node, op, [x], **attrs, **_window_attrs(node.attrs.windows, geometry))


@emitter("max_pool")
def emit_max_pool(ctx: EmitContext, node) -> None:
    """MaxPool: ONNX pads count as -inf, so padded cells are ignored as the IR says."""
    _emit_pool(ctx, node, "MaxPool")


@emitter("avg_pool")
def emit_avg_pool(ctx: EmitContext, node) -> None:
    """AveragePool dividing by the real cells (count_include_pad=0) or by kh*kw (count_pad)."""
    _emit_pool(ctx, node, "AveragePool", count_include_pad=int(node.attrs.count_pad))


@emitter("flatten")
def emit_flatten(ctx: EmitContext, node) -> None:
    """Flatten, recording that the features come in C, H, W order rather than the IR's H, W, C.

    Lowering puts a flatten only right before a dense layer, which reads its weight rows in
    that order (see :func:`emit_dense`), so no Transpose back to NHWC is needed at run time.
    """
    x = ctx.value(node.inputs[0])
    if x.layout == FLAT:
        ctx.set_value(node.name, x)
        return
    h, w, c = ctx.graph[node.inputs[0]].shape
    order = np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)
    out = ctx.add("Flatten", [x.name], ctx.value_name(node.name), node.name, axis=1)
    ctx.set_value(node.name, Value(out, FLAT, order))


@emitter("dense")
def emit_dense(ctx: EmitContext, node) -> None:
    """Gemm with the weight stored [out, in] (transB), rows in the order its input arrives."""
    x = ctx.value(node.inputs[0])
    weight = ctx.param(f"{node.name}.weight")
    if x.order is not None:
        weight = weight[x.order]
    inputs = [x.name, ctx.initializer(f"{node.name}.weight",
                                      to_out_first(node.param("weight").layout, weight))]
    if node.attrs.bias:
        inputs.append(ctx.initializer(f"{node.name}.bias", ctx.param(f"{node.name}.bias")))
    out = ctx.add("Gemm", inputs, ctx.value_name(node.name), node.name, transB=1)
    ctx.set_value(node.name, Value(out, FLAT))


@emitter("batch_norm")
def emit_batch_norm(ctx: EmitContext, node) -> None:
    """Inference-form batch norm with the running statistics (folding is an IR pass)."""
    x = ctx.value(node.inputs[0])
    scale, shift, mean, var = ctx.bn_params(node)
    if x.order is not None:
        scale, shift, mean, var = (a[x.order] for a in (scale, shift, mean, var))
    inputs = [x.name] + [ctx.initializer(f"{node.name}.{k}", a)
                         for k, a in zip(("scale", "shift", "mean", "var"),
                                         (scale, shift, mean, var), strict=True)]
    out = ctx.add("BatchNormalization", inputs, ctx.value_name(node.name), node.name,
                  epsilon=float(node.attrs.epsilon))
    ctx.set_value(node.name, Value(out, x.layout, x.order))


_ACTIVATIONS = {"relu": ("Relu", {}), "sigmoid": ("Sigmoid", {}), "tanh": ("Tanh", {}),
                "leaky_relu": ("LeakyRelu", {"alpha": LEAKY_SLOPE}),
                "elu": ("Elu", {"alpha": 1.0})}  # the IR's elu is alpha 1 (ir/ops/act.py)


@emitter("act")
def emit_act(ctx: EmitContext, node) -> None:
    """Activations; swish is x * Sigmoid(x) (ONNX has no Swish before opset 24)."""
    x = ctx.value(node.inputs[0])
    out = ctx.value_name(node.name)
    func = node.attrs.func
    if func == "swish":
        sig = f"{node.name}/sigmoid"
        s = ctx.add("Sigmoid", [x.name], ctx.reserve(sig), sig)
        ctx.add("Mul", [x.name, s], out, node.name)
    else:
        op_type, attrs = _ACTIVATIONS[func]
        ctx.add(op_type, [x.name], out, node.name, **attrs)
    ctx.set_value(node.name, Value(out, x.layout, x.order))


@emitter("dropout")
def emit_dropout(ctx: EmitContext, node) -> None:
    """Identity at inference: no node at all."""
    ctx.set_value(node.name, ctx.value(node.inputs[0]))


@emitter("noise")
def emit_noise(ctx: EmitContext, node) -> None:
    """Identity at inference: no node at all."""
    ctx.set_value(node.name, ctx.value(node.inputs[0]))


@emitter("concat")
def emit_concat(ctx: EmitContext, node) -> None:
    """Concat on channels: axis 1 in NCHW and in [N, F] alike."""
    xs = [ctx.value(i) for i in node.inputs]
    out = ctx.add("Concat", [x.name for x in xs], ctx.value_name(node.name), node.name, axis=1)
    ctx.set_value(node.name, Value(out, xs[0].layout))


@emitter("add")
def emit_add(ctx: EmitContext, node) -> None:
    """Add for two inputs (what PyTorch exports, so ORT fuses it the same way), Sum for more."""
    xs = [ctx.value(i) for i in node.inputs]
    op_type = "Add" if len(xs) == 2 else "Sum"
    out = ctx.add(op_type, [x.name for x in xs], ctx.value_name(node.name), node.name)
    ctx.set_value(node.name, Value(out, xs[0].layout))


@emitter("bias_map")
def emit_bias_map(ctx: EmitContext, node) -> None:
    """Add of a constant ``[C, H, W]`` map (broadcast over the batch)."""
    x = ctx.value(node.inputs[0])
    bias = ctx.initializer(f"{node.name}.bias",
                           to_out_first("HWC", ctx.param(f"{node.name}.bias")))
    out = ctx.add("Add", [x.name, bias], ctx.value_name(node.name), node.name)
    ctx.set_value(node.name, Value(out, x.layout))


@emitter("tile")
def emit_tile(ctx: EmitContext, node) -> None:
    """Channels tiled as whole blocks (np.tile: channel k is input channel k mod c).

    Written as a Concat of ``reps`` copies on the channel axis: the same bytes as ``Tile``,
    and ONNX shape inference keeps the symbolic batch dimension through it.
    """
    x = ctx.value(node.inputs[0])
    out = ctx.add("Concat", [x.name] * node.attrs.reps, ctx.value_name(node.name), node.name,
                  axis=1)
    ctx.set_value(node.name, Value(out, x.layout))

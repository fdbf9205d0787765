"""Graph assembly: walk the IR in order, call each op's emitter, add the heads, stamp versions.

The result is deterministic: the same graph, parameters and options give a byte-identical
serialised model (no timestamps, attributes sorted by ``onnx.helper``, names from the IR).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ... import __version__
from ...choices import HEAD_OUTPUTS, LAYOUTS
from ...errors import ExportError
from ...ir.passes import Pass, fold_batch_norm, push_affine_forward, run_passes
from ..registry import MissingLowering
from .context import FLAT, NCHW, EmitContext
from .emitters import EMITTERS

# The lowest opset with every feature used here: Split's sizes as an input and Softmax over
# one axis (both opset 13). Runtimes since 2020 (onnxruntime >= 1.6) load it.
MIN_OPSET = 13
DEFAULT_OPSET = 13
MAX_OPSET = 26
# onnx 1.23 stamps IR version 14 by default, which onnxruntime up to 1.31 rejects; every opset
# we emit needs at most IR 13.
MAX_IR_VERSION = 13
INPUT_NAME = "input"
BATCH_DIM = "N"


@dataclass(frozen=True)
class ExportOptions:
    """How to export: opset, input layout ('nhwc' as the data comes, or 'nchw'), outputs
    ('probs': softmax per head, sigmoid for binary; 'logits': the output layer as it is),
    whether to fold batch norms into the conv/dense before them and whether to push the others
    (after an activation or a pool) into the layers after them where that is exact
    (:func:`~cnncompile.ir.passes.push_affine_forward`; off only to compare with the export
    before that pass), whether those pushes may add a constant map after a padded conv
    (``bias_maps``: then no ``LAB`` batch norm is left, but onnxruntime runs the export no
    faster, see :func:`pipeline`), and metadata_props."""

    opset: int = DEFAULT_OPSET
    layout: str = "nhwc"
    outputs: str = "probs"
    fold_batch_norm: bool = True
    push_batch_norm: bool = True
    bias_maps: bool = False
    metadata: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ExportError for an option outside what the exporter supports."""
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            raise ExportError(f"`--opset` must be between {MIN_OPSET} and {MAX_OPSET}. "
                              f"Received: opset={self.opset}")
        if self.layout not in LAYOUTS:
            raise ExportError(f"`--layout` must be {' or '.join(LAYOUTS)}. "
                              f"Received: layout={self.layout!r}")
        if self.outputs not in HEAD_OUTPUTS:
            raise ExportError(f"`--outputs` must be {' or '.join(HEAD_OUTPUTS)}. "
                              f"Received: {self.outputs!r}")


def ir_version_for(opset: int) -> int:
    """The IR version matching ``opset`` (the lowest that allows it), never above 13."""
    from onnx import helper

    return min(helper.find_min_ir_version_for([helper.make_opsetid("", opset)]), MAX_IR_VERSION)


def pipeline(options: ExportOptions) -> tuple[Pass, ...]:
    """The IR passes the export runs before emitting: batch-norm folding, then pushing the
    batch norms left forward; ``fold_batch_norm=False`` keeps every batch norm.

    By default a push that needs a ``bias_map`` (an ``Add`` of a constant ``[C, H, W]`` map
    after a padded conv) is not made: onnxruntime (CPU, one thread, interleaved medians,
    random weights and statistics, batch 1 / 8) ran ``residual_flower`` 0.90x / 0.92x and
    ``bottleneck_flower`` 1.00x / 0.97x of the export that keeps those batch norms. Its NCHWc
    transformer turns a lone ``BatchNormalization`` into a depthwise NCHWc conv fused with what
    follows, but cannot take an ``Add`` of a constant: it reorders the tensor out of and back
    into NCHWc around it and the ``Relu`` after it no longer fuses into the conv. For the
    same reason even deleting every ``LAB`` batch norm and map outright (wrong, as a bound)
    ran only 1.05x-1.11x; the pushes made by default measured 0.96x-1.03x, within the noise.
    """
    if not options.fold_batch_norm:
        return ()
    if not options.push_batch_norm:
        return (fold_batch_norm,)
    return (fold_batch_norm, partial(push_affine_forward, bias_maps=options.bias_maps))


def _emit_heads(ctx: EmitContext, graph, outputs: str) -> None:
    """Split the output layer per head, then softmax (classes) or sigmoid (binary) unless logits."""
    from onnx import helper

    heads, kind = graph.heads.heads, graph.heads.kind
    logits = ctx.value(graph.output).name
    if len(heads) == 1:
        if logits != heads[0].name:
            _emit_head_activation(ctx, kind, logits, heads[0].name, f"{graph.output}/")
        return
    raw = outputs == "logits" or kind == "regression"
    names = [h.name if raw else ctx.reserve(f"logits/{h.name}") for h in heads]
    sizes = ctx.int64s(f"{graph.output}/split.sizes", [h.size for h in heads])
    ctx.nodes.append(helper.make_node("Split", [logits, sizes], names,
                                      name=f"{graph.output}/split", axis=1))
    if not raw:
        for h, name in zip(heads, names, strict=True):
            _emit_head_activation(ctx, kind, name, h.name, f"{graph.output}/{h.name}/")


def _emit_head_activation(ctx: EmitContext, kind: str, x: str, out: str, prefix: str) -> None:
    if kind == "classes":
        ctx.add("Softmax", [x], out, f"{prefix}softmax", axis=1)
    elif kind == "binary":
        ctx.add("Sigmoid", [x], out, f"{prefix}sigmoid")
    else:  # regression outputs are the output layer as it is
        ctx.add("Identity", [x], out, f"{prefix}identity")


def _reserve_outputs(ctx: EmitContext, graph, outputs: str) -> None:
    """Fix the names of the graph input, the head outputs and the output layer's value."""
    heads = graph.heads.heads
    ctx.reserve(INPUT_NAME)
    names = [h.name for h in heads]
    if len(set(names)) != len(names) or INPUT_NAME in names:
        raise ExportError(f"head names must be distinct and not {INPUT_NAME!r}. Received: {names}")
    direct = len(heads) == 1 and (outputs == "logits" or graph.heads.kind == "regression")
    if direct:
        ctx.name_output(graph.output, heads[0].name)
    else:
        for name in names:
            ctx.reserve(name)
        ctx.name_output(graph.output, "logits")


def input_dims(graph, layout: str) -> list:
    """The graph input's ONNX dims: batch 'N', then H, W, C (nhwc) or C, H, W (nchw)."""
    shape = graph.input_shape
    if len(shape) == 3 and layout == "nchw":
        shape = (shape[2], shape[0], shape[1])
    return [BATCH_DIM, *shape]


def onnx_shape(shape: tuple[int, ...], layout: str) -> list:
    """The ONNX shape (batch first) of a value holding an IR tensor of ``shape``."""
    if layout == NCHW:
        return [BATCH_DIM, shape[2], shape[0], shape[1]]
    return [BATCH_DIM, *shape]


def build_model(graph, params: dict[str, np.ndarray], options: ExportOptions = ExportOptions()):
    """The ONNX model computing ``graph`` at inference with ``params``.

    The graph and parameters first go through :func:`pipeline`; the emitters see the result.

    Returns:
        (onnx.ModelProto, EmitContext): the context holds the emitted graph and maps every IR
        node name of ``graph`` (a node a pass merged away included) to its ONNX value, which
        the shape check uses.
    Raises:
        ExportError: bad options, or an IR op without an emitter.
    """
    from onnx import TensorProto, helper

    options.validate()
    model_graph, model_params = graph, params
    graph, params, _ = run_passes(graph, params, pipeline(options))
    ctx = EmitContext(graph, params, options.layout, INPUT_NAME, model_graph, model_params)
    _reserve_outputs(ctx, graph, options.outputs)
    for node in graph:
        try:
            emit = EMITTERS.lookup(node.op)
        except MissingLowering as e:
            raise ExportError(f"node {node.name!r}: {e}") from None
        emit(ctx, node)
    for merged, into in graph.aliases.items():
        ctx.set_value(merged, ctx.value(into))
    if ctx.value(graph.output).layout != FLAT:
        raise ExportError(f"the output layer {graph.output!r} is not flat")
    _emit_heads(ctx, graph, options.outputs)

    inputs = [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT,
                                            input_dims(graph, options.layout))]
    outputs = [helper.make_tensor_value_info(h.name, TensorProto.FLOAT, [BATCH_DIM, h.size])
               for h in graph.heads.heads]
    onnx_graph = helper.make_graph(ctx.nodes, graph.name, inputs, outputs, ctx.initializers)
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", options.opset)],
        ir_version=ir_version_for(options.opset),
        producer_name="cnncompile",
        producer_version=__version__,
    )
    helper.set_model_props(model, dict(sorted(options.metadata.items())))
    return model, ctx

"""The checks every export passes before a file is written: validity, shapes and parity.

1. ``onnx.checker.check_model(full_check=True)``;
2. strict ONNX shape inference, whose shape for every IR node's value must equal the IR's own
   (the shapes ``analyze`` prints), in the value's layout;
3. onnxruntime (CPU) against the NumPy engine on one batch: the output layer's logits and every
   head output, the largest difference relative to the output's scale at most ``tol``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ExportError
from .assemble import onnx_shape
from .context import EmitContext

PARITY_TOLERANCE = 1e-4


def check_validity(model: bytes) -> None:
    """The ONNX checker with ``full_check`` (which runs strict shape inference too) on the
    serialised model."""
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        first = str(e).strip().splitlines()[0]
        raise ExportError(f"the exported model fails the ONNX checker: {first}") from e


def skeleton(model):
    """``model`` with its float initializers turned into typed graph inputs.

    Shape inference needs their types and shapes, not their bytes; the int64 constants (Slice
    bounds, Split sizes) stay, since inference reads their values. Copying no weights keeps
    the check instant even for VGG's half a gigabyte.
    """
    from onnx import TensorProto, helper

    g = model.graph
    small = [t for t in g.initializer if t.data_type != TensorProto.FLOAT]
    typed = [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
             for t in g.initializer if t.data_type == TensorProto.FLOAT]
    graph = helper.make_graph(list(g.node), g.name, list(g.input) + typed, list(g.output), small)
    out = helper.make_model(graph, opset_imports=list(model.opset_import),
                            ir_version=model.ir_version)
    return out


def inferred_shapes(model) -> dict[str, list]:
    """Value name -> ONNX-inferred dims (int, or the symbolic batch name) under strict mode."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(skeleton(model), check_type=True,
                                                     strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as e:
        first = str(e).strip().splitlines()[0]
        raise ExportError(f"ONNX shape inference fails on the exported model: {first}") from e
    out = {}
    g = inferred.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        dims = vi.type.tensor_type.shape.dim
        out[vi.name] = [d.dim_param if d.HasField("dim_param") else
                        (d.dim_value if d.HasField("dim_value") else None) for d in dims]
    return out


def check_shapes(model, ctx: EmitContext) -> int:
    """Every IR node's ONNX value has the IR's shape (batch axis 'N'); returns how many matched.

    The nodes are the model's as given, before the export's passes (a folded batch norm's
    value is its conv's).

    Raises:
        ExportError: naming the first node whose inferred shape differs.
    """
    shapes = inferred_shapes(model)
    checked = 0
    for node in ctx.model_graph:
        value = ctx.values[node.name]
        expected = onnx_shape(node.shape, value.layout)
        got = shapes.get(value.name)
        if got != expected:
            raise ExportError(f"node {node.name!r}: ONNX infers shape {got} for "
                              f"{value.name!r}, the IR says {expected}")
        checked += 1
    return checked


@dataclass(frozen=True)
class Parity:
    """onnxruntime vs the NumPy engine on one batch."""

    batch: int
    max_abs: float  # largest |onnx - engine| over every compared output
    max_rel: float  # the same, each output's difference divided by its scale (max |engine|)
    per_output: dict[str, tuple[float, float]]  # output -> (max abs, relative)

    def ok(self, tol: float = PARITY_TOLERANCE) -> bool:
        """Every relative difference is within ``tol`` (NaN never is)."""
        return self.max_rel <= tol

    def __str__(self) -> str:
        return (f"max abs diff {self.max_abs:.3g}, max relative diff {self.max_rel:.3g} "
                f"(batch {self.batch}; " + ", ".join(
                    f"{k} {a:.2g}/{r:.2g}" for k, (a, r) in self.per_output.items()) + ")")


def engine_outputs(graph, params: dict[str, np.ndarray], x: np.ndarray,
                   outputs: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The engine's logits and, per head, what the exported model outputs."""
    from ...artifacts.heads import exported_values
    from ..numpy import Executor

    logits = Executor(graph).forward(params, x, training=False).astype(np.float64)
    return logits, exported_values(graph.heads, logits, outputs)


def with_outputs(data: bytes, names: list[str]) -> bytes:
    """A serialised model with the values ``names`` appended to its graph outputs.

    Protobuf merges concatenated messages (repeated fields append, embedded messages merge), so
    appending a ModelProto that holds only those outputs adds them without re-serialising the
    weights.
    """
    from onnx import GraphProto, ModelProto, helper

    extra = GraphProto(output=[helper.make_empty_tensor_value_info(n) for n in names])
    return data + ModelProto(graph=extra).SerializeToString()


def run_onnx(data: bytes, x: np.ndarray, extra: list[str] = ()) -> dict[str, np.ndarray]:
    """Run a serialised model in onnxruntime on CPU; ``extra`` internal values become outputs."""
    import onnxruntime as ort

    if extra:
        data = with_outputs(data, list(extra))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {session.get_inputs()[0].name: x}), strict=True))


def check_parity(data: bytes, ctx: EmitContext, x: np.ndarray, outputs: str,
                 tol: float = PARITY_TOLERANCE) -> Parity:
    """Compare onnxruntime on the serialised model with the engine running the model as
    given (before the export's passes) on ``x`` (NHWC).

    Raises:
        ExportError: onnxruntime cannot run the model, the engine's outputs are not finite, or
            a relative difference exceeds ``tol``.
    """
    graph = ctx.model_graph
    logits, heads = engine_outputs(graph, ctx.model_params, x, outputs)
    if not np.all(np.isfinite(logits)):
        largest = float(np.max(np.abs(x))) if x.size else 0.0
        raise ExportError("the NumPy engine's outputs are not finite on the parity batch (the "
                          f"weights, or inputs as large as {largest:.3g} (pixels times the "
                          "input scale), overflow float32); no parity check is possible")
    logits_name = ctx.values[graph.output].name
    extra = [] if logits_name in heads else [logits_name]
    feed = x.transpose(0, 3, 1, 2) if x.ndim == 4 and ctx.layout == "nchw" else x
    try:
        got = run_onnx(data, np.ascontiguousarray(feed, np.float32), extra)
    except Exception as e:  # onnxruntime raises its own exception types
        raise ExportError(f"onnxruntime cannot run the exported model: "
                          f"{str(e).strip().splitlines()[0]}") from e
    pairs = {} if logits_name in heads else {"logits": (got[logits_name], logits)}
    pairs.update({f"head {k}": (got[k], v) for k, v in heads.items()})
    per = {}
    for key, (a, b) in pairs.items():
        diff = float(np.max(np.abs(a.astype(np.float64) - b))) if b.size else 0.0
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        per[key] = (diff, diff / scale if scale > 0 else diff)
    result = Parity(len(x), max(d for d, _ in per.values()), max(r for _, r in per.values()), per)
    if not result.ok(tol):
        raise ExportError(f"onnxruntime and the NumPy engine disagree: {result}; tolerance {tol:g} "
                          "relative to the output scale")
    return result

"""An IR graph and its weights to an ONNX file: built, checked, compared, written atomically.

Nothing is written unless every check passes, and the file appears only by a rename of a fully
written temporary file, so an interrupted or failed export never leaves a half-written model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ...analysis.memory import check_memory
from ...artifacts.files import write_bytes
from ...artifacts.preprocess import Preprocessing, for_export
from ...errors import DataError
from .assemble import ExportOptions, build_model, ir_version_for
from .checks import PARITY_TOLERANCE, Parity, check_parity, check_shapes, check_validity
from .metadata import model_metadata, recorded_accuracy


@dataclass
class Weights:
    """Parameters by IR name, where they came from, and what their checkpoint recorded.

    ``preprocessing`` is the checkpoint's record, read and checked once when the file was read
    (:func:`cnncompile.workflows.export.load_weights`); None for a plain parameters file or an
    initialisation.
    """

    params: dict[str, np.ndarray]
    source: str
    meta: dict = field(default_factory=dict)
    trained: bool = True
    preprocessing: Preprocessing | None = None


def random_batch(graph, preprocessing: Preprocessing, n: int, seed: int = 0) -> np.ndarray:
    """A parity batch like real data: pixels uniform in 0-255 as ``preprocessing`` feeds them,
    else N(0, 1)."""
    rng = np.random.default_rng(seed)
    shape = (n, *graph.input_shape)
    if len(graph.input_shape) == 3:
        return preprocessing.apply(rng.uniform(0, 255, shape))
    return rng.standard_normal(shape).astype(np.float32)


@dataclass(frozen=True)
class ExportResult:
    """What an export made and measured; ``model`` is the checked onnx.ModelProto."""

    model: object = field(repr=False)
    path: Path | None
    size_bytes: int
    opset: int
    ir_version: int
    shapes_checked: int
    parity: Parity
    metadata: dict
    preprocessing: Preprocessing


def export_graph(spec, graph, weights: Weights, out: Path | None,
                 options: ExportOptions = ExportOptions(), *,
                 preprocessing: Preprocessing | None = None, x: np.ndarray | None = None,
                 parity_batch: int = 4, seed: int = 0, class_names: list | None = None,
                 tol: float = PARITY_TOLERANCE) -> ExportResult:
    """Build, check and (when ``out`` is given) write the ONNX model of ``graph``.

    ``x`` is the parity batch (model inputs, NHWC); without it a random one of
    ``parity_batch`` samples is drawn. ``preprocessing`` is the record written into the
    metadata; by default :func:`~cnncompile.artifacts.preprocess.for_export` of the weights'
    own record.

    Raises:
        ExportError: the model fails the checker, shape inference or the parity check; nothing
            is written then.
        DataError: a parity batch of the wrong shape.
    """
    options.validate()
    if preprocessing is None:
        preprocessing = for_export(graph.input_shape, recorded=weights.preprocessing)
    names = weights.meta.get("class_names")
    meta = model_metadata(spec, graph, layout=options.layout, outputs=options.outputs,
                          preprocessing=preprocessing, weights=weights.source,
                          accuracy=recorded_accuracy(weights.meta),
                          class_names=class_names or names)
    options = replace(options, metadata={**meta, **options.metadata})
    check_memory(graph, parity_batch if x is None else len(x), purpose="export's parity check",
                 hint="lower --parity-batch")
    model, ctx = build_model(graph, weights.params, options)
    data = model.SerializeToString()
    check_validity(data)
    checked = check_shapes(model, ctx)
    if x is None:
        x = random_batch(graph, preprocessing, parity_batch, seed)
    elif x.shape[1:] != tuple(graph.input_shape):
        raise DataError(f"the parity batch has shape {list(x.shape)}; the model takes "
                        f"[N, {', '.join(map(str, graph.input_shape))}]")
    parity = check_parity(data, ctx, x, options.outputs, tol)
    if out is not None:
        write_bytes(Path(out), data)
    return ExportResult(model, Path(out) if out is not None else None, len(data), options.opset,
                        ir_version_for(options.opset), checked, parity, dict(options.metadata),
                        preprocessing)

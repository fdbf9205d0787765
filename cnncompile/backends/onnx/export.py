"""Export a spec to an ONNX file: weights in, model built, checked, compared, written atomically.

Nothing is written unless every check passes, and the file appears only by a rename of a fully
written temporary file, so an interrupted or failed export never leaves a half-written model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ...analysis.memory import check_memory
from ...artifacts.files import write_bytes
from ...errors import DataError
from .assemble import ExportOptions, build_model, ir_version_for
from .checks import PARITY_TOLERANCE, Parity, check_parity, check_shapes, check_validity
from .metadata import IMAGE_SCALE_DEFAULT, model_metadata, preprocessing_for


@dataclass
class Weights:
    """Parameters by IR name, where they came from, and the checkpoint's metadata (if any)."""

    params: dict[str, np.ndarray]
    source: str
    meta: dict = field(default_factory=dict)
    trained: bool = True


def load_weights(graph, path: str | Path | None, seed: int = 0, init: str = "normal") -> Weights:
    """A checkpoint, plain ``.npz`` of parameters or run folder, or (``path`` None) the init.

    Raises:
        DataError: one line naming the file and the first missing, unknown, misshapen or
            non-finite parameter.
    """
    from ...artifacts.weights import read_weights
    from ..numpy import init_params

    if path is None:
        check_memory(graph, 0, purpose="building the model")  # before the initialisation allocates
        return Weights(init_params(graph, seed=seed, init=init),
                       f"initialisation {init}, seed {seed} (untrained)", trained=False)
    ckpt = read_weights(path, graph)
    return Weights(ckpt.params, f"checkpoint {ckpt.path.name}" if ckpt.meta else
                   f"parameters {ckpt.path.name}", ckpt.meta)


def recorded_accuracy(meta: dict) -> dict | None:
    """The accuracy per head a checkpoint recorded: the test set's, else the validation set's.

    ``cnncompile train`` writes ``test_accuracy`` after its final test and ``accuracy`` (on the
    validation set) at every checkpoint.
    """
    for key, split in (("test_accuracy", "test"), ("accuracy", "validation")):
        value = meta.get(key)
        if isinstance(value, dict) and value and all(v is not None for v in value.values()):
            out = {"split": split, "per_head": value}
            if "epoch" in meta:
                out["epoch"] = meta["epoch"]
            return out
    return None


def recorded_scale(meta: dict) -> float | None:
    """The input scaling (model input = pixels * scale) a checkpoint's data recorded."""
    pre = meta.get("preprocessing")
    if isinstance(pre, dict) and isinstance(pre.get("scale"), (int, float)):
        return float(pre["scale"])
    return None


def random_batch(graph, scale: float, n: int, seed: int = 0) -> np.ndarray:
    """A parity batch like real data: pixels uniform in 0-255 times ``scale``, else N(0, 1)."""
    rng = np.random.default_rng(seed)
    shape = (n, *graph.input_shape)
    if len(graph.input_shape) == 3:
        return (rng.uniform(0, 255, shape) * scale).astype(np.float32)
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
    warnings: tuple[str, ...]
    metadata: dict


def export_model(spec, graph, weights: Weights, out: Path | None,
                 options: ExportOptions = ExportOptions(), *, x: np.ndarray | None = None,
                 parity_batch: int = 4, scale: float | None = None, seed: int = 0,
                 class_names: list | None = None, tol: float = PARITY_TOLERANCE) -> ExportResult:
    """Build, check and (when ``out`` is given) write the ONNX model of ``graph``.

    ``x`` is the parity batch (model inputs, NHWC); without it a random one of
    ``parity_batch`` samples is drawn. ``scale`` is the input scaling recorded in the metadata
    (pixels * scale); by default the checkpoint's, else 1.0 (float pixels 0-255).

    Raises:
        ExportError: the model fails the checker, shape inference or the parity check; nothing
            is written then.
        DataError: a parity batch of the wrong shape.
    """
    options.validate()
    warnings = []
    if not weights.trained:
        warnings.append(f"no --weights: the weights are the spec's {weights.source}")
    if scale is None:
        scale = recorded_scale(weights.meta)
    source = "checkpoint" if scale is not None else "assumed"
    if scale is None:
        scale = IMAGE_SCALE_DEFAULT
        if len(graph.input_shape) == 3:
            warnings.append("input scaling not recorded: metadata says pixels are fed as float "
                            "0-255 (scale 1.0); pass --scale to change it")
    pre = preprocessing_for(graph.input_shape, scale, source, weights.meta.get("preprocessing"))
    names = weights.meta.get("class_names") if isinstance(weights.meta, dict) else None
    meta = model_metadata(spec, graph, layout=options.layout, outputs=options.outputs,
                          preprocessing=pre, weights=weights.source,
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
        x = random_batch(graph, scale, parity_batch, seed)
    elif x.shape[1:] != tuple(graph.input_shape):
        raise DataError(f"the parity batch has shape {list(x.shape)}; the model takes "
                        f"[N, {', '.join(map(str, graph.input_shape))}]")
    parity = check_parity(data, ctx, x, options.outputs, tol)
    if out is not None:
        write_bytes(Path(out), data)
    return ExportResult(model, Path(out) if out is not None else None, len(data), options.opset,
                        ir_version_for(options.opset), checked, parity, tuple(warnings),
                        dict(options.metadata))

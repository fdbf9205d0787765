"""Export a spec (and its weights) to a checked ONNX file, and optionally a Triton repository.

The workflow around the ONNX backend (:mod:`cnncompile.backends.onnx`): it loads the weights
(a checkpoint, a parameters file or the initialisation), takes the parity batch from a data set
when asked, chooses the preprocessing record the model carries (one rule:
:func:`cnncompile.artifacts.preprocess.for_export`), picks the default output path, and writes
the Triton repository. The backend builds, checks and writes the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..analysis.memory import check_memory
from ..artifacts.files import default_output
from ..artifacts.inputs import one_command
from ..artifacts.preprocess import ASSUMED, Preprocessing, for_export
from ..backends.onnx import DEFAULT_OPSET, ExportOptions, ExportResult, Weights, export_graph
from ..frontend.spec import Spec
from ..ir import lower
from .resolve import resolve_spec

EXPORT_FOLDER = Path("exported")  # where a model goes without --out (and without --triton)


@dataclass(frozen=True)
class ParityData:
    """Samples of a data set's test split as stored, and what its loader recorded."""

    stored: np.ndarray
    source: str
    preprocessing: Preprocessing
    class_names: list[list[str]]


@dataclass(frozen=True)
class ExportOutcome:
    """What ``export_model`` made: the checked model's figures, its warnings, the Triton folder.

    ``parity_source`` says what the parity batch was ("random inputs" or "D test samples").
    """

    result: ExportResult
    name: str
    warnings: tuple[str, ...]
    parity_source: str
    triton_folder: Path | None = None

    @property
    def path(self) -> Path | None:
        """The .onnx file written (None with ``triton`` alone)."""
        return self.result.path


def load_weights(graph, path: str | Path | None, seed: int = 0, init: str = "normal") -> Weights:
    """A checkpoint, plain ``.npz`` of parameters or run folder, or (``path`` None) the init.

    A checkpoint's preprocessing record is read and checked here, once.

    Raises:
        DataError: one line naming the file and the first missing, unknown, misshapen or
            non-finite parameter, or a preprocessing record that does not fit the model.
    """
    from ..artifacts.weights import read_weights
    from ..backends.numpy import init_params

    if path is None:
        check_memory(graph, 0, purpose="building the model")  # before the initialisation allocates
        return Weights(init_params(graph, seed=seed, init=init),
                       f"initialisation {init}, seed {seed} (untrained)", trained=False)
    ckpt = read_weights(path, graph)
    record = ckpt.meta.get("preprocessing")
    pre = (Preprocessing.from_dict(record, graph.input_shape, str(ckpt.path))
           if record is not None else None)
    return Weights(ckpt.params, f"checkpoint {ckpt.path.name}" if ckpt.meta else
                   f"parameters {ckpt.path.name}", ckpt.meta, preprocessing=pre)


def parity_data(source: str | Path, graph, spec: Spec, n: int,
                progress: Callable[[int, int], None] | None = None) -> ParityData:
    """The first ``n`` test samples of the data set ``source`` (what ``train --data`` takes),
    as stored: the export feeds them through the record it writes, as the runtime will."""
    from ..data.datasets import load_dataset

    data = load_dataset(source, graph.input_shape, spec.output, progress=progress)
    return ParityData(data.test.x[:n], data.source, data.preprocessing,
                      [list(x) for x in data.names])


@one_command
def export_model(spec: Spec | str | Path, weights: str | Path | None = None,
                 out: str | Path | None = None, *, opset: int | None = None,
                 layout: str = "nhwc", outputs: str = "probs", seed: int = 0,
                 init: str = "normal", data: str | Path | None = None, parity_batch: int = 4,
                 scale: float | None = None, mean: object = None, std: object = None,
                 input_shape: tuple[int, ...] | str | None = None, classes: int | None = None,
                 triton: str | Path | None = None, triton_options=None,
                 fold_all: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> ExportOutcome:
    """Export ``spec`` to ONNX: checker-clean, shapes equal to the IR's, outputs the engine's.

    Args:
        spec: a loaded spec or a spec file.
        weights: a checkpoint, run folder or parameters ``.npz``; None: the initialisation
            (``init``, ``seed``), with a warning.
        out: the .onnx file [default: exported/NAME.onnx; none with ``triton`` alone].
        data: take the parity batch (``parity_batch`` samples) from this data set's test split.
        scale, mean, std: the preprocessing to record (model input = (pixels * scale - mean) /
            std); the scale defaults to the checkpoint's, else the data set's, else 1.0.
        triton: also write a Triton model repository here, with ``triton_options``
            (:class:`cnncompile.deploy.triton.TritonOptions`, checked before anything is built).
        fold_all: remove every batch norm that an exact rewrite can remove, adding a constant
            border map after a padded conv where one needs it (``ExportOptions.bias_maps``);
            by default those stay batch norms, which onnxruntime runs faster on a CPU.
        progress: ``progress(done, total)`` while an image folder is first decoded.
    Returns:
        The export's figures; nothing is written unless every check passes.
    Raises:
        DataError: bad weights, data or preprocessing options. ExportError: a failed check.

    Example::

        outcome = export_model("specs/fmnist_small.yaml", "runs/quickstart", "model.onnx")
    """
    if triton is not None:  # option mistakes surface before anything is exported
        from ..deploy.triton import TritonOptions

        triton_options = triton_options or TritonOptions()
        triton_options.validate()
    s = resolve_spec(spec, input_shape, classes)
    graph = lower(s)
    w = load_weights(graph, weights, seed=seed, init=init)
    parity = parity_data(data, graph, s, parity_batch, progress) if data is not None else None
    pre = for_export(graph.input_shape, scale=scale, mean=mean, std=std,
                     recorded=w.preprocessing, data=parity.preprocessing if parity else None)
    x = pre.apply(parity.stored) if parity is not None else None
    if out is None and triton is None:
        out = default_output(EXPORT_FOLDER / f"{s.name}.onnx")
    options = ExportOptions(opset=opset if opset is not None else DEFAULT_OPSET,
                            layout=layout, outputs=outputs, bias_maps=fold_all)
    out = Path(out) if out is not None else None
    # with --triton the -o file is written with the repository, both or neither
    result = export_graph(s, graph, w, out if triton is None else None, options,
                          preprocessing=pre, x=x, parity_batch=parity_batch, seed=seed,
                          class_names=parity.class_names if parity else None)
    folder = None
    if triton is not None:
        from ..deploy.triton import write_repository

        folder = write_repository(result.model, Path(triton), s.name, triton_options,
                                  json.loads(result.metadata["heads"]),
                                  result.metadata["input_layout"], companion=out).folder
        result = replace(result, path=out)
    source = f"{parity.source} test samples" if parity else "random inputs"
    return ExportOutcome(result, s.name, _warnings(w, pre, graph), source, folder)


def _warnings(weights: Weights, pre: Preprocessing, graph) -> tuple[str, ...]:
    out = []
    if not weights.trained:
        out.append(f"no --weights: the weights are the spec's {weights.source}")
    if pre.source == ASSUMED and len(graph.input_shape) == 3:
        out.append("input scaling not recorded: metadata says pixels are fed as float 0-255 "
                   "(scale 1.0); pass --scale to change it")
    return tuple(out)

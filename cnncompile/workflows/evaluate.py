"""Evaluation as a library call: a trained model's figures on a part of a data set.

:func:`evaluate_model` takes a spec with its weights (a checkpoint, a parameters file or a run
folder), or an exported ``.onnx`` model, and returns the accuracy per head, the per-class
figures and the confusion matrix on the split ``train`` used: the set's own test split, or the
textbook's split with its fixed seed. It prints nothing.

Example::

    result = evaluate_model("specs/fashion_mnist/fmnist_cnn.yaml", "runs/demo",
                            "fashion-mnist")
    result.evaluation.accuracy      # {'output': 0.83...}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..artifacts.inputs import one_command
from ..artifacts.text import printable
from ..errors import DataError
from ..frontend.spec import Spec

SPLITS = ("test", "validation", "train")  # the parts of a data set's split, as `--split` names


@dataclass
class EvaluateResult:
    """What :func:`evaluate_model` measured, and on what.

    ``title`` names the model (an ONNX model's quantization included), ``data`` the data set
    as loaded, ``evaluation`` holds the figures (``accuracy``, ``per_class``, ``confusion``,
    ``to_json()``); ``files`` are the plots written into ``plots``; ``notes`` are what the
    runtime had to say about the model (e.g. a provider it fell back from).
    """

    model: str
    title: str
    data: str
    split: str
    evaluation: object  # cnncompile.evaluation.Evaluation
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def samples(self) -> int:
        return self.evaluation.samples


@dataclass(frozen=True)
class _Model:
    """A model ready to run: its predictor, input shape, outputs, title and recorded split."""

    predict: object
    input_shape: tuple[int, ...]
    output: object  # OutputSpec
    title: str
    validation: float | None = None  # the validation share its training used
    note: str = ""
    fixed_input: bool = False  # an exported model: its input shape cannot change


@one_command
def evaluate_model(spec: Spec | str | Path, weights: str | Path | None, data: str | Path, *,
                   split: str = "test", input_shape=None, classes: int | None = None,
                   progress=None, batch_size: int = 256, plots: str | Path | None = None,
                   provider: str = "auto", notify=None) -> EvaluateResult:
    """Accuracy per head, per-class figures and the confusion matrix of a trained model.

    Args:
        spec: a :class:`Spec` or a spec file (with ``weights``), or an exported ``.onnx``
            model (without; it runs on onnxruntime and gets exactly the same figures).
        weights: a run's ``checkpoint.npz``, a parameters ``.npz`` or a run folder.
        data: the data set, as for training.
        split: ``test``, ``validation`` or ``train``: the part of the data set's split.
        input_shape, classes: replace the spec's input shape and output (a checkpoint's
            recorded input shape is used otherwise).
        progress: ``progress(done, total)`` while an image folder is decoded.
        batch_size: samples per forward pass.
        plots: a folder to write confusion.png and samples.png into.
        provider: for an ``.onnx`` model: auto, cpu or cuda.
        notify: ``notify(note)`` as soon as the runtime has something to say about the model
            (before the data set loads); the notes are also in the result.

    Raises:
        DataError: missing or mismatching weights, a regression model, an unknown split, or
            a data set that does not fit the model.
    """
    from ..data.datasets import load_dataset
    from ..evaluation.evaluate import evaluate
    from ..train import write_plots

    if split not in SPLITS:
        raise DataError(f"unknown split. Received: split={split!r}, expected one of "
                        f"{', '.join(SPLITS)}")
    onnx = not isinstance(spec, Spec) and Path(spec).suffix.lower() == ".onnx"
    model = _onnx_model(Path(spec), provider) if onnx else _engine_model(
        spec, weights, input_shape, classes)
    if model.note and notify is not None:
        notify(model.note)
    shown = str(spec.path or spec.name) if isinstance(spec, Spec) else str(spec)
    if model.output.kind == "regression":
        raise DataError(f"{shown}: evaluate reports classification figures; this model is a "
                        "regression (its `train` report gives the textbook's accuracy)")
    ds = load_dataset(str(data), model.input_shape, model.output, validation=model.validation,
                      progress=progress, model=shown if model.fixed_input else None)
    part = {"test": ds.test, "validation": ds.val, "train": ds.train}[split]
    if len(part) == 0:  # a small set's validation share can round down to no sample
        raise DataError(f"{ds.source}: its {split} split is empty ({ds.describe()}); "
                        "evaluate another --split or give more samples")
    # class names as every output can show them (a folder name that is not UTF-8 escaped)
    names = tuple(tuple(printable(n) for n in head) for head in ds.names)
    ev = evaluate(model.predict, part, [h.name for h in model.output.heads], names, batch_size)
    files = write_plots(Path(plots), model.title, [], ev, part) if plots is not None else []
    return EvaluateResult(shown, model.title, ds.source, split, ev, files,
                          [model.note] if model.note else [])


def _engine_model(spec, weights, input_shape, classes) -> _Model:
    """A spec on the NumPy engine with its trained weights, at the checkpoint's input shape."""
    import numpy as np

    from ..artifacts.weights import check_fits, read_checkpoint
    from ..evaluation.evaluate import engine_predictor
    from ..ir import lower
    from .resolve import resolve_spec, with_input_shape

    if weights is None:
        raise DataError(f"{spec}: evaluating a spec needs --weights CHECKPOINT (e.g. "
                        "runs/NAME/checkpoint.npz)")
    ckpt = read_checkpoint(Path(weights))  # a run folder stands for its checkpoint.npz
    sp = resolve_spec(spec, input_shape, classes)
    recorded = tuple(ckpt.meta.get("input_shape") or ())
    if input_shape is None and recorded:
        sp = with_input_shape(sp, recorded)
    graph = lower(sp)
    check_fits(graph, ckpt, str(ckpt.path))
    params = {k: np.asarray(v, np.float32) for k, v in ckpt.params.items()}
    return _Model(engine_predictor(graph, params), graph.input_shape, graph.heads, graph.name,
                  (ckpt.meta.get("config") or {}).get("validation"))


def _onnx_model(path: Path, provider: str) -> _Model:
    """An exported model on onnxruntime, its outputs and quantization from its metadata."""
    from ..deploy import quantization_label
    from ..frontend.spec import Head, OutputSpec
    from ..runtime import OnnxModel

    model = OnnxModel(path, provider=provider)
    heads = tuple(Head(name, size, tuple(labels) if labels else None)
                  for name, size, labels in model.heads)
    quantized = quantization_label(model.metadata)
    title = model.name + (f" [{quantized}]" if quantized else "")
    return _Model(model.predict, model.input_shape, OutputSpec(model.kind, heads), title,
                  note=model.note or "", fixed_input=True)

"""Evaluation around one callable, so a spec + checkpoint and an ONNX model share every figure.

A *predictor* maps a float32 batch [N, *input_shape] to ``{head name: probabilities [N, K]}``
(decoded by :mod:`cnncompile.artifacts.heads`: softmax per head, [N, 2] for a binary output).
:func:`engine_predictor` builds one from the NumPy engine; ``cnncompile.runtime.OnnxModel
.predict`` is one already. Both refuse NaN or infinity, naming the source (input data, weights,
batch-norm statistics, or the model's outputs), so no figure is computed from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..artifacts.heads import check_finite, head_probabilities, split_heads
from ..data.datasets import Split
from ..errors import DataError
from .metrics import confusion_matrix, label_columns, per_class_table

Predictor = Callable[[np.ndarray], dict[str, np.ndarray]]


def engine_predictor(graph, params: dict[str, np.ndarray], source: str = "the model"
                     ) -> Predictor:
    """A predictor running ``graph`` with ``params`` in inference mode on the NumPy engine, as
    the engine's inference runs it (batch norms folded away: ``inference_model``).

    Raises (when called):
        DataError: NaN or infinity in the inputs or the outputs, naming the cause.
    """
    from ..backends.numpy import Executor, inference_model

    folded, folded_params = inference_model(graph, params)
    ex = Executor(folded)
    return logits_predictor(graph.heads, lambda x: ex.forward(folded_params, x, training=False),
                            params, source)


def logits_predictor(output, logits_of, params: dict[str, np.ndarray],
                     source: str = "the model") -> Predictor:
    """A predictor from any ``logits_of(x)`` (either step engine), its outputs checked finite.

    Raises (when called):
        DataError: NaN or infinity in the inputs or the outputs, naming the cause.
    """

    def predict(x: np.ndarray) -> dict[str, np.ndarray]:
        if not np.isfinite(x).all():
            raise DataError("the input data holds NaN or infinite values; the model was not "
                            "run on it")
        with np.errstate(all="ignore"):  # non-finite outputs are checked and named below
            logits = logits_of(x)
        try:
            check_finite(split_heads(output, logits), source)
        except DataError as e:
            raise DataError(f"{e}; {nonfinite_cause(params)}") from None
        return head_probabilities(output, logits)

    return predict


def nonfinite_cause(params: dict[str, np.ndarray]) -> str:
    """Why finite inputs gave NaN: a weight that is not finite, a negative batch-norm variance,
    else an overflow inside the model."""
    for name, a in params.items():
        if not np.isfinite(a).all():
            kind = "batch-norm statistics" if name.endswith((".mean", ".var")) else "weights"
            return f"cause: the {kind} `{name}` hold NaN or infinity"
    for name, a in params.items():
        if name.endswith(".var") and (a < 0).any():
            return (f"cause: the batch-norm statistics `{name}` hold a negative variance "
                    f"({float(a.min()):.3g})")
    return "cause: the weights are finite, so values overflow inside the model"


@dataclass
class Evaluation:
    """Accuracy, confusion matrix and per-class table per head, and the probabilities."""

    samples: int
    accuracy: dict[str, float]
    confusion: dict[str, np.ndarray]
    per_class: dict[str, list[dict]]
    names: dict[str, tuple[str, ...]]
    probs: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    seconds: float = 0.0

    def accuracy_text(self) -> str:
        """The textbook's joined form, domain first: ``0.874+0.526``."""
        return "+".join(f"{a:.3f}" for a in self.accuracy.values())

    def to_json(self) -> dict:
        return {
            "samples": self.samples,
            "accuracy": {h: round(a, 6) for h, a in self.accuracy.items()},
            "per_class": self.per_class,
            "confusion": {h: {"labels": list(self.names[h]), "matrix": c.tolist()}
                          for h, c in self.confusion.items()},
            "seconds": round(self.seconds, 3),
        }


def predict_all(predict: Predictor, split: Split, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Probabilities per head for every sample of ``split``, in batches."""
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(split), batch_size):
        for head, p in predict(split.inputs(slice(start, start + batch_size))).items():
            parts.setdefault(head, []).append(np.asarray(p))
    return {h: np.concatenate(ps) for h, ps in parts.items()}


def evaluate(predict: Predictor, split: Split, heads: list[str],
             names: tuple[tuple[str, ...], ...], batch_size: int = 256) -> Evaluation:
    """Run ``predict`` over ``split`` and compute the figures of every classification head.

    ``heads`` orders the heads as the labels' columns; ``names`` gives each head's classes.
    """
    import time

    t0 = time.perf_counter()
    probs = predict_all(predict, split, batch_size)
    if len(probs) == 1 and len(heads) == 1 and heads[0] not in probs:
        probs = {heads[0]: next(iter(probs.values()))}  # a one-head model may name it otherwise
    y = label_columns(split.y, len(heads))
    acc, conf, table, shown = {}, {}, {}, {}
    for j, head in enumerate(heads):
        p = probs[head]
        check_finite({head: p}, "the model")  # a predictor of our own checks already
        k = p.shape[1]
        pred = p.argmax(axis=1)
        acc[head] = float(np.mean(pred == y[:, j])) if len(y) else 0.0
        conf[head] = confusion_matrix(y[:, j], pred, k)
        shown[head] = tuple(names[j]) if len(names[j]) == k else tuple(map(str, range(k)))
        table[head] = per_class_table(conf[head], shown[head])
    return Evaluation(len(split), acc, conf, table, shown, probs, time.perf_counter() - t0)

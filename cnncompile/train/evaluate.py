"""Evaluation around one callable, so a spec + checkpoint and an ONNX model share every figure.

A *predictor* maps a float32 batch [N, *input_shape] to ``{head name: probabilities [N, K]}``
(softmax per head; [N, 2] or [N, 1] for a binary output). :func:`engine_predictor` builds one
from the NumPy engine; ``cnncompile.runtime.OnnxModel.predict`` is one already.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .data import Split
from .metrics import confusion_matrix, head_probabilities, label_columns, per_class_table

Predictor = Callable[[np.ndarray], dict[str, np.ndarray]]


def engine_predictor(graph, params: dict[str, np.ndarray]) -> Predictor:
    """A predictor running ``graph`` with ``params`` in inference mode on the NumPy engine."""
    from ..engine import Executor

    ex = Executor(graph)

    def predict(x: np.ndarray) -> dict[str, np.ndarray]:
        return head_probabilities(graph.heads, ex.forward(params, x, training=False))

    return predict


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


def _binary_columns(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, np.float64)
    return np.concatenate([1.0 - p, p], axis=1) if p.shape[1] == 1 else p


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
        if len(names[j]) == 2 and p.shape[1] == 1:
            p = probs[head] = _binary_columns(p)
        k = p.shape[1]
        pred = p.argmax(axis=1)
        acc[head] = float(np.mean(pred == y[:, j])) if len(y) else 0.0
        conf[head] = confusion_matrix(y[:, j], pred, k)
        shown[head] = tuple(names[j]) if len(names[j]) == k else tuple(map(str, range(k)))
        table[head] = per_class_table(conf[head], shown[head])
    return Evaluation(len(split), acc, conf, table, shown, probs, time.perf_counter() - t0)

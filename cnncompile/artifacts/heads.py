"""Per-head decoding of a model's outputs: split, probabilities, top-k and the JSON record.

A model's output section (:class:`cnncompile.frontend.OutputSpec`: ``kind`` and ``heads``, each
with ``name``, ``size`` and ``labels``) says how its output vector reads:

- ``classes``: consecutive slices, one per head, each a softmax over the head's classes;
- ``binary``: one column, a sigmoid; decoded as two columns [P(0), P(1)];
- ``regression``: the values as they are.

The NumPy engine gives the whole output vector (``logits``); an exported model gives one output
per head, probabilities or logits as exported. Both meet in :func:`probabilities`. Outputs that
are not finite are a :class:`~cnncompile.errors.DataError` from :func:`check_finite`, so no
figure is ever computed from NaN.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import DataError
from .text import printable


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum for stability (float64).

    >>> softmax(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function without overflow (float64).

    >>> sigmoid(np.array([0.0, 1000.0])).tolist()
    [0.5, 1.0]
    """
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, np.float64)))


def output_width(output) -> int:
    """Columns of the whole output vector: the heads' sizes summed."""
    return sum(h.size for h in output.heads)


def split_heads(output, y: np.ndarray) -> dict[str, np.ndarray]:
    """The output vector [N, width] cut into one [N, size] slice per head, by name.

    >>> from cnncompile.frontend import OutputSpec, Head
    >>> out = OutputSpec("classes", (Head("a", 2), Head("b", 1)))
    >>> {k: v.tolist() for k, v in split_heads(out, np.array([[1, 2, 3]])).items()}
    {'a': [[1, 2]], 'b': [[3]]}
    """
    y = np.asarray(y)
    width = output_width(output)
    if y.ndim != 2 or y.shape[1] != width:
        raise DataError(f"the model's outputs are {list(y.shape)}; its heads take [N, {width}]")
    out, start = {}, 0
    for h in output.heads:
        out[h.name] = y[:, start:start + h.size]
        start += h.size
    return out


def probabilities(kind: str, per_head: Mapping[str, np.ndarray],
                  outputs: str = "logits") -> dict[str, np.ndarray]:
    """Per head: class probabilities [N, K] (binary: [N, 2]); regression values as they are.

    ``outputs`` says what ``per_head`` holds: ``logits`` (softmax / sigmoid applied here) or
    ``probs`` (already applied, as an exported model's default outputs are).
    """
    out = {}
    for name, y in per_head.items():
        y = np.asarray(y, np.float64)
        if kind == "binary":
            p = y[:, :1] if outputs == "probs" else sigmoid(y[:, :1])
            out[name] = np.concatenate([1.0 - p, p], axis=1)
        elif kind == "classes" and outputs != "probs":
            out[name] = softmax(y)
        else:
            out[name] = y
    return out


def head_probabilities(output, logits: np.ndarray) -> dict[str, np.ndarray]:
    """The engine's output vector decoded per head: :func:`split_heads` then :func:`probabilities`.

    >>> from cnncompile.frontend import OutputSpec, Head
    >>> out = OutputSpec("classes", (Head("a", 2), Head("b", 1)))
    >>> {k: v.round(2).tolist() for k, v in head_probabilities(out, np.zeros((1, 3))).items()}
    {'a': [[0.5, 0.5]], 'b': [[1.0]]}
    """
    return probabilities(output.kind, split_heads(output, logits), "logits")


def exported_values(output, logits: np.ndarray, outputs: str) -> dict[str, np.ndarray]:
    """What an exported model's head outputs hold for these logits (binary: one column)."""
    per_head = split_heads(output, np.asarray(logits, np.float64))
    if outputs != "probs" or output.kind == "regression":
        return per_head
    if output.kind == "binary":
        return {k: sigmoid(v) for k, v in per_head.items()}
    return {k: softmax(v) for k, v in per_head.items()}


def check_finite(per_head: Mapping[str, np.ndarray], source: str) -> None:
    """Refuse outputs holding NaN or infinity, naming ``source`` and how many samples.

    Raises:
        DataError: ``{source}: the model's outputs are NaN or infinite for n of N samples ...``
    """
    for name, y in per_head.items():
        bad = ~np.isfinite(np.asarray(y, np.float64)).reshape(len(y), -1).all(axis=1)
        if bad.any():
            raise DataError(f"{source}: the model's outputs are NaN or infinite for "
                            f"{int(bad.sum()):,} of {len(y):,} samples (head {name!r}, first "
                            f"sample {int(np.argmax(bad))}); no figures computed from them")


def labels_for(head, kind: str, width: int) -> list[str]:
    """The printable label of each column of a decoded head (binary: 0 and 1)."""
    if kind == "binary":
        return ["0", "1"]
    labels = list(head.labels) if head.labels else [str(i) for i in range(width)]
    return [printable(label) for label in labels]


def top_k(probs: np.ndarray, labels: list[str], k: int) -> list[list[tuple[str, float]]]:
    """The ``k`` most likely (label, probability) per sample; ties keep the label order.

    >>> top_k(np.array([[0.2, 0.5, 0.3]]), ["a", "b", "c"], 2)
    [[('b', 0.5), ('c', 0.3)]]
    """
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [[(labels[j], float(p[j])) for j in row] for row, p in zip(order, probs, strict=True)]


def sample_record(output, decoded: Mapping[str, np.ndarray], index: int, k: int) -> dict:
    """One sample's JSON record: per head, top-k labels and probabilities (or the values).

    >>> from cnncompile.frontend import OutputSpec, Head
    >>> out = OutputSpec("classes", (Head("a", 2, ("no", "yes")),))
    >>> sample_record(out, {"a": np.array([[0.25, 0.75]])}, 0, 1)
    {'a': {'top': [{'label': 'yes', 'probability': 0.75}]}}
    """
    record = {}
    for h in output.heads:
        row = np.asarray(decoded[h.name])[index:index + 1]
        if output.kind == "regression":
            record[h.name] = {"values": [float(v) for v in row[0]]}
            continue
        labels = labels_for(h, output.kind, row.shape[1])
        best = top_k(row, labels, min(k, row.shape[1]))[0]
        record[h.name] = {"top": [{"label": lab, "probability": round(p, 6)} for lab, p in best]}
    return record

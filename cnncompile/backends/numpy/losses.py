"""The output layer's losses (spec-format section 4) with their gradients and accuracies.

``classes``: softmax cross-entropy through a stable log-softmax, mean over the batch; several
heads split the logits in head order and the loss is the SUM of the per-head means (the
textbook's rule). With ``label_smoothing`` e (ext), a head of K classes is trained towards
1 - e + e/K on the true class and e/K on every other one (PyTorch's and Keras's rule).
``binary``: sigmoid cross-entropy; accuracy is (logit > 0) == label.
``regression``: mean squared error over every output; its "accuracy" is the textbook's
1 - mean(|output - y| / |y|), taken over the targets that are not 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import DataError


@dataclass
class LossResult:
    """A minibatch's loss, d loss / d logits, per-head accuracy and predictions."""

    loss: float
    grad: np.ndarray
    head_accuracy: dict[str, float]
    predictions: np.ndarray


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax, stable for any logits."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _class_labels(heads, y: np.ndarray, n: int) -> np.ndarray:
    """Labels as int [N, n_heads], range-checked."""
    y = np.asarray(y)
    k = len(heads.heads)
    if y.ndim == 1 and k == 1:
        y = y[:, None]
    if y.shape != (n, k) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"class labels must be integers of shape [{n}]" + (
            f" or [{n}, {k}]" if k > 1 else "") + f". Received: shape={list(y.shape)}, "
            f"dtype={y.dtype}")
    for j, h in enumerate(heads.heads):
        bad = (y[:, j] < 0) | (y[:, j] >= h.size)
        if bad.any():
            raise DataError(f"label {int(y[bad, j][0])} is out of range for head {h.name!r} "
                            f"with {h.size} classes")
    return y


def _classes(heads, z: np.ndarray, y, smoothing: float) -> LossResult:
    n = z.shape[0]
    labels = _class_labels(heads, y, n)
    grad = np.empty_like(z)
    loss, acc, preds, off = 0.0, {}, [], 0
    rows = np.arange(n)
    for j, h in enumerate(heads.heads):
        zh = z[:, off:off + h.size].astype(np.float64)
        logp = log_softmax(zh)
        true = -logp[rows, labels[:, j]].mean()
        loss += float((1 - smoothing) * true - smoothing * logp.mean()) if smoothing else float(true)
        g = np.exp(logp) - smoothing / h.size
        g[rows, labels[:, j]] -= 1.0 - smoothing
        grad[:, off:off + h.size] = g / n
        pred = zh.argmax(axis=1)
        acc[h.name] = float((pred == labels[:, j]).mean())
        preds.append(pred)
        off += h.size
    predictions = preds[0] if len(preds) == 1 else np.stack(preds, axis=1)
    return LossResult(loss, grad, acc, predictions)


def _binary(heads, z: np.ndarray, y) -> LossResult:
    y = np.asarray(y).reshape(z.shape).astype(np.float64)
    if not np.all((y == 0) | (y == 1)):
        raise DataError("binary labels must be 0 or 1")
    z64 = z.astype(np.float64)
    # log(1 + exp(z)) - y*z, written so that no exp overflows
    loss = np.maximum(z64, 0) - z64 * y + np.log1p(np.exp(-np.abs(z64)))
    prob = 0.5 * (1.0 + np.tanh(0.5 * z64))
    grad = ((prob - y) / z.shape[0]).astype(z.dtype)
    pred = (z64 > 0).astype(np.int64)
    acc = float((pred == y).mean())
    return LossResult(float(loss.mean()), grad, {heads.heads[0].name: acc}, pred.reshape(-1))


def _regression(heads, z: np.ndarray, y) -> LossResult:
    y = np.asarray(y, dtype=np.float64).reshape(z.shape)
    diff = z.astype(np.float64) - y
    grad = (2.0 * diff / diff.size).astype(z.dtype)
    nonzero = y != 0
    acc = float(1.0 - np.mean(np.abs(diff[nonzero] / y[nonzero]))) if nonzero.any() else np.nan
    return LossResult(float(np.mean(diff * diff)), grad, {heads.heads[0].name: acc}, z.copy())


def loss_and_grad(heads, logits: np.ndarray, y, label_smoothing: float = 0.0) -> LossResult:
    """Loss, gradient w.r.t. ``logits`` [N, width], accuracy per head and predictions.

    ``y``: int [N] (one softmax head), int [N, n_heads] (several), {0, 1} [N] (binary),
    float [N, K] (regression). ``label_smoothing`` applies to softmax heads only.

    >>> from cnncompile.frontend.spec import Head, OutputSpec
    >>> r = loss_and_grad(OutputSpec("classes", (Head("a", 2),)), np.zeros((2, 2)), [0, 1])
    >>> round(r.loss, 4), r.head_accuracy
    (0.6931, {'a': 0.5})
    """
    z = np.asarray(logits)
    if z.ndim != 2 or z.shape[1] != heads.width:
        raise DataError(f"logits must have shape [N, {heads.width}]. "
                        f"Received: shape={list(z.shape)}")
    if heads.kind == "classes":
        return _classes(heads, z, y, label_smoothing)
    if label_smoothing:
        raise DataError(f"label smoothing needs softmax class heads; this output is {heads.kind}")
    if heads.kind == "binary":
        return _binary(heads, z, y)
    if heads.kind == "regression":
        return _regression(heads, z, y)
    raise ValueError(f"unknown output kind {heads.kind!r}")

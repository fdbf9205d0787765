"""Figures computed from predictions: accuracy, confusion, per-class table, and the per-epoch
``metrics.csv``. Per-head probabilities are :mod:`cnncompile.artifacts.heads`'.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..artifacts.files import write_text
from ..artifacts.heads import head_probabilities as head_probabilities  # re-exported


def label_columns(y: np.ndarray, n_heads: int) -> np.ndarray:
    """Labels as [N, n_heads] integers."""
    return np.asarray(y).reshape(len(y), n_heads) if n_heads > 1 else np.asarray(y).reshape(-1, 1)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """[k, k] counts, rows = true class, columns = predicted class.

    >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), 2).tolist()
    [[1, 0], [1, 1]]
    """
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def per_class_table(conf: np.ndarray, names: tuple[str, ...]) -> list[dict]:
    """Precision, recall, F1 and support per class from a confusion matrix."""
    tp = np.diag(conf).astype(np.float64)
    support = conf.sum(axis=1)
    predicted = conf.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return [{"class": names[i], "precision": round(float(precision[i]), 4),
             "recall": round(float(recall[i]), 4), "f1": round(float(f1[i]), 4),
             "support": int(support[i])} for i in range(len(names))]


def accuracy_columns(heads: list[str], prefix: str) -> list[str]:
    """Accuracy column names, one per head; a single head's carries no head suffix.

    >>> accuracy_columns(["domain", "object"], "val")
    ['val_acc_domain', 'val_acc_object']
    """
    return [f"{prefix}_acc"] if len(heads) == 1 else [f"{prefix}_acc_{h}" for h in heads]


ENGINE_COLUMNS = ("backend", "device", "workers", "threads")  # where each epoch trained
TEXT_COLUMNS = ("backend", "device")  # the columns of metrics.csv that are not numbers


def history_columns(heads: list[str]) -> list[str]:
    """The columns of metrics.csv (the engine's are empty for epochs recorded before them)."""
    return (["epoch", "lr", "train_loss"] + accuracy_columns(heads, "train") + ["val_loss"]
            + accuracy_columns(heads, "val") + ["seconds", "elapsed", *ENGINE_COLUMNS])


def history_row(epoch: int, lr: float, train_loss: float, train_acc: dict, val_loss: float,
                val_acc: dict, seconds: float, elapsed: float) -> dict:
    """One epoch's figures keyed by :func:`history_columns` names."""
    heads = list(train_acc)
    row = {"epoch": epoch, "lr": lr, "train_loss": train_loss}
    row.update(zip(accuracy_columns(heads, "train"), train_acc.values(), strict=True))
    row["val_loss"] = val_loss
    row.update(zip(accuracy_columns(heads, "val"), (val_acc[h] for h in heads), strict=True))
    row.update({"seconds": seconds, "elapsed": elapsed})
    return row


def write_metrics_csv(path: Path, history: list[dict], heads: list[str]) -> None:
    """Rewrite ``metrics.csv`` from the whole history (atomically, like the checkpoint)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=history_columns(heads), lineterminator="\n",
                            restval="")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text(path, buf.getvalue())

"""The pictures a run leaves behind: learning curves, confusion matrices, a grid of samples.

matplotlib runs with the Agg backend (files only, no display needed) and is imported inside the
functions, so importing this module costs nothing.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..artifacts.files import save_figure
from ..artifacts.text import printable

SAMPLES = 16
TITLE_CHARS = 120
LABEL_CHARS = 32  # a class name drawn longer than this is cut (a folder name can be 255 bytes)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plain(text: object, limit: int = LABEL_CHARS) -> str:
    r"""``text`` drawn as written: control characters and undecodable bytes escaped, ``$``
    escaped so that matplotlib never parses a class or head name as TeX ("a$b" or "$\frac{$"
    would be math, or a parse error), and cut to ``limit`` characters so that a long name
    cannot cover its neighbours.

    >>> print(_plain("a$b"), _plain("x" * 40, limit=8))
    a\$b xxxxxxx…
    """
    shown = printable(text)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return shown.replace("$", r"\$")


def _plain_names(names: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    return {head: tuple(_plain(n) for n in labels) for head, labels in names.items()}


def _save(plt, fig, path: Path) -> Path:
    """``fig`` written atomically as a PNG, then closed whatever happened; returns ``path``."""
    try:
        save_figure(fig, path, dpi=100)
    finally:
        plt.close(fig)
    return path


def plot_curves(history: list[dict], path: Path, title: str) -> Path:
    """Loss and accuracy per epoch, train and validation, side by side."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in history]
    acc_keys = [k[len("train_"):] for k in history[0] if k.startswith("train_acc")]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "s--", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    for key in acc_keys:
        head = key[4:] or ""
        ax_acc.plot(epochs, [r[f"train_{key}"] for r in history], "o-",
                    label=_plain(f"train {head}".strip()))
        ax_acc.plot(epochs, [r[f"val_{key}"] for r in history], "s--",
                    label=_plain(f"validation {head}".strip()))
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(_plain(title, TITLE_CHARS))
    fig.tight_layout(rect=(0, 0, 1, 0.96))  # room for the suptitle
    return _save(plt, fig, path)


def plot_confusion(confusion: dict[str, np.ndarray], names: dict[str, tuple[str, ...]],
                   path: Path, title: str) -> Path:
    """One confusion matrix per head (rows true, columns predicted), counts in the cells."""
    plt = _pyplot()
    fig = confusion_figure(confusion, names, title)
    return _save(plt, fig, path)


def confusion_figure(confusion: dict[str, np.ndarray], names: dict[str, tuple[str, ...]],
                     title: str):
    """The confusion matrices' figure; every class label readable, none overlapping another.

    Each head gets a width in proportion to its classes (a 31-class head beside a 3-class one
    gets the room it needs); column labels turn upright when they would touch, and when even
    upright labels would (many classes), only every n-th label is shown.
    """
    plt = _pyplot()
    names = _plain_names(names)
    heads = list(confusion)
    sizes = [len(names[h]) for h in heads]
    widths = [max(4.0, 0.45 * k + 2) for k in sizes]
    fig, axes = plt.subplots(1, len(heads), figsize=(sum(widths), max(4.0, 0.45 * max(sizes) + 1.5)),
                             squeeze=False, gridspec_kw={"width_ratios": widths})
    for ax, head in zip(axes[0], heads, strict=True):
        conf = confusion[head]
        k = len(names[head])
        ax.imshow(conf, cmap="Blues")
        ax.set_xticks(range(k), names[head], fontsize=8)
        ax.set_yticks(range(k), names[head], fontsize=8)
        ax.set(xlabel="predicted", ylabel="true",
               title=_plain(head) if len(heads) > 1 else "confusion matrix")
        if k <= 20:
            top = conf.max() or 1
            for i, j in np.ndindex(conf.shape):
                ax.text(j, i, str(conf[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if conf[i, j] > top / 2 else "black")
    fig.suptitle(_plain(title, TITLE_CHARS))
    fig.tight_layout(rect=(0, 0, 1, 0.96))  # room for the suptitle
    for ax in axes[0]:
        _separate_labels(fig, ax)
    fig.tight_layout(rect=(0, 0, 1, 0.96))  # upright labels take more room below
    return fig


def _overlap(fig, labels) -> bool:
    """Whether any two neighbouring visible labels touch, as drawn."""
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels if t.get_visible()]
    return any(a.overlaps(b) for a, b in zip(boxes, boxes[1:], strict=False))


def _separate_labels(fig, ax) -> None:
    """Turn touching column labels upright, then thin either axis's labels until none touch."""
    if _overlap(fig, ax.get_xticklabels()):
        for label in ax.get_xticklabels():
            label.set_rotation(90)
    for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        step = 1
        while step < len(labels) and _overlap(fig, labels):
            step += 1
            for i, label in enumerate(labels):
                label.set_visible(i % step == 0)


def _displayable(x: np.ndarray) -> np.ndarray | None:
    """An image [H, W] or [H, W, 3] scaled to 0-1 for display; a square vector becomes H x H."""
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        side = math.isqrt(x.size)
        if side * side != x.size:
            return None
        x = x.reshape(side, side)
    elif x.shape[-1] == 1:
        x = x[..., 0]
    elif x.shape[-1] != 3:
        return None
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def plot_samples(x: np.ndarray, y: np.ndarray, probs: dict[str, np.ndarray],
                 names: dict[str, tuple[str, ...]], path: Path, title: str) -> Path | None:
    """A grid of test images, each with its true label and the top predicted probabilities.

    The textbook's ``visualize()`` printed these as text: estimate, probabilities, answer.
    Returns None when the inputs are not images (a vector input that is not a square).
    """
    n = min(SAMPLES, len(x))
    images = [_displayable(x[i]) for i in range(n)]
    if n == 0 or any(im is None for im in images):
        return None
    plt = _pyplot()
    names = _plain_names(names)
    heads = list(probs)
    labels = y.reshape(len(y), -1)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, (3.2 + 0.6 * len(heads)) * rows),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, im) in enumerate(zip(axes.flat, images, strict=False)):
        ax.imshow(im, cmap="gray" if im.ndim == 2 else None)
        lines, ok = [], True
        for j, head in enumerate(heads):
            p, hn = probs[head][i], names[head]
            top = np.argsort(p)[::-1][:3]
            truth = int(labels[i, j])
            ok &= int(top[0]) == truth
            prefix = f"{_plain(head)}: " if len(heads) > 1 else ""
            lines.append(f"{prefix}true {hn[truth]}")
            lines.append(", ".join(f"{hn[c]} {p[c]:.2f}" for c in top))
        ax.set_title("\n".join(lines), fontsize=8, color="darkgreen" if ok else "firebrick")
    fig.suptitle(_plain(title, TITLE_CHARS))
    fig.tight_layout(rect=(0, 0, 1, 0.96))  # room for the suptitle
    return _save(plt, fig, path)

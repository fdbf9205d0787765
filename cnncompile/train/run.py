"""A training run from end to end: its folder, resuming, the test report and the pictures.

``runs/NAME/`` holds ``checkpoint.npz``, ``metrics.csv``, ``curves.png``, ``confusion.png``,
``samples.png`` and ``test.json`` (the test figures, as ``cnncompile evaluate --format json``
prints them).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from .checkpoint import Checkpoint, read_checkpoint
from .evaluate import Evaluation, evaluate
from .loop import CHECKPOINT, Trainer

RUNS_ROOT = Path("runs")


def choose_run_dir(name: str, out: Path | None, resume: bool, root: Path = RUNS_ROOT,
                   overwrite: bool = False) -> Path:
    """The run folder: ``--out`` as given, else ``runs/NAME``, ``runs/NAME-2``, ...

    A new run without ``--out`` takes the first of those that holds no checkpoint; ``--resume``
    without ``--out`` takes the last that does. ``overwrite`` lets a new run replace the one
    in ``--out``.

    Raises:
        DataError: ``--out`` holds a run but ``--resume`` is missing, or there is nothing to
            resume.
    """
    if out is not None:
        has = (out / CHECKPOINT).exists()
        if resume and not has:
            raise DataError(f"--resume: {out} holds no {CHECKPOINT} to continue")
        if not resume and has and not overwrite:
            raise DataError(f"{out} already holds a run: add --resume to continue it, "
                            "--overwrite to replace it, or give another --out")
        return out
    candidates = [root / name] + [root / f"{name}-{k}" for k in range(2, 1000)]
    taken = [d for d in candidates if (d / CHECKPOINT).exists()]
    if resume:
        if not taken:
            raise DataError(f"--resume: no run of {name!r} under {root}/ (looked for "
                            f"{root / name}/{CHECKPOINT})")
        return taken[-1]
    return next(d for d in candidates if not (d / CHECKPOINT).exists())


RUN_FILES = (CHECKPOINT, "metrics.csv", "curves.png", "confusion.png", "samples.png",
             "test.json")


def clear_run(run_dir: Path) -> None:
    """Remove the files of an earlier run in ``run_dir`` (``--overwrite``); nothing else."""
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)


def load_resume(run_dir: Path) -> Checkpoint:
    """The run's checkpoint; DataError if it is a plain parameters file (nothing to resume).

    Check it against the model with ``check_fits(graph, ckpt, ..., same_structure=True)``.
    """
    ckpt = read_checkpoint(run_dir / CHECKPOINT)
    if "rng" not in ckpt.meta or "config" not in ckpt.meta:
        raise DataError(f"{run_dir / CHECKPOINT}: a plain parameters file, not a training "
                        "checkpoint; it cannot be resumed")
    return ckpt


@dataclass
class RunResult:
    """The test figures of a finished run and the files written for it."""

    accuracy: dict[str, float]
    evaluation: Evaluation | None
    seconds: float
    files: list[Path] = field(default_factory=list)

    def accuracy_text(self) -> str:
        return "+".join(f"{a:.3f}" for a in self.accuracy.values())


def finish(trainer: Trainer) -> RunResult:
    """Test the trained model, write the plots and ``test.json``, record the test accuracy."""
    import time

    t0 = time.perf_counter()
    data, run_dir, graph = trainer.data, trainer.run_dir, trainer.graph
    ev = None
    if graph.heads.kind == "regression":
        _, accuracy = trainer.measure(data.test)
    else:
        ev = evaluate(trainer.predictor(), data.test,
                      [h.name for h in graph.heads.heads], data.names)
        accuracy = ev.accuracy
    seconds = time.perf_counter() - t0
    files = write_plots(run_dir, graph.name, trainer.history, ev, data.test)
    if ev is not None:
        path = run_dir / "test.json"
        path.write_text(json.dumps(dict(ev.to_json(), data=data.source), indent=1) + "\n")
        files.append(path)
    trainer.save(test_accuracy={h: (None if math.isnan(a) else a) for h, a in accuracy.items()})
    return RunResult(accuracy, ev, seconds, files)


def write_plots(run_dir: Path, title: str, history: list[dict], ev: Evaluation | None,
                test) -> list[Path]:
    """curves.png (when there is a history), confusion.png and samples.png (classifiers)."""
    from .plots import plot_confusion, plot_curves, plot_samples

    run_dir.mkdir(parents=True, exist_ok=True)
    files = []
    if history:
        files.append(plot_curves(history, run_dir / "curves.png", title))
    if ev is not None and ev.samples:
        files.append(plot_confusion(ev.confusion, ev.names, run_dir / "confusion.png",
                                    f"{title}: test accuracy {ev.accuracy_text()}"))
        n = min(16, len(test))
        samples = plot_samples(test.x[:n], test.y[:n], {h: p[:n] for h, p in ev.probs.items()},
                               ev.names, run_dir / "samples.png", f"{title}: test samples")
        if samples is not None:
            files.append(samples)
    return files

"""A training run from end to end: its folder, resuming, the test report and the pictures.

``runs/NAME/`` holds ``checkpoint.npz``, ``metrics.csv``, ``curves.png``, ``confusion.png``,
``samples.png`` and ``test.json`` (the test figures, as ``cnncompile evaluate --format json``
prints them).
"""

from __future__ import annotations

import json
import math
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..artifacts.files import FolderInUse, RunLock, Terminated, check_writable_dir, write_text
from ..errors import DataError
from ..evaluation.evaluate import Evaluation, evaluate
from .checkpoint import Checkpoint, read_checkpoint
from .loop import CHECKPOINT, Trainer, TrainingInterrupted, signal_word

RUNS_ROOT = Path("runs")


def choose_run_dir(name: str, out: Path | None, resume: bool, root: Path = RUNS_ROOT,
                   overwrite: bool = False, lock: bool = False) -> Path:
    """The run folder: ``--out`` as given, else ``runs/NAME``, ``runs/NAME-2``, ...

    A new run without ``--out`` takes the first of those that holds no checkpoint (and, with
    ``lock``, that no other run holds); ``--resume`` without ``--out`` takes the last that does.
    ``overwrite`` lets a new run replace the one in ``--out``. With ``lock`` the folder is also
    checked writable and locked for this process
    (:func:`open_run_dir`; the CLI releases it when the command ends), before its contents are
    judged, so a run in progress is reported as such.

    Raises:
        DataError: ``--out`` holds a run but ``--resume`` is missing, there is nothing to
            resume, the folder cannot be written or another run holds it.
    """
    return _choose_run_dir(name, out, resume, root, overwrite, lock)[0]


@contextmanager
def claimed_run_dir(name: str, out: Path | None, resume: bool, root: Path = RUNS_ROOT,
                    overwrite: bool = False) -> Iterator[Path]:
    """:func:`choose_run_dir` with ``lock``, the folder released when the block ends (so a
    library caller can resume the run it just trained)."""
    run_dir, held = _choose_run_dir(name, out, resume, root, overwrite, lock=True)
    try:
        yield run_dir
    finally:
        if held is not None:
            held.release()


def _choose_run_dir(name: str, out: Path | None, resume: bool, root: Path, overwrite: bool,
                    lock: bool) -> tuple[Path, RunLock | None]:
    """The run folder and, with ``lock``, the lock that holds it (see choose_run_dir)."""
    held = None
    if out is not None:
        if lock and out.is_dir():
            held = open_run_dir(out)
        has = (out / CHECKPOINT).exists()
        if resume and not has:
            _release(held)
            raise DataError(f"--resume: {out} holds no {CHECKPOINT} to continue")
        if not resume and has and not overwrite:
            _release(held)
            raise DataError(f"{out} already holds a run: add --resume to continue it, "
                            "--overwrite to replace it, or give another --out")
        if lock and not out.is_dir():
            held = open_run_dir(out)
        return out, held
    candidates = [root / name] + [root / f"{name}-{k}" for k in range(2, 1000)]
    taken = [d for d in candidates if (d / CHECKPOINT).exists()]
    if resume:
        if not taken:
            raise DataError(f"--resume: no run of {name!r} under {root}/ (looked for "
                            f"{root / name}/{CHECKPOINT})")
        chosen = taken[-1]
        return chosen, open_run_dir(chosen) if lock else None
    for chosen in (d for d in candidates if not (d / CHECKPOINT).exists()):
        if not lock:
            return chosen, None
        try:
            return chosen, open_run_dir(chosen)
        except FolderInUse:  # a new run in progress there: take the next name
            continue
    raise DataError(f"no free run folder under {root}/ for {name!r}; give --out")


def _release(held: RunLock | None) -> None:
    if held is not None:
        held.release()


def open_run_dir(run_dir: Path) -> RunLock:
    """Check ``run_dir`` can be written (probe file) and lock it; ``release()`` when done.

    Raises:
        DataError: the folder is a file, in ``/proc``, read-only or full, or another run holds it.
    """
    check_writable_dir(run_dir, "run folder")
    return RunLock(run_dir).acquire()


RUN_FILES = (CHECKPOINT, "metrics.csv", "curves.png", "confusion.png", "samples.png",
             "test.json")


def clear_run(run_dir: Path) -> None:
    """Remove the files of an earlier run in ``run_dir`` (``--overwrite``); nothing else."""
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)


def load_resume(run_dir: Path) -> Checkpoint:
    """The run's checkpoint; DataError if it is a plain parameters file (nothing to resume).

    Check it against the model with ``check_fits(graph, ckpt, ...)``.
    """
    ckpt = read_checkpoint(run_dir / CHECKPOINT)
    if "rng" not in ckpt.meta or "config" not in ckpt.meta:
        raise DataError(f"{run_dir / CHECKPOINT}: a plain parameters file, not a training "
                        "checkpoint; it cannot be resumed")
    return ckpt


@dataclass(frozen=True)
class RunStart:
    """What a display shows as training starts (:meth:`TrainHooks.on_start`).

    ``batch_norm_validation`` says how validation treats batch norm (None: the model has
    none); ``rate_warning`` is the batch-norm rate warning, when the running averages are kept
    and cannot forget their start in the run's steps.
    """

    trainer: Trainer
    run_dir: Path
    resumed: bool
    batch_norm_validation: str | None = None
    rate_warning: str | None = None
    engine: dict = field(default_factory=dict)  # backend, device, workers, threads
    resume_note: str | None = None  # what a resume keeps from its record, what it changes


@dataclass
class RunResult:
    """The test figures of a finished run and the files written for it."""

    accuracy: dict[str, float]
    evaluation: Evaluation | None
    seconds: float
    files: list[Path] = field(default_factory=list)
    batch_norm: str | None = None  # what happened to the batch-norm statistics, for the output
    run_dir: Path | None = None
    checkpoint: Path | None = None  # the run's checkpoint.npz (weights for evaluate, export)
    test_samples: int = 0
    trained_seconds: float = 0.0  # training time of the whole run, resumed parts included
    kept: str | None = None  # which epoch's weights were tested and kept, for the output
    complete_at_epoch: int | None = None  # set when a resume found the run finished: nothing ran

    def accuracy_text(self) -> str:
        return "+".join(f"{a:.3f}" for a in self.accuracy.values())


def finish(trainer: Trainer) -> RunResult:
    """Test the kept weights (``keep``: the best epoch's or the last), write the plots and
    ``test.json``, and record the test accuracy in the checkpoint, which then holds those
    weights."""
    import time

    t0 = time.perf_counter()
    data, run_dir, graph = trainer.data, trainer.run_dir, trainer.graph
    ev = None
    try:
        trainer.selection.load_kept(trainer.engine, trainer.epoch)
        bn_note, bn_json = recalibrate_after_training(trainer)
        if graph.heads.kind == "regression":
            _, accuracy = trainer.measure(data.test)
        else:
            ev = evaluate(trainer.predictor(), data.test,
                          [h.name for h in graph.heads.heads], data.names)
            accuracy = ev.accuracy
        seconds = time.perf_counter() - t0
        files = write_plots(run_dir, graph.name, trainer.history, ev, data.test)
        extra = {"batch_norm": bn_json} if bn_json else {}
        if ev is not None:
            files.append(write_text(run_dir / "test.json", json.dumps(
                dict(ev.to_json(), data=data.source, **extra), indent=1) + "\n"))
        trainer.save(test_accuracy={h: (None if math.isnan(a) else a)
                                    for h, a in accuracy.items()}, **extra)
    except (KeyboardInterrupt, Terminated) as e:  # training is done and saved; the test is not
        signum = e.signum if isinstance(e, Terminated) else signal.SIGINT
        raise TrainingInterrupted(
            f"{signal_word(signum)} during the final test: {trainer.checkpoint_path} holds the "
            f"trained weights (epoch {trainer.epoch}); --resume runs the test again",
            trainer.checkpoint_path, signum) from None
    kept = trainer.selection.describe(trainer.epoch, trainer.config.epochs)
    return RunResult(accuracy, ev, seconds, files, bn_note, run_dir, trainer.checkpoint_path,
                     len(data.test), trainer.elapsed, kept)


def recalibrate_after_training(trainer: Trainer) -> tuple[str | None, dict | None]:
    """Precise batch norm on the finished model unless ``bn_recalibrate`` is off.

    Returns (a line for the output, the record for ``test.json`` and the checkpoint's meta);
    (None, None) for a model without batch norm.
    """
    from .recalibrate import recalibrated_statistics

    if not any(n.op == "batch_norm" for n in trainer.graph):
        return None, None
    if not trainer.config.bn_recalibrate:
        return ("batch-norm statistics: the training's running averages (--bn-recalibrate off)",
                {"recalibrated": False})
    params = trainer.params
    new, info = recalibrated_statistics(trainer.executor, params, trainer.data.train)
    if info is None:
        return None, {"recalibrated": False}
    trainer.engine.load_params({**params, **new})  # the test, checkpoint and export use them
    return info.describe(), info.to_json()


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

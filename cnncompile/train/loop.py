"""The training loop: minibatch steps, validation, a checkpoint every epoch, nothing lost.

Guarantees:

- Every epoch ends with ``checkpoint.npz`` then ``metrics.csv`` (both atomic) in the run folder,
  so ``metrics.csv`` is never ahead of the checkpoint; a resumed run rewrites it from the
  checkpoint's history first.
- A resumed run must see the same steps: another batch size, ``--limit`` or data set (its
  fingerprint is recorded) is refused.
- A resumed run ends with exactly the weights of an uninterrupted one with the same options:
  the checkpoint carries the optimiser state, the RNG state (shuffling, augmentation, dropout,
  noise), and, inside an epoch, the epoch's sample order and running sums.
- Ctrl-C (SIGINT), SIGTERM and SIGHUP are deferred to the end of the current step; the loop
  then checkpoints that last completed *step* and raises :class:`TrainingInterrupted` (exit code
  128 + the signal). A second signal stops at once and keeps the last checkpoint on disk.
- ``keep: best`` keeps the weights of the epoch with the lowest validation loss and
  ``patience`` stops a run that stops improving (``train/selection.py``); both are in the
  checkpoint, so a resumed or interrupted run keeps the same best epoch and count.
- A NaN or infinite loss raises :class:`DivergedError` naming the epoch and step; the last good
  checkpoint is kept, never overwritten with broken weights.
"""

from __future__ import annotations

import contextlib
import functools
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import __version__
from ..artifacts.files import Terminated, check_writable_dir
from ..data.datasets import Dataset
from ..errors import CnnCompileError, DataError, WorkerFailed
from ..evaluation.metrics import accuracy_columns, history_row, write_metrics_csv
from ..training_options import OPTIMIZER_RULES
from .augment import augment, check_augment
from .checkpoint import Checkpoint, save_checkpoint
from .config import TrainConfig
from .selection import EpochSelection, training_weights

if TYPE_CHECKING:
    from .run import RunStart

CHECKPOINT = "checkpoint.npz"
EVAL_BATCH = 500


class DivergedError(CnnCompileError):
    """The loss became NaN or infinite: the options (usually the learning rate) do not work."""


class TrainingInterrupted(Exception):
    """A signal stopped training: ``message`` says what was saved; ``checkpoint`` is the file to
    resume from; ``exit_code`` is 128 + the signal (130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, message: str, checkpoint: Path | None, signum: int = signal.SIGINT):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.signum = int(signum)
        self.exit_code = 128 + self.signum


@dataclass
class StepInfo:
    """Progress within an epoch, for progress bars (epochs and steps count from 1)."""

    epoch: int
    epochs: int
    step: int
    steps: int
    samples: int
    loss: float  # mean over this epoch's minibatches so far
    accuracy: dict[str, float]
    lr: float


class TrainHooks:
    """Callbacks of the loop; the CLI's progress display subclasses this. All are optional.

    ``on_start`` is the training workflow's (``workflows/train.py``): it is called once the
    trainer exists, before the first step, with a :class:`~cnncompile.train.run.RunStart`.
    """

    def on_start(self, start: RunStart) -> None: ...

    def on_epoch_start(self, epoch: int, epochs: int, steps: int, done: int) -> None: ...

    def on_step(self, info: StepInfo) -> None: ...

    def on_epoch_end(self, row: dict) -> None: ...


DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def signal_word(signum: int) -> str:
    """``interrupted`` for Ctrl-C, ``terminated (SIGTERM)`` and the like for the others."""
    if signum == signal.SIGINT:
        return "interrupted"
    return f"terminated ({signal.Signals(signum).name})"


class _DeferredSignals:
    """The first SIGINT/SIGTERM/SIGHUP sets ``signum``; a second one stops at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def shared(self, engine) -> bool:
        """Whether any process of the run was asked to stop; every process then takes the
        same signal (the highest number), so each says the same and exits alike."""
        shared = engine.max_over_ranks(int(self.signum or 0))
        if shared and not self.requested:
            self.signum = shared
        # the shared answer alone, so every process decides alike; a signal that lands as the
        # call returns stays set for the next one
        return bool(shared)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise Terminated(signum)
        self.signum = signum

    def __enter__(self) -> _DeferredSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in DEFERRED_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)


@dataclass
class _Epoch:
    """The epoch in progress: its sample order, steps done and running sums."""

    perm: np.ndarray
    step: int = 0
    loss_sum: float = 0.0
    acc_sums: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # spent in this epoch before a resume

    def sums(self) -> dict:
        return {"step": self.step, "loss_sum": self.loss_sum, "acc_sums": self.acc_sums,
                "seconds": self.seconds}


class Trainer:
    """Trains ``graph`` on ``data`` into ``run_dir``, fresh or from a checkpoint.

    Call :meth:`fit`; ``params`` then holds the trained weights and ``history`` one row per
    epoch (the rows of ``metrics.csv``).
    """

    def __init__(self, spec, graph, data: Dataset, config: TrainConfig, run_dir: Path,
                 hooks: TrainHooks | None = None, resume: Checkpoint | None = None,
                 engine=None):
        from ..backends.numpy import init_params
        from ..backends.numpy.optim import make_optimizer
        from .step_engine import NumpyEngine

        check_augment(config.augment, graph.input_shape)
        if config.label_smoothing and graph.heads.kind != "classes":
            raise DataError(f"label smoothing needs softmax class heads; this model's output is "
                            f"{graph.heads.kind}")
        self.spec, self.graph, self.data, self.config = spec, graph, data, config
        self.run_dir = Path(run_dir)
        self.hooks = hooks or TrainHooks()
        extra = {"momentum": config.momentum} if config.optimizer == "momentum" else {}
        self.optimizer = make_optimizer(config.optimizer, config.learning_rate,
                                        config.l1_decay, config.l2_decay, **extra)
        self.heads = [h.name for h in graph.heads.heads]
        self.current: _Epoch | None = None
        self._updating = False
        self.selection = EpochSelection.start(config, resume,
                                              f"--resume of {self.checkpoint_path}")
        self.selection.check_validation(len(data.val))
        # ``engine(graph, params, optimizer)`` builds the step engine (train/step_engine.py)
        make_engine = engine or NumpyEngine
        if resume is None:
            params = init_params(graph, config.seed, config.init)
            self.rng = np.random.default_rng([config.seed, 1])  # not the init stream
            self.epoch, self.history, self.elapsed = 0, [], 0.0
            self.engine = make_engine(graph, params, self.optimizer)
            self.optimizer = self.engine.optimizer
            return
        meta = resume.meta
        self._check_same_steps(meta)
        params = {k: np.array(v, np.float32) for k, v in training_weights(resume).items()}
        if resume.opt_state is not None:
            self.optimizer.load_state_dict(resume.opt_state)
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = meta["rng"]
        self.epoch = int(meta["epoch"])
        self.history = list(meta.get("history", []))
        self.elapsed = float(meta.get("elapsed", 0.0))
        if resume.perm is not None and meta.get("partial"):
            if len(resume.perm) != len(data.train):
                raise DataError(f"the checkpoint was taken inside an epoch over "
                                f"{len(resume.perm)} training samples; {data.source} now gives "
                                f"{len(data.train)} (another --limit or data set?)")
            p = meta["partial"]
            self.current = _Epoch(resume.perm, p["step"], p["loss_sum"], p["acc_sums"],
                                  p["seconds"])
        self.engine = make_engine(graph, params, self.optimizer)
        self.optimizer = self.engine.optimizer

    @functools.cached_property
    def engine_description(self) -> dict:
        """Where this run trains (backend, device, workers, threads), taken once: a closed
        multi-process engine goes on as one process for the final test."""
        return self.engine.describe()

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The current weights and running statistics as float32 arrays, by IR name."""
        return self.engine.params

    def _check_same_steps(self, meta: dict) -> None:
        """Refuse a resume whose steps would differ from the run's: batch, limit, data."""
        recorded = meta.get("config") or {}
        where = f"--resume of {self.checkpoint_path}"
        for key, flag in (("batch_size", "--batch-size"), ("limit", "--limit")):
            if key in recorded and recorded[key] != getattr(self.config, key):
                raise DataError(f"{where}: the run was trained with {flag} {recorded[key]}; "
                                f"{getattr(self.config, key)} would change every later step. "
                                f"Resume without {flag}, or start a new run with another --out")
        fingerprint = meta.get("data_fingerprint")
        if fingerprint and fingerprint != self.data.fingerprint():
            raise DataError(f"{where}: the run was trained on other data ({meta.get('data')}, "
                            f"fingerprint {fingerprint[:12]}; {self.data.source} gives "
                            f"{self.data.fingerprint()[:12]}): resume with the same --data "
                            "and options, or start a new run with another --out")

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.data.train) / self.config.batch_size)

    # -- the loop -----------------------------------------------------------------------------
    def fit(self) -> None:
        """Train up to ``config.epochs`` epochs (none when the run is already complete)."""
        check_writable_dir(self.run_dir, "run folder", self.checkpoint_bytes())
        metrics = self.run_dir / "metrics.csv"
        if self.history:  # a resumed run: metrics.csv says exactly what the checkpoint says
            write_metrics_csv(metrics, self.history, self.heads)
        else:
            metrics.unlink(missing_ok=True)
        # overflow shows up as a non-finite loss, which stops the run with a clear message
        with _DeferredSignals() as signals, np.errstate(over="ignore", invalid="ignore"):
            while self.epoch < self.config.epochs and not self.selection.stopped_early:
                self._run_epoch(signals)
                try:
                    stop = signals.shared(self.engine)
                except WorkerFailed as e:
                    raise WorkerFailed(f"{e} after epoch {self.epoch}: kept "
                                       f"{self.checkpoint_path}; continue with --resume") from None
                if stop:
                    raise TrainingInterrupted(
                        f"{signal_word(signals.signum)} after epoch {self.epoch}: saved "
                        f"{self.checkpoint_path}; continue with --resume",
                        self.checkpoint_path, signals.signum)

    def checkpoint_bytes(self) -> int:
        """About twice a checkpoint's size (it and its temporary copy): params, optimiser, order."""
        params = sum(4 * int(np.prod(p.shape)) for p in self.graph.params())
        slots = len(OPTIMIZER_RULES[self.config.optimizer].slots)  # what a checkpoint saves
        slots += self.config.keep == "best"  # the best epoch's weights
        return 2 * (params * (1 + slots) + 8 * len(self.data.train)) + (1 << 20)

    def _run_epoch(self, signals: _DeferredSignals) -> None:
        cfg, steps = self.config, self.steps_per_epoch()
        if self.current is None:
            self.current = _Epoch(self.rng.permutation(len(self.data.train)))
        cur = self.current
        self.hooks.on_epoch_start(self.epoch + 1, cfg.epochs, steps, cur.step)
        started = time.perf_counter() - cur.seconds
        with self._saved_if_a_worker_fails(cur, steps, started):
            try:
                while cur.step < steps:
                    self._step(cur, steps)
                    self.hooks.on_step(StepInfo(
                        self.epoch + 1, cfg.epochs, cur.step, steps,
                        min(cur.step * cfg.batch_size, len(self.data.train)),
                        cur.loss_sum / cur.step,
                        {h: a / cur.step for h, a in cur.acc_sums.items()}, self.optimizer.lr))
                    if signals.shared(self.engine):  # every worker stops at this step
                        raise KeyboardInterrupt
            except (KeyboardInterrupt, Terminated) as e:
                cur.seconds = time.perf_counter() - started
                signum = (e.signum if isinstance(e, Terminated)
                          else (signals.signum or signal.SIGINT))
                self._interrupted(cur, steps, signum)
            self._check_finite(steps)
            val_loss, val_acc = self.measure(self.data.val, self.validation_statistics())
        seconds = time.perf_counter() - started
        self.elapsed += seconds
        row = history_row(self.epoch + 1, self.optimizer.lr, cur.loss_sum / steps,
                          {h: a / steps for h, a in cur.acc_sums.items()}, val_loss, val_acc,
                          seconds, self.elapsed) | self.engine_description
        self.history.append(row)
        self.epoch += 1
        self.current = None
        self._select(val_loss)
        self.save()  # the checkpoint first: metrics.csv is never ahead of it
        if self.engine.writes:  # one process of a multi-process run writes
            write_metrics_csv(self.run_dir / "metrics.csv", self.history, self.heads)
        self.hooks.on_epoch_end(row)

    def _select(self, val_loss: float) -> None:
        """Note the epoch's validation loss: the best epoch, and whether patience ran out
        (in every process, so that all of them stop after the same epoch)."""
        self.selection.observe(self.epoch, val_loss, self.params)
        self.selection.stopped_early = bool(
            self.engine.max_over_ranks(int(self.selection.stopped_early)))

    @contextlib.contextmanager
    def _saved_if_a_worker_fails(self, cur: _Epoch, steps: int, started: float):
        """A process of the run ended: save the last completed step (the engine and the
        generator are back at its end), as Ctrl-C does, and say where."""
        try:
            yield
        except WorkerFailed as e:
            cur.seconds = time.perf_counter() - started
            path = self.save(partial=cur)
            raise WorkerFailed(f"{e} at epoch {self.epoch + 1}, step {cur.step}/{steps}: saved "
                               f"{path} (the last completed step); continue with --resume"
                               ) from None

    def _step(self, cur: _Epoch, steps: int) -> None:
        cfg = self.config
        idx = cur.perm[cur.step * cfg.batch_size:(cur.step + 1) * cfg.batch_size]
        drawn = self.rng.bit_generator.state  # a step a lost worker stopped is drawn again
        x = augment(self.data.train.inputs(idx), cfg.augment, self.rng)
        self._updating = True
        try:
            res = self.engine.forward_loss(x, self.data.train.y[idx], cfg.label_smoothing,
                                           self.rng)
            if not math.isfinite(res.loss):
                self._diverged(f"the loss became {res.loss}", cur.step + 1)
            self.engine.update(res, cfg.lr_at(self.epoch, cur.step, steps))
        except WorkerFailed:
            self.rng.bit_generator.state = drawn
            self._updating = False
            raise
        self._updating = False
        cur.step += 1
        cur.loss_sum += res.loss
        for h, a in res.head_accuracy.items():
            cur.acc_sums[h] = cur.acc_sums.get(h, 0.0) + a

    def _check_finite(self, steps: int) -> None:
        for name, a in self.params.items():
            if not np.all(np.isfinite(a)):
                self._diverged(f"parameter `{name}` became NaN or infinite", steps)

    def _diverged(self, what: str, step: int) -> None:
        kept = (f"the last good checkpoint ({self.checkpoint_path}, epoch {self.epoch}) is kept"
                if self.checkpoint_path.exists() else "no checkpoint was written")
        raise DivergedError(f"{what} at epoch {self.epoch + 1}, step {step}: training stopped; "
                            f"{kept}. {self._divergence_cause(step)}")

    def _divergence_cause(self, step: int) -> str:
        """What to change: the data and weights were checked finite when they were read, so a
        first step that overflows points at the initialisation, a later one at the options."""
        cfg = self.config
        if self.epoch == 0 and step == 1 and not self.history:
            return (f"The first forward pass overflowed, before any update: the initial weights "
                    f"(--init {cfg.init}) and the data's scale do not fit this model")
        options = [f"--lr (now {cfg.learning_rate})"]
        options += [f"--l2 (now {cfg.l2_decay})"] * bool(cfg.l2_decay)
        options += [f"--l1 (now {cfg.l1_decay})"] * bool(cfg.l1_decay)
        return "The updates diverged. Try a lower " + " or ".join(options)

    def _interrupted(self, cur: _Epoch, steps: int, signum: int) -> None:
        where = f"epoch {self.epoch + 1}, step {cur.step}/{steps}"
        word = signal_word(signum)
        if self._updating:  # stopped inside an update: the in-memory state is half-updated
            kept = self.checkpoint_path if self.checkpoint_path.exists() else None
            raise TrainingInterrupted(
                f"{word} during an update at {where}: kept "
                + (f"{kept} (epoch {self.epoch})" if kept else "nothing (no checkpoint yet)"),
                kept, signum)
        path = self.save(partial=cur)
        raise TrainingInterrupted(f"{word} at {where}: saved {path} (the last completed "
                                  "step); continue with --resume", path, signum)

    # -- measuring ----------------------------------------------------------------------------
    @functools.cached_property
    def executor(self):
        """A NumPy executor of the graph: batch-norm recalibration runs on it, whatever the
        step engine (its statistics are exact in float32 on the CPU)."""
        from ..backends.numpy import Executor

        return getattr(self.engine, "executor", None) or Executor(self.graph)

    def validation_statistics(self) -> dict[str, np.ndarray]:
        """The batch-norm statistics validation runs with: recalibrated on a bounded training
        sample unless ``bn_recalibrate`` is off (then none: the running averages)."""
        from .recalibrate import VALIDATION_SAMPLES, recalibrated_statistics

        if not self.config.bn_recalibrate:
            return {}
        new, _ = recalibrated_statistics(self.executor, self.params, self.data.train,
                                         VALIDATION_SAMPLES)
        return new

    def logits(self, split, stats: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Inference logits for every sample of ``split``, in batches; ``stats`` replace the
        running batch-norm statistics for this call only."""
        if stats:  # validation: recalibrated batch-norm statistics in place of the running ones
            running = {k: np.array(self.params[k]) for k in stats}
            self.engine.load_params({**self.params, **stats})
        try:
            parts = [self.engine.logits(split.inputs(slice(s, s + EVAL_BATCH)))
                     for s in range(0, len(split), EVAL_BATCH)]
        finally:
            if stats:
                self.engine.load_params({**self.params, **running})
        return np.concatenate(parts) if parts else np.zeros((0, self.graph.heads.width))

    def predictor(self):
        """Inference probabilities per head from this trainer's engine (the test report)."""
        from ..evaluation.evaluate import logits_predictor

        return logits_predictor(self.graph.heads, self.engine.logits, self.params)

    def measure(self, split, stats: dict[str, np.ndarray] | None = None
                ) -> tuple[float, dict[str, float]]:
        """(loss, accuracy per head) on ``split``; NaN for an empty split."""
        from ..backends.numpy.losses import loss_and_grad

        if len(split) == 0:
            return math.nan, {h: math.nan for h in self.heads}
        res = loss_and_grad(self.graph.heads, self.logits(split, stats), split.y)
        return res.loss, res.head_accuracy

    # -- checkpoints --------------------------------------------------------------------------
    def meta(self, partial: _Epoch | None = None, **extra) -> dict:
        """The ``__meta__`` record of a checkpoint taken now."""
        g, spec = self.graph, self.spec
        shown = self.selection.presented_epoch(self.epoch)  # whose weights are the checkpoint's
        last = self.history[shown - 1] if self.history else {}
        return {
            "name": g.name, "spec_path": spec.path, "spec_text": spec.text,
            "spec_hash": spec.text_hash, "input_shape": list(g.input_shape),
            "output": {"kind": g.heads.kind, "heads": [
                {"name": h.name, "size": h.size, "labels": list(h.labels) if h.labels else None}
                for h in g.heads.heads]},
            "class_names": [list(n) for n in self.data.names],
            "ir_hash": g.structure_hash(), "epoch": self.epoch,
            "step": partial.step if partial else 0, "partial": partial.sums() if partial else None,
            "config": self.config.to_dict(), "rng": self.rng.bit_generator.state,
            "history": self.history, "elapsed": self.elapsed,
            "accuracy": {h: last[c] for h, c in zip(
                self.heads, accuracy_columns(self.heads, "val"), strict=True) if c in last},
            "data": self.data.source, "data_fingerprint": self.data.fingerprint(),
            "kept": self.selection.record(self.epoch),
            "preprocessing": self.data.preprocessing.to_dict(),
            "engine": self.engine_description, "cnncompile": __version__, **extra,
        }

    def save(self, partial: _Epoch | None = None, **extra) -> Path:
        """Write the checkpoint (inside an epoch when ``partial`` is given)."""
        if not self.engine.writes:
            return self.checkpoint_path
        return save_checkpoint(self.checkpoint_path, self.params, self.meta(partial, **extra),
                               self.optimizer.state_dict(),
                               partial.perm if partial is not None else None,
                               self.selection.other_weights(self.epoch, partial is not None))

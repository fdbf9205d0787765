"""Training as a library call: a spec and a data set in, a run folder and its test figures out.

:func:`train_model` is everything ``cnncompile train`` does below its flags: it chooses and
locks the run folder, plans a resume from the checkpoint's record, loads and lowers the spec
once, refuses a model or a step too big for the machine, loads the data, trains on the chosen
backend and tests the result. It prints nothing: progress reaches the caller through ``hooks``
(the loop's :class:`~cnncompile.train.TrainHooks`, ``on_start`` included).

Example::

    result = train_model("specs/fashion_mnist/fmnist_cnn.yaml", "fashion-mnist",
                         "runs/demo", options={"epochs": 1, "limit": 2000})
    result.accuracy            # {'output': 0.83...}
    train_model(..., "runs/demo", resume=True, options={"epochs": 2})   # one epoch more
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analysis.memory import check_memory
from ..artifacts.inputs import one_command
from ..errors import DataError, OptionError
from ..evaluation.metrics import write_metrics_csv
from ..frontend.spec import Spec
from ..ir import lower
from ..train import (
    Checkpoint,
    TrainConfig,
    Trainer,
    TrainHooks,
    check_fits,
    finish,
    load_dataset,
    load_resume,
)
from ..train.recalibrate import VALIDATION_SAMPLES, rate_warning
from ..train.run import RUNS_ROOT, RunResult, RunStart, claimed_run_dir, clear_run
from ..train.torch_loop import make_trainer
from ..training_options import DEFAULTS, OPTIONS_BY_NAME
from .resolve import resolve_spec, with_input_shape


@dataclass(frozen=True)
class _Plan:
    """What a run starts from: the spec at its input shape, the options and the checkpoint."""

    spec: Spec
    config: TrainConfig
    checkpoint: Checkpoint | None = None  # what a resumed run continues from
    note: str | None = None  # what a resumed run keeps from its record, and what it changes


@one_command
def train_model(spec: Spec | str | Path, data: str | Path, out: str | Path | None = None, *,
                resume: bool = False, overwrite: bool = False, input_shape=None,
                classes: int | None = None, options: dict[str, Any] | None = None,
                hooks: TrainHooks | None = None, decode_progress=None,
                runs_root: str | Path | None = None) -> RunResult | None:
    """Train ``spec`` on ``data`` into a run folder, or continue the run there.

    Args:
        spec: a :class:`Spec` or a spec file.
        data: fashion-mnist, a folder of IDX files, an image folder or an .npz file.
        out: the run folder (default: ``runs/NAME``, or ``runs/NAME-2``, ... when taken;
            with ``resume``, the latest of those).
        resume: continue the run in ``out`` from its checkpoint, at the input shape and with
            the options it recorded (``options`` given here change them).
        overwrite: start afresh in an ``out`` that holds a run, replacing it.
        input_shape, classes: replace the spec's input shape and output.
        options: training options by their table names (``epochs``, ``batch_size``, ...),
            over the spec's ``train:`` section; None values count as not given.
        hooks: a :class:`~cnncompile.train.TrainHooks` (progress display).
        decode_progress: ``progress(done, total)`` while an image folder is decoded.
        runs_root: where the default run folders live (default ``runs``).

    Returns:
        The test figures and the files written; None on a torchrun worker other than rank 0,
        which trains silently while rank 0 reports. A resume of a run that has trained and
        tested every epoch asked for trains nothing: its recorded test figures, with
        ``complete_at_epoch`` set.

    Raises:
        DataError, OptionError, ResourceError, DslSyntaxError, ShapeError: user mistakes.
        DivergedError: the loss became NaN or infinite.
        TrainingInterrupted: Ctrl-C or SIGTERM (in any process of the run); the last completed
            step is saved (``exit_code`` is 130 or 143).
        WorkerFailed: a worker process ended or stopped answering; the message names it and
            how it ended, and the last completed step is saved.
    """
    if resume and overwrite:
        raise DataError("--resume continues a run and --overwrite replaces it: give one")
    flags = dict(options or {})
    sp = resolve_spec(spec, input_shape, classes)
    hooks = hooks or TrainHooks()
    out = None if out is None else Path(out)
    root = RUNS_ROOT if runs_root is None else Path(runs_root)
    # the folder is writable, and ours alone until the run ends
    with claimed_run_dir(sp.name, out, resume, root, overwrite=overwrite) as run_dir:
        if overwrite:
            clear_run(run_dir)
        plan = _resume_plan(sp, run_dir, input_shape, flags) if resume else _fresh_plan(sp, flags)
        if plan.checkpoint is not None and _complete(plan):
            return _already_complete(plan, run_dir)
        return _run(plan, str(data), run_dir, hooks, decode_progress)


def _complete(plan: _Plan) -> bool:
    """The checkpoint holds every epoch asked for and the test of them, and no flag changes
    its options (a change goes the trainer's way: checked, refused or trained)."""
    meta = plan.checkpoint.meta
    return (int(meta["epoch"]) >= plan.config.epochs and not meta.get("partial")
            and meta.get("test_accuracy") is not None
            and plan.config == TrainConfig.from_dict(meta["config"]))


def _already_complete(plan: _Plan, run_dir: Path) -> RunResult:
    """A finished run resumed without more epochs: nothing is trained or tested again, and
    metrics.csv says again what the checkpoint says (as every resume makes it)."""
    meta = plan.checkpoint.meta
    write_metrics_csv(run_dir / "metrics.csv", list(meta.get("history", [])),
                      [h["name"] for h in meta["output"]["heads"]])
    accuracy = {h: (math.nan if a is None else a) for h, a in meta["test_accuracy"].items()}
    return RunResult(accuracy, None, 0.0, [], run_dir=run_dir,
                     checkpoint=run_dir / "checkpoint.npz",
                     trained_seconds=float(meta.get("elapsed", 0.0)),
                     complete_at_epoch=int(meta["epoch"]))


def _fresh_plan(sp: Spec, flags: dict) -> _Plan:
    return _Plan(sp, TrainConfig.from_sources(sp.train, flags))


def _resume_plan(sp: Spec, run_dir: Path, input_shape, flags: dict) -> _Plan:
    """The checkpoint's run: its recorded input shape (unless the caller gives one) and options
    (the caller's change them)."""
    ckpt = load_resume(run_dir)
    recorded = tuple(ckpt.meta.get("input_shape") or ())
    if input_shape is None and recorded:
        sp = with_input_shape(sp, recorded)
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        record = TrainConfig.from_dict(ckpt.meta["config"])
        if given.get("backend", record.backend) != record.backend:
            # --backend alone switches: the other backend's device and workers stay behind
            given = {k: DEFAULTS[k] for k in _WHERE_IT_RUNS} | given
        config = record.replace(given)
    except OptionError as e:  # a record the option table no longer accepts
        raise DataError(f"{run_dir / 'checkpoint.npz'}: its recorded {e}") from None
    return _Plan(sp, config, ckpt, _resume_note(record, config, _fresh_plan(sp, flags).config,
                                                given))


_WHERE_IT_RUNS = ("device", "workers")  # options of one backend only


def _resume_note(record: TrainConfig, config: TrainConfig, fresh: TrainConfig,
                 given: dict) -> str | None:
    """``keeps the recorded --backend torch, --workers 2; changes --epochs 1 -> 3``: the
    recorded options a fresh run would not take, and the ones the flags change."""
    def flag(name: str) -> str:
        return OPTIONS_BY_NAME[name].cli_flag or name

    names = list(record.to_dict())
    kept = [f"{flag(k)} {getattr(config, k)}" for k in names if k not in given
            and getattr(config, k) != getattr(fresh, k)]
    changed = [f"{flag(k)} {getattr(record, k)} -> {getattr(config, k)}" for k in names
               if getattr(config, k) != getattr(record, k)]
    parts = (["keeps the recorded " + ", ".join(kept)] if kept else []) + (
        ["changes " + ", ".join(changed)] if changed else [])
    return "; ".join(parts) or None


def _run(plan: _Plan, data: str, run_dir: Path, hooks: TrainHooks,
         decode_progress) -> RunResult | None:
    """Lower, check, load, train and test (the spec is lowered here, once)."""
    config, ckpt = plan.config, plan.checkpoint
    graph = lower(plan.spec)
    if ckpt is not None:
        check_fits(graph, ckpt, str(run_dir / "checkpoint.npz"))
    check_memory(graph, 0, True, config.optimizer, "training",  # the model alone: too big?
                 keep=config.keep)
    dataset = load_dataset(data, graph.input_shape, graph.heads, validation=config.validation,
                           limit=config.limit, progress=decode_progress)
    check_memory(graph, min(config.batch_size, len(dataset.train)), True, config.optimizer,
                 "training", "lower --batch-size", keep=config.keep)
    trainer = make_trainer(plan.spec, graph, dataset, config, run_dir, hooks=hooks, resume=ckpt,
                           source=data)
    try:
        if not trainer.engine.writes:  # a torchrun worker other than rank 0: rank 0 reports
            trainer.fit()
            return None
        hooks.on_start(_start(trainer, run_dir, ckpt is not None, plan.note))
        trainer.fit()
    finally:
        trainer.engine.close()  # the worker processes end; rank 0 tests and writes
    return finish(trainer)


def _start(trainer: Trainer, run_dir: Path, resumed: bool, note: str | None) -> RunStart:
    """The start record: where it trains, what a resume keeps, how validation treats batch
    norm, and the rate warning."""
    engine = trainer.engine_description
    if not any(n.op == "batch_norm" for n in trainer.graph):
        return RunStart(trainer, run_dir, resumed, engine=engine, resume_note=note)
    config = trainer.config
    if config.bn_recalibrate:  # the running averages are replaced, whatever their rate
        return RunStart(trainer, run_dir, resumed,
                        f"batch norm: validation uses statistics recalibrated on up to "
                        f"{VALIDATION_SAMPLES:,} training samples; the model's are "
                        "recalibrated after training", engine=engine, resume_note=note)
    return RunStart(trainer, run_dir, resumed,
                    "batch norm: validation and test use the running averages (textbook)",
                    rate_warning(trainer.graph, config.epochs * trainer.steps_per_epoch()),
                    engine=engine, resume_note=note)

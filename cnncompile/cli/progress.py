"""What `cnncompile train` shows while it runs: a rich progress bar, the textbook's epoch lines,
or one JSON object per event (start, epoch, test) for scripts."""

from __future__ import annotations

import json
import math
import time
from enum import Enum
from pathlib import Path

import typer

from ..wording import plural
from .app import warn


class LogFormat(str, Enum):
    rich = "rich"
    textbook = "textbook"
    json = "json"


def _clean(value):
    """JSON-safe: NaN becomes null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _joined(accuracy: dict[str, float]) -> str:
    return "+".join(f"{a:.3f}" for a in accuracy.values())


def engine_line(engine: dict) -> str:
    """``training on torch, cpu, 2 workers x 1 thread``: where the run trains."""
    return (f"training on {engine['backend']}, {engine['device']}, "
            f"{plural(engine['workers'], 'worker')} x {plural(engine['threads'], 'thread')}")


class Display:
    """Progress and report lines for one log format; it implements the loop's TrainHooks."""

    def __init__(self, fmt: LogFormat):
        from rich.console import Console

        self.fmt = fmt
        self.name, self.report = "", 1  # the model's name and the report interval: start()
        self.epochs = 0  # the run's last epoch, always reported; set by start()
        self.console = Console(highlight=False, soft_wrap=True)
        self.progress = None
        self.task = None
        self.last_report = 0.0  # training seconds at the last textbook report line
        self.epoch_t0 = 0.0
        self.epoch_samples0: int | None = None

    def emit(self, event: str, **fields) -> None:
        typer.echo(json.dumps(_clean({"event": event, **fields})))

    def on_start(self, start) -> None:
        """The run's header, then how validation treats batch norm (rich output) and the
        batch-norm rate warning (stderr)."""
        self.start(start.trainer, start.run_dir, start.resumed, start.engine, start.resume_note)
        if start.batch_norm_validation and self.fmt is LogFormat.rich:
            typer.echo(start.batch_norm_validation)
        if start.rate_warning:
            warn(f"{start.rate_warning}: the model will evaluate poorly; set `bn: "
                 "{exp_ratio: ...}` on B actions or --bn-recalibrate on")

    def start(self, trainer, run_dir: Path, resumed: bool, engine: dict | None = None,
              resume_note: str | None = None) -> None:
        cfg, g = trainer.config, trainer.graph
        self.name, self.report = g.name, cfg.report
        self.last_report = trainer.elapsed
        self.epochs = cfg.epochs
        params = sum(p.size for p in g.params() if p.trainable)
        if self.fmt is LogFormat.json:
            self.emit("start", model=g.name, params=params, data=trainer.data.describe(),
                      run_dir=str(run_dir), resumed_at_epoch=trainer.epoch if resumed else None,
                      config=cfg.to_dict(), engine=engine, resume=resume_note)
        elif self.fmt is LogFormat.textbook:
            typer.echo(f"Model {self.name} train started:")
        else:
            self.console.print(f"[bold]{g.name}[/]: {params:,} trainable parameters; "
                               f"{trainer.data.describe()}")
            sched = "" if cfg.lr_schedule == "constant" else f" ({cfg.lr_schedule})"
            extra = [f"{k} {v}" for k, v in (("l1", cfg.l1_decay), ("l2", cfg.l2_decay),
                                             ("augment", cfg.augment),
                                             ("label smoothing", cfg.label_smoothing))
                     if v not in (0, "none")]
            where = str(run_dir)
            if resumed:
                step = f", step {trainer.current.step}" if trainer.current else ""
                where += f" (resumed after epoch {trainer.epoch}{step})"
            self.console.print(", ".join([f"{cfg.optimizer} lr {cfg.learning_rate:g}{sched}",
                                          f"batch {cfg.batch_size}", plural(cfg.epochs, "epoch"),
                                          f"seed {cfg.seed}", *extra]) + f" -> {where}")
            if engine:
                typer.echo(engine_line(engine))
            if resume_note:
                typer.echo(f"resume {resume_note}")

    # -- TrainHooks ----------------------------------------------------------------------------
    def on_epoch_start(self, epoch: int, epochs: int, steps: int, done: int) -> None:
        if self.fmt is not LogFormat.rich or not self.console.is_terminal:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7} samples/s"), TextColumn("ETA"),
            TimeRemainingColumn(), TextColumn("loss {task.fields[loss]} acc {task.fields[acc]}"),
            console=self.console, transient=True)
        self.progress.start()
        self.task = self.progress.add_task("train", total=steps, completed=done, rate="-",
                                           loss="-", acc="-")
        self.epoch_t0, self.epoch_samples0 = time.perf_counter(), None

    def on_step(self, info) -> None:
        if self.progress is None:
            return
        if self.epoch_samples0 is None:
            self.epoch_samples0, self.epoch_t0 = info.samples, time.perf_counter()
            rate = "-"
        else:
            dt = time.perf_counter() - self.epoch_t0
            rate = f"{(info.samples - self.epoch_samples0) / dt:,.0f}" if dt > 0 else "-"
        self.progress.update(self.task, completed=info.step, rate=rate, loss=f"{info.loss:.3f}",
                             acc=_joined(info.accuracy))

    def on_epoch_end(self, row: dict) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        epoch = row["epoch"]
        if epoch % self.report and epoch != self.epochs and self.fmt is not LogFormat.json:
            return
        train_acc = {k: v for k, v in row.items() if k.startswith("train_acc")}
        val_acc = {k: v for k, v in row.items() if k.startswith("val_acc")}
        if self.fmt is LogFormat.json:
            self.emit("epoch", **row)
        elif self.fmt is LogFormat.textbook:
            since = int(row["elapsed"] - self.last_report)
            self.last_report = row["elapsed"]
            typer.echo(f"    Epoch {epoch}: cost={row['train_loss']:.3f}, accuracy="
                       f"{_joined(train_acc)}/{_joined(val_acc)} ({since}/{int(row['elapsed'])} secs)")
        else:
            typer.echo(f"epoch {epoch:>3}  loss {row['train_loss']:.4f}  acc {_joined(train_acc)}"
                       f"  | val loss {row['val_loss']:.4f}  acc {_joined(val_acc)}  | lr "
                       f"{row['lr']:.3g}  {row['seconds']:.1f} s")

    # -- the end -------------------------------------------------------------------------------
    def stop(self) -> None:
        """End the progress bar and give the terminal its cursor back (rich hides it)."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        if self.console.is_terminal:
            self.console.show_cursor(True)

    def end(self, result) -> None:
        """The test report of the finished run (a RunResult)."""
        acc = result.accuracy_text()
        if result.complete_at_epoch is not None:
            line = (f"{result.run_dir}: the run is complete (epoch {result.complete_at_epoch}, "
                    f"test accuracy {acc}); nothing trained or tested again: give --epochs above "
                    f"{result.complete_at_epoch} to train on")
            if self.fmt is LogFormat.json:
                self.emit("complete", run_dir=str(result.run_dir), accuracy=result.accuracy,
                          epoch=result.complete_at_epoch)
            else:
                typer.echo(line)
            return
        if self.fmt is LogFormat.json:
            self.emit("test", accuracy=result.accuracy, samples=result.test_samples,
                      batch_norm=result.batch_norm, kept=result.kept,
                      seconds=round(result.seconds, 3), files=[str(f) for f in result.files])
        elif self.fmt is LogFormat.textbook:
            typer.echo(f"Model {self.name} train ended in {int(result.trained_seconds)} secs:")
            typer.echo(f"Model {self.name} test report: accuracy = {acc}, "
                       f"({int(result.seconds)} secs)")
        else:
            accs = result.accuracy
            shown = (f"{next(iter(accs.values())):.4f}" if len(accs) == 1
                     else ", ".join(f"{h} {a:.4f}" for h, a in accs.items()))
            if result.batch_norm:
                typer.echo(result.batch_norm)
            if result.kept:
                typer.echo(result.kept)
            typer.echo(f"test accuracy {shown} on {plural(result.test_samples, 'sample')} "
                       f"(trained {result.trained_seconds / 60:.1f} min)")
            names = [result.checkpoint.name, "metrics.csv", *(f.name for f in result.files)]
            typer.echo(f"wrote {result.run_dir}/: {', '.join(names)}")

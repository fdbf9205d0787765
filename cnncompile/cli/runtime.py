"""`cnncompile predict` and `cnncompile bench`: exported models in onnxruntime."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .app import command
from .common import THREADS_HELP, Provider

PROVIDER_HELP = "auto (CUDA when onnxruntime-gpu and a GPU are there), cpu or cuda."


def _open(model: Path, provider: str, threads: Optional[int] = None):
    from ..runtime import OnnxModel

    m = OnnxModel(model, provider=provider, threads=threads)
    if m.note:
        print(f"note: {m.note}", file=sys.stderr)
    return m


def _quantization(m) -> str:
    """' [int8 (static, ...)]' for a quantized model (cnncompile quantize), else ''."""
    from ..deploy import quantization_label

    label = quantization_label(m.metadata)
    return f" [{label}]" if label else ""


class PredictFormat(str, Enum):
    """--format choices of predict."""

    text = "text"
    json = "json"


class DecodeProgress:
    """A rich progress bar on stderr while an image folder is decoded, only on a terminal.

    Called as ``progress(done, total)``; a call with ``done == total`` removes the bar (the
    loader always ends with one, whether decoding finished or failed).
    """

    def __init__(self, label: str = "decoding images"):
        from rich.console import Console

        self.console = Console(stderr=True)
        self.label = label
        self.bar = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if not self.console.is_terminal:
            return
        if done >= total:
            if self.bar is not None:
                self.bar.stop()
                self.bar = None
            return
        if self.bar is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn(self.label + " (first time; cached after)"),
                                BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("decode", total=total)
        self.bar.update(self.task, completed=done)


def _print_prediction(p) -> None:
    typer.echo(p.file)
    for head, rec in p.heads.items():
        if "values" in rec:
            typer.echo(f"  {head}: " + ", ".join(f"{v:.4g}" for v in rec["values"]))
        else:
            typer.echo(f"  {head}: " + ", ".join(
                f"{t['label']} {t['probability']:.3f}" for t in rec["top"]))


@command("predict")
def predict(
    model: Path = typer.Argument(..., help="An .onnx file exported by cnncompile."),
    images: list[Path] = typer.Argument(..., help="Image files and/or folders of images."),
    top: int = typer.Option(3, "--top", "-k", min=1, help="Classes to show per head."),
    provider: Provider = typer.Option(Provider.auto, "--provider", help=PROVIDER_HELP),
    format: PredictFormat = typer.Option(
        PredictFormat.text, "--format", "-f", help="text, or json: one document with, per file, "
        "each head's top-k labels and probabilities, and the unreadable files under `errors`."),
) -> None:
    """Classify images: decoded, resized and scaled as the model's metadata records.

    Every readable image is classified; files that cannot be read are listed at the end (on
    stderr, or under `errors` in JSON) and the exit status is then 2.

    Example: `cnncompile predict exported/fmnist_small.onnx exported/samples --top 2`
    """
    from ..artifacts.text import printable
    from ..workflows.predict import predict_images

    m = _open(model, provider.value)
    if _quantization(m):
        print(f"note: {printable(model)} is quantized:{_quantization(m)}", file=sys.stderr)
    predictions = predict_images(m, images, top=top)
    good = [p for p in predictions if p.error is None]
    errors = [{"file": p.file, "error": p.error} for p in predictions if p.error is not None]
    if format is PredictFormat.json:
        typer.echo(json.dumps({"model": printable(model), "predictions": [
            {"file": p.file, "heads": p.heads} for p in good], "errors": errors}, indent=1))
    else:
        for p in good:
            _print_prediction(p)
    if errors:
        for e in errors:
            print(f"error: {e['error']}", file=sys.stderr)
        if len(predictions) > 1:
            print(f"error: {len(errors)} of {len(predictions)} images could not be read",
                  file=sys.stderr)
        raise typer.Exit(2)


def _batches(text: str) -> list[int]:
    from ..errors import DataError

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise DataError(f"`--batch` must be positive integers separated by commas. Received: "
                        f"{text!r}")
    return values


@command("bench")
def bench(
    model: Path = typer.Argument(..., help="An .onnx file exported by cnncompile."),
    batch: str = typer.Option("1,8,64", "--batch", help="Batch sizes, comma-separated."),
    provider: Provider = typer.Option(Provider.auto, "--provider", help=PROVIDER_HELP),
    seconds: float = typer.Option(1.0, "--seconds", min=0.01,
                                  help="Minimum time per measurement."),
    threads: Optional[int] = typer.Option(None, "--threads", help=THREADS_HELP),
    engine: bool = typer.Option(True, "--engine/--no-engine",
                                help="Time the NumPy engine's forward beside it."),
) -> None:
    """Latency percentiles and throughput in onnxruntime, and the NumPy engine's throughput.

    Example: `cnncompile bench exported/fmnist_small.onnx --batch 1,64 --provider cpu`
    """
    import onnxruntime as ort

    from ..runtime.session import CUDA
    from ..runtime.timing import CLOCK_SHOWN
    from ..workflows.predict import bench_model

    sizes = _batches(batch)
    m = _open(model, provider.value, threads)
    gpu = CUDA in ort.get_available_providers()
    head = f"{'batch':>6} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'samples/s':>11}"
    if engine:
        head += f" {'engine/s':>10} {'onnx/engine':>12}"
    lines = [f"{m.name}{_quantization(m)}: {model} on {m.provider} (onnxruntime "
             f"{ort.__version__}" + ("" if gpu else "; no CUDA provider: install "
                                     "onnxruntime-gpu for the GPU") + ")", head]

    def show(row) -> None:
        t = row.onnx
        if lines:  # the header waits until the engine's spec is checked and a batch is timed
            lines[0] = lines[0][:-1] + f"; {CLOCK_SHOWN[t.clock]})"
        while lines:
            typer.echo(lines.pop(0))
        line = (f"{row.batch:>6} {t.percentile_ms(50):>9.3f} {t.percentile_ms(90):>9.3f} "
                f"{t.percentile_ms(99):>9.3f} {t.throughput:>11.1f}")
        if row.engine is not None:
            line += f" {row.engine.throughput:>10.1f} {row.ratio:>11.1f}x"
        typer.echo(line)

    bench_model(m, sizes, seconds=seconds, engine=engine, on_row=show)

"""`cnncompile predict` and `cnncompile bench`: exported models in onnxruntime."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .app import command
from .common import Provider

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


@command("predict")
def predict(
    model: Path = typer.Argument(..., help="An .onnx file exported by cnncompile."),
    images: list[Path] = typer.Argument(..., help="Image files and/or folders of images."),
    top: int = typer.Option(3, "--top", "-k", min=1, help="Classes to show per head."),
    provider: Provider = typer.Option(Provider.auto, "--provider", help=PROVIDER_HELP),
) -> None:
    """Classify images: decoded, resized and scaled as the model's metadata records.

    Example: `cnncompile predict exported/fmnist_small.onnx exported/samples --top 2`
    """
    from ..runtime.images import find_images

    m = _open(model, provider.value)
    if _quantization(m):
        print(f"note: {model} is quantized:{_quantization(m)}", file=sys.stderr)
    files = find_images(images)
    probs = m.predict_images(files)
    for i, f in enumerate(files):
        typer.echo(str(f))
        for name, _, _ in m.heads:
            if m.kind == "regression":
                values = ", ".join(f"{v:.4g}" for v in probs[name][i])
                typer.echo(f"  {name}: {values}")
                continue
            best = m.top(probs[name][i:i + 1], name, min(top, probs[name].shape[1]))[0]
            typer.echo(f"  {name}: " + ", ".join(f"{label} {p:.3f}" for label, p in best))


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
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="onnxruntime intra-op threads."),
    engine: bool = typer.Option(True, "--engine/--no-engine",
                                help="Time the NumPy engine's forward beside it."),
) -> None:
    """Latency percentiles and throughput in onnxruntime, and the NumPy engine's throughput.

    Example: `cnncompile bench exported/fmnist_small.onnx --batch 1,64 --provider cpu`
    """
    import onnxruntime as ort

    from ..runtime.bench import bench_engine, bench_onnx, engine_of
    from ..runtime.session import CUDA

    sizes = _batches(batch)
    m = _open(model, provider.value, threads)
    graph, params = engine_of(m) if engine else (None, None)
    gpu = CUDA in ort.get_available_providers()
    typer.echo(f"{m.name}{_quantization(m)}: {model} on {m.provider} (onnxruntime {ort.__version__}"
               + ("" if gpu else "; no CUDA provider: install onnxruntime-gpu for the GPU") + ")")
    head = f"{'batch':>6} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'samples/s':>11}"
    if engine:
        head += f" {'engine/s':>10} {'onnx/engine':>12}"
    typer.echo(head)
    for b in sizes:
        t = bench_onnx(m, b, seconds)
        line = (f"{b:>6} {t.percentile_ms(50):>9.3f} {t.percentile_ms(90):>9.3f} "
                f"{t.percentile_ms(99):>9.3f} {t.throughput:>11.1f}")
        if engine:
            e = bench_engine(graph, params, b, seconds)
            line += f" {e.throughput:>10.1f} {t.throughput / e.throughput:>11.1f}x"
        typer.echo(line)

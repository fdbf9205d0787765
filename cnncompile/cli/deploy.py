"""`cnncompile quantize`: an INT8 or FP16 variant of an export, kept only if it keeps accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..choices import QUANTIZE_CALIBRATION, QUANTIZE_FORMATS, QUANTIZE_MAX_DROP, QUANTIZE_MODES
from .app import command
from .common import THREADS_HELP, choice_enum

Format = choice_enum("Format", QUANTIZE_FORMATS, "--format choices for INT8.")
Mode = choice_enum("Mode", QUANTIZE_MODES, "--mode choices.")


@command("quantize")
def quantize(
    model: Path = typer.Argument(..., help="A float32 .onnx file exported by cnncompile."),
    data: str = typer.Option(..., "--data", "-d", help="The data set, as for `train`: INT8 "
                             "calibrates on its training split, both modes are measured on its "
                             "test split."),
    mode: Mode = typer.Option(Mode.int8, "--mode", help="int8 (static, calibrated) or fp16."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="The .onnx file to write "
                                       "[default: MODEL.MODE.onnx beside MODEL]."),
    max_drop: float = typer.Option(QUANTIZE_MAX_DROP, "--max-drop", help="The largest accuracy loss accepted "
                                   "(a fraction: 0.01 is one point); beyond it nothing is "
                                   "written and the exit status is 2."),
    calibration: int = typer.Option(QUANTIZE_CALIBRATION, "--calibration", min=1,
                                    help="Training samples INT8 calibrates on."),
    eval_samples: Optional[int] = typer.Option(None, "--eval-samples", min=1, help="Measure "
                                               "accuracy on the first N test samples only."),
    threads: Optional[int] = typer.Option(None, "--threads", help=THREADS_HELP),
    format: Format = typer.Option(Format.qoperator, "--format", help="INT8 form: qoperator "
                                  "(QLinearConv, uint8 activations: fastest on x86 CPUs) or "
                                  "qdq (Quantize/DequantizeLinear pairs, symmetric int8 "
                                  "activations: what TensorRT builds INT8 engines from)."),
) -> None:
    """Quantize MODEL to INT8 or FP16 and print both models' test accuracy and latency.

    Example: `cnncompile quantize exported/fmnist_small.onnx --data fashion-mnist`
    """
    from ..workflows.quantize import quantize_model, sample_size_note

    r = quantize_model(model, data, out, mode=mode.value, max_drop=max_drop,
                       calibration=calibration, eval_samples=eval_samples, threads=threads,
                       fmt=format.value)
    typer.echo(f"{r.mode}: {r.detail}")
    typer.echo(f"{'':<10}{'accuracy':>10}{'p50 ms (batch 1)':>18}{'size MB':>10}")
    for name, m in (("float32", r.float32), (r.mode, r.quantized)):
        acc = "+".join(f"{a:.4f}" for a in m.accuracy.values())
        typer.echo(f"{name:<10}{acc:>10}{m.latency_ms:>18.3f}{m.size_bytes / 1e6:>10.2f}")
    typer.echo(f"accuracy change on {r.samples:,} {r.data} test samples: {-r.drop * 100:+.2f} "
               f"points (allowed: -{r.max_drop * 100:.2f}); speed-up {r.speedup:.2f}x")
    if r.coarse:
        typer.echo(f"note: {sample_size_note(r.samples, r.max_drop)}")
    typer.echo(f"wrote {r.path}")

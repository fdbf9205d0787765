"""`cnncompile quantize`: an INT8 or FP16 variant of an export, kept only if it keeps accuracy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..choices import (
    QUANTIZE_BATCH,
    QUANTIZE_CALIBRATION,
    QUANTIZE_FORMAT,
    QUANTIZE_FORMATS,
    QUANTIZE_MAX_DROP,
    QUANTIZE_MIN_SPEEDUP,
    QUANTIZE_MODES,
)
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
    format: Format = typer.Option(Format(QUANTIZE_FORMAT), "--format", help="INT8 form: "
                                  "qdq-u8 (Quantize/DequantizeLinear pairs, uint8 activations: "
                                  "fastest on the x86 CPUs measured), qoperator (QLinearConv "
                                  "written out, uint8 activations) or qdq (symmetric int8 "
                                  "activations: what TensorRT builds INT8 engines from)."),
    batch: int = typer.Option(QUANTIZE_BATCH, "--batch", min=1, help="The batch size you "
                              "deploy with: both models are timed side by side at it."),
    min_speedup: float = typer.Option(QUANTIZE_MIN_SPEEDUP, "--min-speedup", min=0.0,
                                      help="The smallest speed-up over the float32 model "
                                      "accepted at --batch; below it nothing is written and "
                                      "the exit status is 2 (0: keep a slower, smaller model)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document instead: both "
                                 "models' figures, the speed-up and how it was timed, and "
                                 "(INT8) each node that stayed float with the reason."),
) -> None:
    """Quantize MODEL to INT8 or FP16 and print both models' test accuracy and speed.

    The variant is written only when it keeps the accuracy (--max-drop) and runs at least
    --min-speedup times as fast as MODEL at --batch (the two timed side by side: CPU time per
    call with --threads 1, wall time otherwise; docs/deploy.md).

    Example: `cnncompile quantize exported/fmnist_small.onnx --data fashion-mnist --min-speedup 0`
    (the shipped model is 3.6x smaller in INT8, but too small to run faster on a CPU)
    """
    from ..deploy.int8_graph import summary
    from ..runtime.timing import CLOCK_SHOWN
    from ..workflows.quantize import quantize_model, sample_size_note

    r = quantize_model(model, data, out, mode=mode.value, max_drop=max_drop,
                       calibration=calibration, eval_samples=eval_samples, threads=threads,
                       fmt=format.value, batch=batch, min_speedup=min_speedup)
    if as_json:
        typer.echo(json.dumps(_document(r)))
        return
    typer.echo(f"{r.mode}: {r.detail}")
    timed = f"ms/call (batch {r.batch})"
    typer.echo(f"{'':<10}{'accuracy':>10}{timed:>20}{'size MB':>10}")
    for name, m in (("float32", r.float32), (r.mode, r.quantized)):
        acc = "+".join(f"{a:.4f}" for a in m.accuracy.values())
        typer.echo(f"{name:<10}{acc:>10}{m.latency_ms:>20.3f}{m.size_bytes / 1e6:>10.2f}")
    typer.echo(f"accuracy change on {r.samples:,} {r.data} test samples: {-r.drop * 100:+.2f} "
               f"points (allowed: -{r.max_drop * 100:.2f}); speed-up {r.speedup:.2f}x "
               f"({CLOCK_SHOWN[r.clock]}; required: {r.min_speedup:g}x)")
    if r.mode == "int8":
        typer.echo(f"float nodes: {summary(list(r.float_nodes), r.nodes)}")
    if r.coarse:
        typer.echo(f"note: {sample_size_note(r.samples, r.max_drop)}")
    if r.note:
        typer.echo(f"note: {r.note}")
    typer.echo(f"wrote {r.path}")


def _document(r) -> dict:
    """``--json``: a QuantizeResult as one document."""
    from ..runtime.timing import CLOCK_SHOWN

    models = {name: {"accuracy": m.accuracy, "ms_per_call": m.latency_ms,
                     "size_bytes": m.size_bytes}
              for name, m in (("float32", r.float32), (r.mode, r.quantized))}
    return {"mode": r.mode, "detail": r.detail, "source": str(r.source), "path": str(r.path),
            "test_samples": r.samples, "data": r.data, "models": models,
            "accuracy_change": -r.drop, "max_drop": r.max_drop, "batch": r.batch,
            "speedup": r.speedup, "min_speedup": r.min_speedup, "timed_by": CLOCK_SHOWN[r.clock],
            "note": r.note, "nodes": r.nodes,
            "float_nodes": [{"name": n.name, "op": n.op, "reason": n.reason}
                            for n in r.float_nodes]}

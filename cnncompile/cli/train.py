"""`cnncompile train` and `cnncompile evaluate`: NumPy training with progress, and test figures."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from ..wording import plural
from ..workflows.evaluate import SPLITS
from .app import command
from .common import (
    Provider,
    choice_enum,
    input_shape_flag,
    spec_options,
    with_train_options,
)
from .progress import Display, LogFormat
from .runtime import DecodeProgress

Split = choice_enum("Split", SPLITS, "--split choices: the parts of a data set's split.")


class EvalFormat(str, Enum):
    table = "table"
    json = "json"


@command("train")
@with_train_options  # one flag per option of cnncompile/training_options.py
def train(
    spec: Path = typer.Argument(..., help="The spec file (YAML, or a bare layer list)."),
    data: str = typer.Option(..., "--data", "-d", help="fashion-mnist, a folder of IDX files, "
                             "an image folder (flowers or Office31 layout) or an .npz file."),
    input: Optional[str] = spec_options.input,
    classes: Optional[int] = spec_options.classes,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder [runs/NAME, or "
                                       "runs/NAME-2, ... when taken]."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out (default: "
                                "the latest runs/NAME*) from its checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start afresh in an --out that "
                                   "holds a run, replacing it."),
    log_format: LogFormat = typer.Option(LogFormat.rich, "--log-format",
                                         help="rich (progress bar), textbook (its exact report "
                                         "lines) or json (one object per line)."),
    **options,
) -> None:
    """Train a spec in NumPy (or PyTorch: --backend torch), with checkpoints, curves, a test report.

    Options come from the flags, then the spec's `train:` section, then the textbook's defaults
    (10 epochs, batch 10, Adam at 0.001). Data sets without a split of their own get the
    textbook's (80% train rounded to tens, 5% validation, the rest test, fixed seed); sets with
    a test split (Fashion-MNIST) keep it and take the last 5% of the shuffled training set for
    validation. The run folder gets checkpoint.npz, metrics.csv, curves.png, confusion.png,
    samples.png and test.json. Ctrl-C saves the last completed step and exits 130;
    `--resume` continues to the same weights an uninterrupted run reaches.

    Example: `cnncompile train exported/fmnist_small.yaml --data fashion-mnist --epochs 2 --out
    runs/quickstart`
    """
    from ..train import TrainingInterrupted
    from ..workflows.train import train_model

    display = Display(log_format)
    try:
        result = train_model(spec, data, out, resume=resume, overwrite=overwrite,
                             input_shape=input_shape_flag(input), classes=classes,
                             options=options, hooks=display, decode_progress=DecodeProgress())
    except TrainingInterrupted as e:
        display.stop()
        print(e, file=sys.stderr)
        raise typer.Exit(e.exit_code) from None
    finally:
        display.stop()
    if result is not None:  # None: a torchrun worker other than rank 0, which reports
        display.end(result)


def _eval_table(ev, title: str) -> str:
    """Accuracy per head, a per-class table and the confusion matrix, as plain text."""
    lines = [f"{title}: accuracy " + ", ".join(
        f"{h} {a:.4f}" if len(ev.accuracy) > 1 else f"{a:.4f}" for h, a in ev.accuracy.items())]
    for head, rows in ev.per_class.items():
        width = max(8, *(len(r["class"]) for r in rows)) + 4
        lines += ["", f"head {head}:" if len(ev.per_class) > 1 else "per class:",
                  f"{'':<4}{'class':<{width}}precision  recall      f1  support"]
        lines += [f"{i:<4}{r['class']:<{width}}{r['precision']:>9.3f}{r['recall']:>8.3f}"
                  f"{r['f1']:>8.3f}{r['support']:>9}" for i, r in enumerate(rows)]
        conf = ev.confusion[head]
        cell = max(4, len(str(conf.max())) + 1)
        lines += ["", "confusion matrix (rows: true class, columns: predicted class)",
                  f"{'':<4}{'':<{width}}" + "".join(f"{j:>{cell}}" for j in range(len(conf)))]
        lines += [f"{i:<4}{rows[i]['class']:<{width}}" + "".join(f"{v:>{cell}}" for v in conf[i])
                  for i in range(len(conf))]
    return "\n".join(lines) + "\n"


@command("evaluate")
def evaluate_cmd(
    model: Path = typer.Argument(..., help="A spec file (with --weights) or an exported .onnx."),
    data: str = typer.Option(..., "--data", "-d", help="The data set, as for `train`."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="A checkpoint or "
                                           "parameters .npz for the spec, or a run folder."),
    input: Optional[str] = spec_options.input,
    classes: Optional[int] = spec_options.classes,
    split: Split = typer.Option(Split.test, "--split", help="The part of the data set's "
                                "split to evaluate: test, validation or train."),
    format: EvalFormat = typer.Option(EvalFormat.table, "--format", "-f", help="table, or json: "
                                      "one object whose `accuracy` maps each head to its "
                                      "accuracy (a single head is `output`)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write confusion.png and "
                                       "samples.png into this folder."),
    batch_size: int = typer.Option(256, "--batch-size", min=1),
    provider: Provider = typer.Option(Provider.auto, "--provider", help="For an .onnx model: "
                                      "auto (CUDA when onnxruntime-gpu and a GPU are there), "
                                      "cpu or cuda."),
) -> None:
    """Accuracy per head, a per-class table and the confusion matrix on a data set's test split.

    The split is the one `train` used: the set's own test split, or the textbook's split with
    its fixed seed. A spec needs --weights (a run's checkpoint.npz or a parameters .npz); an
    .onnx model runs on onnxruntime and gets exactly the same figures.

    Example: `cnncompile evaluate exported/fmnist_small.yaml --weights runs/quickstart --data
    fashion-mnist`
    """
    from ..workflows.evaluate import evaluate_model

    result = evaluate_model(model, weights, data, split=split.value,
                            input_shape=input_shape_flag(input), classes=classes,
                            progress=DecodeProgress(), batch_size=batch_size, plots=out,
                            provider=provider.value,
                            notify=lambda note: print(f"note: {note}", file=sys.stderr))
    ev = result.evaluation
    if format is EvalFormat.json:
        typer.echo(json.dumps({"model": result.model, "data": result.data, "split": split.value,
                               **ev.to_json(), "files": [str(f) for f in result.files]}))
    else:
        typer.echo(_eval_table(ev, f"{result.title} on {result.data} ({split.value}, "
                                   f"{plural(ev.samples, 'sample')})"),
                   nl=False)
        if result.files:
            typer.echo("wrote " + ", ".join(map(str, result.files)))

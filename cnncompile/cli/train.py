"""`cnncompile train` and `cnncompile evaluate`: NumPy training with progress, and test figures."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .app import command
from .common import Init, spec_options
from .progress import Display, LogFormat


class Optim(str, Enum):
    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"


class Schedule(str, Enum):
    constant = "constant"
    cosine = "cosine"
    step = "step"


class Augment(str, Enum):
    none = "none"
    flip = "flip"
    flip_shift = "flip_shift"
    flip_cutout = "flip_cutout"


class Backend(str, Enum):
    numpy = "numpy"
    torch = "torch"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class EvalFormat(str, Enum):
    table = "table"
    json = "json"


def _spec_for_checkpoint(spec: Path, input: Optional[str], classes: Optional[int], ckpt):
    """The spec, at the input shape the checkpoint was trained with unless --input says."""
    from .common import load_spec_cli

    sp = load_spec_cli(spec, input, classes)
    recorded = tuple(ckpt.meta.get("input_shape") or ())
    if input is None and recorded and recorded != sp.input_shape:
        sp = load_spec_cli(spec, ",".join(map(str, recorded)), classes)
    return sp


@command("train")
def train(
    spec: Path = typer.Argument(..., help="The spec file (YAML, or a bare layer list)."),
    data: str = typer.Option(..., "--data", "-d", help="fashion-mnist, a folder of IDX files, "
                             "an image folder (flowers or Office31 layout) or an .npz file."),
    input: Optional[str] = spec_options.input,
    classes: Optional[int] = spec_options.classes,
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Epochs [spec, else 10]."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1,
                                             help="Minibatch size [spec, else 10]."),
    lr: Optional[float] = typer.Option(None, "--lr", min=0.0, help="Learning rate "
                                       "[spec, else 0.001]."),
    optimizer: Optional[Optim] = typer.Option(None, "--optimizer", help="[spec, else adam]"),
    l1: Optional[float] = typer.Option(None, "--l1", min=0.0, help="L1 decay [spec, else 0]."),
    l2: Optional[float] = typer.Option(None, "--l2", min=0.0, help="L2 decay [spec, else 0]."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Initialisation, shuffling, "
                                       "dropout and noise seed [spec, else 0]."),
    init: Optional[Init] = typer.Option(None, "--init", help="normal: the textbook's "
                                        "N(0, 0.030); he: He-normal [spec, else normal]."),
    lr_schedule: Optional[Schedule] = typer.Option(
        None, "--lr-schedule", help="cosine: per step down to 0; step: /10 after 50% and 75% "
        "of the epochs [spec, else constant]."),
    augment: Optional[Augment] = typer.Option(
        None, "--augment", help="flip: random mirror; flip_shift: also shifts of up to H/14 "
        "pixels; flip_cutout: also zeroes a random H/4 square [spec, else none]."),
    label_smoothing: Optional[float] = typer.Option(
        None, "--label-smoothing", min=0.0, max=0.99, help="Train softmax heads towards "
        "1 - e + e/K on the true class and e/K elsewhere [spec, else 0]."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Train on the first N "
                                        "samples of the shuffled training set."),
    report: Optional[int] = typer.Option(None, "--report", min=1, help="Print an epoch line "
                                         "every K epochs [spec, else 1]."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder [runs/NAME, or "
                                       "runs/NAME-2, ... when taken]."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out (default: "
                                "the latest runs/NAME*) from its checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start afresh in an --out that "
                                   "holds a run, replacing it."),
    log_format: LogFormat = typer.Option(LogFormat.rich, "--log-format",
                                         help="rich (progress bar), textbook (its exact report "
                                         "lines) or json (one object per line)."),
    backend: Optional[Backend] = typer.Option(
        None, "--backend", help="numpy: the textbook's engine; torch: the same model on "
        "PyTorch (extra cnncompile[torch]) [spec, else numpy]."),
    device: Optional[Device] = typer.Option(None, "--device", help="torch: auto (a GPU when "
                                            "present), cpu or cuda [auto]."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="torch: processes on "
                                          "this machine sharing each global batch [1]."),
) -> None:
    """Train a spec in NumPy (or PyTorch: --backend torch), with checkpoints, curves, a test report.

    Options come from the flags, then the spec's `train:` section, then the textbook's defaults
    (10 epochs, batch 10, Adam at 0.001). Data sets without a split of their own get the
    textbook's (80% train rounded to tens, 5% validation, the rest test, fixed seed); sets with
    a test split (Fashion-MNIST) keep it and take the last 5% of the shuffled training set for
    validation. The run folder gets checkpoint.npz, metrics.csv, curves.png, confusion.png,
    samples.png and test.json. Ctrl-C saves the last completed step and exits 130;
    `--resume` continues to the same weights an uninterrupted run reaches.
    """
    from ..errors import DataError
    from ..ir import lower
    from ..train import (
        TrainConfig,
        TrainingInterrupted,
        check_fits,
        choose_run_dir,
        finish,
        load_dataset,
        load_resume,
    )
    from ..train.run import clear_run
    from ..train.torch_loop import make_trainer
    from .common import load_spec_cli

    flags = {"epochs": epochs, "batch_size": batch_size, "learning_rate": lr,
             "optimizer": optimizer, "l1_decay": l1, "l2_decay": l2, "seed": seed,
             "init": init, "lr_schedule": lr_schedule, "augment": augment, "limit": limit,
             "report": report, "label_smoothing": label_smoothing}
    flags.update(backend=backend, device=device, workers=workers)
    flags = {k: (v.value if isinstance(v, Enum) else v) for k, v in flags.items()}
    name = load_spec_cli(spec, input, classes).name
    if resume and overwrite:
        raise DataError("--resume continues a run and --overwrite replaces it: give one")
    run_dir = choose_run_dir(name, out, resume, overwrite=overwrite)
    if overwrite:
        clear_run(run_dir)
    ckpt = None
    if resume:
        ckpt = load_resume(run_dir)
        sp = _spec_for_checkpoint(spec, input, classes, ckpt)
        graph = lower(sp)
        check_fits(graph, ckpt, str(run_dir / "checkpoint.npz"), same_structure=True)
        config = TrainConfig(**ckpt.meta["config"]).replace(flags)
    else:
        sp = load_spec_cli(spec, input, classes)
        graph = lower(sp)
        config = TrainConfig.from_sources(sp.train, flags)
    dataset = load_dataset(data, graph.input_shape, graph.heads, validation=config.validation,
                           limit=config.limit)
    display = Display(log_format, sp.name, config.report)
    trainer = make_trainer(sp, graph, dataset, config, run_dir, hooks=display, resume=ckpt,
                           source=data)
    if not trainer.engine.writes:  # a torchrun worker other than rank 0: rank 0 reports
        try:
            trainer.fit()
        finally:
            trainer.engine.close()
        return
    display.start(trainer, run_dir, resumed=ckpt is not None)
    try:
        trainer.fit()
    except TrainingInterrupted as e:
        display.stop()
        print(e, file=sys.stderr)
        raise typer.Exit(130) from None
    finally:
        display.stop()
        trainer.engine.close()
    display.end(trainer, finish(trainer))



def _onnx_model(path: Path):
    """(predictor, input shape, OutputSpec, title) of an exported model, via the runtime."""
    from ..frontend.spec import Head, OutputSpec
    from ..runtime import OnnxModel

    model = OnnxModel(path)
    heads = tuple(Head(name, size, tuple(labels) if labels else None)
                  for name, size, labels in model.heads)
    return model.predict, model.input_shape, OutputSpec(model.kind, heads), model.name


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
    split: str = typer.Option("test", "--split", help="test, validation or train."),
    format: EvalFormat = typer.Option(EvalFormat.table, "--format", "-f", help="table, or json: "
                                      "one object whose `accuracy` maps each head to its "
                                      "accuracy (a single head is `output`)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write confusion.png and "
                                       "samples.png into this folder."),
    batch_size: int = typer.Option(256, "--batch-size", min=1),
) -> None:
    """Accuracy per head, a per-class table and the confusion matrix on a data set's test split.

    The split is the one `train` used: the set's own test split, or the textbook's split with
    its fixed seed. A spec needs --weights (a run's checkpoint.npz or a parameters .npz); an
    .onnx model runs on onnxruntime and gets exactly the same figures.
    """
    import numpy as np

    from ..errors import DataError
    from ..ir import lower
    from ..train import (
        check_fits,
        engine_predictor,
        evaluate,
        load_dataset,
        read_checkpoint,
        write_plots,
    )

    if split not in ("test", "validation", "train"):
        raise DataError(f"--split must be test, validation or train. Received: {split!r}")
    if model.suffix.lower() == ".onnx":
        predict, shape, output, title = _onnx_model(model)
        validation = None
    else:
        if weights is None:
            raise DataError(f"{model}: evaluating a spec needs --weights CHECKPOINT (e.g. "
                            "runs/NAME/checkpoint.npz)")
        if weights.is_dir():
            weights = weights / "checkpoint.npz"
        ckpt = read_checkpoint(weights)
        graph = lower(_spec_for_checkpoint(model, input, classes, ckpt))
        check_fits(graph, ckpt, str(weights))
        params = {k: np.asarray(v, np.float32) for k, v in ckpt.params.items()}
        predict, shape, output, title = (engine_predictor(graph, params), graph.input_shape,
                                         graph.heads, graph.name)
        validation = (ckpt.meta.get("config") or {}).get("validation")
    if output.kind == "regression":
        raise DataError(f"{model}: evaluate reports classification figures; this model is a "
                        "regression (its `train` report gives the textbook's accuracy)")
    ds = load_dataset(data, shape, output, validation=validation)
    part = {"test": ds.test, "validation": ds.val, "train": ds.train}[split]
    ev = evaluate(predict, part, [h.name for h in output.heads], ds.names, batch_size)
    files = write_plots(out, title, [], ev, part) if out is not None else []
    if format is EvalFormat.json:
        typer.echo(json.dumps({"model": str(model), "data": ds.source, "split": split,
                               **ev.to_json(), "files": [str(f) for f in files]}))
    else:
        typer.echo(_eval_table(ev, f"{title} on {ds.source} ({split}, {ev.samples:,} samples)"),
                   nl=False)
        if files:
            typer.echo("wrote " + ", ".join(map(str, files)))

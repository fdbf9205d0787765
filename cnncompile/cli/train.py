"""`cnncompile train` and `cnncompile evaluate`: NumPy training with progress, and test figures."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from ..wording import plural
from .app import command
from .common import Provider, spec_options, with_train_options
from .progress import Display, LogFormat
from .runtime import DecodeProgress


class Split(str, Enum):
    """--split choices: the parts of a data set's split."""

    test = "test"
    validation = "validation"
    train = "train"


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
    from ..errors import DataError, OptionError
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

    flags = options  # every training option's flag value, None when not given
    name = load_spec_cli(spec, input, classes).name
    if resume and overwrite:
        raise DataError("--resume continues a run and --overwrite replaces it: give one")
    # lock=True: the folder is writable, and ours alone until the command ends
    run_dir = choose_run_dir(name, out, resume, overwrite=overwrite, lock=True)
    if overwrite:
        clear_run(run_dir)
    ckpt = None
    if resume:
        ckpt = load_resume(run_dir)
        sp = _spec_for_checkpoint(spec, input, classes, ckpt)
        graph = lower(sp)
        check_fits(graph, ckpt, str(run_dir / "checkpoint.npz"))
        try:
            config = TrainConfig.from_dict(ckpt.meta["config"]).replace(flags)
        except OptionError as e:  # a record the option table no longer accepts
            raise DataError(f"{run_dir / 'checkpoint.npz'}: its recorded {e}") from None
    else:
        sp = load_spec_cli(spec, input, classes)
        graph = lower(sp)
        config = TrainConfig.from_sources(sp.train, flags)
    from ..analysis.memory import check_memory  # a model, then a step, too big: refused
    check_memory(graph, 0, True, config.optimizer, "training")
    dataset = load_dataset(data, graph.input_shape, graph.heads, validation=config.validation,
                           limit=config.limit, progress=DecodeProgress())
    check_memory(graph, min(config.batch_size, len(dataset.train)), True, config.optimizer,
                 "training", "lower --batch-size")
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
    _batch_norm_notes(graph, config, trainer.steps_per_epoch(), log_format)
    try:
        try:
            trainer.fit()
        finally:
            trainer.engine.close()  # the worker processes end; rank 0 tests and writes
        result = finish(trainer)
    except TrainingInterrupted as e:
        display.stop()
        print(e, file=sys.stderr)
        raise typer.Exit(e.exit_code) from None
    finally:
        display.stop()
    display.end(trainer, result)


def _batch_norm_notes(graph, config, steps_per_epoch: int, log_format) -> None:
    """How validation treats batch norm (rich output) and the rate warning (stderr)."""
    from ..train.recalibrate import VALIDATION_SAMPLES, rate_warning

    if not any(n.op == "batch_norm" for n in graph):
        return
    if log_format is LogFormat.rich:
        typer.echo(f"batch norm: validation uses statistics recalibrated on up to "
                   f"{VALIDATION_SAMPLES:,} training samples; the model's are recalibrated "
                   "after training" if config.bn_recalibrate else
                   "batch norm: validation and test use the running averages (textbook)")
    warning = None if config.bn_recalibrate else rate_warning(
        graph, config.epochs * steps_per_epoch)
    if warning:  # with recalibration the running averages are replaced, whatever their rate
        then = ("the model will evaluate poorly; set `bn: {exp_ratio: ...}` on B actions "
                "or --bn-recalibrate on")
        print(f"warning: {warning}: {then}", file=sys.stderr)


def _onnx_model(path: Path, provider: str = "auto"):
    """(predictor, input shape, OutputSpec, title) of an exported model, via the runtime."""
    from ..deploy import quantization_label
    from ..frontend.spec import Head, OutputSpec
    from ..runtime import OnnxModel

    model = OnnxModel(path, provider=provider)
    if model.note:
        print(f"note: {model.note}", file=sys.stderr)
    heads = tuple(Head(name, size, tuple(labels) if labels else None)
                  for name, size, labels in model.heads)
    quantized = quantization_label(model.metadata)
    title = model.name + (f" [{quantized}]" if quantized else "")
    return model.predict, model.input_shape, OutputSpec(model.kind, heads), title


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

    if model.suffix.lower() == ".onnx":
        predict, shape, output, title = _onnx_model(model, provider.value)
        validation = None
    else:
        if weights is None:
            raise DataError(f"{model}: evaluating a spec needs --weights CHECKPOINT (e.g. "
                            "runs/NAME/checkpoint.npz)")
        ckpt = read_checkpoint(weights)  # a run folder stands for its checkpoint.npz
        graph = lower(_spec_for_checkpoint(model, input, classes, ckpt))
        check_fits(graph, ckpt, str(ckpt.path))
        params = {k: np.asarray(v, np.float32) for k, v in ckpt.params.items()}
        predict, shape, output, title = (engine_predictor(graph, params), graph.input_shape,
                                         graph.heads, graph.name)
        validation = (ckpt.meta.get("config") or {}).get("validation")
    if output.kind == "regression":
        raise DataError(f"{model}: evaluate reports classification figures; this model is a "
                        "regression (its `train` report gives the textbook's accuracy)")
    ds = load_dataset(data, shape, output, validation=validation, progress=DecodeProgress(),
                      model=str(model) if model.suffix.lower() == ".onnx" else None)
    part = {Split.test: ds.test, Split.validation: ds.val, Split.train: ds.train}[split]
    ev = evaluate(predict, part, [h.name for h in output.heads], ds.names, batch_size)
    files = write_plots(out, title, [], ev, part) if out is not None else []
    if format is EvalFormat.json:
        typer.echo(json.dumps({"model": str(model), "data": ds.source, "split": split.value,
                               **ev.to_json(), "files": [str(f) for f in files]}))
    else:
        typer.echo(_eval_table(ev, f"{title} on {ds.source} ({split.value}, "
                                   f"{plural(ev.samples, 'sample')})"),
                   nl=False)
        if files:
            typer.echo("wrote " + ", ".join(map(str, files)))

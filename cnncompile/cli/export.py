"""`cnncompile export`: a spec (and its weights) to a checked ONNX file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..choices import ACCELERATORS, HEAD_OUTPUTS, LAYOUTS
from ..errors import DataError
from .app import command, warn
from .common import Init, choice_enum, spec_options

Layout = choice_enum("Layout", LAYOUTS, "--layout choices.")
Outputs = choice_enum("Outputs", HEAD_OUTPUTS, "--outputs choices.")
Accelerator = choice_enum("Accelerator", ACCELERATORS, "--accelerator choices (Triton "
                          "onnxruntime backend GPU execution accelerators).")


@command("export")
def export(
    spec: Path = typer.Argument(..., help="The spec file."),
    weights: Optional[Path] = typer.Option(
        None, "--weights", "-w", help="A training checkpoint, a run folder or a plain .npz of "
        "parameters keyed by IR names (as `analyze -f json` lists them). Without it: the "
        "initialisation."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="The .onnx file to write [default: exported/NAME.onnx, or none with --triton]."),
    opset: Optional[int] = typer.Option(
        None, "--opset", help="ONNX opset, 13-26 [default: 13, the lowest with every op used]."),
    layout: Layout = typer.Option(Layout.nhwc, "--layout",
                                  help="Input layout: nhwc as the data comes, or nchw."),
    outputs: Outputs = typer.Option(Outputs.probs, "--outputs",
                                    help="probs (softmax per head) or logits."),
    seed: int = typer.Option(0, "--seed", help="Initialisation seed when no --weights is given."),
    init: Init = typer.Option(Init.normal, "--init", help="Initialisation without --weights."),
    data: Optional[str] = typer.Option(
        None, "--data", help="Take the parity batch from this data set's test split (what "
        "`train --data` takes) instead of random pixels."),
    parity_batch: int = typer.Option(4, "--parity-batch", min=1,
                                     help="Samples in the parity check."),
    scale: Optional[float] = typer.Option(
        None, "--scale", help="Input scaling to record (model input = pixels * scale) "
        "[default: the checkpoint's, else the data set's, else 1.0]."),
    mean: Optional[str] = typer.Option(
        None, "--mean", help="Normalisation to record, after scaling: one number or one per "
        "channel, comma-separated (for weights trained on normalised inputs elsewhere) "
        "[default: the checkpoint's, else none]."),
    std: Optional[str] = typer.Option(
        None, "--std", help="Normalisation divisor to record, as --mean [default: the "
        "checkpoint's, else none]."),
    input: Optional[str] = spec_options.input,
    classes: Optional[int] = spec_options.classes,
    fold_all: bool = typer.Option(False, "--fold-all", help="Remove every batch norm that an "
                                  "exact rewrite can, a constant border map after a padded conv "
                                  "where one is needed (by default those stay batch norms: "
                                  "onnxruntime runs them faster on a CPU; docs/architecture.md)."),
    triton: Optional[Path] = typer.Option(
        None, "--triton", help="Also write a Triton model repository here: REPO/NAME/"
        "config.pbtxt, 1/model.onnx and labels.txt (needs the `triton` extra)."),
    max_batch_size: int = typer.Option(64, "--max-batch-size", min=1,
                                       help="With --triton: Triton's max_batch_size."),
    instances: int = typer.Option(1, "--instances", min=1,
                                  help="With --triton: model instances (instance_group count)."),
    gpu: bool = typer.Option(False, "--gpu", help="With --triton: run on the GPU (KIND_GPU)."),
    accelerator: Optional[Accelerator] = typer.Option(
        None, "--accelerator", help="With --triton --gpu: a TensorRT or CUDA execution "
        "accelerator block."),
) -> None:
    """Export SPEC to ONNX: checker-clean, shapes equal to the IR's, outputs equal to the engine's.

    Runs onnx.checker (full check), strict shape inference against the IR and onnxruntime
    against the NumPy engine on a batch; any failure is an error and no file is written.

    Example: `cnncompile export exported/fmnist_small.yaml -w runs/quickstart/checkpoint.npz -o
    model.onnx`
    """
    from ..workflows.export import export_model
    from .runtime import DecodeProgress

    triton_options = None
    if triton is not None:
        from ..deploy.triton import TritonOptions

        triton_options = TritonOptions(max_batch_size, instances, gpu,
                                       accelerator.value if accelerator else None)
    outcome = export_model(
        spec, weights, out, opset=opset, layout=layout.value, outputs=outputs.value, seed=seed,
        init=init.value, data=data, parity_batch=parity_batch, scale=scale,
        mean=_numbers(mean, "--mean"), std=_numbers(std, "--std"), input_shape=input,
        classes=classes, triton=triton, triton_options=triton_options, fold_all=fold_all,
        progress=DecodeProgress())
    for warning in outcome.warnings:
        warn(warning)
    import onnx

    result = outcome.result
    typer.echo(f"checker: ok (onnx {onnx.__version__}, full check; opset {result.opset}, "
               f"IR version {result.ir_version})")
    typer.echo(f"shapes: the ONNX shapes of all {result.shapes_checked} IR nodes equal the IR's")
    typer.echo(f"parity: onnxruntime vs NumPy engine on {result.parity.batch} "
               f"{outcome.parity_source}: {result.parity}")
    if result.path is not None:
        typer.echo(f"wrote {result.path} ({result.size_bytes / 1e6:.2f} MB)")
    if outcome.triton_folder is not None:
        typer.echo(f"triton: wrote {outcome.triton_folder} (config.pbtxt parses as Triton's "
                   "ModelConfig and agrees with the graph)")


def _numbers(text: Optional[str], option: str) -> Optional[list[float]]:
    """``--mean 0.5,0.5,0.5`` as numbers; the record checks how many and their values."""
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise DataError(f"`{option}` must be numbers separated by commas. Received: "
                        f"{text!r}") from None

"""`cnncompile export`: a spec (and its weights) to a checked ONNX file."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .app import command
from .common import Init, load_spec_cli, spec_options


class Layout(str, Enum):
    """--layout choices."""

    nhwc = "nhwc"
    nchw = "nchw"


class Outputs(str, Enum):
    """--outputs choices."""

    probs = "probs"
    logits = "logits"


class Accelerator(str, Enum):
    """--accelerator choices (Triton onnxruntime backend GPU execution accelerators)."""

    tensorrt = "tensorrt"
    cuda = "cuda"


def _parity_data(source: str, graph, spec, n: int):
    """The first ``n`` test samples of a data set, its preprocessing scale and class names."""
    from ..data.datasets import load_dataset
    from .runtime import DecodeProgress

    data = load_dataset(source, graph.input_shape, spec.output, progress=DecodeProgress())
    return data.test.inputs(slice(0, n)), data.test.scale, [list(x) for x in data.names]


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
    input: Optional[str] = spec_options.input,
    classes: Optional[int] = spec_options.classes,
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
    from ..backends.onnx import DEFAULT_OPSET, ExportOptions, export_model, load_weights
    from ..ir import lower

    triton_options = None
    if triton is not None:  # option mistakes surface before anything is exported
        from ..deploy.triton import TritonOptions

        triton_options = TritonOptions(max_batch_size, instances, gpu,
                                       accelerator.value if accelerator else None)
        triton_options.validate()
    s = load_spec_cli(spec, input, classes)
    graph = lower(s)
    w = load_weights(graph, weights, seed=seed, init=init.value)
    x, names = None, None
    if data is not None:
        x, data_scale, names = _parity_data(data, graph, s, parity_batch)
        if scale is None and "preprocessing" not in w.meta:
            scale = data_scale
    # with --triton alone the model goes into the repository only, not also to exported/
    target = out if out is not None or triton is not None else Path("exported") / f"{s.name}.onnx"
    options = ExportOptions(opset=opset if opset is not None else DEFAULT_OPSET,
                            layout=layout.value, outputs=outputs.value)
    result = export_model(s, graph, w, target, options, x=x, parity_batch=parity_batch,
                          scale=scale, seed=seed, class_names=names)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    import onnx

    typer.echo(f"checker: ok (onnx {onnx.__version__}, full check; opset {result.opset}, "
               f"IR version {result.ir_version})")
    typer.echo(f"shapes: the ONNX shapes of all {result.shapes_checked} IR nodes equal the IR's")
    source = f"{data} test samples" if data else "random inputs"
    typer.echo(f"parity: onnxruntime vs NumPy engine on {result.parity.batch} {source}: "
               f"{result.parity}")
    if result.path is not None:
        typer.echo(f"wrote {result.path} ({result.size_bytes / 1e6:.2f} MB)")
    if triton is not None:
        _write_triton(result, triton, s.name, triton_options)


def _write_triton(result, repo: Path, name: str, options) -> None:
    """The Triton model repository of an export, checked, and a line saying where it is."""
    import json

    from ..deploy.triton import write_repository

    written = write_repository(result.model, repo, name, options,
                               json.loads(result.metadata["heads"]),
                               result.metadata["input_layout"])
    typer.echo(f"triton: wrote {written.folder} (config.pbtxt parses as Triton's ModelConfig "
               "and agrees with the graph)")

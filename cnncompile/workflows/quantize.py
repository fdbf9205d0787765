"""Quantize an export to INT8 or FP16 and keep it only when it keeps the accuracy.

The workflow around :mod:`cnncompile.deploy.quantize` (which builds the variants): it checks
the options, reads the data set, chooses the calibration samples (the first ``calibration`` of
the training split) and the evaluation samples (the test split, or its first
``eval_samples``), measures both models, and writes the variant only when the drop is within
``max_drop`` and it runs at least ``min_speedup`` times as fast as the source at the batch the
user deploys with (both timed side by side by the shared method,
:mod:`cnncompile.runtime.timing`). Everything is built and measured in a temporary folder
beside the target (:func:`cnncompile.artifacts.files.temp_dir`) and written by the one atomic
writer, so a failure or a signal leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..artifacts.files import default_output, temp_dir, write_bytes
from ..artifacts.inputs import check_not_input, one_command
from ..artifacts.text import printable
from ..choices import (
    QUANTIZE_BATCH,
    QUANTIZE_CALIBRATION,
    QUANTIZE_FORMAT,
    QUANTIZE_FORMATS,
    QUANTIZE_MAX_DROP,
    QUANTIZE_MIN_SPEEDUP,
    QUANTIZE_MODES,
)
from ..deploy.int8_graph import FloatNode, float_nodes
from ..deploy.quantize import (
    INT8_FORMS,
    QUANTIZATION_KEY,
    Measured,
    calibration_batches,
    describe,
    graph_quantization,
    measure,
    quantized_model,
)
from ..errors import DataError, ExportError
from ..machine import check_threads
from ..runtime.bench import time_onnx
from ..runtime.session import check_model_file
from ..runtime.timing import CLOCK_SHOWN

FP16_ON_CPU = ("FP16 pays on GPUs, not on this CPU: onnxruntime's CPU provider computes it in "
               "float32, so only the file shrinks, to half its size")


@dataclass(frozen=True)
class QuantizeResult:
    """Both models measured side by side; ``path`` is None when nothing was written."""

    mode: str
    source: Path
    path: Path | None
    float32: Measured
    quantized: Measured
    samples: int
    calibration: int
    data: str
    detail: str = field(default="")
    max_drop: float = QUANTIZE_MAX_DROP
    batch: int = QUANTIZE_BATCH
    min_speedup: float = QUANTIZE_MIN_SPEEDUP
    clock: str = "wall"  # how both models were timed: runtime.timing's 'cpu' or 'wall'
    float_nodes: tuple[FloatNode, ...] = ()  # INT8: the nodes that still compute in float
    nodes: int = 0  # INT8: the quantized graph's nodes
    fmt: str = QUANTIZE_FORMAT

    @property
    def drop(self) -> float:
        """The largest accuracy loss over the heads (a fraction; negative: a gain)."""
        return max(self.float32.accuracy[h] - self.quantized.accuracy[h]
                   for h in self.float32.accuracy)

    @property
    def coarse(self) -> bool:
        """True when one test sample weighs more than ``max_drop``: the gate would refuse a
        single changed image."""
        return self.max_drop < 1 / self.samples - 1e-12

    @property
    def speedup(self) -> float:
        """float32's median time per call over the variant's, at ``batch``."""
        return self.float32.latency_ms / self.quantized.latency_ms

    @property
    def note(self) -> str | None:
        """What the user should know about the variant's speed (FP16 on this CPU)."""
        return FP16_ON_CPU if self.mode == "fp16" else None


def variant_path(source: Path, mode: str) -> Path:
    """``model.onnx`` -> ``model.int8.onnx`` beside it (the default output)."""
    return source.with_name(f"{source.stem}.{mode}.onnx")


@one_command
def quantize_model(model: str | Path, data: str | Path, out: str | Path | None = None, *,
                   mode: str = "int8", max_drop: float = QUANTIZE_MAX_DROP,
                   calibration: int = QUANTIZE_CALIBRATION, eval_samples: int | None = None,
                   seconds: float = 1.0, threads: int | None = None,
                   fmt: str = QUANTIZE_FORMAT, batch: int = QUANTIZE_BATCH,
                   min_speedup: float = QUANTIZE_MIN_SPEEDUP) -> QuantizeResult:
    """Quantize the export ``model``, measure both models on ``data``'s test split, keep the
    variant only when the accuracy drops by at most ``max_drop`` and it runs at least
    ``min_speedup`` times as fast as ``model`` at ``batch``.

    Args:
        model: a cnncompile ``.onnx`` export (float32).
        data: what ``--data`` takes (fashion-mnist, a folder, an .npz).
        out: the file to write [default: MODEL.MODE.onnx beside the model].
        mode: 'int8' (static, calibrated on ``calibration`` training samples) or 'fp16'.
        max_drop: the largest accuracy loss accepted, a fraction (0.01 = one point).
        eval_samples: measure accuracy on the first N test samples only (None: all).
        seconds: minimum time of the speed comparison (both models interleaved).
        threads: onnxruntime's intra-op threads for the timings, 1 .. the CPUs this process
            may use (None: onnxruntime's default). With 1 the models are compared by CPU
            time per call, otherwise by wall time (:mod:`cnncompile.runtime.timing`).
        fmt: the INT8 form: 'qdq-u8' (default: fastest on the x86 CPUs measured),
            'qoperator' (QLinearConv written out) or 'qdq' (symmetric int8: TensorRT's).
        batch: the batch size the speed is compared at: the one you deploy with.
        min_speedup: the smallest speed-up over ``model`` accepted (0: any).
    Returns:
        The figures of both models; ``path`` is the written file.
    Raises:
        DataError: a bad model file, data that does not fit, bad options.
        OptionError: ``threads`` out of range.
        ExportError: the variant fails onnx.checker, the drop exceeds ``max_drop`` or the
            speed-up is below ``min_speedup`` (nothing is written then).

    Example::

        r = quantize_model("exported/fmnist_small.onnx", "fashion-mnist")
        print(r.drop, r.path)
    """
    from ..runtime import OnnxModel

    src = check_model_file(model, suffix=True)
    _check_options(mode, fmt, calibration, max_drop, batch, min_speedup)
    check_threads(threads)
    onnx_model = OnnxModel(src, provider="cpu", threads=threads)
    done = onnx_model.metadata.get(QUANTIZATION_KEY) or graph_quantization(_graph(src))
    if done:
        raise DataError(f"{printable(src)}: already quantized ({done}); quantize the float32 "
                        "export")
    target = Path(out) if out is not None else default_output(variant_path(src, mode))
    ds = _load_data(onnx_model, data)
    check_not_input(target)  # every input read: refused before the work, not at the write
    test = ds.test if eval_samples is None else ds.test.take(slice(0, eval_samples))
    heads = [name for name, _, _ in onnx_model.heads]
    used = min(calibration, len(ds.train))
    detail = describe(mode, fmt, used, ds.source)
    float_accuracy = measure(src, test, heads, ds.names, threads)
    with temp_dir(target) as work:
        batches = calibration_batches(onnx_model, ds.train, used) if mode == "int8" else None
        variant = quantized_model(src, mode, fmt, work, batches, detail)
        data_bytes = variant.SerializeToString()
        measured = write_bytes(work / "model.onnx", data_bytes)
        quant_accuracy = measure(measured, test, heads, ds.names, threads)
        timings = time_onnx({"float32": onnx_model,
                             mode: OnnxModel(measured, provider="cpu", threads=threads)},
                            batch, seconds, purpose="quantize")
        figures = {name: Measured(acc, timings[name].percentile_ms(50), path.stat().st_size)
                   for name, acc, path in (("float32", float_accuracy, src),
                                           (mode, quant_accuracy, measured))}
        stayed = (tuple(float_nodes(variant, INT8_FORMS[fmt].quant_format))
                  if mode == "int8" else ())
        result = QuantizeResult(mode, src, None, figures["float32"], figures[mode], len(test),
                                used, ds.source, detail, max_drop, batch, min_speedup,
                                timings[mode].clock, stayed, len(variant.graph.node), fmt)
        if result.drop > max_drop + 1e-9:  # a drop of exactly max_drop passes
            raise ExportError(_drop_message(result, max_drop))
        if result.speedup < min_speedup:
            raise ExportError(speed_message(result))
        write_bytes(target, data_bytes)
    return replace(result, path=target)


def _graph(path: Path):
    """The ModelProto at ``path`` (onnxruntime has already loaded it, so it parses)."""
    import onnx

    return onnx.load(str(path), load_external_data=False)


def _load_data(model, data: str | Path):
    """The data set for ``model`` via the project's loader; a misfit names the model."""
    from ..data.datasets import load_dataset

    if model.kind == "regression":
        raise DataError(f"{model.path}: quantize measures classification accuracy; this model "
                        "is a regression")
    try:
        return load_dataset(data, model.input_shape, model.output, model=printable(model.path))
    except DataError as e:
        raise DataError(f"{model.path}: --data does not fit the model ({e})") from None


def _check_options(mode: str, fmt: str, calibration: int, max_drop: float, batch: int,
                   min_speedup: float) -> None:
    if mode not in QUANTIZE_MODES:
        raise DataError(f"`--mode` must be one of {', '.join(QUANTIZE_MODES)}. "
                        f"Received: {mode!r}")
    if fmt not in QUANTIZE_FORMATS:
        raise DataError(f"`--format` must be one of {', '.join(QUANTIZE_FORMATS)}. "
                        f"Received: {fmt!r}")
    if calibration < 1 or not 0 <= max_drop <= 1:
        raise DataError(f"`--calibration` must be >= 1 and `--max-drop` within 0-1. Received: "
                        f"calibration={calibration}, max_drop={max_drop}")
    if batch < 1 or not min_speedup >= 0:
        raise DataError(f"`--batch` must be >= 1 and `--min-speedup` >= 0. Received: "
                        f"batch={batch}, min_speedup={min_speedup}")


def _drop_message(r: QuantizeResult, max_drop: float) -> str:
    acc = ", ".join(f"{h} {r.float32.accuracy[h]:.4f} -> {r.quantized.accuracy[h]:.4f}"
                    for h in r.float32.accuracy)
    return (f"{r.source}: {r.mode} loses {r.drop * 100:.2f} points of accuracy on {r.samples} "
            f"{r.data} test samples ({acc}), more than --max-drop {max_drop}; nothing written"
            f" ({sample_size_note(r.samples, max_drop)})")


def speed_message(r: QuantizeResult) -> str:
    """The speed gate's refusal: measured and required speed-up, how, and what to try."""
    other = "qoperator" if r.fmt != "qoperator" else QUANTIZE_FORMAT
    advice = (FP16_ON_CPU + "; on a CPU try --mode int8" if r.mode == "fp16"
              else f"try --format {other}, the --batch you deploy with, or an FP16 model on a "
              "GPU")
    return (f"{r.source}: {r.mode} runs {r.speedup:.2f}x float32's speed at batch {r.batch} "
            f"({CLOCK_SHOWN[r.clock]}), below --min-speedup {r.min_speedup:g}; nothing written "
            f"({advice}; --min-speedup 0 keeps the smaller file)")


def sample_size_note(samples: int, max_drop: float) -> str:
    """What one test sample weighs and, when --max-drop is below that, that the gate cannot
    tell a single changed image from a real loss (honest about a small test set).

    >>> sample_size_note(45, 0.01)
    '1 image of 45 = 2.22 points; --max-drop below that can refuse a single image: give more --eval-samples (or a larger test split) or a larger --max-drop'
    >>> sample_size_note(10000, 0.01)
    '1 image of 10,000 = 0.01 points'
    """
    step = 100 / samples
    note = f"1 image of {samples:,} = {step:.2f} points"
    if max_drop * 100 >= step - 1e-9:
        return note
    return (note + "; --max-drop below that can refuse a single image: give more "
            "--eval-samples (or a larger test split) or a larger --max-drop")

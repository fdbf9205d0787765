"""INT8 and FP16 variants of an exported model, kept only when they keep its accuracy.

INT8 is onnxruntime's static quantization, calibrated on the first samples of the data set's
training split (read by :func:`cnncompile.data.datasets.load_dataset`, its stored pixels prepared
by the model's own preprocessing record, :attr:`OnnxModel.preprocessing`) with per-channel
signed 8-bit weights and unsigned 8-bit activations in QOperator form (QLinearConv,
QLinearMatMul): on x86 that is the layout onnxruntime's VNNI/AVX2 kernels run fastest;
docs/deploy.md gives the measurement behind the choice. FP16 is onnxconverter-common's
converter with float32 inputs and outputs kept (``keep_io_types``).

The result carries the source's metadata plus :data:`QUANTIZATION_KEY`, passes
``onnx.checker``, and is built and measured in a temporary folder beside the target
(:func:`cnncompile.artifacts.files.temp_dir`); only when its accuracy drop is within bounds is
it written, by the one atomic writer. On any failure or signal nothing is left behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..artifacts.files import temp_dir, write_bytes
from ..errors import DataError, ExportError
from ..runtime.session import check_model_file

QUANTIZATION_KEY = "cnncompile.quantization"
DETAIL_KEY = "cnncompile.quantization_detail"
MODES = ("int8", "fp16")
FORMATS = ("qoperator", "qdq")  # QOperator: fastest on x86 CPUs; QDQ: what TensorRT takes
DEFAULT_CALIBRATION = 256
CALIBRATION_BATCH = 32
INT8_DETAIL = ("static, {format}, int8 per-channel weights, calibrated on {n} {source} "
               "training samples")
FORMAT_SHOWN = {"qoperator": "QOperator, uint8 activations",
                "qdq": "QDQ, symmetric int8 activations"}
FP16_DETAIL = "float16 weights and activations, float32 inputs and outputs"


def quantization_label(metadata: dict) -> str | None:
    """What a model's metadata says about its quantization: 'int8 (static, ...)', or None."""
    mode = metadata.get(QUANTIZATION_KEY)
    if not mode:
        return None
    detail = metadata.get(DETAIL_KEY)
    return f"{mode} ({detail})" if detail else str(mode)


@dataclass(frozen=True)
class Measured:
    """Test accuracy per head and batch-1 latency of one model."""

    accuracy: dict[str, float]
    latency_ms: float
    size_bytes: int


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

    @property
    def drop(self) -> float:
        """The largest accuracy loss over the heads (a fraction; negative: a gain)."""
        return max(self.float32.accuracy[h] - self.quantized.accuracy[h]
                   for h in self.float32.accuracy)


def _load_data(model, data: str):
    """The data set for ``model`` via the project's loader; a misfit names the model."""
    from ..data.datasets import load_dataset

    if model.kind == "regression":
        raise DataError(f"{model.path}: quantize measures classification accuracy; this model "
                        "is a regression")
    try:
        return load_dataset(data, model.input_shape, model.output)
    except DataError as e:
        raise DataError(f"{model.path}: --data does not fit the model ({e})") from None


def _stored(split, index=slice(None)) -> np.ndarray:
    """Samples ``index`` as stored: uint8 pixels raw, for the model's own preprocessing record
    (:meth:`OnnxModel.prepare`); other arrays as the loader hands them (model inputs already)."""
    return split.x[index] if split.x.dtype == np.uint8 else split.inputs(index)


def _predictor(model, split):
    """(predict, split) for :func:`evaluate`: stored uint8 pixels go through the model's own
    preprocessing record, other arrays are fed as the loader hands them."""
    from ..data.datasets import Split

    if split.x.dtype != np.uint8:
        return model.predict, split
    return (lambda x: model.predict(model.preprocessing.apply(x))), Split(split.x, split.y)


def _calibration_batches(model, split, n: int) -> Iterator[dict[str, np.ndarray]]:
    """Feeds of the first ``n`` samples, prepared as the model takes them."""
    for start in range(0, min(n, len(split)), CALIBRATION_BATCH):
        x = _stored(split, slice(start, min(start + CALIBRATION_BATCH, n)))
        yield {model.input_name: model.prepare(x)}


def _reader(batches: Iterator[dict[str, np.ndarray]]):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        """onnxruntime's calibration interface over our batches."""

        def get_next(self):
            return next(batches, None)

    return Reader()


def quantize_int8(source: Path, target: Path, batches: Iterator[dict[str, np.ndarray]],
                  work: Path, fmt: str = "qoperator") -> None:
    """Static INT8 quantization of ``source`` into ``target``, calibrated on ``batches``.

    ``fmt`` 'qoperator': QLinearConv and friends with unsigned activations, the fastest form
    on x86 CPUs; 'qdq': QuantizeLinear/DequantizeLinear pairs around float operators with
    symmetric signed activations, the form TensorRT builds INT8 engines from (it takes no
    unsigned or asymmetric activations); on a CPU it runs about as fast as float32.

    Symbolic shape inference is skipped: cnncompile exports carry every shape but the batch
    axis, so ONNX's own inference suffices and sympy is not needed.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = work / "prepared.onnx"
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    if fmt == "qdq":
        form = {"quant_format": QuantFormat.QDQ, "activation_type": QuantType.QInt8,
                "extra_options": {"ActivationSymmetric": True, "WeightSymmetric": True}}
    else:
        form = {"quant_format": QuantFormat.QOperator, "activation_type": QuantType.QUInt8}
    quantize_static(str(prepared), str(target), _reader(batches), weight_type=QuantType.QInt8,
                    per_channel=True, **form)


def convert_fp16(model):
    """An FP16 copy of ``model`` (a ModelProto) with float32 inputs and outputs.

    Raises:
        ExportError: onnxconverter-common (the ``deploy`` extra) is not installed.
    """
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise ExportError("--mode fp16 needs onnxconverter-common: pip install "
                          "'cnncompile[deploy]'") from None
    return float16.convert_float_to_float16(model, keep_io_types=True)


def _with_metadata(model, source_meta: dict[str, str], mode: str, detail: str):
    """``model`` carrying the source's metadata_props plus the quantization keys."""
    meta = {**source_meta, QUANTIZATION_KEY: mode, DETAIL_KEY: detail}
    del model.metadata_props[:]
    for key, value in sorted(meta.items()):
        model.metadata_props.add(key=key, value=value)
    return model


def _measure(model_path: Path, split, heads: list[str], names, seconds: float,
             threads: int | None) -> Measured:
    from ..evaluation.evaluate import evaluate
    from ..runtime import OnnxModel
    from ..runtime.bench import bench_onnx

    model = OnnxModel(model_path, provider="cpu", threads=threads)
    predict, fed = _predictor(model, split)
    ev = evaluate(predict, fed, heads, names)
    latency = bench_onnx(model, 1, seconds).percentile_ms(50)
    return Measured(ev.accuracy, latency, model_path.stat().st_size)


def _check_options(mode: str, fmt: str, calibration: int, max_drop: float) -> None:
    if mode not in MODES:
        raise DataError(f"`--mode` must be one of {', '.join(MODES)}. Received: {mode!r}")
    if fmt not in FORMATS:
        raise DataError(f"`--format` must be one of {', '.join(FORMATS)}. Received: {fmt!r}")
    if calibration < 1 or not 0 <= max_drop <= 1:
        raise DataError(f"`--calibration` must be >= 1 and `--max-drop` within 0-1. Received: "
                        f"calibration={calibration}, max_drop={max_drop}")


def default_output(source: Path, mode: str) -> Path:
    """``model.onnx`` -> ``model.int8.onnx`` beside it."""
    return source.with_name(f"{source.stem}.{mode}.onnx")


def quantize_model(source: str | Path, data: str, mode: str = "int8", out: Path | None = None,
                   *, max_drop: float = 0.01, calibration: int = DEFAULT_CALIBRATION,
                   eval_samples: int | None = None, seconds: float = 0.5,
                   threads: int | None = None, fmt: str = "qoperator") -> QuantizeResult:
    """Quantize the export ``source``, measure both models on ``data``'s test split, keep it
    only when the accuracy drops by at most ``max_drop``.

    Args:
        source: a cnncompile ``.onnx`` export.
        data: what ``--data`` takes (fashion-mnist, a folder, an .npz).
        mode: 'int8' (static, calibrated on ``calibration`` training samples) or 'fp16'.
        out: the file to write [default: SOURCE.MODE.onnx beside the source].
        max_drop: the largest accuracy loss accepted, a fraction (0.01 = one point).
        eval_samples: measure accuracy on the first N test samples only (None: all).
        fmt: the INT8 form, 'qoperator' (default: fastest on x86) or 'qdq' (TensorRT's).
        seconds: minimum timing per latency measurement.
    Returns:
        The figures of both models; ``path`` is the written file.
    Raises:
        DataError: a bad model file, data that does not fit, bad options.
        ExportError: the quantized model fails onnx.checker, or the drop exceeds ``max_drop``
            (nothing is written then).
    """
    import onnx

    from ..runtime import OnnxModel

    src = check_model_file(source, suffix=True)
    _check_options(mode, fmt, calibration, max_drop)
    model = OnnxModel(src, provider="cpu", threads=threads)
    if model.metadata.get(QUANTIZATION_KEY):
        raise DataError(f"{src}: already quantized ({model.metadata[QUANTIZATION_KEY]}); "
                        "quantize the float32 export")
    target = Path(out) if out is not None else default_output(src, mode)
    if target.resolve() == src.resolve():
        raise DataError(f"{target}: the output would overwrite the input model")
    ds = _load_data(model, data)
    test = ds.test if eval_samples is None else ds.test.take(slice(0, eval_samples))
    heads = [name for name, _, _ in model.heads]
    used = min(calibration, len(ds.train))
    detail = (INT8_DETAIL.format(format=FORMAT_SHOWN[fmt], n=used, source=ds.source)
              if mode == "int8"
              else FP16_DETAIL)
    source_meta = {p.key: p.value for p in onnx.load(str(src)).metadata_props}
    float_figures = _measure(src, test, heads, ds.names, seconds, threads)
    with temp_dir(target) as work:
        if mode == "int8":
            built = work / "int8.onnx"
            quantize_int8(src, built, _calibration_batches(model, ds.train, used), work, fmt)
            q = onnx.load(str(built))
        else:
            q = convert_fp16(onnx.load(str(src)))
        q = _with_metadata(q, source_meta, mode, detail)
        try:
            onnx.checker.check_model(q, full_check=True)
        except Exception as e:  # onnx raises several checker error types
            raise ExportError(f"{src}: the {mode} model fails onnx.checker "
                              f"({str(e).strip().splitlines()[0]})") from None
        data_bytes = q.SerializeToString()
        measured = write_bytes(work / "model.onnx", data_bytes)
        quant_figures = _measure(measured, test, heads, ds.names, seconds, threads)
        result = QuantizeResult(mode, src, None, float_figures, quant_figures, len(test), used,
                                ds.source, detail)
        if result.drop > max_drop + 1e-9:  # a drop of exactly max_drop passes
            raise ExportError(_drop_message(result, max_drop))
        write_bytes(target, data_bytes)
    return replace(result, path=target)


def _drop_message(r: QuantizeResult, max_drop: float) -> str:
    acc = ", ".join(f"{h} {r.float32.accuracy[h]:.4f} -> {r.quantized.accuracy[h]:.4f}"
                    for h in r.float32.accuracy)
    return (f"{r.source}: {r.mode} loses {r.drop * 100:.2f} points of accuracy on {r.samples} "
            f"{r.data} test samples ({acc}), more than --max-drop {max_drop}; nothing written")

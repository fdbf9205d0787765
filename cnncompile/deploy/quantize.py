"""INT8 and FP16 variants of an exported model, kept only when they keep its accuracy and speed.

INT8 is onnxruntime's static quantization, calibrated on samples the workflow chooses
(:func:`cnncompile.workflows.quantize.quantize_model`: the first of the data set's training
split), their stored pixels prepared by the model's own preprocessing record
(:attr:`OnnxModel.preprocessing`), in one of the forms of :data:`INT8_FORMS`: by default
QuantizeLinear/DequantizeLinear pairs with per-channel signed 8-bit weights and unsigned 8-bit
activations, which onnxruntime fuses into its u8s8 integer kernels. Batch norms the export
kept become depthwise convolutions first (:mod:`cnncompile.deploy.int8_graph`), so they run
in integers too; docs/deploy.md gives the measurements behind both choices. FP16 is
onnxconverter-common's converter with float32 inputs and outputs kept (``keep_io_types``).

The result carries the source's metadata plus :data:`QUANTIZATION_KEY` and passes
``onnx.checker``; the workflow builds and measures it in a temporary folder and keeps it only
when its accuracy drop and its speed-up are within bounds.
"""

from __future__ import annotations

import errno
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifacts.text import printable
from ..choices import QUANTIZE_FORMAT
from ..errors import ExportError
from .int8_graph import affine_as_depthwise

QUANTIZATION_KEY = "cnncompile.quantization"
DETAIL_KEY = "cnncompile.quantization_detail"
FULL_DISK_BYTES = 1 << 20  # less free space than this beside the target: the disk is full
CALIBRATION_BATCH = 32
INT8_DETAIL = ("static, {format}, int8 per-channel weights, batch norms as depthwise "
               "convolutions, calibrated on {n} {source} training samples")
FORMAT_SHOWN = {"qdq-u8": "QDQ, uint8 activations",
                "qoperator": "QOperator, uint8 activations",
                "qdq": "QDQ, symmetric int8 activations"}
FP16_DETAIL = "float16 weights and activations, float32 inputs and outputs"


# Operators only a quantized graph holds (QOperator and QDQ forms, integer kernels)
QUANTIZED_OPS = frozenset({"QLinearConv", "QLinearMatMul", "QuantizeLinear", "DequantizeLinear",
                           "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear",
                           "QLinearAdd", "QLinearMul", "QLinearAveragePool",
                           "QLinearGlobalAveragePool"})


def graph_quantization(model) -> str | None:
    """What a graph (a ModelProto) shows of an earlier quantization, whatever its metadata
    says: 'int8: its graph holds QLinearConv', 'fp16: its weights are float16', or None."""
    import onnx

    ops = sorted({n.op_type for n in model.graph.node} & QUANTIZED_OPS)
    if ops:
        return f"int8: its graph holds {', '.join(ops[:3])}"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        return "fp16: its weights are float16"
    return None


def quantization_label(metadata: dict) -> str | None:
    """What a model's metadata says about its quantization: 'int8 (static, ...)', or None."""
    mode = metadata.get(QUANTIZATION_KEY)
    if not mode:
        return None
    detail = metadata.get(DETAIL_KEY)
    return f"{mode} ({detail})" if detail else str(mode)


@dataclass(frozen=True)
class Measured:
    """Test accuracy per head, median time per call and file size of one model."""

    accuracy: dict[str, float]
    latency_ms: float
    size_bytes: int


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


def calibration_batches(model, split, n: int) -> Iterator[dict[str, np.ndarray]]:
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


@dataclass(frozen=True)
class Int8Form:
    """One configuration of onnxruntime's static quantizer (weights are always int8)."""

    quant_format: str  # 'QOperator' (QLinearConv, ...) or 'QDQ' (Quantize/DequantizeLinear)
    activations: str  # 'uint8' or 'int8'
    per_channel: bool = True  # one weight scale per output channel
    symmetric: bool = False  # symmetric activations and weights (zero points 0)
    depthwise_affine: bool = True  # leftover batch norms as 1x1 depthwise convolutions

    def options(self) -> dict:
        """quantize_static's keyword arguments for this form."""
        from onnxruntime.quantization import QuantFormat, QuantType

        extra = {"ActivationSymmetric": True, "WeightSymmetric": True} if self.symmetric else {}
        return {"quant_format": QuantFormat[self.quant_format],
                "activation_type": QuantType.QUInt8 if self.activations == "uint8"
                else QuantType.QInt8,
                "weight_type": QuantType.QInt8, "per_channel": self.per_channel,
                "extra_options": extra}


# --format's choices (cnncompile.choices.QUANTIZE_FORMATS). Unsigned activations with batch
# norms as depthwise convolutions ran fastest on the CPUs measured, QDQ a few percent ahead of
# QOperator (docs/deploy.md); QDQ with symmetric signed activations is what TensorRT builds
# INT8 engines from.
INT8_FORMS = {"qdq-u8": Int8Form("QDQ", "uint8"),
              "qoperator": Int8Form("QOperator", "uint8"),
              "qdq": Int8Form("QDQ", "int8", symmetric=True)}


def quantize_int8(source: Path, target: Path, batches: Iterator[dict[str, np.ndarray]],
                  work: Path, fmt: str | Int8Form = QUANTIZE_FORMAT) -> None:
    """Static INT8 quantization of ``source`` into ``target``, calibrated on ``batches``.

    ``fmt`` names one of :data:`INT8_FORMS` (or is a form itself, for the benchmarks):
    'qdq-u8': QuantizeLinear/DequantizeLinear pairs around float operators with unsigned
    activations, which onnxruntime fuses into integer kernels at load, the fastest form on
    the x86 CPUs measured; 'qoperator': QLinearConv and friends written out, unsigned
    activations, a few percent slower; 'qdq': QDQ with symmetric signed activations, the form
    TensorRT builds INT8 engines from (it takes no unsigned or asymmetric activations); on a
    CPU it runs about as fast as float32. Every form first turns a batch norm the export kept
    (one after an activation) into a 1x1 depthwise convolution, so the quantizer keeps it in
    integers.

    Symbolic shape inference is skipped: cnncompile exports carry every shape but the batch
    axis, so ONNX's own inference suffices and sympy is not needed.
    """
    from onnxruntime.quantization import quantize_static

    form = INT8_FORMS[fmt] if isinstance(fmt, str) else fmt
    prepared = work / "prepared.onnx"
    try:
        with quiet():
            _prepare(source, prepared, form.depthwise_affine)
            quantize_static(str(prepared), str(target), _reader(batches), **form.options())
    except Exception as e:  # onnxruntime's quantizer raises many types, OSError among them
        raise ExportError(_quantizer_failed(source, work, e)) from None


def _prepare(source: Path, prepared: Path, depthwise_affine: bool) -> None:
    """onnxruntime's pre-processing (shapes, graph optimisation) into ``prepared``, then (with
    ``depthwise_affine``) the batch norms it left as depthwise convolutions
    (:func:`affine_as_depthwise`)."""
    import onnx
    from onnxruntime.quantization.quant_utils import model_has_pre_process_metadata
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    graph = onnx.load(str(prepared))
    if not model_has_pre_process_metadata(graph):
        # it does not notice a full disk: its output comes back truncated
        raise OSError(errno.ENOSPC, "the prepared model came back truncated")
    # batch norms the quantizer would leave in float
    if depthwise_affine and affine_as_depthwise(graph):
        onnx.save(graph, str(prepared))


@contextmanager
def quiet() -> Iterator[None]:
    """Python warnings and log records below errors silenced: onnxruntime's quantizer logs
    advice through the root logger and onnxconverter-common warns about every weight it
    rounds; the lines quantize prints are its own."""
    muted = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(muted)


def _quantizer_failed(source: Path, work: Path, error: Exception) -> str:
    """Why onnxruntime's quantizer stopped, in one line. It writes its work files itself and
    does not always notice a full disk (a truncated file fails later, as a parse error), so
    the free space of the folder is checked first."""
    import shutil

    free = shutil.disk_usage(work).free
    where = printable(work.parent)
    if free < FULL_DISK_BYTES or (isinstance(error, OSError) and error.errno == errno.ENOSPC):
        return (f"{where}: cannot write the int8 model's work files (no space left on the "
                f"device: {free:,} bytes free); nothing written")
    if isinstance(error, OSError):
        return f"{where}: cannot write the int8 model's work files ({error.strerror or error})"
    detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return (f"{printable(source)}: onnxruntime's quantizer failed ({type(error).__name__}"
            f"{': ' + printable(detail)[:200] if detail else ''}); nothing written")


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
    with quiet():
        return float16.convert_float_to_float16(model, keep_io_types=True)


def _with_metadata(model, source_meta: dict[str, str], mode: str, detail: str):
    """``model`` carrying the source's metadata_props plus the quantization keys."""
    meta = {**source_meta, QUANTIZATION_KEY: mode, DETAIL_KEY: detail}
    del model.metadata_props[:]
    for key, value in sorted(meta.items()):
        model.metadata_props.add(key=key, value=value)
    return model


def measure(model_path: Path, split, heads: list[str], names,
            threads: int | None) -> dict[str, float]:
    """The test accuracy per head of the model at ``model_path`` (its speed is timed beside
    its counterpart's: :func:`cnncompile.runtime.bench.time_onnx`)."""
    from ..evaluation.evaluate import evaluate
    from ..runtime import OnnxModel

    model = OnnxModel(model_path, provider="cpu", threads=threads)
    predict, fed = _predictor(model, split)
    return evaluate(predict, fed, heads, names).accuracy


def quantized_model(source: Path, mode: str, fmt: str, work: Path,
                    calibration: Iterator[dict[str, np.ndarray]] | None, detail: str):
    """The ``mode`` variant of the export ``source`` (a ModelProto), built in ``work``.

    It carries the source's metadata plus the quantization keys and passes onnx.checker.
    ``calibration`` (INT8 only) are the feeds :func:`calibration_batches` makes.

    Raises:
        ExportError: the result fails onnx.checker, or fp16's converter is not installed.
    """
    import onnx

    if mode == "int8":
        built = work / "int8.onnx"
        quantize_int8(source, built, calibration, work, fmt)
        q = onnx.load(str(built))
    else:
        q = convert_fp16(onnx.load(str(source)))
    source_meta = {p.key: p.value for p in onnx.load(str(source)).metadata_props}
    q = _with_metadata(q, source_meta, mode, detail)
    try:
        onnx.checker.check_model(q, full_check=True)
    except Exception as e:  # onnx raises several checker error types
        raise ExportError(f"{source}: the {mode} model fails onnx.checker "
                          f"({str(e).strip().splitlines()[0]})") from None
    return q


def describe(mode: str, fmt: str, samples: int, data: str) -> str:
    """The quantization detail recorded in the model: its form and its calibration."""
    if mode == "fp16":
        return FP16_DETAIL
    return INT8_DETAIL.format(format=FORMAT_SHOWN[fmt], n=samples, source=data)

"""Run an exported model: classify image files (``predict_images``) and time it (``bench_model``).

Both take an :class:`~cnncompile.runtime.OnnxModel` or the path of a cnncompile export. Images
are decoded, resized and scaled as the model's preprocessing record says; a file that cannot be
read does not stop the others, it comes back with its error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..artifacts.heads import sample_record
from ..artifacts.inputs import one_command
from ..artifacts.text import printable
from ..errors import DataError
from ..machine import check_threads
from ..runtime import OnnxModel
from ..runtime.bench import Timing, bench_engine, bench_onnx, engine_of
from ..runtime.images import decode_files, find_images

CHUNK = 256  # images decoded and classified at a time: memory stays bounded


@dataclass(frozen=True)
class ImagePrediction:
    """One image file: per head its top-k labels and probabilities (or its values), or the
    one-line reason it could not be read (``heads`` is None then).

    ``heads`` maps a head's name to ``{"top": [{"label", "probability"}, ...]}`` or, for a
    regression, ``{"values": [...]}``.
    """

    file: str
    heads: dict | None = None
    error: str | None = None


@dataclass(frozen=True)
class BenchRow:
    """One batch size: onnxruntime's latencies and, when timed, the NumPy engine's."""

    batch: int
    onnx: Timing
    engine: Timing | None = None

    @property
    def ratio(self) -> float | None:
        """onnxruntime's throughput over the engine's."""
        return self.onnx.throughput / self.engine.throughput if self.engine else None


def open_model(model: OnnxModel | str | Path, provider: str = "auto",
               threads: int | None = None) -> OnnxModel:
    """``model`` itself, or the export at that path opened on ``provider``."""
    if isinstance(model, OnnxModel):
        return model
    return OnnxModel(model, provider=provider, threads=threads)


@one_command
def predict_images(model: OnnxModel | str | Path, images: Sequence[str | Path] | str | Path, *,
                   top: int = 1, provider: str = "auto") -> list[ImagePrediction]:
    """Classify image files and folders (searched recursively) with an exported model.

    Returns one :class:`ImagePrediction` per file found, in order; unreadable files carry their
    error instead of a prediction.

    Raises:
        DataError: the model does not take images, a source does not exist, or no image is
            found at all.

    Example::

        for p in predict_images("exported/fmnist_small.onnx", ["shirt.png"], top=2):
            print(p.file, p.heads or p.error)
    """
    m = open_model(model, provider)
    if not m.preprocessing.is_image:
        raise DataError(f"{printable(m.path)}: the model takes {list(m.input_shape)}, not images")
    if top < 1:
        raise DataError(f"`--top` must be at least 1. Received: {top}")
    files = find_images([images] if isinstance(images, (str, Path)) else list(images))
    out = []
    for start in range(0, len(files), CHUNK):
        chunk = files[start:start + CHUNK]
        decoded = decode_files(chunk, m.input_shape)
        probs = m.predict(decoded.pixels) if decoded.good else {}
        rows = {i: row for row, i in enumerate(decoded.good)}
        for i, f in enumerate(chunk):
            if i in rows:
                out.append(ImagePrediction(printable(f), sample_record(m.output, probs, rows[i],
                                                                       top)))
            else:
                out.append(ImagePrediction(printable(f), error=decoded.errors[i]))
    return out


@one_command
def bench_model(model: OnnxModel | str | Path, batches: Sequence[int], *, seconds: float = 1.0,
                engine: bool = True, provider: str = "auto", threads: int | None = None,
                on_row: Callable[[BenchRow], None] | None = None) -> list[BenchRow]:
    """Latency percentiles and throughput per batch size, and the NumPy engine's beside them.

    The engine runs the spec in the model's metadata with fresh weights (their values do not
    change its speed). ``on_row`` sees each row as soon as it is measured. ``threads`` (1 ..
    the CPUs this process may use) sizes onnxruntime's pool when ``model`` is a path.

    Raises:
        OptionError: ``threads`` out of range.
        DataError: a batch size below 1, one that does not fit in memory, or (with ``engine``)
            a metadata spec that is not the graph's.
    """
    if not batches or min(batches) < 1:
        raise DataError(f"`--batch` must be positive integers. Received: {list(batches)}")
    check_threads(threads)  # also for a model opened already, before any measurement
    m = open_model(model, provider, threads)
    graph, params = engine_of(m) if engine else (None, None)
    rows = []
    for b in batches:
        row = BenchRow(b, bench_onnx(m, b, seconds),
                       bench_engine(graph, params, b, seconds) if engine else None)
        if on_row is not None:
            on_row(row)
        rows.append(row)
    return rows

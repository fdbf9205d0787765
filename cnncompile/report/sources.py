"""What the page shows beside the spec: a training run folder and an exported ONNX model.

Each reader checks its input and raises :class:`~cnncompile.errors.DataError` with the file's
name when something the page needs is missing or unreadable.
"""

from __future__ import annotations

import base64
import csv
import json
import math
from array import array
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path

from ..artifacts.text import printable
from ..errors import DataError
from ..evaluation.metrics import TEXT_COLUMNS

REQUIRED_RUN_FILES = ("metrics.csv", "checkpoint.npz")
PICTURES = ("samples.png", "confusion.png", "curves.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BENCH_BATCHES = (1, 8)
MAX_CURVE_ROWS = 2000  # metrics.csv rows kept for the curves; a longer history is thinned


@dataclass
class RunInfo:
    """A run folder's figures: metrics history, checkpoint metadata, test report, pictures."""

    folder: Path
    history: list[dict[str, float]]  # at most MAX_CURVE_ROWS rows of metrics.csv, evenly spread
    meta: dict
    test: dict | None = None
    pictures: dict[str, str] = field(default_factory=dict)  # file name -> data: URI
    history_rows: int = 0  # rows metrics.csv holds (more than ``history`` when thinned)

    def __post_init__(self):
        self.history_rows = self.history_rows or len(self.history)


@dataclass
class ModelInfo:
    """An exported model's metadata and, when asked, its latencies per batch size."""

    path: Path
    metadata: dict
    provider: str
    bench: list = field(default_factory=list)  # runtime.bench.Timing per batch size


def _history(path: Path) -> tuple[list[dict[str, float]], int]:
    """metrics.csv thinned to at most MAX_CURVE_ROWS rows (first and last kept), and its length.

    Columns are read into float arrays, so a million rows cost tens of megabytes, not a gigabyte.
    """
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            names = next(reader, [])
            columns = [array("d") for _ in names]
            text = {j for j, n in enumerate(names) if n in TEXT_COLUMNS}  # not drawn
            for i, row in enumerate(reader, start=2):
                try:
                    for j, (col, v) in enumerate(zip(columns, row, strict=False)):
                        col.append(float(v) if v and j not in text else math.nan)
                except ValueError:
                    raise DataError(f"{path}:{i}: a value is not a number") from None
                for col in columns[len(row):]:
                    col.append(math.nan)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: not a readable metrics.csv ({e})") from None
    total = len(columns[0]) if columns else 0
    if not total or "epoch" not in names:
        raise DataError(f"{path}: no epochs recorded (an `epoch` column and one row per epoch "
                        "are expected)")
    kept = range(total) if total <= MAX_CURVE_ROWS else sorted(
        {round(i * (total - 1) / (MAX_CURVE_ROWS - 1)) for i in range(MAX_CURVE_ROWS)})
    return [{n: col[i] for n, col in zip(names, columns, strict=True)} for i in kept], total


def checkpoint_meta(path: Path) -> dict:
    """The ``__meta__`` record of a training checkpoint, read by the one weights reader."""
    from ..artifacts.weights import read_checkpoint

    meta = read_checkpoint(path).meta
    if not meta:
        raise DataError(f"{path}: a plain parameters file, not a training checkpoint "
                        "(no `__meta__`)")
    return meta


def data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI, so the page needs no other file."""
    raw = path.read_bytes()
    if not raw.startswith(PNG_SIGNATURE):
        raise DataError(f"{path}: not a PNG image")
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


def read_run(folder: Path) -> RunInfo:
    """Read a run folder written by ``cnncompile train``.

    Raises:
        DataError: the folder or its metrics.csv / checkpoint.npz is missing or unreadable.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"--run {folder}: no such run folder")
    missing = [n for n in REQUIRED_RUN_FILES if not (folder / n).is_file()]
    if missing:
        raise DataError(f"--run {folder}: no {' or '.join(missing)} (a folder written by "
                        "`cnncompile train` holds both)")
    history, rows = _history(folder / "metrics.csv")
    meta = checkpoint_meta(folder / "checkpoint.npz")
    test = read_test_report(folder / "test.json") if (folder / "test.json").is_file() else None
    pictures = {n: data_uri(folder / n) for n in PICTURES if (folder / n).is_file()}
    return RunInfo(folder, history, meta, test, pictures, rows)


def read_test_report(path: Path) -> dict:
    """``test.json`` as ``evaluate --format json`` writes it, its types checked.

    Raises:
        DataError: not JSON, or a figure of the wrong type, named by its place in the file.
    """
    try:
        test = _encodable(json.loads(path.read_text()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise DataError(f"{path}: not readable JSON ({e})") from None
    _expect(test, dict, path, "")
    _expect(test.get("samples", 0), int, path, "samples")
    for head, acc in _expect(test.get("accuracy", {}), dict, path, "accuracy").items():
        _expect(acc, Real, path, f"accuracy.{head}")
    for head, rows in _expect(test.get("per_class", {}), dict, path, "per_class").items():
        for i, row in enumerate(_expect(rows, list, path, f"per_class.{head}")):
            where = f"per_class.{head}[{i}]"
            _expect(row, dict, path, where)
            _expect(row.get("class", ""), (str, int), path, f"{where}.class")
            for key in ("precision", "recall", "f1", "support"):
                _expect(row.get(key, 0), int if key == "support" else Real, path,
                        f"{where}.{key}")
    for head, c in _expect(test.get("confusion", {}), dict, path, "confusion").items():
        where = f"confusion.{head}"
        _expect(c, dict, path, where)
        for lab in _expect(c.get("labels", []), list, path, f"{where}.labels"):
            _expect(lab, (str, int), path, f"{where}.labels[]")
        for row in _expect(c.get("matrix", []), list, path, f"{where}.matrix"):
            for v in _expect(row, list, path, f"{where}.matrix[]"):
                _expect(v, int, path, f"{where}.matrix[][]")
    _expect(test.get("data", ""), str, path, "data")
    return test


_TYPE_WORDS = {dict: "an object", list: "a list", int: "a whole number", Real: "a number",
               str: "text"}


def _encodable(value):
    """``value`` with every string the page could not encode (a class folder's name that is
    not UTF-8 reaches test.json as a lone surrogate) shown with its bytes escaped."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return printable(value)
        return value
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encodable(v) for v in value]
    return value


def _expect(value, kind, path: Path, where: str):
    """``value`` when it is of ``kind`` (booleans are no numbers here), else a DataError."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) or not isinstance(value, kinds):
        words = " or ".join(_TYPE_WORDS[k] for k in kinds)
        place = f"`{json.dumps(where)[1:-1]}`" if where else "the file"  # control characters shown
        raise DataError(f"{path}: {place} should be {words}, not {type(value).__name__} "
                        f"({json.dumps(value)[:40]})")
    return value


def spec_mismatch(meta: dict, graph, what: str) -> str | None:
    """A one-line warning when ``meta`` (a checkpoint's or an export's record) was made from
    another model, or another version of ``graph``'s spec (the IR hash ``--resume`` checks).

    ``what`` names the record in the sentence: 'run', 'exported model'.
    """
    from ..artifacts.weights import version_difference

    name = meta.get("name", meta.get("spec_name"))
    if name and name != graph.name:
        return f"this {what} is of model {str(name)!r}, not {graph.name!r}"
    difference = version_difference(graph, meta)
    if difference:
        return f"this {what} comes from {difference}: its figures are not this model's"
    return None


def read_model(path: Path, bench: bool = False) -> ModelInfo:
    """Open an exported model in onnxruntime for its metadata (and time it with ``bench``).

    Raises:
        DataError: the file is missing, does not load, or is not a cnncompile export.
    """
    from ..runtime import OnnxModel

    model = OnnxModel(path, provider="cpu")
    timings = []
    if bench:
        from ..runtime.bench import bench_onnx

        timings = [bench_onnx(model, b, min_seconds=0.3) for b in BENCH_BATCHES]
    return ModelInfo(Path(path), dict(model.metadata), model.provider, timings)

"""What the page shows beside the spec: a training run folder and an exported ONNX model.

Each reader checks its input and raises :class:`~cnncompile.errors.DataError` with the file's
name when something the page needs is missing or unreadable.
"""

from __future__ import annotations

import base64
import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError

REQUIRED_RUN_FILES = ("metrics.csv", "checkpoint.npz")
PICTURES = ("samples.png", "confusion.png", "curves.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BENCH_BATCHES = (1, 8)


@dataclass
class RunInfo:
    """A run folder's figures: metrics history, checkpoint metadata, test report, pictures."""

    folder: Path
    history: list[dict[str, float]]
    meta: dict
    test: dict | None = None
    pictures: dict[str, str] = field(default_factory=dict)  # file name -> data: URI


@dataclass
class ModelInfo:
    """An exported model's metadata and, when asked, its latencies per batch size."""

    path: Path
    metadata: dict
    provider: str
    bench: list = field(default_factory=list)  # runtime.bench.Timing per batch size


def _history(path: Path) -> list[dict[str, float]]:
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: not a readable metrics.csv ({e})") from None
    out = []
    for i, row in enumerate(rows, start=2):
        try:
            out.append({k: float(v) if v not in ("", None) else math.nan
                        for k, v in row.items() if k is not None})
        except ValueError:
            raise DataError(f"{path}:{i}: a value is not a number") from None
    if not out or "epoch" not in out[0]:
        raise DataError(f"{path}: no epochs recorded (an `epoch` column and one row per epoch "
                        "are expected)")
    return out


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
    history = _history(folder / "metrics.csv")
    meta = checkpoint_meta(folder / "checkpoint.npz")
    test = None
    if (folder / "test.json").is_file():
        try:
            test = json.loads((folder / "test.json").read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"{folder / 'test.json'}: not readable JSON ({e})") from None
        if not isinstance(test, dict):
            raise DataError(f"{folder / 'test.json'}: expected a JSON object")
    pictures = {n: data_uri(folder / n) for n in PICTURES if (folder / n).is_file()}
    return RunInfo(folder, history, meta, test, pictures)


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

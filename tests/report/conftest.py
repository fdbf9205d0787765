"""Report fixtures: a run folder as `cnncompile train` leaves it, made with the trainer's writers."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from cnncompile.evaluation.metrics import history_row, write_metrics_csv
from cnncompile.train.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
LABELS = ["daisy", "dandelion", "rose", "sunflower", "tulip"]


def png_bytes(width: int = 6, height: int = 4) -> bytes:
    """A small valid RGB PNG (a colour ramp), so pages can embed a real picture."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + bytes(v for x in range(width)
                                    for v in (40 * x % 256, 60 * y % 256, 128))
                    for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def make_run(folder: Path, epochs: int = 3) -> Path:
    """metrics.csv, checkpoint.npz (metadata and one array), test.json and samples.png."""
    folder.mkdir(parents=True, exist_ok=True)
    history = [history_row(e, 0.001, 1.5 / e, {"output": 0.4 + 0.1 * e}, 1.6 / e,
                           {"output": 0.35 + 0.1 * e}, 2.0, 2.0 * e) for e in range(1, epochs + 1)]
    write_metrics_csv(folder / "metrics.csv", history, ["output"])
    meta = {"name": "residual_flower", "epoch": epochs, "elapsed": 6.0, "data": "flowers",
            "history": history, "config": {"epochs": epochs, "batch_size": 32,
                                           "optimizer": "adam", "learning_rate": 0.001}}
    save_checkpoint(folder / "checkpoint.npz", {"w": np.zeros(3, np.float32)}, meta)
    matrix = [[5 if i == j else (1 if j == (i + 1) % 5 else 0) for j in range(5)]
              for i in range(5)]
    test = {"samples": 30, "accuracy": {"output": 0.8333},
            "per_class": {"output": [{"class": c, "precision": 0.8, "recall": 0.83, "f1": 0.81,
                                      "support": 6} for c in LABELS]},
            "confusion": {"output": {"labels": LABELS, "matrix": matrix}},
            "seconds": 0.1, "data": "flowers"}
    (folder / "test.json").write_text(json.dumps(test))
    (folder / "samples.png").write_bytes(png_bytes())
    return folder


@pytest.fixture
def run_folder(tmp_path) -> Path:
    return make_run(tmp_path / "run")

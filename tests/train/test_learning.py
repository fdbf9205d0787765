"""The textbook's chapter-7 flowers_model_4, as written, learns a generated flowers-layout set."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from cnncompile.cli import app

SPEC = Path(__file__).parents[2] / "specs" / "ch7" / "flowers_model_4.yaml"


def test_flowers_model_4_learns_far_above_chance(flowers, tmp_path):
    root = flowers(per_class=40, size=40)  # 200 images: 160 train / 10 validation / 30 test
    run = tmp_path / "run"
    # the spec's own input (96x96x3) and training options (Adam 0.001, batch 10), 4 epochs
    r = CliRunner().invoke(app, ["train", str(SPEC), "--data", str(root), "--epochs", "4",
                                 "--out", str(run), "--log-format", "textbook"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == "Model flowers_model_4 train started:"
    accuracy = float(re.search(r"test report: accuracy = (\d\.\d+)", r.output).group(1))
    assert accuracy >= 0.8  # chance is 0.2
    test = json.loads((run / "test.json").read_text())
    assert test["samples"] == 30
    assert [c["class"] for c in test["per_class"]["output"]] == [
        "daisy", "dandelion", "rose", "sunflower", "tulip"]

"""evaluate_model as a library call: a trained run's figures on each part of its data set."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from cnncompile.cli.train import Split
from cnncompile.errors import DataError
from cnncompile.frontend import load_spec
from cnncompile.workflows.evaluate import SPLITS, evaluate_model
from cnncompile.workflows.train import train_model

TOY = """\
    name: toy
    input: [8, 8, 1]
    output: {labels: [top, middle, bottom]}
    layers:
      - [conv, {ksize: 3, chn: 4}]
      - [max, {stride: 2}]
      - [full, {width: 16}]
    train: {epochs: 2, batch_size: 16, validation: 0.1}
    """


@pytest.fixture
def run(tmp_path):
    """(spec path, npz path, RunResult): a toy model trained for 2 epochs into tmp_path/run."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    x = rng.normal(0, 1, (200, 8, 8, 1)).astype(np.float32)
    for k in range(3):
        x[y == k, 3 * k:3 * k + 2] += 2.5
    data = tmp_path / "toy.npz"
    np.savez(data, x=x, y=y)
    spec = tmp_path / "toy.yaml"
    spec.write_text(textwrap.dedent(TOY))
    return spec, data, train_model(spec, data, tmp_path / "run")


def test_the_test_split_gives_the_figures_the_run_reported(run):
    spec, data, result = run
    ev = evaluate_model(spec, result.run_dir, data)  # a run folder stands for its checkpoint
    assert ev.split == "test" and ev.title == "toy" and ev.samples == result.test_samples
    assert ev.evaluation.accuracy == pytest.approx(result.accuracy)
    recorded = json.loads((result.run_dir / "test.json").read_text())
    assert ev.evaluation.to_json()["accuracy"] == pytest.approx(recorded["accuracy"])
    assert [r["class"] for r in ev.evaluation.per_class["output"]] == ["top", "middle", "bottom"]
    assert ev.evaluation.confusion["output"].sum() == ev.samples


def test_each_split_is_the_part_training_used(run, tmp_path):
    spec, data, result = run
    sizes = {s: evaluate_model(load_spec(spec), result.checkpoint, data, split=s).samples
             for s in SPLITS}
    # 200 samples: the textbook's split, with the run's recorded validation share of 0.1
    assert sizes == {"test": 30, "validation": 20, "train": 150}  # the default 0.05: 10, 160
    plotted = evaluate_model(spec, result.checkpoint, data, plots=tmp_path / "plots")
    assert sorted(f.name for f in plotted.files) == ["confusion.png", "samples.png"]
    assert all(f.stat().st_size > 0 for f in plotted.files)


def test_mistakes_are_typed_errors(run):
    spec, data, result = run
    with pytest.raises(DataError, match="evaluating a spec needs --weights"):
        evaluate_model(spec, None, data)
    with pytest.raises(DataError, match="unknown split. Received: split='val'"):
        evaluate_model(spec, result.checkpoint, data, split="val")
    with pytest.raises(DataError, match="parameter `output.weight` has the wrong shape"):
        evaluate_model(spec, result.checkpoint, data, classes=4)


def test_the_cli_offers_the_workflow_splits():
    assert tuple(s.value for s in Split) == SPLITS

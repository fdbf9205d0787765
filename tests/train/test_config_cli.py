"""`cnncompile train` reads its options from the table: what it prints and records."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from cnncompile.cli import app
from cnncompile.data.datasets import Dataset, Split

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_the_last_epoch_is_always_reported(toy, tmp_path):
    spec, data = toy
    r = cli("train", spec, "--data", data, "--epochs", 3, "--report", 2, "--out", tmp_path / "r",
            "--lr", 0.01, "--limit", 60)
    assert r.exit_code == 0, r.output
    epochs = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("epoch ")]
    assert epochs == ["2", "3"]


def test_one_epoch_is_singular_and_flags_reach_the_config(toy, tmp_path):
    spec, data = toy
    r = cli("train", spec, "--data", data, "--epochs", 1, "--out", tmp_path / "r", "--limit", 60,
            "--bn-recalibrate", "off", "--lr", "1e-2")
    assert r.exit_code == 0, r.output
    assert ", 1 epoch, " in r.stdout and "1 epochs" not in r.stdout
    r = cli("train", spec, "--data", data, "--epochs", 1, "--out", tmp_path / "j", "--limit", 60,
            "--bn-recalibrate", "off", "--lr", "1e-2", "--log-format", "json")
    config = json.loads(r.stdout.splitlines()[0])["config"]
    assert config["bn_recalibrate"] is False and config["learning_rate"] == 0.01
    assert config["augment"] == "flip_shift" and config["limit"] == 60  # spec's, flag's


def test_a_spec_value_the_table_refuses_stops_before_training(toy, tmp_path, spec_file):
    spec, data = toy
    bad = spec_file(spec.read_text().replace("augment: flip_shift", "augment: flip_shfit"),
                    "bad.yaml")
    r = cli("train", bad, "--data", data, "--out", tmp_path / "r")
    assert r.exit_code == 2
    assert ("`train.augment` must be one of none, flip, flip_shift, flip_cutout, "
            "flip_shift_cutout (did you mean 'flip_shift'?)") in r.stderr
    assert not (tmp_path / "r").exists()


def test_one_class_is_singular():
    split = Split(np.zeros((2, 4, 4, 1), np.uint8), np.zeros(2, np.int64))
    one = Dataset("s", "npz", split, split, split, (("only",),))
    assert one.describe().endswith(", 1 class")
    two = Dataset("s", "npz", split, split, split, (("a", "b"),))
    assert two.describe().endswith(", 2 classes")

"""`cnncompile train` and `evaluate` end to end on generated data, through the Typer app."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncompile.cli import app

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_textbook_log_lines_and_run_folder(toy, tmp_path):
    spec, data = toy
    run = tmp_path / "run"
    r = cli("train", spec, "--data", data, "--epochs", 3, "--report", 2, "--out", run,
            "--log-format", "textbook", "--lr", 0.01)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "Model toy train started:"
    assert re.fullmatch(r"    Epoch 2: cost=\d\.\d{3}, accuracy=\d\.\d{3}/\d\.\d{3} "
                        r"\(\d+/\d+ secs\)", lines[1])
    assert lines[2].startswith("    Epoch 3: ")  # the last epoch is always reported
    assert re.fullmatch(r"Model toy train ended in \d+ secs:", lines[3])
    assert re.fullmatch(r"Model toy test report: accuracy = (\d\.\d{3}), \(\d+ secs\)", lines[4])
    assert len(lines) == 5  # --report 2 over 3 epochs: epochs 2 and 3 (the last)
    for name in ("curves.png", "confusion.png", "samples.png"):
        assert (run / name).read_bytes()[:8] == PNG and (run / name).stat().st_size > 5000
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[3].startswith("3,")
    test = json.loads((run / "test.json").read_text())
    assert f"{test['accuracy']['output']:.3f}" == lines[4].split("= ")[1][:5]


def test_json_log_then_evaluate_gives_the_same_figures(toy, tmp_path):
    spec, data = toy
    run = tmp_path / "run"
    r = cli("train", spec, "--data", data, "--epochs", 2, "--out", run, "--log-format", "json",
            "--lr", 0.01)
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.output.splitlines()]
    assert [e["event"] for e in events] == ["start", "epoch", "epoch", "test"]
    assert events[0]["config"]["augment"] == "flip_shift"  # from the spec's train: section
    assert events[0]["config"]["learning_rate"] == 0.01  # the flag wins
    r = cli("evaluate", spec, "--weights", run / "checkpoint.npz", "--data", data,
            "--format", "json")
    assert r.exit_code == 0, r.output
    ev = json.loads(r.output)
    assert ev["accuracy"] == {"output": pytest.approx(events[-1]["accuracy"]["output"])}
    conf = np.array(ev["confusion"]["output"]["matrix"])
    assert conf.sum() == ev["samples"] == 45
    assert np.trace(conf) / conf.sum() == pytest.approx(ev["accuracy"]["output"], abs=1e-6)
    assert [row["support"] for row in ev["per_class"]["output"]] == conf.sum(axis=1).tolist()
    r = cli("evaluate", spec, "--weights", run / "checkpoint.npz", "--data", data,
            "--out", tmp_path / "ev")
    assert r.exit_code == 0, r.output
    assert "per class:" in r.output and "confusion matrix (rows: true class" in r.output
    assert (tmp_path / "ev" / "confusion.png").exists()


def test_an_exported_onnx_model_gets_the_same_figures(toy, tmp_path):
    spec, data = toy
    run = tmp_path / "run"
    assert cli("train", spec, "--data", data, "--epochs", 2, "--out", run, "--lr", 0.01,
               "--log-format", "json").exit_code == 0
    r = cli("export", spec, "--weights", run / "checkpoint.npz", "--out", run / "toy.onnx")
    assert r.exit_code == 0, r.output
    figures = []
    for args in ([spec, "--weights", run], [run / "toy.onnx"]):
        r = cli("evaluate", *args, "--data", data, "--format", "json")
        assert r.exit_code == 0, r.output
        figures.append(json.loads(r.output))
    engine, onnx = figures
    assert onnx["accuracy"] == engine["accuracy"] and 0.5 < engine["accuracy"]["output"]
    assert onnx["confusion"] == engine["confusion"] and onnx["per_class"] == engine["per_class"]


def test_resume_from_the_command_line(toy, tmp_path):
    spec, data = toy
    run = tmp_path / "run"
    assert cli("train", spec, "--data", data, "--epochs", 1, "--out", run).exit_code == 0
    r = cli("train", spec, "--data", data, "--epochs", 1, "--out", run)
    assert r.exit_code == 2 and "already holds a run: add --resume" in r.output
    r = cli("train", spec, "--data", data, "--epochs", 2, "--out", run, "--resume")
    assert r.exit_code == 0, r.output
    assert "resumed after epoch 1" in r.output
    assert [line[:2] for line in (run / "metrics.csv").read_text().splitlines()[1:]] == \
        ["1,", "2,"]
    r = cli("evaluate", spec, "--weights", run, "--data", data)  # a run folder will do
    assert r.exit_code == 0 and "accuracy" in r.output.splitlines()[0]
    r = cli("train", spec, "--data", data, "--epochs", 1, "--out", run, "--overwrite")
    assert r.exit_code == 0, r.output
    assert len((run / "metrics.csv").read_text().splitlines()) == 2  # a fresh one-epoch run


def test_mismatching_checkpoint_and_bad_data_are_one_line_errors(toy, tmp_path, spec_file,
                                                                  monkeypatch):
    spec, data = toy
    run = tmp_path / "run"
    assert cli("train", spec, "--data", data, "--epochs", 1, "--out", run).exit_code == 0
    other = spec_file(spec.read_text().replace("chn: 4", "chn: 6"), "other.yaml")
    r = cli("evaluate", other, "--weights", run / "checkpoint.npz", "--data", data)
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [
        f"error: {run / 'checkpoint.npz'}: parameter `conv.kernel` has the wrong shape. "
        "Received: shape=[3, 3, 1, 4], expected [3, 3, 1, 6]"]
    r = cli("train", spec, "--data", tmp_path / "nothing", "--out", tmp_path / "run2")
    assert r.exit_code == 2 and "no such file or folder" in r.output


def test_nan_loss_stops_with_epoch_and_step(toy, tmp_path):
    spec, data = toy
    r = cli("train", spec, "--data", data, "--epochs", 3, "--out", tmp_path / "run",
            "--optimizer", "sgd", "--lr", 10, "--l2", 1, "--batch-size", 2)  # w <- -9 w per step
    assert r.exit_code == 2
    assert re.search(r"error: the loss became (nan|inf) at epoch 1, step \d+: training stopped; "
                     r"no checkpoint was written", r.output)
    # the data and weights were checked when read: the message names the options that diverged
    assert "The updates diverged. Try a lower --lr (now 10.0) or --l2 (now 1.0)" in r.output


def test_nan_at_the_first_forward_pass_names_the_initialisation(toy, tmp_path):
    spec, data = toy
    big = tmp_path / "big.npz"
    with np.load(data) as z:
        np.savez(big, x=z["x"] * np.float32(3e37), y=z["y"])  # finite, but overflows the model
    r = cli("train", spec, "--data", big, "--epochs", 1, "--out", tmp_path / "run")
    assert r.exit_code == 2
    assert "step 1: training stopped" in r.output
    assert "The first forward pass overflowed, before any update" in r.output
    assert "--lr" not in r.output


def test_office31_two_heads(office31, spec_file, tmp_path):
    spec = spec_file("""\
        name: office
        input: [12, 12, 3]
        output: {heads: {domain: 3, object: 3}}
        layers: [[conv, {ksize: 3, chn: 4}], [max, {stride: 2}], 12]
        train: {epochs: 2, batch_size: 4}
        """)
    root = office31(per_class=5)
    run = tmp_path / "run"
    r = cli("train", spec, "--data", root, "--out", run, "--log-format", "textbook")
    assert r.exit_code == 0, r.output
    assert re.fullmatch(r"    Epoch 1: cost=\d\.\d{3}, accuracy=\d\.\d{3}\+\d\.\d{3}/"
                        r"\d\.\d{3}\+\d\.\d{3} \(\d+/\d+ secs\)", r.output.splitlines()[1])
    assert re.search(r"test report: accuracy = \d\.\d{3}\+\d\.\d{3}, ", r.output)
    assert "train_acc_domain,train_acc_object" in (run / "metrics.csv").read_text()
    r = cli("evaluate", spec, "-w", run / "checkpoint.npz", "--data", root, "-f", "json")
    ev = json.loads(r.output)
    assert list(ev["accuracy"]) == ["domain", "object"]
    assert ev["confusion"]["domain"]["labels"] == ["amazon", "dslr", "webcam"]


def test_ctrl_c_in_a_real_process_saves_and_exits_130(tmp_path, spec_file):
    """SIGINT to `cnncompile train`: exit 130, one line, a checkpoint of the last step.

    The signal goes out as soon as the first epoch line arrives, and the check reads where
    the run actually stopped from its own output (the epochs it logged, the message), so it
    holds whether the signal lands mid-epoch or between epochs, on a fast or a starved machine.
    """
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import cnncompile
    from cnncompile.train import read_checkpoint

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((3000, 4, 4, 1), np.float32),
             y=rng.integers(0, 2, 3000))
    spec = spec_file("name: s\ninput: [4, 4, 1]\noutput: {classes: 2}\nlayers: [4]\n"
                     "train: {epochs: 1000, batch_size: 2}\n")
    env = dict(os.environ, PYTHONPATH=str(Path(cnncompile.__file__).parents[1]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnncompile", "train", str(spec), "--data", str(tmp_path / "d.npz"),
         "--out", str(tmp_path / "run"), "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    events = []
    while not any(e["event"] == "epoch" for e in events):  # the event: an epoch has ended
        line = proc.stdout.readline()
        assert line, f"train ended before its first epoch: {proc.communicate()[1]}"
        events.append(json.loads(line))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    events += [json.loads(line) for line in out.splitlines()]
    logged = [e["epoch"] for e in events if e["event"] == "epoch"]
    assert logged == list(range(1, len(logged) + 1))
    done = logged[-1]  # epochs completed and logged before the signal took effect
    ck = read_checkpoint(tmp_path / "run" / "checkpoint.npz")
    mid = re.fullmatch(r"interrupted at epoch (\d+), step (\d+)/1200: saved \S+checkpoint.npz "
                       r"\(the last completed step\); continue with --resume\n", err)
    if mid:
        assert int(mid.group(1)) == done + 1
        assert (ck.meta["epoch"], ck.meta["step"]) == (done, int(mid.group(2)))
    else:
        assert re.fullmatch(rf"interrupted after epoch {done}: saved \S+checkpoint.npz; "
                            r"continue with --resume\n", err), err
        assert (ck.meta["epoch"], ck.meta["step"]) == (done, 0)


def test_label_smoothing_from_the_flag_and_only_for_class_heads(toy, tmp_path, spec_file):
    spec, data = toy
    r = cli("train", spec, "--data", data, "--epochs", 1, "--out", tmp_path / "run",
            "--log-format", "json", "--label-smoothing", 0.2)
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.output.splitlines()]
    assert events[0]["config"]["label_smoothing"] == 0.2
    # the smoothed loss never falls below the entropy of the targets (0.485 for e = 0.2, K = 3)
    assert events[1]["train_loss"] > 0.485
    r = cli("train", spec, "--data", data, "--epochs", 1, "--out", tmp_path / "rich",
            "--label-smoothing", 0.2)
    assert r.exit_code == 0 and "label smoothing 0.2 ->" in r.output, r.output
    binary = spec_file(spec.read_text().replace("{classes: 3}", "{binary: true}"), "bin.yaml")
    x = np.load(data)["x"]
    np.savez(tmp_path / "bin.npz", x=x, y=np.arange(len(x)) % 2)
    r = cli("train", binary, "--data", tmp_path / "bin.npz", "--out", tmp_path / "bin",
            "--label-smoothing", 0.1)
    assert r.exit_code == 2
    assert r.output.strip() == ("error: label smoothing needs softmax class heads; this model's "
                                "output is binary")
    assert not (tmp_path / "bin" / "checkpoint.npz").exists()

"""`cnncompile train --backend torch`: the NumPy path's results, on one or two processes.

- Two gloo workers sharing each global batch end at the weights of one process (batch norm
  over the global batch, dropout drawn from the loop's generator, a last batch split unevenly).
- A checkpoint trained on torch gets the same test accuracy from the NumPy engine
  (`evaluate`) and from its ONNX export.
- A run resumed across backends (numpy -> torch -> numpy) ends where a NumPy run ends.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch", reason="the torch backend's tests need torch (test extra)")

from cnncompile.cli import app  # noqa: E402
from cnncompile.train import read_checkpoint  # noqa: E402

from .conftest import group_ends  # noqa: E402

SPEC = """\
name: tiny
input: [8, 8, 1]
output: {classes: 3}
layers:
  - [conv, {ksize: 3, chn: 4, actions: LBA, bias: false}]  # no bias for B to cancel
  - [max, {stride: 2}]
  - [dropout, {keep_prob: 0.8}]
  - 8
"""


@pytest.fixture
def toy(tmp_path):
    """(spec, data): 100 images whose brightest third (top, middle, bottom) is the class."""
    rng = np.random.default_rng(0)
    y = np.arange(100) % 3
    x = rng.integers(0, 100, (100, 8, 8, 1))
    for k in range(3):
        x[y == k, 3 * k:3 * k + 3] += 120
    np.savez(tmp_path / "toy.npz", x=x.astype(np.float32) / 255, y=y)
    (tmp_path / "tiny.yaml").write_text(SPEC)
    return tmp_path / "tiny.yaml", tmp_path / "toy.npz"


def cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def weights(run) -> dict[str, np.ndarray]:
    return read_checkpoint(run / "checkpoint.npz").params


def assert_same_weights(a, b, rel: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        scale = max(float(np.abs(b[k]).max()), 0.1)
        assert float(np.abs(a[k] - b[k]).max()) <= rel * scale, k


def test_two_gloo_workers_end_at_the_one_process_weights(toy, tmp_path):
    spec, data = toy
    # train split 80, batch 13: six full batches and one of 2, 28 SGD steps in all
    common = ("train", spec, "--data", data, "--epochs", 4, "--batch-size", 13,
              "--optimizer", "sgd", "--lr", 0.05, "--backend", "torch", "--device", "cpu",
              "--log-format", "json")
    cli(*common, "--workers", 1, "--out", tmp_path / "one")
    out = cli(*common, "--workers", 2, "--out", tmp_path / "two")
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["start"] + ["epoch"] * 4 + ["test"]  # rank 0 only
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert any(k.endswith(".var") for k in one)  # running statistics are compared too
    assert_same_weights(two, one, 1e-5)
    assert read_checkpoint(tmp_path / "two" / "checkpoint.npz").meta["config"]["workers"] == 2


def _test_accuracy(out: str) -> float:
    return [json.loads(line) for line in out.splitlines()][-1]["accuracy"]["output"]


def test_a_torch_checkpoint_evaluates_the_same_on_numpy_and_onnx(toy, tmp_path):
    spec, data = toy
    run = tmp_path / "run"
    trained = _test_accuracy(cli("train", spec, "--data", data, "--epochs", 3, "--lr", 0.01,
                                 "--backend", "torch", "--out", run, "--log-format", "json"))
    numpy_ev = json.loads(cli("evaluate", spec, "--weights", run, "--data", data,
                              "--format", "json"))
    cli("export", spec, "--weights", run / "checkpoint.npz", "--out", run / "tiny.onnx")
    onnx_ev = json.loads(cli("evaluate", run / "tiny.onnx", "--data", data, "--format", "json"))
    assert numpy_ev["samples"] == onnx_ev["samples"] == 15
    assert numpy_ev["accuracy"]["output"] == pytest.approx(trained, abs=1e-9)
    assert onnx_ev["accuracy"]["output"] == pytest.approx(trained, abs=1e-9)
    assert numpy_ev["confusion"] == onnx_ev["confusion"]


def test_resume_across_backends_ends_where_numpy_ends(toy, tmp_path):
    spec, data = toy
    common = ("train", spec, "--data", data, "--lr", 0.01, "--batch-size", 16,
              "--log-format", "json")
    cli(*common, "--epochs", 3, "--out", tmp_path / "straight")
    run = tmp_path / "hops"
    cli(*common, "--epochs", 1, "--out", run)
    cli(*common, "--epochs", 2, "--out", run, "--resume", "--backend", "torch")
    assert read_checkpoint(run / "checkpoint.npz").meta["config"]["backend"] == "torch"
    cli(*common, "--epochs", 3, "--out", run, "--resume", "--backend", "numpy")
    ckpt = read_checkpoint(run / "checkpoint.npz")
    assert ckpt.meta["epoch"] == 3 and ckpt.opt_state["kind"] == "adam"
    assert_same_weights(ckpt.params, weights(tmp_path / "straight"), 1e-5)


def test_workers_need_the_torch_backend(toy, tmp_path):
    spec, data = toy
    r = CliRunner().invoke(app, ["train", str(spec), "--data", str(data), "--workers", "2",
                                 "--out", str(tmp_path / "r")])
    assert r.exit_code == 2
    assert "--workers needs --backend torch" in r.output


def test_a_diverging_torch_run_stops_with_one_line_and_keeps_no_broken_checkpoint(toy, tmp_path):
    spec, data = toy
    r = CliRunner().invoke(app, ["train", str(spec), "--data", str(data), "--backend", "torch",
                                 "--lr", "10", "--l2", "1", "--batch-size", "2", "--optimizer", "sgd", "--epochs", "2",
                                 "--out", str(tmp_path / "r"), "--log-format", "json"])
    assert r.exit_code == 2, r.output
    assert "training stopped" in r.output and "Try a lower --lr" in r.output
    assert not (tmp_path / "r" / "checkpoint.npz").exists()


def test_ctrl_c_stops_every_worker_at_the_same_step_and_resumes(tmp_path):
    """SIGINT to the process group (a terminal's Ctrl-C) of a two-worker run: exit 130, one
    checkpoint, no worker left behind; --resume then finishes the run."""
    import os
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import cnncompile

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((600, 4, 4, 1), np.float32),
             y=rng.integers(0, 2, 600))
    (tmp_path / "s.yaml").write_text("name: s\ninput: [4, 4, 1]\noutput: {classes: 2}\n"
                                     "layers: [4, batch_normal]\n")
    env = dict(os.environ, PYTHONPATH=str(Path(cnncompile.__file__).parents[1]))
    args = [sys.executable, "-m", "cnncompile", "train", str(tmp_path / "s.yaml"), "--data",
            str(tmp_path / "d.npz"), "--out", str(tmp_path / "run"), "--log-format", "json",
            "--batch-size", "2", "--backend", "torch", "--device", "cpu", "--workers", "2"]
    proc = subprocess.Popen(args + ["--epochs", "50"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    events = [json.loads(proc.stdout.readline()) for _ in range(2)]  # start, epoch 1
    assert events[1]["event"] == "epoch" and events[1]["epoch"] == 1
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert group_ends(proc.pid), "a started worker outlived the run"
    ckpt = read_checkpoint(tmp_path / "run" / "checkpoint.npz")
    mid = re.search(r"interrupted at epoch (\d+), step (\d+)/240", err)
    if mid:
        assert (ckpt.meta["epoch"] + 1, ckpt.meta["step"]) == tuple(map(int, mid.groups()))
    else:
        assert re.search(r"interrupted after epoch (\d+)", err), err
        assert ckpt.meta["step"] == 0
    epochs = ckpt.meta["epoch"] + 1
    done = subprocess.run(args + ["--epochs", str(epochs), "--resume"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert read_checkpoint(tmp_path / "run" / "checkpoint.npz").meta["epoch"] == epochs

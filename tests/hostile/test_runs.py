"""Run folders: one run at a time, resumes that see exactly the run's steps, metrics never ahead.

The issue's bug: a checkpoint taken inside an epoch, resumed with another --batch-size, recorded
a training accuracy of 2.93 and skipped half an epoch. Such resumes are now refused.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from cnncompile.artifacts.files import RunLock, release_run_locks
from cnncompile.artifacts.weights import read_checkpoint
from cnncompile.errors import DataError
from cnncompile.frontend import load_spec
from cnncompile.ir import lower
from cnncompile.train import (
    TrainConfig,
    Trainer,
    TrainHooks,
    TrainingInterrupted,
    choose_run_dir,
    load_dataset,
)
from cnncompile.train import loop as loop_module


def metrics_rows(run) -> list[str]:
    return (run / "metrics.csv").read_text().splitlines()[1:]


# -- one run per folder ----------------------------------------------------------------------
def test_a_second_train_on_a_folder_in_use_is_refused_naming_the_holder(toy, tmp_path, cli,
                                                                        one_line_error):
    spec, data = toy
    run = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "cnncompile", "train", str(spec), "--data", str(data), "--out",
         str(run), "--epochs", "500", "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert json.loads(first.stdout.readline())["event"] == "start"  # it holds the folder
        for extra in ((), ("--resume",), ("--overwrite",)):
            r = cli("train", spec, "--data", data, "--out", run, "--epochs", 1, *extra)
            one_line_error(r, run, f"another cnncompile run (pid {first.pid}) is using this "
                           "run folder")
        with pytest.raises(DataError, match=f"pid {first.pid}"):
            RunLock(run).acquire()
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 143
    RunLock(run).acquire().release()  # released when its holder ended
    done = read_checkpoint(run).meta["epoch"]
    r = cli("train", spec, "--data", data, "--out", run, "--resume", "--epochs", max(done, 1))
    assert r.exit_code == 0, r.output  # the folder is free again: the run's test completes


def test_a_new_run_without_out_skips_a_folder_in_use(tmp_path):
    root = tmp_path / "runs"
    held = RunLock(root / "toy").acquire()  # a run just started there, no checkpoint yet
    try:
        assert choose_run_dir("toy", None, False, root, lock=True) == root / "toy-2"
        with pytest.raises(DataError, match=f"{root}/toy: another cnncompile run"):
            choose_run_dir("toy", root / "toy", False, lock=True)
    finally:
        release_run_locks()
        held.release()


# -- resuming refuses another step geometry --------------------------------------------------
class _StopAtStep(TrainHooks):
    def __init__(self, step):
        self.step = step

    def on_step(self, info):
        if info.step == self.step:
            raise KeyboardInterrupt  # what the deferred Ctrl-C does at the end of a step


def _mid_epoch_checkpoint(spec, data, run, batch_size=10, step=7):
    sp = load_spec(spec)
    graph = lower(sp)
    config = TrainConfig.from_sources(sp.train, {"epochs": 2, "batch_size": batch_size})
    dataset = load_dataset(data, graph.input_shape, graph.heads)
    with pytest.raises(TrainingInterrupted, match=f"step {step}/24"):
        Trainer(sp, graph, dataset, config, run, hooks=_StopAtStep(step)).fit()


def test_a_mid_epoch_resume_with_another_batch_size_is_refused(toy, tmp_path, cli, one_line_error):
    spec, data = toy
    run = tmp_path / "run"
    _mid_epoch_checkpoint(spec, data, run)
    r = cli("train", spec, "--data", data, "--out", run, "--resume", "--batch-size", 20)
    one_line_error(r, f"{run}/checkpoint.npz", "trained with --batch-size 10; 20 would change "
                   "every later step")
    r = cli("train", spec, "--data", data, "--out", run, "--resume", "--log-format", "json")
    assert r.exit_code == 0, r.output
    epochs = [e for e in map(json.loads, r.output.splitlines()) if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert all(0 <= e["train_acc"] <= 1 for e in epochs)


def test_an_epoch_end_resume_with_another_batch_size_or_limit_is_refused(toy, tmp_path, cli,
                                                                         one_line_error):
    spec, data = toy
    run = tmp_path / "run"
    r = cli("train", spec, "--data", data, "--out", run, "--epochs", 1, "--limit", 200)
    assert r.exit_code == 0, r.output
    one_line_error(cli("train", spec, "--data", data, "--out", run, "--resume", "--epochs", 2,
                       "--batch-size", 32), "--batch-size 10; 32")
    one_line_error(cli("train", spec, "--data", data, "--out", run, "--resume", "--epochs", 2,
                       "--limit", 100), "--limit 200; 100")


def test_resuming_on_other_data_is_refused(toy, tmp_path, cli, one_line_error, toy_data):
    spec, data = toy
    run = tmp_path / "run"
    assert cli("train", spec, "--data", data, "--out", run, "--epochs", 1).exit_code == 0
    other = toy_data(tmp_path / "other.npz", seed=1)  # same shapes, other samples
    one_line_error(cli("train", spec, "--data", other, "--out", run, "--resume", "--epochs", 2),
                   f"the run was trained on other data ({data}", f"{other} gives")
    r = cli("train", spec, "--data", data, "--out", run, "--resume", "--epochs", 2)
    assert r.exit_code == 0, r.output


# -- metrics.csv never ahead of the checkpoint ----------------------------------------------
def test_metrics_are_written_only_after_their_checkpoint(toy, tmp_path, monkeypatch):
    spec, data = toy
    sp = load_spec(spec)
    graph = lower(sp)
    config = TrainConfig.from_sources(sp.train, {"epochs": 3})
    dataset = load_dataset(data, graph.input_shape, graph.heads)
    real, calls = loop_module.save_checkpoint, []

    def full_disk_at_epoch_2(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise DataError(f"{path}: cannot write (no space left on the device)")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(loop_module, "save_checkpoint", full_disk_at_epoch_2)
    run = tmp_path / "run"
    with pytest.raises(DataError, match="no space left"):
        Trainer(sp, graph, dataset, config, run).fit()
    assert [r.split(",")[0] for r in metrics_rows(run)] == ["1"]


def test_a_resume_cuts_metrics_back_to_the_checkpoint(toy, tmp_path, cli):
    spec, data = toy
    run = tmp_path / "run"
    assert cli("train", spec, "--data", data, "--out", run, "--epochs", 1).exit_code == 0
    shutil.copy(run / "checkpoint.npz", tmp_path / "epoch1.npz")
    assert cli("train", spec, "--data", data, "--out", run, "--resume", "--epochs", 3,
               ).exit_code == 0
    assert len(metrics_rows(run)) == 3
    shutil.copy(tmp_path / "epoch1.npz", run / "checkpoint.npz")  # as if 2 and 3 were lost
    r = cli("train", spec, "--data", data, "--out", run, "--resume", "--epochs", 1)
    assert r.exit_code == 0, r.output
    assert [r.split(",")[0] for r in metrics_rows(run)] == ["1"]

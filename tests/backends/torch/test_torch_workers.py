"""Two-worker torch runs inside the one-line contract (issue 21, class 5).

Each scenario runs `python -m cnncompile train ... --workers 2` in a session of its own, acts on
an event it reads (an output line, a worker process appearing), and checks the exit status, that
stderr is one line and that no process of the session outlives the run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the torch backend's tests need torch (test extra)")

import cnncompile  # noqa: E402
from cnncompile.train import read_checkpoint  # noqa: E402

from .conftest import group_ends  # noqa: E402

STEPS = 240  # 480 training samples, batch 2


@pytest.fixture
def run_args(tmp_path):
    """The command line of a two-worker run on a small data set (240 steps an epoch)."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((600, 4, 4, 1), np.float32),
             y=rng.integers(0, 2, 600))
    (tmp_path / "s.yaml").write_text("name: s\ninput: [4, 4, 1]\noutput: {classes: 2}\n"
                                     "layers: [4, batch_normal]\n")
    return [sys.executable, "-m", "cnncompile", "train", str(tmp_path / "s.yaml"), "--data",
            str(tmp_path / "d.npz"), "--log-format", "json", "--batch-size", "2",
            "--optimizer", "sgd", "--lr", "0.05", "--backend", "torch", "--device", "cpu"]


ENV = dict(os.environ, PYTHONPATH=str(Path(cnncompile.__file__).parents[1]))


def start(args) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV, start_new_session=True)


def started_worker(parent: int, seconds: float = 60.0) -> int:
    """The pid of the worker ``parent`` started (a multiprocessing spawn child), once it exists."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == parent and b"spawn_main" in cmdline:
                return int(stat.parent.name)
        time.sleep(0.05)
    raise AssertionError(f"process {parent} started no worker")


def first_epoch(proc: subprocess.Popen) -> None:
    events = [json.loads(proc.stdout.readline()) for _ in range(2)]  # start, epoch 1
    assert events[1]["event"] == "epoch", events


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


def test_a_killed_worker_stops_the_run_and_the_last_step_is_saved(run_args, tmp_path):
    run = tmp_path / "run"
    proc = start(run_args + ["--epochs", "2", "--workers", "2", "--out", str(run)])
    worker = started_worker(proc.pid)
    first_epoch(proc)
    os.kill(worker, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert group_ends(proc.pid), "a process outlived the run"
    assert proc.returncode == 2, err
    line = one_line(err)
    ckpt = read_checkpoint(run / "checkpoint.npz")
    killed = rf"error: worker 1 \(pid {worker}\) was killed by SIGKILL"
    mid = re.fullmatch(rf"{killed} at epoch 2, step (\d+)/{STEPS}: saved \S+checkpoint.npz "
                       r"\(the last completed step\); continue with --resume", line)
    # or it died between epochs, as the epoch's checkpoint was taken
    assert mid or re.fullmatch(rf"{killed} after epoch 1: kept \S+; continue with --resume",
                               line), line
    assert (ckpt.meta["epoch"], ckpt.meta["step"]) == (1, int(mid.group(1)) if mid else 0)
    # the saved step resumes (on the recorded two workers) to the weights of a run never
    # stopped: the interrupted step's draws were given back
    resumed = subprocess.run(run_args + ["--epochs", "2", "--out", str(run), "--resume"],
                             capture_output=True, text=True, env=ENV, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    straight = subprocess.run(run_args + ["--epochs", "2", "--workers", "2", "--out",
                                          str(tmp_path / "straight")],
                              capture_output=True, text=True, env=ENV, timeout=120)
    assert straight.returncode == 0, straight.stderr
    a = read_checkpoint(run / "checkpoint.npz").params
    b = read_checkpoint(tmp_path / "straight" / "checkpoint.npz").params
    assert all(np.array_equal(a[k], b[k]) for k in b)


def test_a_signal_to_a_worker_alone_reaches_the_parent_as_its_own(run_args, tmp_path):
    proc = start(run_args + ["--epochs", "3", "--workers", "2", "--out", str(tmp_path / "r")])
    worker = started_worker(proc.pid)
    first_epoch(proc)
    os.kill(worker, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert group_ends(proc.pid), "a process outlived the run"
    assert proc.returncode == 143, err
    assert re.fullmatch(r"terminated \(SIGTERM\) (at epoch \d+, step \d+/240|after epoch \d+): "
                        r"saved \S+( \(the last completed step\))?; continue with --resume",
                        one_line(err)), err


@pytest.mark.parametrize("when", ["as the worker starts", "after the first epoch"])
def test_a_killed_parent_takes_its_worker_with_it(run_args, tmp_path, when):
    proc = start(run_args + ["--epochs", "50", "--workers", "2", "--out", str(tmp_path / "r")])
    worker = started_worker(proc.pid)
    if when == "after the first epoch":
        first_epoch(proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert group_ends(proc.pid, 10), f"worker {worker} outlived its parent"


def test_a_worker_killed_at_start_is_named_at_once(run_args, tmp_path):
    proc = start(run_args + ["--epochs", "1", "--workers", "2", "--out", str(tmp_path / "r")])
    worker = started_worker(proc.pid)
    os.kill(worker, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)  # not the 10 minutes of a collective's timeout
    assert group_ends(proc.pid), "a process outlived the run"
    assert proc.returncode == 2, err
    assert one_line(err).startswith(f"error: worker 1 (pid {worker}) was killed by SIGKILL"), err


def test_sigterm_at_start_up_is_one_line(run_args, tmp_path):
    proc = start(run_args + ["--epochs", "1", "--workers", "2", "--out", str(tmp_path / "r")])
    started_worker(proc.pid)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert group_ends(proc.pid), "a process outlived the run"
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in one_line(err)


def test_a_refused_resume_starts_no_worker_and_prints_one_line(run_args, tmp_path):
    run = str(tmp_path / "r")
    first = subprocess.run(run_args + ["--epochs", "1", "--workers", "2", "--out", run],
                           capture_output=True, text=True, env=ENV, timeout=120)
    assert first.returncode == 0, first.stderr
    proc = start(run_args + ["--epochs", "2", "--out", run, "--resume", "--batch-size", "4"])
    _, err = proc.communicate(timeout=60)
    assert group_ends(proc.pid), "a process outlived the run"
    assert proc.returncode == 2, err
    assert "the run was trained with --batch-size 2" in one_line(err)


def _start_event(out: str) -> dict:
    return json.loads(out.splitlines()[0])


def test_a_resume_keeps_torch_and_its_workers_and_says_so_and_backend_alone_switches(
        run_args, tmp_path):
    run = str(tmp_path / "r")
    first = subprocess.run(run_args + ["--epochs", "1", "--workers", "2", "--out", run],
                           capture_output=True, text=True, env=ENV, timeout=120)
    assert first.returncode == 0, first.stderr
    start_event = _start_event(first.stdout)
    assert start_event["engine"]["backend"] == "torch" and start_event["engine"]["workers"] == 2
    assert read_checkpoint(tmp_path / "r" / "checkpoint.npz").meta["engine"] == {
        "backend": "torch", "device": "cpu", "workers": 2, "threads": start_event["engine"]["threads"]}
    numpy_args = [a for a in run_args if a not in ("--backend", "torch", "--device", "cpu")]
    kept = subprocess.run(numpy_args + ["--epochs", "2", "--out", run, "--resume"],
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert kept.returncode == 0, kept.stderr
    event = _start_event(kept.stdout)
    assert event["engine"]["workers"] == 2 and event["engine"]["backend"] == "torch"
    assert event["resume"] == ("keeps the recorded --backend torch, --device cpu, --workers 2; "
                               "changes --epochs 1 -> 2")
    switched = subprocess.run(numpy_args + ["--epochs", "3", "--out", run, "--resume",
                                            "--backend", "numpy"],
                              capture_output=True, text=True, env=ENV, timeout=120)
    assert switched.returncode == 0, switched.stderr
    event = _start_event(switched.stdout)
    assert event["engine"]["backend"] == "numpy" and event["engine"]["workers"] == 1
    # each epoch's row of metrics.csv says where it trained
    rows = (tmp_path / "r" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[-4:-1] for r in rows] == [["backend", "device", "workers"],
                                                   ["torch", "cpu", "2"], ["torch", "cpu", "2"],
                                                   ["numpy", "cpu", "1"]]
    assert event["resume"] == ("changes --epochs 2 -> 3, --backend torch -> numpy, --device "
                               "cpu -> auto, --workers 2 -> 1")

"""Signals and closed pipes: SIGTERM is Ctrl-C's twin, no temporary file survives, no traceback.

Each test synchronises on an event of the process under test: an output line, or an audit hook
(``sys.addaudithook``) that stops the process just before it renames a finished temporary file
into place, says ``ready`` on stderr and waits there for the test's signal.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys

import numpy as np
import pytest

from cnncompile.artifacts.weights import read_checkpoint

# Runs the CLI with an audit hook that blocks once, right before the rename onto a path ending
# in $CNNCOMPILE_TEST_BLOCK_AT: the temporary file is complete and still there.
BLOCKING_CLI = """\
import os, sys
target = os.environ["CNNCOMPILE_TEST_BLOCK_AT"]
armed = [True]
def hook(event, args):
    if armed[0] and event == "os.rename" and str(args[1]).endswith(target):
        armed[0] = False
        sys.stderr.write("ready\\n")
        sys.stderr.flush()
        os.read(0, 1)  # the test's signal arrives here
sys.addaudithook(hook)
import runpy
sys.argv = ["cnncompile", *sys.argv[1:]]
runpy.run_module("cnncompile", run_name="__main__", alter_sys=True)
"""
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def cnncompile(*args, block_at: str | None = None, **kwargs) -> subprocess.Popen:
    argv = ([sys.executable, "-c", BLOCKING_CLI] if block_at else
            [sys.executable, "-m", "cnncompile"])
    env = dict(ENV, CNNCOMPILE_TEST_BLOCK_AT=block_at or "")
    kwargs = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE,
              "text": True, "env": env, **kwargs}
    return subprocess.Popen(argv + [str(a) for a in args], **kwargs)


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def wait_ready(proc: subprocess.Popen) -> None:
    line = proc.stderr.readline()
    assert line == "ready\n", line + proc.stderr.read()


# -- training --------------------------------------------------------------------------------
def test_sigterm_during_training_checkpoints_the_step_and_exits_143(toy, tmp_path, leftovers):
    spec, data = toy
    run = tmp_path / "run"
    proc = cnncompile("train", spec, "--data", data, "--out", run, "--epochs", 500,
                      "--batch-size", 5, "--log-format", "json")
    try:
        for line in proc.stdout:  # the first finished epoch: training is under way
            if json.loads(line)["event"] == "epoch":
                break
        proc.send_signal(signal.SIGTERM)
    finally:
        out, err = finish(proc)
    assert proc.returncode == 143, err
    assert re.match(r"terminated \(SIGTERM\) (after epoch \d+|at epoch \d+, step \d+/48): ",
                    err) and err.count("\n") == 1, err
    assert f"saved {run}/checkpoint.npz" in err and "continue with --resume" in err
    meta = read_checkpoint(run).meta
    assert meta["epoch"] >= 1 and leftovers(run) == []
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    assert len(rows) == meta["epoch"]  # metrics.csv never ahead of the checkpoint


def test_a_late_signal_during_the_final_test_never_exits_0(toy, tmp_path, leftovers):
    spec, data = toy
    run = tmp_path / "run"
    for signum, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        proc = cnncompile("train", spec, "--data", data, "--out", run, "--epochs", 1,
                          "--overwrite", block_at="curves.png")
        try:
            wait_ready(proc)  # training is over; the plots are being written
            proc.send_signal(signum)
        finally:
            out, err = finish(proc)
        assert proc.returncode == code, err
        assert "Traceback" not in err and "internal error" not in err
        assert err.strip().splitlines()[-1].endswith(
            "during the final test: " f"{run}/checkpoint.npz holds the trained weights "
            "(epoch 1); --resume runs the test again"), err
        assert leftovers(run) == [] and not (run / "curves.png").exists()
    proc = cnncompile("train", spec, "--data", data, "--out", run, "--resume")
    out, err = finish(proc)
    assert proc.returncode == 0, err
    assert json.loads((run / "test.json").read_text())["samples"] == 45


def test_the_terminal_cursor_comes_back_after_sigterm(toy, tmp_path):
    spec, data = toy
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnncompile", "train", str(spec), "--data", str(data), "--out",
         str(tmp_path / "run"), "--epochs", "500", "--batch-size", "2"],
        stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
        env=dict(ENV, TERM="xterm", COLUMNS="100"))
    os.close(slave)
    seen = b""
    try:
        while b"\x1b[?25l" not in seen:  # rich hid the cursor: the progress bar is up
            ready, _, _ = select.select([master], [], [], 60)
            assert ready, seen[-500:]
            seen += os.read(master, 65536)
        proc.send_signal(signal.SIGTERM)
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
        if proc.wait(60) is None:
            proc.kill()
    assert proc.returncode == 143
    assert seen.rfind(b"\x1b[?25h") > seen.rfind(b"\x1b[?25l"), seen[-300:]


# -- writing files ---------------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_writing_the_onnx_file_leaves_no_temporary(toy, tmp_path, signum, leftovers):
    spec, _ = toy
    out = tmp_path / "out" / "m.onnx"
    out.parent.mkdir()
    out.write_bytes(b"the old model")
    proc = cnncompile("export", spec, "-o", out, block_at="m.onnx")
    try:
        wait_ready(proc)
        assert leftovers(out.parent)  # the finished temporary file waits for its rename
        proc.send_signal(signum)
    finally:
        _, err = finish(proc)
    assert proc.returncode == 128 + signum, err
    assert err == f"error: terminated ({signal.Signals(signum).name})\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.onnx"]
    assert out.read_bytes() == b"the old model"


def test_sigterm_while_writing_a_checkpoint_leaves_no_temporary(toy, tmp_path, leftovers):
    spec, data = toy
    run = tmp_path / "run"
    proc = cnncompile("train", spec, "--data", data, "--out", run, "--epochs", 3,
                      block_at="checkpoint.npz")
    try:
        wait_ready(proc)  # epoch 1's checkpoint is written, not yet renamed
        proc.send_signal(signal.SIGTERM)
        proc.stdin.write("x")  # let the rename go on: the deferred signal stops at the step
        proc.stdin.flush()
    finally:
        _, err = finish(proc)
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM) after epoch 1" in err and "Traceback" not in err
    assert leftovers(run) == [] and read_checkpoint(run).meta["epoch"] == 1


# -- closed standard output ------------------------------------------------------------------
def closed_pipe_run(*args) -> tuple[int, str]:
    """Run the CLI with a standard output whose reader has already gone (``| head -0``)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "cnncompile", *map(str, args)],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, env=ENV,
                              timeout=120)
    finally:
        os.close(write_end)
    return proc.returncode, proc.stderr


def test_a_closed_standard_output_ends_quietly(toy, tmp_path):
    spec, _ = toy
    code, err = closed_pipe_run("analyze", spec)
    assert code == 141 and err == "", err
    model = tmp_path / "m.onnx"
    assert subprocess.run([sys.executable, "-m", "cnncompile", "export", str(spec), "-o",
                           str(model)], capture_output=True, env=ENV).returncode == 0
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(images / f"{i}.png")
    code, err = closed_pipe_run("predict", model, images)
    assert code == 141, err
    assert "Exception ignored" not in err and "internal error" not in err, err
    assert "Traceback" not in err and "Broken pipe" not in err, err

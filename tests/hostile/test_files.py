"""File-system faults met by the commands: read-only folders, full disks, wrong kinds of path.

Full and read-only disks are real: tiny tmpfs mounts (the ``tmpfs`` fixture; root only, the
tests that need one skip where mounting is not permitted). The writer's own contract is tested
in tests/artifacts/test_files.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path


def fill(folder: Path) -> None:
    """Write into ``folder`` until the device is full."""
    with open(folder / "filler", "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(bytes(4096))


# -- the CLI: found before any training ------------------------------------------------------
def test_train_refuses_a_read_only_out_before_an_epoch(toy, tmpfs, cli, one_line_error):
    spec, data = toy
    disk = tmpfs(1 << 20, ro=True)
    r = cli("train", spec, "--data", data, "--out", disk / "run", "--epochs", 50)
    one_line_error(r, disk / "run", "read-only file system")
    # "before an epoch" is seen in the output, not timed: the toy's 50 epochs take about a second
    assert not any(line.startswith("epoch") for line in r.stdout.splitlines()), r.stdout


def test_train_refuses_an_out_that_is_a_file_or_in_proc(toy, tmp_path, cli, one_line_error):
    spec, data = toy
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    one_line_error(cli("train", spec, "--data", data, "--out", a_file, "--epochs", 1),
                   a_file, "not a folder")
    one_line_error(cli("train", spec, "--data", data, "--out", "/proc/cnncompile-run",
                       "--epochs", 1), "/proc/cnncompile-run", "pseudo-file system")


def test_train_refuses_a_disk_too_small_for_its_checkpoints(toy, tmpfs, cli, one_line_error,
                                                            leftovers):
    spec, data = toy
    disk = tmpfs(256 * 1024)
    one_line_error(cli("train", spec, "--data", data, "--out", disk / "run", "--epochs", 50),
                   disk / "run", "MB free but the run folder needs")
    assert leftovers(disk) == []


def test_export_to_a_full_disk_writes_nothing(toy, tmpfs, cli, one_line_error):
    spec, _ = toy
    disk = tmpfs(64 * 1024)
    fill(disk)
    out = disk / "m.onnx"
    one_line_error(cli("export", spec, "-o", out), out, "no space left on the device")
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_a_disk_that_fills_up_mid_run_ends_in_exit_2_with_metrics_not_ahead(toy, tmpfs, leftovers):
    spec, data = toy
    disk = tmpfs(3 << 20)
    run = disk / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnncompile", "train", str(spec), "--data", str(data),
         "--out", str(run), "--epochs", "500", "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert json.loads(proc.stdout.readline())["event"] == "start"
        assert json.loads(proc.stdout.readline())["event"] == "epoch"  # epoch 1 is saved
        fill(disk)  # a later checkpoint cannot be written
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {run}/checkpoint.npz: cannot write (no space left"), err
    assert leftovers(disk) == []
    epochs = 1 + len(out.splitlines())
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    assert len(rows) == epochs  # never a row whose checkpoint was not written

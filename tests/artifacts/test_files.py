"""The one atomic writer and the file checks: whole files and folders or none, located errors.

Full and read-only disks are real: tiny tmpfs mounts made by the test (root only; the tests
that need one skip, saying why, where mounting is not permitted).
"""

from __future__ import annotations

import os
import signal

import pytest

from cnncompile.artifacts.files import (
    Terminated,
    atomic_dir,
    atomic_write,
    check_file_size,
    check_writable_dir,
    signals_as_exceptions,
    write_bytes,
    write_text,
)
from cnncompile.errors import DataError


def test_the_writer_replaces_whole_files_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "out" / "a.txt"
    write_text(target, "old")
    write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it


def test_an_exception_inside_keeps_the_old_file_and_removes_the_temporary(tmp_path, leftovers):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target) as f:
        f.write(b"half of the new")
        assert leftovers(tmp_path)  # the temporary exists while writing
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_a_folder_replaces_the_old_one_whole_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "repo" / "model"
    for version in ("old", "new"):
        with atomic_dir(target) as tmp:
            write_text(tmp / "1" / f"{version}.txt", version)
            assert not (target / "1" / f"{version}.txt").exists()  # not visible until the end
    assert [p.name for p in (target / "1").iterdir()] == ["new.txt"]
    assert [p.name for p in target.parent.iterdir()] == ["model"]


def test_a_signal_while_building_a_folder_keeps_the_old_one(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        write_text(tmp / "config.txt", "old")
    with pytest.raises(Terminated), signals_as_exceptions(), atomic_dir(target) as tmp:
        write_text(tmp / "config.txt", "half")
        os.kill(os.getpid(), signal.SIGTERM)
    assert (target / "config.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_a_folder_cannot_replace_a_file(tmp_path):
    (tmp_path / "model").write_text("x")
    with pytest.raises(DataError, match=r"model: exists and is not a folder"):
        with atomic_dir(tmp_path / "model"):
            pass


def test_size_checks_sit_on_the_regular_file_check(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "big").write_bytes(bytes(3 * 2**20))
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "pipe")
    cases = {"empty": "empty: empty file, not an image file",
             "big": "big: 3 MiB is more than an image file may be (2 MiB)",
             "dir": "dir: is a folder, not an image file",
             "pipe": "pipe: is a FIFO (named pipe), not an image file",
             "missing": "missing: no such image file"}
    for name, message in cases.items():
        with pytest.raises(DataError) as e:
            check_file_size(tmp_path / name, "image file", 2 * 2**20)
        assert str(e.value) == f"{tmp_path}/{message}"
    assert check_file_size(tmp_path / "big", "weights file", 4 * 2**20) == 3 * 2**20


def test_wrong_kinds_of_path_are_one_line_errors(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match=rf"^{tmp_path}/folder: is a folder; give a file name$"):
        write_text(tmp_path / "folder", "x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match=rf"^{tmp_path}/file/sub: .*a part of the path is a file"):
        write_text(tmp_path / "file" / "sub" / "a.txt", "x")
    with pytest.raises(DataError, match="^/proc/cnncompile-test/a.txt: in a system pseudo-file"):
        write_text("/proc/cnncompile-test/a.txt", "x")
    with pytest.raises(DataError, match="^/dev/null: in a system pseudo-file system"):
        write_text("/dev/null", "x")  # never replaced by a regular file, even as root


def test_a_full_disk_is_a_located_error_and_leaves_no_temporary(tmpfs):
    disk = tmpfs(64 * 1024)
    write_text(disk / "keep.txt", "kept")
    with pytest.raises(DataError, match=rf"^{disk}/big.bin: cannot write \(no space left on "
                                        r"the device\)$"):
        write_bytes(disk / "big.bin", bytes(200_000))
    assert sorted(p.name for p in disk.iterdir()) == ["keep.txt"]
    with pytest.raises(DataError, match="MB free but the output folder needs about"):
        check_writable_dir(disk, need_bytes=10**7)


def test_a_read_only_folder_is_a_located_error(tmpfs):
    disk = tmpfs(64 * 1024, ro=True)
    with pytest.raises(DataError, match=rf"^{disk}/a.txt: cannot write \(read-only file system\)$"):
        write_text(disk / "a.txt", "x")

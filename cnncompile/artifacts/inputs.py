"""The files a command reads are never the files it writes.

Every reader notes the file it opens (:func:`note_input`: the spec and script reader, the
weights reader, images, ONNX models, data files); every writer asks :func:`check_not_input`
before it replaces a path, and a folder writer asks :func:`check_no_input_inside` before it
replaces a folder. So ``export -w run/checkpoint.npz -o run/checkpoint.npz``, ``report SPEC -o
SPEC`` or ``quantize M --data d.npz -o d.npz`` are refused before anything is written, whatever
the spelling of the two paths (links, ``..``, hard links: files are compared by device and inode).

The record lives for one command: the CLI opens a :func:`command_inputs` scope around each
command and the Python API around each call, so a notebook that reads ``m.onnx`` in one call may
write it in a later one. Outside a scope nothing is recorded. The atomic writer leaves out a run
folder this process holds locked (``train``, ``--resume``): its checkpoint is the command's own.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .text import printable


@dataclass(frozen=True)
class _Input:
    shown: str
    what: str
    real: str  # the resolved path, for "is it inside this folder"


_scopes: list[dict[tuple[int, int], _Input]] = []


@contextlib.contextmanager
def command_inputs() -> Iterator[None]:
    """Record the files read until the block ends (nested scopes share the outer record)."""
    _scopes.append(_scopes[-1] if _scopes else {})
    try:
        yield
    finally:
        _scopes.pop()


def one_command(fn: Callable) -> Callable:
    """Decorator for a workflow: one call is one command, whose inputs its outputs never replace
    (the CLI's scope around it is shared, so the record is the command's)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with command_inputs():
            return fn(*args, **kwargs)

    return run


def note_input(path: Path | str, what: str, st: os.stat_result | None = None) -> None:
    """Record ``path`` (already checked to be a regular file) as an input of the command."""
    if not _scopes:
        return
    try:
        st = st or os.stat(path)
        real = os.path.realpath(path)
    except OSError:
        return
    _scopes[-1][(st.st_dev, st.st_ino)] = _Input(printable(path), what, real)


def _refusal(target: Path | str, found: _Input) -> DataError:
    return DataError(f"{printable(target)}: is this command's {found.what} ({found.shown}); "
                     "write the output to another path")


def check_not_input(path: Path | str) -> None:
    """Refuse to replace ``path`` when it is (or links to) a file this command read.

    Raises:
        DataError: naming the output and the input it would destroy.
    """
    if not _scopes or not _scopes[-1]:
        return
    try:
        st = os.stat(path)
    except OSError:
        return  # nothing there yet, or unreadable: the writer reports that
    found = _scopes[-1].get((st.st_dev, st.st_ino))
    if found is not None:
        raise _refusal(path, found)


def check_no_input_inside(folder: Path | str) -> None:
    """Refuse to replace ``folder`` whole when a file this command read lies inside it."""
    if not _scopes or not _scopes[-1]:
        return
    real = os.path.realpath(folder)
    for found in _scopes[-1].values():
        if found.real == real or found.real.startswith(real.rstrip(os.sep) + os.sep):
            raise _refusal(folder, found)

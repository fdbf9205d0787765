"""Files: one atomic writer, one run-folder lock, and the checks every read and write shares.

Writing. :func:`atomic_write` writes to a uniquely named temporary file beside the target
(``.NAME.tmpPID.XXXX``), flushes and fsyncs it, renames it over the target and fsyncs the
folder, so a crash leaves the old file or the new one, never half of one. The temporary file is
removed on every exception and on every catchable signal: live temporary files are registered,
:func:`signals_as_exceptions` turns SIGTERM and SIGHUP into :class:`Terminated` (unwinding runs
the cleanup like Ctrl-C does) and :func:`remove_live_temp_files` is the last resort on exit.

Failures of the file system (read-only folder, full disk, a path that is a folder or whose
parent is a file, ``/proc``) become one-line :class:`~cnncompile.errors.DataError` naming the
path.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import io
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from ..errors import DataError
from ..filekinds import special_kind
from .inputs import check_no_input_inside, check_not_input, note_input
from .text import printable

# Pseudo file systems where nothing a user means to keep can be written (/dev/shm is a tmpfs).
_PSEUDO_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
_REAL_UNDER_PSEUDO = (Path("/dev/shm"),)
_live: set[str] = set()


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import, before any thread could race on it
_live_lock = threading.Lock()
LOCK_NAME = ".lock"


class Terminated(BaseException):  # noqa: N818 -- a signal, like KeyboardInterrupt
    """SIGTERM or SIGHUP arrived; unwinds like KeyboardInterrupt. ``exit_code`` is 128 + signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


def _why(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "no space left on the device"
    if e.errno == errno.EDQUOT:
        return "disk quota exceeded"
    if e.errno in (errno.EROFS,):
        return "read-only file system"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return e.strerror or str(e) or type(e).__name__


def write_error(path: Path | str, e: OSError) -> DataError:
    """The one-line DataError for a failed write of ``path``."""
    return DataError(f"{path}: cannot write ({_why(e)})")


def _is_pseudo(path: Path) -> bool:
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        resolved = path.absolute()
    def under(roots):
        return any(resolved == r or r in resolved.parents for r in roots)

    return under(_PSEUDO_ROOTS) and not under(_REAL_UNDER_PSEUDO)


def prepare_dir(folder: Path | str, what: str = "folder") -> Path:
    """Create ``folder`` (and parents) for writing, or DataError naming the path."""
    folder = Path(folder)
    if _is_pseudo(folder):
        raise DataError(f"{folder}: a system pseudo-file system, not a {what} to write into")
    try:
        if folder.exists() and not folder.is_dir():
            raise DataError(f"{folder}: exists and is not a folder (the {what} must be a "
                            "folder)")
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a parent is a file
        raise DataError(f"{folder}: cannot create the {what}: a part of the path is a "
                        "file") from None
    except NotADirectoryError:
        raise DataError(f"{folder}: cannot create the {what}: a part of the path is a "
                        "file") from None
    except OSError as e:
        raise DataError(f"{folder}: cannot create the {what} ({_why(e)})") from None
    return folder


def check_writable_dir(folder: Path | str, what: str = "output folder",
                       need_bytes: int = 0) -> Path:
    """Create ``folder`` and prove it writable with a probe file; check ``need_bytes`` are free.

    Raises:
        DataError: naming the folder: a file, ``/proc``, read-only, or too little space.
    """
    folder = prepare_dir(folder, what)
    probe = folder / f".probe{os.getpid()}"
    try:
        # O_EXCL: a probe name that exists (a link planted there) is never opened
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, b"cnncompile write probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise DataError(f"{folder}: cannot write into the {what} ({_why(e)})") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    if need_bytes:
        try:
            st = os.statvfs(folder)
        except OSError:
            return folder
        free = st.f_bavail * st.f_frsize
        if free < need_bytes:
            raise DataError(f"{folder}: {free / 1e6:.1f} MB free but the {what} needs about "
                            f"{need_bytes / 1e6:.1f} MB (checkpoint and temporary copy)")
    return folder


def _register(name: str) -> None:
    with _live_lock:
        _live.add(name)


def _forget(name: str) -> None:
    with _live_lock:
        _live.discard(name)


def remove_live_temp_files() -> None:
    """Remove every temporary file a writer in this process has open (exit and signal path)."""
    with _live_lock:
        names = list(_live)
        _live.clear()
    for name in names:
        _remove(name)


def _remove(name: str) -> None:
    """Remove a temporary file or folder (a folder with all it holds); absent is fine."""
    if os.path.isdir(name) and not os.path.islink(name):
        shutil.rmtree(name, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(name)


atexit.register(remove_live_temp_files)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename is done
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: Path | str, mode: str = "wb", encoding: str = "utf-8") -> Iterator:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path`` atomically.

    ``mode`` is ``"wb"`` or ``"w"`` (text, ``encoding``). On any exception or signal the
    temporary file is removed and ``path`` is left as it was.

    Raises:
        DataError: the folder cannot be made or written, the disk is full, ``path`` is a folder.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write mode must be 'wb' or 'w', not {mode!r}")
    path = Path(path)
    if _is_pseudo(path):
        raise DataError(f"{path}: in a system pseudo-file system (/proc, /sys, /dev), not a "
                        "file to write")
    try:
        is_dir = path.is_dir()  # a name over 255 bytes is refused by the lookup itself
    except OSError as e:
        raise write_error(path, e) from None
    if is_dir:
        raise DataError(f"{path}: is a folder; give a file name")
    if not _holds_run_folder(path.parent):  # a held run folder's files are the run's own
        check_not_input(path)
    prepare_dir(path.parent if str(path.parent) else Path("."), "folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp{os.getpid()}.", dir=path.parent)
    except OSError as e:
        raise write_error(path, e) from None
    _register(tmp)
    try:
        with os.fdopen(fd, mode, **({"encoding": encoding} if mode == "w" else {})) as f:
            with contextlib.suppress(OSError):  # mkstemp's 0600 would hide it from others
                os.fchmod(fd, 0o666 & ~_UMASK)
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _forget(tmp)
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        if tmp in _live:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            _forget(tmp)
    _fsync_dir(path.parent)


@contextlib.contextmanager
def temp_dir(beside: Path | str) -> Iterator[Path]:
    """A fresh folder ``.NAME.tmpPID.XXXX`` beside ``beside``, removed on every way out.

    Like the writer's temporary files it is registered, so a signal or the exit path removes
    it too (with everything in it).

    Raises:
        DataError: the parent folder cannot be made or written.
    """
    beside = Path(beside)
    parent = prepare_dir(beside.parent if str(beside.parent) else Path("."), "folder")
    try:
        tmp = tempfile.mkdtemp(prefix=f".{beside.name}.tmp{os.getpid()}.", dir=parent)
    except OSError as e:
        raise write_error(beside, e) from None
    _register(tmp)
    try:
        yield Path(tmp)
    finally:
        _remove(tmp)
        _forget(tmp)


@contextlib.contextmanager
def atomic_dir(path: Path | str) -> Iterator[Path]:
    """A temporary folder to fill beside ``path``; on a clean exit it takes ``path``'s place.

    An existing folder at ``path`` is replaced whole (renamed aside, then removed), so readers
    see the old folder or the new one, never a mixture; on any exception or signal the
    temporary folder is removed and ``path`` is left as it was.

    Raises:
        DataError: ``path`` is a file or in a pseudo-file system, or the rename fails.
    """
    path = Path(path)
    if _is_pseudo(path):
        raise DataError(f"{path}: in a system pseudo-file system (/proc, /sys, /dev), not a "
                        "folder to write")
    if path.exists() and not path.is_dir():
        raise DataError(f"{path}: exists and is not a folder")
    check_no_input_inside(path)
    with temp_dir(path) as tmp:
        yield tmp
        with contextlib.suppress(OSError):  # mkdtemp's 0700 would hide it from others
            os.chmod(tmp, 0o777 & ~_UMASK)
        old = f"{tmp}.old"
        try:
            if path.exists():
                os.rename(path, old)
            try:
                os.rename(tmp, path)
            finally:
                if os.path.exists(old) and not path.exists():
                    os.rename(old, path)  # interrupted between the renames: put it back
        except OSError as e:
            raise write_error(path, e) from None
        _register(old)
        _remove(old)
        _forget(old)
    _fsync_dir(path.parent)


def default_output(path: Path | str, option: str = "--out") -> Path:
    """``path``, an output the user did not name, once it is known to replace nothing.

    A default never replaces a file (a shipped model, an earlier export): an output that
    exists is written only where the user names it.

    Raises:
        DataError: ``path`` exists, naming the option that chooses the output.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise DataError(f"{printable(path)}: exists, and a default output never replaces a "
                        f"file; give {option} PATH to choose where to write (the same path "
                        "replaces it)")
    return path


def write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(path)


def write_npz(path: Path | str, arrays: dict, compressed: bool = False) -> Path:
    """``numpy.savez`` of ``arrays`` to ``path`` atomically; returns the path."""
    import numpy as np

    save = np.savez_compressed if compressed else np.savez
    with atomic_write(path, "wb") as f:
        save(f, **arrays)
    return Path(path)


def save_figure(fig, path: Path | str, **kwargs) -> Path:
    """A matplotlib figure saved as PNG atomically (``fig.savefig`` to the temporary file)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **kwargs)
    return write_bytes(path, buf.getvalue())


# -- reading ---------------------------------------------------------------------------------
def _article(what: str) -> str:
    return "an" if what[:1].lower() in "aeiou" else "a"


def require_regular_file(path: Path | str, what: str = "file") -> os.stat_result:
    """``os.stat`` of ``path`` when it is a regular file; else DataError, without opening it.

    A FIFO or a device is refused here, so nothing ever blocks or reads without end. The path
    is shown with control characters escaped.
    """
    shown = printable(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{shown}: no such {what}") from None
    except NotADirectoryError:
        raise DataError(f"{shown}: no such {what} (a part of the path is a file)") from None
    except OSError as e:
        raise DataError(f"{shown}: cannot read the {what} ({_why(e)})") from None
    kind = special_kind(st.st_mode)
    if kind is not None:
        raise DataError(f"{shown}: is {kind}, not {_article(what)} {what}")
    if _is_pseudo(Path(path)):
        raise DataError(f"{shown}: a system pseudo-file, not {_article(what)} {what}")
    note_input(path, what, st)
    return st


def check_file_size(path: Path | str, what: str, max_bytes: int) -> int:
    """The size of ``path`` once :func:`require_regular_file` passes and it is 1..``max_bytes``.

    Raises:
        DataError: missing, a folder, a FIFO, device or socket, empty, or too large.
    """
    size = require_regular_file(path, what).st_size
    shown = printable(path)
    if size == 0:
        raise DataError(f"{shown}: empty file, not {_article(what)} {what}")
    if size > max_bytes:
        raise DataError(f"{shown}: {size / 2**20:.0f} MiB is more than {_article(what)} {what} "
                        f"may be ({max_bytes / 2**20:.0f} MiB)")
    return size


# -- signals ---------------------------------------------------------------------------------
CAUGHT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _raise_terminated(signum, frame) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP raise :class:`Terminated` (so ``finally`` blocks run).

    Only in the main thread; elsewhere a no-op. The previous handlers come back on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_terminated) for s in CAUGHT_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# -- run-folder lock -------------------------------------------------------------------------
class FolderInUse(DataError):
    """Another process holds the run folder's lock."""


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``FOLDER/.lock``, which records the holder's pid."""

    def __init__(self, folder: Path | str, what: str = "run folder"):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        prepare_dir(self.folder, self.what)
        try:
            # O_NOFOLLOW: a `.lock` that is a link would have us truncate the file it names
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise DataError(f"{printable(self.path)}: is a symbolic link; cnncompile never "
                                "writes through links in a run folder (remove it)") from None
            raise DataError(f"{self.folder}: cannot lock the {self.what} ({_why(e)})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise FolderInUse(f"{self.folder}: another cnncompile run (pid {holder}) is using "
                              f"this {self.what}; wait for it to end or give another --out") \
                from None
        except OSError as e:
            os.close(fd)
            raise DataError(f"{self.folder}: cannot lock the {self.what} ({_why(e)})") from None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        _held_locks.add(self)
        return self

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        _held_locks.discard(self)
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


_held_locks: set[RunLock] = set()


def _holds_run_folder(folder: Path) -> bool:
    """Is ``folder`` a run folder this process holds locked (so its files are ours to replace)?"""
    for lock in _held_locks:
        with contextlib.suppress(OSError):
            if os.path.samefile(lock.folder, folder):
                return True
    return False



def release_run_locks() -> None:
    """Release every run-folder lock this process holds (the CLI's exit path)."""
    for lock in list(_held_locks):
        lock.release()


def lock_run_dir(folder: Path | str) -> RunLock:
    """Hold ``folder`` exclusively until ``release()``; a second holder is refused at once."""
    return RunLock(folder).acquire()

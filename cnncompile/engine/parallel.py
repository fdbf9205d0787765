"""Using both cores: the engine's own work sharing, with BLAS kept single-threaded inside it.

NumPy releases the GIL inside ufunc loops, copies and BLAS calls, so Python threads can run
whole-tensor operations side by side. The engine splits each big operation into a few
independent parts (batch chunks of a convolution, channel blocks of an elementwise op) and
:func:`run_parts` hands them out dynamically: the calling thread works too and takes whatever
part no helper has started. Under load from other processes, a helper that is not scheduled
just takes fewer parts, instead of stalling the step the way fork-join thread teams (OpenBLAS's
or OpenMP's) do when one of their threads loses its core. BLAS itself is set to one thread
while the engine runs (:func:`single_threaded_blas`), so the two levels never oversubscribe.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator

MIN_PART_ELEMENTS = 1 << 17  # elementwise parts: below this, splitting costs more than it saves


def default_threads() -> int:
    """CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class _Job:
    """One batch of parts; any thread may take the next unstarted part."""

    def __init__(self, fn: Callable[[int], object], n: int):
        self.fn, self.n = fn, n
        self.results: list[object] = [None] * n
        self.next = 0
        self.done = 0
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.finished = threading.Event()

    def work(self) -> None:
        while True:
            with self.lock:
                i = self.next
                self.next += 1
            if i >= self.n:
                return
            try:
                self.results[i] = self.fn(i)
            except BaseException as e:  # re-raised in the calling thread
                self.error = e
            with self.lock:
                self.done += 1
                if self.done == self.n:
                    self.finished.set()


class WorkPool:
    """``threads - 1`` daemon helpers plus the calling thread."""

    def __init__(self, threads: int):
        self.threads = max(1, threads)
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        for _ in range(self.threads - 1):
            threading.Thread(target=self._helper, daemon=True).start()

    def _helper(self) -> None:
        while True:
            self._queue.get().work()

    def run(self, fn: Callable[[int], object], n: int) -> list[object]:
        """``[fn(0), ..., fn(n-1)]``, computed by all threads; exceptions propagate."""
        if self.threads == 1 or n <= 1:
            return [fn(i) for i in range(n)]
        job = _Job(fn, n)
        for _ in range(min(self.threads - 1, n - 1)):
            self._queue.put(job)
        job.work()
        job.finished.wait()
        if job.error is not None:
            raise job.error
        return job.results


_POOLS: dict[int, WorkPool] = {}


def pool(threads: int) -> WorkPool:
    """The shared pool with ``threads`` threads (helpers are started once per size)."""
    if threads not in _POOLS:
        _POOLS[threads] = WorkPool(threads)
    return _POOLS[threads]


def split(n: int, parts: int) -> list[slice]:
    """``parts`` near-equal consecutive ranges covering 0..n (fewer if n is small)."""
    parts = max(1, min(parts, n))
    edges = [n * i // parts for i in range(parts + 1)]
    return [slice(edges[i], edges[i + 1]) for i in range(parts)]


def elementwise(p: WorkPool, fn: Callable[[slice], None], rows: int, size: int) -> None:
    """Run ``fn(rows_slice)`` over blocks of the leading axis (``size`` elements in all)."""
    parts = min(p.threads * 2, max(1, size // MIN_PART_ELEMENTS))
    blocks = split(rows, parts)
    p.run(lambda i: fn(blocks[i]), len(blocks))


# -- BLAS threads -------------------------------------------------------------------------------


def _openblas_setter():
    """NumPy's OpenBLAS ``set_num_threads``/``get_num_threads``, found in this process's maps."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", f.read())))
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
                    return setter, getter
    return None


_BLAS = _openblas_setter()  # numpy (and its OpenBLAS) is loaded by now
_BLAS_LOCK = threading.Lock()
_blas_depth = 0
_blas_saved = 0


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS runs on one thread inside the block (restored after); a no-op without OpenBLAS."""
    global _blas_depth, _blas_saved
    if _BLAS is None:
        yield
        return
    setter, getter = _BLAS
    with _BLAS_LOCK:
        if _blas_depth == 0:
            _blas_saved = getter()
            if _blas_saved != 1:
                setter(1)
        _blas_depth += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _blas_depth -= 1
            if _blas_depth == 0 and _blas_saved != 1:
                setter(_blas_saved)

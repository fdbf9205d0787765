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
import queue
import threading
from collections.abc import Callable, Iterator

from threadpoolctl import ThreadpoolController

from ...machine import usable_cpus

MIN_PART_ELEMENTS = 1 << 17  # elementwise parts: below this, splitting costs more than it saves


def default_threads() -> int:
    """CPUs this process may use."""
    return usable_cpus()


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


def whole_rounds(parts: int, threads: int) -> int:
    """``parts`` rounded up to a multiple of ``threads`` once there is more than one: 3 equal
    parts on 2 threads take as long as 4 (one thread runs two), so 4 finish sooner.

    >>> whole_rounds(3, 2), whole_rounds(1, 2), whole_rounds(4, 2)
    (4, 1, 4)
    """
    return parts if parts <= 1 else -(-parts // threads) * threads


def elementwise(p: WorkPool, fn: Callable[[slice], None], rows: int, size: int) -> None:
    """Run ``fn(rows_slice)`` over blocks of the leading axis (``size`` elements in all)."""
    parts = whole_rounds(min(p.threads * 2, max(1, size // MIN_PART_ELEMENTS)), p.threads)
    blocks = split(rows, parts)
    p.run(lambda i: fn(blocks[i]), len(blocks))


# -- BLAS threads -------------------------------------------------------------------------------


_BLAS_LOCK = threading.Lock()
_blas: ThreadpoolController | None = None  # the BLAS libraries loaded (found on first use)
_blas_depth = 0
_blas_limiter = None


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS runs on one thread inside the block (restored after); nestable, thread-safe.

    threadpoolctl finds the BLAS numpy loaded (OpenBLAS, MKL, BLIS, Accelerate) on any
    platform; without one the block changes nothing. Blocks in several threads share one
    limit: the first to enter sets it, the last to leave restores it.

    NB: threadpoolctl lets only one living Python thread change OpenBLAS's process-wide
    pool (the first that set it), so a block that starts or ends last in another thread
    leaves the setting alone. The engine runs its blocks in the calling thread.
    """
    global _blas, _blas_depth, _blas_limiter
    with _BLAS_LOCK:
        if _blas_depth == 0:
            if _blas is None:  # numpy, and its BLAS, are loaded by now
                _blas = ThreadpoolController().select(user_api="blas")
            _blas_limiter = _blas.limit(limits=1)
        _blas_depth += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _blas_depth -= 1
            if _blas_depth == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None

"""The processes of a multi-process run: start, rendezvous, supervision and the end.

``--workers N`` makes the process the user started rank 0: it serves the rendezvous store and
starts N-1 workers (``multiprocessing`` spawn). Under ``torchrun`` (RANK and WORLD_SIZE set) the
launcher has started them and this module only joins. The contract every process keeps:

- A worker ends with its parent: on Linux the kernel kills it when the parent dies
  (``PR_SET_PDEATHSIG``); elsewhere a thread watching the parent's pipe ends it.
- A worker starts with SIGINT, SIGTERM and SIGHUP blocked (pending, not lost) and unblocks them
  once its handlers are in place, so a signal at start-up never prints a traceback.
- A worker tells rank 0 how it ended as one line through its pipe (a user's mistake, a signal,
  ``internal error: ...`` for a bug), never as a traceback.
- Rank 0 waits at most ``RENDEZVOUS_TIMEOUT_S`` seconds for every worker to join and stops at
  once when one ends before joining. A collective waits at most ``COLLECTIVE_TIMEOUT_S`` seconds
  for a worker that lives but does not answer; one that has ended makes its peers' collectives
  fail at once (its sockets close), and :meth:`Workers.failure` names it.
- :meth:`Workers.close` leaves no worker behind (``EXIT_GRACE_S`` seconds, then SIGKILL).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection, wait

from ...errors import CnnCompileError, WorkerFailed

RENDEZVOUS_TIMEOUT_S = 60  # every started worker has joined by then, or the run stops
COLLECTIVE_TIMEOUT_S = 300  # the longest a live worker may keep the others waiting
EXIT_GRACE_S = 10  # how long close() and failure() wait for a worker to end by itself
_POLL_S = 0.2  # how often rank 0 looks at its workers while they join
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass
class Worker:
    """A worker this process started: its rank, process and the pipe it reports through."""

    rank: int
    process: multiprocessing.process.BaseProcess
    reports: Connection
    report: str | None = None  # the line it sent as it ended
    lost_peer: bool = False  # it ended because another process had (not a cause)

    def _read(self) -> None:
        try:
            while self.reports.poll():
                sent = self.reports.recv()
                self.lost_peer, self.report = sent is None, sent
        except (EOFError, OSError):
            pass

    def ended(self) -> str | None:
        """How the worker ended, in words; None while it runs."""
        code = self.process.exitcode
        if code is None:
            return None
        self._read()
        who = f"worker {self.rank} (pid {self.process.pid})"
        if self.report:
            return f"{who} failed: {self.report}"
        if code < 0:
            return f"{who} was killed by {signal.Signals(-code).name}"
        return f"{who} exited with code {code}"


@dataclass
class Workers:
    """This process's place in a run: rank, world size, and the workers it started."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    started: list[Worker] = field(default_factory=list)

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def failure(self, error: BaseException) -> str:
        """Why a collective failed, in one line: the worker that ended first, with how it ended.

        Rank 0 waits up to ``EXIT_GRACE_S`` for a worker to end (a crashing one reports first);
        another rank, or a worker that lives on, gets the collective's own first line.
        """
        if self.started:
            deadline = time.monotonic() + EXIT_GRACE_S
            while time.monotonic() < deadline and all(w.process.is_alive() for w in self.started):
                wait([w.process.sentinel for w in self.started], deadline - time.monotonic())
            for w in self.started:
                w.ended()
            causes = [w for w in self.started if w.ended() and not w.lost_peer]
            ended = causes or [w for w in self.started if w.ended()]
            if ended:
                return ended[0].ended() or ""
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"a process of the {self.world}-process run stopped answering ({first})"

    def close(self) -> None:
        """Leave the process group and end every started worker (SIGKILL after a grace)."""
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
        deadline = time.monotonic() + EXIT_GRACE_S
        while time.monotonic() < deadline and any(w.process.is_alive() for w in self.started):
            wait([w.process.sentinel for w in self.started if w.process.is_alive()],
                 deadline - time.monotonic())
        for w in self.started:
            if w.process.is_alive():
                w.process.kill()
            w.process.join()
            w.reports.close()
        self.started = []


def join_process_group(backend: str, workers: int, entry: Callable[[dict], None] | None,
                       job: dict | None) -> Workers:
    """This process's place in the run, joining (or creating) its process group.

    Already in a group (a started worker): its rank. Under torchrun: the launcher's. With
    ``workers`` > 1 and an ``entry``: start the workers, each calling ``entry(job)`` once it
    has joined. Otherwise one process.
    """
    import torch.distributed as dist

    env = os.environ
    if dist.is_initialized():
        rank = dist.get_rank()
        return Workers(rank, dist.get_world_size(), int(env.get("LOCAL_RANK", rank)))
    if "RANK" in env and int(env.get("WORLD_SIZE", "1")) > 1:  # torchrun (or Slurm + env)
        w = Workers(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, rank=w.rank, world_size=w.world,
                                timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S))
        return w
    if workers > 1 and entry is not None:
        return _start(backend, workers, entry, job or {})
    return Workers()


def _store(port: int, world: int, master: bool):
    import torch.distributed as dist

    return dist.TCPStore("127.0.0.1", port, world, master, wait_for_workers=False,
                         timeout=timedelta(seconds=RENDEZVOUS_TIMEOUT_S))


def _start(backend: str, world: int, entry: Callable[[dict], None], job: dict) -> Workers:
    """Serve the rendezvous, start ranks 1..world-1, wait for them all, then join as rank 0."""
    import torch.distributed as dist

    store = _store(0, world, master=True)  # port 0: the system picks a free one
    ctx = multiprocessing.get_context("spawn")
    w = Workers(0, world, 0)
    try:
        with _stop_signals_blocked():  # inherited: a worker unblocks them when it can handle them
            for rank in range(1, world):
                read, write = ctx.Pipe(duplex=False)
                p = ctx.Process(target=_worker_main, name=f"cnncompile-worker-{rank}",
                                args=(rank, world, store.port, os.getpid(), backend, write,
                                      entry, job))
                p.start()
                write.close()
                w.started.append(Worker(rank, p, read))
        _await_joined(w, store)
        dist.init_process_group(backend, store=store, rank=0, world_size=world,
                                timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    except BaseException:
        w.close()
        raise
    return w


def _await_joined(w: Workers, store) -> None:
    """Return once every started worker has joined; WorkerFailed when one ends first or the
    rendezvous takes longer than ``RENDEZVOUS_TIMEOUT_S``."""
    deadline = time.monotonic() + RENDEZVOUS_TIMEOUT_S
    while True:
        missing = [x for x in w.started if not store.check([f"joined/{x.rank}"])]
        if not missing:
            return
        ended = next((x.ended() for x in w.started if x.ended()), None)
        if ended:
            raise WorkerFailed(f"{ended} as the run started")
        if time.monotonic() > deadline:
            names = ", ".join(str(x.rank) for x in missing)
            raise WorkerFailed(f"worker {names} did not join the run within "
                               f"{RENDEZVOUS_TIMEOUT_S} s")
        wait([x.process.sentinel for x in w.started], _POLL_S)


@contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)  # pending signals arrive here


def _end_with_parent(parent: int) -> None:
    """Make this worker end when ``parent`` does, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    else:  # the parent's end closes the pipe behind this sentinel
        sentinel = multiprocessing.parent_process().sentinel
        threading.Thread(target=lambda: (wait([sentinel]), os._exit(1)), daemon=True).start()
    if os.getppid() != parent:  # it ended before the line above took effect
        os._exit(1)


def _worker_main(rank: int, world: int, port: int, parent: int, backend: str,
                 reports: Connection, entry: Callable[[dict], None], job: dict) -> None:
    """A started worker: join the run, train it silently, report how it ended, exit."""
    _end_with_parent(parent)
    from ...artifacts.files import Terminated, signals_as_exceptions

    code, line = 0, None
    os.environ["LOCAL_RANK"] = str(rank)  # its GPU: rank mod the GPU count
    with signals_as_exceptions():  # SIGINT: KeyboardInterrupt, as Python's default
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        try:
            import torch.distributed as dist

            store = _store(port, world, master=False)
            store.set(f"joined/{rank}", str(os.getpid()))
            dist.init_process_group(backend, store=store, rank=rank, world_size=world,
                                    timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S))
            entry(job)
        except WorkerFailed:
            code = 1  # another process ended first: rank 0 names it
        except BaseException as e:  # noqa: BLE001 -- every way out is one line to rank 0
            code, line = _ending(e, Terminated)
    try:
        reports.send(line)  # None: it ended cleanly, or because another process had
        reports.close()
    except OSError:
        pass
    os._exit(code)  # no interpreter shutdown: a broken process group must not hang it


def _ending(e: BaseException, terminated: type) -> tuple[int, str]:
    """(exit code, one line) for how a worker ended."""
    if isinstance(e, KeyboardInterrupt):
        return 128 + signal.SIGINT, "interrupted"
    if isinstance(e, terminated):
        return e.exit_code, f"terminated ({e})"
    exit_code = getattr(e, "exit_code", None)  # TrainingInterrupted: 128 + its signal
    if isinstance(exit_code, int):
        return exit_code, _first_line(str(e))
    if isinstance(e, CnnCompileError):
        return 2, _first_line(str(e))
    return 3, f"internal error: {type(e).__name__}: {_first_line(str(e))}"


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]

"""The one way cnncompile times a model: `bench`, `quantize`'s speed gate and the benchmarks.

- **Warm sessions, interleaved rounds.** Every compared variant has its own warm session (two
  warm-up calls each); a round calls each variant once, the order rotating from round to
  round. Load from other processes then lands on all variants alike, and a comparison made at
  one moment of a shared machine is not set against one made at another. One variant alone
  (`bench`) is the same loop with one call per round.
- **The median per call.** Percentiles come from the per-call times; the median ignores the
  calls that a scheduler hiccup stretched, where a mean would not.
- **CPU time with one intra-op thread, wall time otherwise.** With one onnxruntime thread on
  the CPU the whole call runs in this process's threads, so the process's CPU time counts the
  work done and not the time spent waiting for a core: on a busy machine it is the steadier
  figure. With several threads (or a GPU) the work is spread over threads that spin and
  wait, and only wall time is the latency a user sees.
- **Ctrl-C.** A call of 0.1 s or more runs through :func:`run_interruptibly` (a helper
  thread), which the process's CPU time still counts; shorter calls run directly so the
  helper never shows in a latency.

The loop itself (:func:`interleaved`) takes plain callables and injectable clocks, so the tests
drive it without a model or a sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .session import CPU, run_interruptibly

SLOW_CALL_SECONDS = 0.1  # calls at least this long run where Ctrl-C can stop them
WARMUP_CALLS = 2
MIN_ROUNDS = 5
MAX_ROUNDS = 100_000
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
CLOCK_SHOWN = {"cpu": "median CPU time per call, 1 onnxruntime thread",
               "wall": "median wall time per call"}


@dataclass(frozen=True)
class Timing:
    """Per-call times of one variant at one batch size, in seconds, by ``clock``."""

    batch: int
    seconds: tuple[float, ...]
    clock: str = "wall"

    def percentile_ms(self, q: float) -> float:
        """The ``q``-th percentile time per call in milliseconds."""
        return float(np.percentile(self.seconds, q)) * 1e3

    @property
    def median(self) -> float:
        """The median time per call in seconds."""
        return float(np.median(self.seconds))

    @property
    def throughput(self) -> float:
        """Samples per second at the median call."""
        return self.batch / self.median


def clock_for(provider: str, threads: int) -> str:
    """'cpu' (process CPU time) when the model runs on the CPU with one intra-op thread,
    'wall' otherwise (several threads spin and wait; a GPU works outside this process).
    ``threads`` as onnxruntime records it: 0 is its default, one per core."""
    return "cpu" if provider == CPU and threads == 1 else "wall"


def session_clock(session, provider: str) -> str:
    """:func:`clock_for` a session, from the intra-op threads it was opened with."""
    return clock_for(provider, session.get_session_options().intra_op_num_threads)


def speedup(baseline: Timing, variant: Timing) -> float:
    """How many times faster ``variant`` runs than ``baseline`` (median over median)."""
    return baseline.median / variant.median


def interleaved(calls: Mapping[str, Callable[[], object]], batch: int, *, seconds: float,
                clock: str = "wall", min_rounds: int = MIN_ROUNDS, warmup: int = WARMUP_CALLS,
                max_rounds: int = MAX_ROUNDS, timer: Callable[[], float] | None = None,
                elapsed: Callable[[], float] = time.perf_counter) -> dict[str, Timing]:
    """Time ``calls`` in rounds of one call each (order rotating), after ``warmup`` calls each,
    until ``min_rounds`` rounds and ``seconds`` of wall time are both reached.

    ``timer`` replaces the clock named by ``clock`` and ``elapsed`` the wall clock that ends
    the loop (the tests inject both).
    """
    names = list(calls)
    for name in names:
        for _ in range(warmup):
            calls[name]()
    read = timer or CLOCKS[clock]
    laps: dict[str, list[float]] = {name: [] for name in names}
    start = elapsed()
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds or elapsed() - start < seconds):
        shift = rounds % len(names)
        for name in names[shift:] + names[:shift]:
            t = read()
            calls[name]()
            laps[name].append(read() - t)
        rounds += 1
    return {name: Timing(batch, tuple(laps[name]), clock) for name in names}


def session_call(session, feed: dict) -> Callable[[], object]:
    """A call of ``session`` on ``feed`` for :func:`interleaved`: direct when one call takes
    under :data:`SLOW_CALL_SECONDS`, through :func:`run_interruptibly` otherwise."""
    started = time.perf_counter()
    run_interruptibly(session, None, feed)  # the first call, often the slowest
    if time.perf_counter() - started >= SLOW_CALL_SECONDS:
        return lambda: run_interruptibly(session, None, feed)
    return lambda: session.run(None, feed)


def sample_batch(shape: tuple[int, ...], batch: int, seed: int = 0) -> np.ndarray:
    """A fixed random float32 batch of per-sample ``shape`` (pixel-like values 0-1)."""
    return np.random.default_rng(seed).random((batch, *shape), dtype=np.float32)


def model_call(model, batch: int) -> Callable[[], object]:
    """A warm call of ``model`` (an OnnxModel) on a fixed batch of ``batch`` samples: through
    its I/O binding on a GPU (the batch stays on the device), :func:`session_call` otherwise."""
    x = model.prepare(sample_batch(model.input_shape, batch))
    runner = getattr(model, "runner", None)
    if runner is not None:
        return runner.timed_call(x)
    return session_call(model.session, {model.input_name: x})


def time_models(models: Mapping[str, object], batch: int, seconds: float) -> dict[str, Timing]:
    """Each of ``models`` (OnnxModels) timed interleaved at ``batch``."""
    return side_by_side({name: model_call(m, batch) for name, m in models.items()},
                        {session_clock(m.session, m.provider) for m in models.values()},
                        batch, seconds)


def time_sessions(sessions: Mapping[str, object], batch: int,
                  seconds: float) -> dict[str, Timing]:
    """Each of ``sessions`` (onnxruntime InferenceSessions with one float input, as the
    benchmarks open them) timed interleaved at ``batch`` on the same fixed random batch."""
    calls = {}
    for name, s in sessions.items():
        given = s.get_inputs()[0]
        feed = {given.name: sample_batch(tuple(given.shape[1:]), batch)}
        calls[name] = session_call(s, feed)
    clocks = {session_clock(s, s.get_providers()[0]) for s in sessions.values()}
    return side_by_side(calls, clocks, batch, seconds)


def side_by_side(calls: Mapping[str, Callable[[], object]], clocks: set[str], batch: int,
                 seconds: float, **loop) -> dict[str, Timing]:
    """:func:`interleaved` (``loop``: its other options) by CPU time when every variant may
    be timed so (``clocks``: each one's :func:`clock_for`), else by wall time."""
    clock = "cpu" if clocks == {"cpu"} else "wall"
    return interleaved(calls, batch, seconds=seconds, clock=clock, **loop)

"""Latency percentiles and throughput of an exported model, and the NumPy engine's beside it.

Each measurement warms up, then calls the model until both a minimum number of calls and a
minimum time are reached, on a fixed random batch. Throughput is samples per second over all
timed calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..analysis.memory import check_estimate, check_memory, input_estimate
from .session import run_interruptibly

# A call at least this long runs where Ctrl-C can stop it (run_interruptibly); shorter calls
# run directly, so that the helper thread's cost never shows in a latency
SLOW_CALL_SECONDS = 0.1


@dataclass(frozen=True)
class Timing:
    """Per-call latencies of one batch size, in seconds."""

    batch: int
    seconds: tuple[float, ...]

    def percentile_ms(self, q: float) -> float:
        """The ``q``-th percentile latency in milliseconds."""
        return float(np.percentile(self.seconds, q)) * 1e3

    @property
    def throughput(self) -> float:
        """Samples per second over every timed call."""
        return self.batch * len(self.seconds) / sum(self.seconds)


def time_calls(fn: Callable[[], object], batch: int, min_seconds: float = 1.0,
               min_calls: int = 5, warmup: int = 2, max_calls: int = 100_000) -> Timing:
    """Call ``fn`` ``warmup`` times, then until ``min_calls`` and ``min_seconds`` are both met."""
    for _ in range(warmup):
        fn()
    laps: list[float] = []
    start = time.perf_counter()
    while len(laps) < max_calls and (len(laps) < min_calls
                                     or time.perf_counter() - start < min_seconds):
        t = time.perf_counter()
        fn()
        laps.append(time.perf_counter() - t)
    return Timing(batch, tuple(laps))


def sample_batch(shape: tuple[int, ...], batch: int, seed: int = 0) -> np.ndarray:
    """A fixed random float32 batch of per-sample ``shape`` (pixel-like values 0-1)."""
    return np.random.default_rng(seed).random((batch, *shape), dtype=np.float32)


def bench_onnx(model, batch: int, min_seconds: float = 1.0) -> Timing:
    """Latencies of ``model`` (an OnnxModel) on a batch of ``batch`` samples."""
    check_estimate(input_estimate(model.input_shape, batch, copies=2), f"bench --batch {batch}")
    x = model.prepare(sample_batch(model.input_shape, batch))
    runner = getattr(model, "runner", None)
    if runner is not None:  # I/O binding: the batch stays on the device between calls
        return time_calls(runner.timed_call(x), batch, min_seconds)
    feed = {model.input_name: x}
    started = time.perf_counter()
    run_interruptibly(model.session, None, feed)  # the first call, often the slowest
    if time.perf_counter() - started >= SLOW_CALL_SECONDS:  # Ctrl-C must not wait for a call
        return time_calls(lambda: run_interruptibly(model.session, None, feed), batch,
                          min_seconds)
    return time_calls(lambda: model.session.run(None, feed), batch, min_seconds)


def engine_of(model):
    """The IR graph and fresh parameters of an exported model, from the spec in its metadata.

    The weights' values do not change the engine's speed, so the initialisation stands in.

    Raises:
        DataError: no spec in the metadata, or one whose input or heads are not the graph's
            (the engine would then time another model).
    """
    from ..artifacts.heads import output_width
    from ..artifacts.text import printable
    from ..backends.numpy import init_params
    from ..errors import DataError
    from ..frontend import parse_spec
    from ..ir import lower

    where = f"{printable(model.path.name)} (metadata `spec`)"
    text = model.metadata.get("spec")
    if not isinstance(text, str):
        raise DataError(f"{where}: missing; use --no-engine")
    graph = lower(parse_spec(text, where))
    if (tuple(graph.input_shape) != tuple(model.input_shape)
            or output_width(graph.heads) != output_width(model.output)):
        raise DataError(f"{where}: the spec takes {list(graph.input_shape)} and gives "
                        f"{output_width(graph.heads)} outputs, but the graph takes "
                        f"{list(model.input_shape)} and gives {output_width(model.output)}")
    return graph, init_params(graph, seed=0)


def bench_engine(graph, params, batch: int, min_seconds: float = 1.0) -> Timing:
    """Latencies of the NumPy engine's inference forward on a batch of ``batch`` samples."""
    from ..backends.numpy import Executor

    check_memory(graph, batch, purpose=f"the engine's bench --batch {batch}")
    ex = Executor(graph)
    x = sample_batch(graph.input_shape, batch)
    return time_calls(lambda: ex.forward(params, x, training=False), batch, min_seconds,
                      min_calls=2, warmup=1)

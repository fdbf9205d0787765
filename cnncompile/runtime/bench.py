"""Latency percentiles and throughput of an exported model, and the NumPy engine's beside it.

Both are timed by the one method of :mod:`cnncompile.runtime.timing` (warm, on a fixed random
batch, medians of per-call times); throughput is samples per second at the median call.
"""

from __future__ import annotations

from ..analysis.memory import check_estimate, check_memory, input_estimate
from .timing import Timing, interleaved, sample_batch, time_models


def bench_onnx(model, batch: int, min_seconds: float = 1.0) -> Timing:
    """Times per call of ``model`` (an OnnxModel) on a batch of ``batch`` samples."""
    return time_onnx({"model": model}, batch, min_seconds)["model"]


def time_onnx(models: dict, batch: int, min_seconds: float,
              purpose: str = "bench") -> dict[str, Timing]:
    """``models`` (OnnxModels) timed side by side at ``batch`` by the shared method
    (:func:`cnncompile.runtime.timing.time_models`), once the batch is known to fit."""
    for m in models.values():
        check_estimate(input_estimate(m.input_shape, batch, copies=2),
                       f"{purpose} --batch {batch}")
    return time_models(models, batch, min_seconds)


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
    """Latencies of the NumPy engine's inference forward on a batch of ``batch`` samples: the
    folded graph that `evaluate` runs (backends/numpy/inference.py)."""
    from ..backends.numpy import Executor, inference_model

    check_memory(graph, batch, purpose=f"the engine's bench --batch {batch}")
    graph, params = inference_model(graph, params)
    ex = Executor(graph)
    x = sample_batch(graph.input_shape, batch)
    return interleaved({"engine": lambda: ex.forward(params, x, training=False)}, batch,
                       seconds=min_seconds, min_rounds=2, warmup=1)["engine"]

"""`bench`'s engine column times the graph `evaluate` runs: batch norms folded away."""

from __future__ import annotations

from cnncompile.backends import numpy as engine
from cnncompile.backends.numpy import init_params
from cnncompile.frontend import parse_spec
from cnncompile.ir import lower
from cnncompile.runtime import bench

SPEC = """name: t
input: [8, 8, 1]
output: {classes: 3}
layers: [[conv, {ksize: 3, chn: 4, actions: LB}], [max, {stride: 2}]]
"""


def test_the_engine_bench_runs_the_folded_graph(monkeypatch):
    graph = lower(parse_spec(SPEC))
    timed = []

    class Recording(engine.Executor):
        def __init__(self, g, *args, **kwargs):
            timed.append([n.op for n in g])
            super().__init__(g, *args, **kwargs)

    monkeypatch.setattr(engine, "Executor", Recording)
    timing = bench.bench_engine(graph, init_params(graph, seed=0), batch=2, min_seconds=0.0)
    assert "batch_norm" in [n.op for n in graph]
    assert timed and "batch_norm" not in timed[0]
    assert timing.batch == 2 and len(timing.seconds) >= 2

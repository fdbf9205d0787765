"""runtime.timing: the one timing method of bench, quantize and the benchmarks.

The loop is driven by fake calls that advance a fake clock, so what is asserted (interleaving,
rotation, medians, the stop rule) holds exactly, without sleeps or a real model.
"""

from __future__ import annotations

import pytest

from cnncompile.runtime import timing
from cnncompile.runtime.session import CPU


class FakeClock:
    """A clock the fake calls advance; ``spikes`` adds a delay to given call numbers (a busy
    moment of the machine hits whichever call runs then)."""

    def __init__(self, spikes: dict[int, float] | None = None):
        self.now = 0.0
        self.calls = 0
        self.order: list[str] = []
        self.spikes = spikes or {}

    def __call__(self) -> float:
        return self.now

    def call(self, name: str, cost: float):
        def run():
            self.calls += 1
            self.order.append(name)
            self.now += cost + self.spikes.get(self.calls, 0.0)
        return run


def test_rounds_call_each_variant_once_in_rotating_order_after_the_warmup():
    clock = FakeClock()
    calls = {"a": clock.call("a", 1.0), "b": clock.call("b", 2.0), "c": clock.call("c", 3.0)}
    t = timing.interleaved(calls, 4, seconds=0, min_rounds=3, warmup=2, timer=clock,
                           elapsed=clock)
    assert clock.order[:6] == ["a", "a", "b", "b", "c", "c"]  # warm-up, not timed
    assert clock.order[6:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert {k: v.seconds for k, v in t.items()} == {"a": (1.0,) * 3, "b": (2.0,) * 3,
                                                     "c": (3.0,) * 3}
    assert t["b"].batch == 4 and t["b"].throughput == 2.0


def test_a_busy_moment_does_not_move_the_ratio():
    # one call in three is slowed by 50 units, whichever variant it lands on: the medians,
    # and so the speed-up, stay those of the undisturbed calls
    clock = FakeClock({n: 50.0 for n in range(3, 200, 3)})
    t = timing.interleaved({"float32": clock.call("f", 2.0), "int8": clock.call("q", 1.0)}, 1,
                           seconds=0, min_rounds=21, warmup=0, timer=clock, elapsed=clock)
    assert max(t["float32"].seconds) == 52.0 and max(t["int8"].seconds) == 51.0
    assert timing.speedup(t["float32"], t["int8"]) == 2.0


def test_the_loop_runs_until_both_the_rounds_and_the_time_are_reached():
    clock = FakeClock()
    t = timing.interleaved({"x": clock.call("x", 1.0)}, 1, seconds=10, min_rounds=2, warmup=0,
                           timer=clock, elapsed=clock)
    assert len(t["x"].seconds) == 10
    t = timing.interleaved({"x": clock.call("x", 1.0)}, 1, seconds=0.5, min_rounds=7,
                           warmup=0, timer=clock, elapsed=clock)
    assert len(t["x"].seconds) == 7


def test_cpu_time_only_with_one_thread_on_the_cpu():
    assert timing.clock_for(CPU, 1) == "cpu"
    assert timing.clock_for(CPU, 0) == "wall"  # onnxruntime's default: one thread per core
    assert timing.clock_for(CPU, 2) == "wall"
    assert timing.clock_for("CUDAExecutionProvider", 1) == "wall"
    assert timing.CLOCKS["cpu"] is __import__("time").process_time


def test_timing_percentiles_and_throughput_use_the_median():
    t = timing.Timing(8, (0.001, 0.002, 0.100), "cpu")
    assert t.median == 0.002 and t.throughput == pytest.approx(4000)
    assert t.percentile_ms(50) == pytest.approx(2.0)


def test_bench_quantize_and_the_benchmarks_time_through_one_function(monkeypatch, tmp_path):
    """The three paths the issue found disagreeing now reach the same loop, with the same
    clock for the same threads: `bench`, `quantize`'s speed gate, benchmarks/deploy_speed.py."""
    import sys
    from pathlib import Path

    from cnncompile.workflows.predict import bench_model
    from cnncompile.workflows.quantize import quantize_model

    root = Path(__file__).resolve().parents[2]
    model = root / "exported" / "fmnist_small.onnx"
    seen = []
    real = timing.interleaved

    def spy(calls, batch, **options):
        seen.append((list(calls), batch, options["clock"]))
        return real(calls, batch, **options)

    monkeypatch.setattr(timing, "interleaved", spy)
    bench_model(model, [2], seconds=0.01, engine=False, provider="cpu", threads=1)
    r = quantize_model(model, "fashion-mnist", tmp_path / "q.onnx", calibration=32,
                       eval_samples=50, seconds=0.01, threads=1, batch=3, min_speedup=0)
    monkeypatch.syspath_prepend(str(root / "benchmarks"))
    monkeypatch.delitem(sys.modules, "deploy_speed", raising=False)
    import deploy_speed

    deploy_speed.report("fmnist", {"float32": model, "int8": r.path}, None, [4], 0.01, 1)
    bench_model(model, [2], seconds=0.01, engine=False, provider="cpu")  # its default threads
    assert seen == [(["model"], 2, "cpu"), (["float32", "int8"], 3, "cpu"),
                    (["float32", "int8"], 4, "cpu"), (["model"], 2, "wall")]

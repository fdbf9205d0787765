"""`--provider cuda` on a machine without a GPU, and the I/O-binding path run on the CPU.

What needs a GPU (CUDA and TensorRT timings) is benchmarks/gpu_deploy.sh's job; here the
provider choice is checked with onnxruntime's provider list replaced, and the I/O-binding code
runs on the CPU device, where it must give exactly what ``session.run`` gives.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from cnncompile.artifacts.preprocess import for_export
from cnncompile.backends.numpy import init_params
from cnncompile.backends.onnx import ExportOptions, Weights, export_graph
from cnncompile.cli import app
from cnncompile.frontend import parse_spec
from cnncompile.ir import lower
from cnncompile.runtime import OnnxModel
from cnncompile.runtime.bench import bench_onnx
from cnncompile.runtime.iobinding import BoundRunner, device_of, runner_for
from cnncompile.runtime.session import CPU, CUDA, TENSORRT, requested_providers

SPEC = """\
name: pics
input: [12, 10, 3]
output: {labels: [cat, dog, owl, emu]}
layers: [[conv, {ksize: 3, chn: 6, stride: 2}], [max, {stride: 2}], 8]
"""

runner = CliRunner()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    spec = parse_spec(SPEC, "pics.yaml")
    graph = lower(spec)
    path = tmp_path_factory.mktemp("gpu") / "pics.onnx"
    export_graph(spec, graph, Weights(init_params(graph, seed=3, init="he"), "test"), path,
                 ExportOptions(),
                 preprocessing=for_export(graph.input_shape, scale=1 / 255))
    return path


@pytest.mark.parametrize(("available", "asked", "expected"), [
    ([TENSORRT, CUDA, CPU], "cuda", [TENSORRT, CUDA, CPU]),
    ([TENSORRT, CUDA, CPU], "auto", [CUDA, CPU]),
    ([CUDA, CPU], "cuda", [CUDA, CPU]),
    ([CUDA, CPU], "cpu", [CPU]),
    ([CPU], "auto", [CPU]),
])
def test_provider_choice(monkeypatch, available, asked, expected):
    monkeypatch.setattr(ort, "get_available_providers", lambda: available)
    providers, note = requested_providers(asked)
    assert providers == expected and note is None


def test_cuda_without_onnxruntime_gpu_says_so_and_runs_on_the_cpu(monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU])
    providers, note = requested_providers("cuda")
    assert providers == [CPU]
    assert note.startswith("CUDA requested, but this onnxruntime has no CUDAExecutionProvider")
    assert "pip install 'cnncompile[gpu]'" in note


def test_bound_runner_device_follows_the_provider():
    assert [device_of(p) for p in (TENSORRT, CUDA, CPU)] == ["cuda", "cuda", "cpu"]


def test_cpu_sessions_run_without_binding(model_path):
    m = OnnxModel(model_path, provider="cpu")
    assert m.runner is None and runner_for(m.session, CPU) is None


def test_io_binding_gives_what_session_run_gives(model_path):
    m = OnnxModel(model_path, provider="cpu")
    x = np.random.default_rng(0).integers(0, 256, (9, 12, 10, 3), dtype=np.uint8)
    plain = m.predict(x, batch_size=4)
    raw = m.run(x)
    m.runner = BoundRunner(m.session, "cpu")
    assert m.runner.device == "cpu" and m.runner.output_names == ["output"]
    bound = m.predict(x, batch_size=4)
    assert np.array_equal(bound["output"], plain["output"])
    assert np.array_equal(m.run(x)["output"], raw["output"])
    call = m.runner.timed_call(m.prepare(x))
    call()  # runs on the bound input without copying back
    timing = bench_onnx(m, 4, min_seconds=0.01)
    assert timing.batch == 4 and len(timing.seconds) >= 5


def test_cli_provider_cuda_falls_back_with_a_note(model_path, tmp_path, monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU])  # as on this machine
    r = runner.invoke(app, ["bench", str(model_path), "--provider", "cuda", "--batch", "2",
                            "--seconds", "0.02", "--no-engine"])
    assert r.exit_code == 0, r.output
    assert "note: CUDA requested, but this onnxruntime has no CUDAExecutionProvider" in r.output
    assert f"on {CPU}" in r.output
    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.integers(0, 256, (30, 12, 10, 3), dtype=np.uint8), y=np.arange(30) % 4)
    r = runner.invoke(app, ["evaluate", str(model_path), "--data", str(data), "--provider",
                            "cuda"])
    assert r.exit_code == 0, r.output
    assert "note: CUDA requested" in r.output and "pics on" in r.output

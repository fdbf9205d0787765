"""onnxruntime on cnncompile's export vs on torch.onnx.export of the same network, in one run.

For each model the same architecture is built in PyTorch by the torch backend
(``cnncompile.backends.torch``: F.conv2d with its own padding where the windows allow it,
batch norm, linear) with the same weights. It takes the same NHWC input (one permute inside),
so both graphs start with the same Transpose. Then:

- ``ours/before``: our export vs the same export without the batch-norm push
  (``ExportOptions(push_batch_norm=False)``, the export before issue 22), and ``maps/before``:
  the export whose pushes may add a constant map after a padded conv (``bias_maps=True``: no
  ``LAB`` batch norm left at all); issue 22's goal for the ``LAB`` models is >= 1.15x;
- ``ours/torch-onnx``: onnxruntime (CPU, default options) on our export vs on PyTorch's own
  export (legacy exporter, opset 17, constant folding); the goal is >= 1.1x for the ``LAB``
  models (issue 22), >= 0.95x elsewhere;
- ``ours/eager``: the same onnxruntime run vs PyTorch eager (``torch.no_grad``, eval mode,
  as many threads);
- ``ours/engine``: vs cnncompile's NumPy engine forward;
- ``control``: our export against a second session of itself, timed alongside: how far apart
  two sessions of the very same graph land on this machine right now (on a shared, busy
  machine that spread is the noise floor of the first ratio).

The sessions' calls are interleaved one by one and each side's median call time gives its
throughput, so load from other processes hits all alike. Before timing, the two exports'
outputs are compared.

    python benchmarks/onnx_speed.py                      # the default models, batch 1, 32
    python benchmarks/onnx_speed.py --models fmnist --batches 1,8,64 --seconds 5
    python benchmarks/onnx_speed.py --models residual_flower,bottleneck_flower --threads 1 \
        --batches 1,8 --seconds 2                        # the LAB models, as issue 22 measures
"""

from __future__ import annotations

import argparse
import io
import sys
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from _env import describe, use_native_kernel
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnncompile.backends.numpy import Executor, init_params  # noqa: E402
from cnncompile.backends.onnx import ExportOptions, Weights, export_graph  # noqa: E402
from cnncompile.backends.torch import GraphModule  # noqa: E402
from cnncompile.frontend import load_spec  # noqa: E402
from cnncompile.ir import lower  # noqa: E402
from cnncompile.runtime.timing import interleaved as interleaved_calls  # noqa: E402
from cnncompile.runtime.timing import session_clock, side_by_side  # noqa: E402

MODELS = {
    "fmnist": ("specs/fashion_mnist/fmnist_cnn.yaml", None),
    "residual_flower": ("specs/ch9/residual_flower.yaml", (64, 64, 3)),  # LAB
    "bottleneck_flower": ("specs/ch9/bottleneck_flower.yaml", (64, 64, 3)),  # LAB
    "inception_flower_lab": ("specs/ch9/inception_flower_lab.yaml", None),  # LAB, 96x96
    "resnet50": ("specs/torchvision/resnet50.yaml", (224, 224, 3)),
}
# -- the same architecture in PyTorch ------------------------------------------------------------


class TorchNet(nn.Module):
    """The torch backend's module of the IR graph, returning per-head probabilities as our
    export does."""

    def __init__(self, graph, params):
        super().__init__()
        self.net = GraphModule(graph, params)
        self.sizes = [h.size for h in graph.heads.heads]

    def forward(self, x):
        return tuple(torch.softmax(z, 1) for z in torch.split(self.net(x), self.sizes, 1))


# -- measurements ----------------------------------------------------------------------------------


THREADS = {"onnxruntime": 0}  # intra-op threads; 0: onnxruntime's default (one per core)


def session(data: bytes) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS["onnxruntime"]
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def rate(fn, batch: int, seconds: float, min_calls: int = 1, warmup: int = 1) -> float:
    """Samples per second of ``fn`` at its median call over at least ``seconds`` and
    ``min_calls`` calls (the shared timing method; wall time: PyTorch and the engine run
    threads of their own)."""
    return interleaved_calls({"fn": fn}, batch, seconds=seconds, min_rounds=min_calls,
                             warmup=warmup)["fn"].throughput


def torch_export(net: nn.Module, x: np.ndarray, heads) -> bytes:
    buf = io.BytesIO()
    names = [h.name for h in heads]
    axes = {"input": {0: "N"}, **{k: {0: "N"} for k in names}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.from_numpy(x),), buf, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=names, dynamic_axes=axes,
                          do_constant_folding=True)
    return buf.getvalue()


def bench_model(key: str, batches: list[int], seconds: float) -> list[dict]:
    path, shape = MODELS[key]
    spec = load_spec(ROOT / path, input_shape=shape)
    graph = lower(spec)
    params = init_params(graph, seed=0, init="he")
    rng = np.random.default_rng(0)
    for p in graph.params():  # running statistics away from 0 and 1, so nothing is trivial
        if p.name.endswith(".mean"):
            params[p.name] = rng.normal(0, 0.1, p.shape).astype(np.float32)
        elif p.name.endswith(".var"):
            params[p.name] = rng.uniform(0.5, 1.5, p.shape).astype(np.float32)
    probe = rng.uniform(0, 1, (2, *graph.input_shape)).astype(np.float32)
    ex = Executor(graph)
    spread = float(np.std(ex.forward(params, probe))) or 1.0
    params[f"{graph.output}.weight"] /= spread  # logits of std ~1: probabilities worth comparing
    exports = {name: export_graph(spec, graph, Weights(params, "benchmark"), None, options,
                                  parity_batch=1).model.SerializeToString()
               for name, options in EXPORTS.items()}
    net = TorchNet(graph, params).eval()
    exports["torch_onnx"] = torch_export(net, probe, graph.heads.heads)
    outs = {k: session(v).run(None, {"input": probe}) for k, v in exports.items()}
    agree = max(float(np.max(np.abs(u - v))) for other in outs.values()
                for u, v in zip(outs["ours"], other, strict=True))
    nodes = {k: node_counts(v) for k, v in exports.items()}
    inputs = {b: rng.uniform(0, 1, (b, *graph.input_shape)).astype(np.float32) for b in batches}
    # onnxruntime first, before PyTorch and the engine churn the heap the sessions allocate from
    rates = {b: compare(exports, x, seconds) for b, x in inputs.items()}
    return [{"model": key, "batch": b, **rates[b],
             "eager": eager_rate(net, x, seconds / 3),
             "engine": rate(partial(ex.forward, params, x), b, seconds / 3),
             "agree": agree, "nodes": nodes} for b, x in inputs.items()]


def interleaved(sessions: list[ort.InferenceSession], x: np.ndarray,
                seconds: float) -> list[float]:
    """Samples/s of each session from its median call time, single calls interleaved in a
    rotating order (A B C, B C A, ...), for ``seconds`` and at least two rounds: the shared
    timing method (cnncompile.runtime.timing), CPU time with one onnxruntime thread.

    Interleaving makes drifting load from other processes (and each session's spinning worker
    threads) hit every side alike; the median ignores the calls it disturbed most.
    """
    calls = {str(i): partial(s.run, None, {"input": x}) for i, s in enumerate(sessions)}
    clocks = {session_clock(s, s.get_providers()[0]) for s in sessions}
    timed = side_by_side(calls, clocks, len(x), seconds, min_rounds=2, warmup=1)
    return [timed[str(i)].throughput for i in range(len(sessions))]


# our exports compared: as the export writes it, before the batch-norm push, with bias maps
EXPORTS = {"ours": ExportOptions(), "before": ExportOptions(push_batch_norm=False),
           "maps": ExportOptions(bias_maps=True)}


def compare(exports: dict[str, bytes], x: np.ndarray, seconds: float) -> dict[str, float]:
    """Samples/s of each export, and of a second session of ours (the control, which shows how
    far apart two sessions of the very same graph land on this machine now)."""
    names = [*exports, "control"]
    sessions = [session(exports.get(k, exports["ours"])) for k in names]
    return dict(zip(names, interleaved(sessions, x, seconds), strict=True))


def eager_rate(net: nn.Module, x: np.ndarray, seconds: float) -> float:
    """PyTorch eager samples/s (no_grad, eval), with as many threads as onnxruntime gets."""
    default = torch.get_num_threads()
    torch.set_num_threads(THREADS["onnxruntime"] or default)
    try:
        with torch.no_grad():
            return rate(partial(net, torch.from_numpy(x)), len(x), seconds)
    finally:
        torch.set_num_threads(default)


def node_counts(data: bytes) -> tuple[int, int, int]:
    """ONNX nodes in a model as exported, after onnxruntime's CPU graph optimisations, and
    its BatchNormalization nodes as exported."""
    import tempfile

    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        optimized = len(onnx.load(opts.optimized_model_filepath).graph.node)
    nodes = onnx.load_from_string(data).graph.node
    return len(nodes), optimized, sum(n.op_type == "BatchNormalization" for n in nodes)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma-separated: " + ", ".join(MODELS))
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--seconds", type=float, default=3.0,
                    help="minimum time per measurement (the interleaved pair of sessions)")
    ap.add_argument("--threads", type=int, default=0,
                    help="onnxruntime intra-op threads for both sessions (0: its default)")
    args = ap.parse_args(argv)
    use_native_kernel()
    THREADS["onnxruntime"] = args.threads
    batches = [int(b) for b in args.batches.split(",")]
    print(f"onnxruntime {ort.__version__}, torch {torch.__version__}, numpy {np.__version__}; "
          f"onnxruntime threads: {args.threads or 'default'}, torch threads: "
          f"{torch.get_num_threads()}; >= {args.seconds}s per measurement")
    print(describe())
    print(f"{'model':<21}{'batch':>6}{'ours/s':>10}{'ours/before':>12}{'maps/before':>12}"
          f"{'torch-onnx/s':>13}{'ours/torch-onnx':>16}{'control':>9}"
          f"{'eager/s':>10}{'ours/eager':>11}{'engine/s':>10}{'ours/engine':>12}")
    for key in args.models.split(","):
        for r in bench_model(key, batches, args.seconds):
            print(f"{r['model']:<21}{r['batch']:>6}{r['ours']:>10.1f}"
                  f"{r['ours'] / r['before']:>11.2f}x{r['maps'] / r['before']:>11.2f}x"
                  f"{r['torch_onnx']:>13.1f}{r['ours'] / r['torch_onnx']:>15.2f}x"
                  f"{r['ours'] / r['control']:>8.2f}x{r['eager']:>10.1f}"
                  f"{r['ours'] / r['eager']:>10.2f}x{r['engine']:>10.1f}"
                  f"{r['ours'] / r['engine']:>11.1f}x")
        counts = ", ".join(f"{k} {n} ({opt} optimised, {bn} BatchNormalization)"
                           for k, (n, opt, bn) in r["nodes"].items())
        print(f"{'':<21}(the exports agree within {r['agree']:.1e}; ONNX nodes: {counts})")


if __name__ == "__main__":
    main()

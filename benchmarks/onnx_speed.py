"""onnxruntime on cnncompile's export vs on torch.onnx.export of the same network, in one run.

For each model the same architecture is written in PyTorch by walking the IR graph (one
``torch.nn`` module per node, the way a PyTorch user writes it: Conv2d with its own padding,
BatchNorm2d, Linear, AdaptiveAvgPool2d for a global pool) and given the same weights. It takes
the same NHWC input (one permute inside), so both graphs start with the same Transpose. Then:

- ``ours/torch-onnx``: onnxruntime (CPU, default options) on our export vs on PyTorch's own
  export (legacy exporter, opset 17, constant folding); the goal is >= 0.95x;
- ``ours/eager``: the same onnxruntime run vs PyTorch eager (``torch.no_grad``, eval mode,
  as many threads);
- ``ours/engine``: vs cnncompile's NumPy engine forward;
- ``control``: our export against a second session of itself, timed alongside: how far apart
  two sessions of the very same graph land on this machine right now (on a shared, busy
  machine that spread is the noise floor of the first ratio).

The sessions' calls are interleaved one by one and each side's median call time gives its
throughput, so load from other processes hits all alike. Before timing, the two exports'
outputs are compared.

    python benchmarks/onnx_speed.py                      # the three default models, batch 1, 32
    python benchmarks/onnx_speed.py --models fmnist --batches 1,8,64 --seconds 5
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from _env import describe, use_native_kernel
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnncompile.engine import Executor, init_params  # noqa: E402
from cnncompile.frontend import load_spec  # noqa: E402
from cnncompile.ir import lower  # noqa: E402
from cnncompile.onnx_export import Weights, export_model  # noqa: E402

MODELS = {
    "fmnist": ("specs/fashion_mnist/fmnist_cnn.yaml", None),
    "residual_flower": ("specs/ch9/residual_flower.yaml", (64, 64, 3)),
    "resnet50": ("specs/torchvision/resnet50.yaml", (224, 224, 3)),
}
ACTS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "elu": nn.ELU,
        "leaky_relu": lambda: nn.LeakyReLU(0.01), "swish": nn.SiLU}


# -- the same architecture in PyTorch ------------------------------------------------------------


def _padding(windows) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """(the op's symmetric padding, or None) and (an explicit F.pad, or None) for IR windows.

    A PyTorch user passes ``padding=p`` when p cells before the input give the same windows:
    window j starts at s*j - p, and PyTorch fits no extra output cell.
    """
    ok = all(w.pad_lo >= 0 and (w.size + 2 * w.pad_lo - w.kernel) // w.stride + 1 == w.out
             for w in windows)
    if ok:
        return tuple(w.pad_lo for w in windows), None
    wh, ww = windows
    return None, (ww.pad_lo, ww.pad_hi, wh.pad_lo, wh.pad_hi)


class Windowed(nn.Module):
    """A conv or pool, preceded by an explicit pad (negative: crop) only when it needs one."""

    def __init__(self, op: nn.Module, pad: tuple[int, int, int, int] | None, fill: float):
        super().__init__()
        self.op, self.pad, self.fill = op, pad, fill

    def forward(self, x):
        if self.pad is not None:
            x = F.pad(x, self.pad, value=self.fill)
        return self.op(x)


def _module(n, graph, params) -> nn.Module | None:
    """The torch module of one IR node, holding its parameters; None for graph-level ops."""
    a = n.attrs
    if n.op in ("conv", "max_pool", "avg_pool"):
        padding, pad = _padding(a.windows)
        k, s = [w.kernel for w in a.windows], [w.stride for w in a.windows]
        if n.op == "conv":
            cin = graph[n.inputs[0]].shape[2]
            op = nn.Conv2d(cin, a.cout, k, s, padding or 0, groups=a.groups, bias=a.bias)
            kernel = params[f"{n.name}.kernel"].transpose(3, 2, 0, 1)
            op.weight.data = torch.from_numpy(np.ascontiguousarray(kernel))
            if a.bias:
                op.bias.data = torch.from_numpy(params[f"{n.name}.bias"].copy())
        elif all(w.out == 1 and w.kernel == w.size and not w.pad_lo for w in a.windows):
            op = nn.AdaptiveAvgPool2d(1) if n.op == "avg_pool" else nn.AdaptiveMaxPool2d(1)
            pad = None
        elif n.op == "max_pool":
            op = nn.MaxPool2d(k, s, padding or 0)
        else:
            op = nn.AvgPool2d(k, s, padding or 0, count_include_pad=a.count_pad)
        return Windowed(op, pad, float("-inf") if n.op == "max_pool" else 0.0)
    if n.op == "dense":
        w = params[f"{n.name}.weight"]
        src = graph[n.inputs[0]]
        if src.op == "flatten" and len(graph[src.inputs[0]].shape) == 3:
            h, wd, c = graph[src.inputs[0]].shape  # torch flattens C, H, W
            w = w.reshape(h, wd, c, -1).transpose(2, 0, 1, 3).reshape(h * wd * c, -1)
        op = nn.Linear(w.shape[0], w.shape[1], bias=a.bias)
        op.weight.data = torch.from_numpy(np.ascontiguousarray(w.T))
        if a.bias:
            op.bias.data = torch.from_numpy(params[f"{n.name}.bias"].copy())
        return op
    if n.op == "batch_norm":
        c = n.shape[-1]
        bn = (nn.BatchNorm2d if len(n.shape) == 3 else nn.BatchNorm1d)(
            c, eps=a.epsilon, affine=a.rescale)
        bn.running_mean.data = torch.from_numpy(params[f"{n.name}.mean"].copy())
        bn.running_var.data = torch.from_numpy(params[f"{n.name}.var"].copy())
        if a.rescale:
            bn.weight.data = torch.from_numpy(params[f"{n.name}.scale"].copy())
            bn.bias.data = torch.from_numpy(params[f"{n.name}.shift"].copy())
        return bn
    if n.op == "act":
        return ACTS[a.func]()
    if n.op in ("dropout", "noise", "flatten"):
        return nn.Flatten() if n.op == "flatten" else nn.Identity()
    return None


class TorchNet(nn.Module):
    """An IR graph as torch modules; ``forward(x_nhwc)`` returns the per-head probabilities."""

    def __init__(self, graph, params):
        super().__init__()
        self.graph = graph
        self.layers = nn.ModuleDict()
        self.keys = {}
        for i, n in enumerate(graph):
            m = _module(n, graph, params)
            if m is not None:
                self.keys[n.name] = f"n{i}"
                self.layers[f"n{i}"] = m

    def forward(self, x):
        values = {}
        for n in self.graph:
            if n.op == "input":
                y = x.permute(0, 3, 1, 2) if x.dim() == 4 else x
            elif n.op == "concat":
                y = torch.cat([values[i] for i in n.inputs], 1)
            elif n.op == "add":
                y = values[n.inputs[0]]
                for i in n.inputs[1:]:
                    y = y + values[i]
            elif n.op == "tile":
                v = values[n.inputs[0]]
                y = v.repeat(1, n.attrs.reps, *([1] * (v.dim() - 2)))
            else:
                y = self.layers[self.keys[n.name]](values[n.inputs[0]])
            values[n.name] = y
        logits = values[self.graph.output]
        sizes = [h.size for h in self.graph.heads.heads]
        return tuple(torch.softmax(z, 1) for z in torch.split(logits, sizes, 1))


# -- measurements ----------------------------------------------------------------------------------


THREADS = {"onnxruntime": 0}  # intra-op threads; 0: onnxruntime's default (one per core)


def session(data: bytes) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS["onnxruntime"]
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def rate(fn, batch: int, seconds: float, min_calls: int = 1, warmup: int = 1) -> float:
    """Samples per second of ``fn`` over at least ``seconds`` and ``min_calls`` calls."""
    for _ in range(warmup):
        fn()
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return batch * calls / (time.perf_counter() - start)


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
    ours = export_model(spec, graph, Weights(params, "benchmark"), None, parity_batch=1)
    ours_bytes = ours.model.SerializeToString()
    net = TorchNet(graph, params).eval()
    theirs_bytes = torch_export(net, probe, graph.heads.heads)
    a = session(ours_bytes).run(None, {"input": probe})
    b = session(theirs_bytes).run(None, {"input": probe})
    agree = max(float(np.max(np.abs(u - v))) for u, v in zip(a, b, strict=True))
    nodes = (node_counts(ours_bytes), node_counts(theirs_bytes))
    inputs = {b: rng.uniform(0, 1, (b, *graph.input_shape)).astype(np.float32) for b in batches}
    # onnxruntime first, before PyTorch and the engine churn the heap the sessions allocate from
    rates = {b: compare(ours_bytes, theirs_bytes, x, seconds) for b, x in inputs.items()}
    return [{"model": key, "batch": b, "ours": rates[b][0], "torch_onnx": rates[b][1],
             "control": rates[b][2],
             "eager": eager_rate(net, x, seconds / 3),
             "engine": rate(partial(ex.forward, params, x), b, seconds / 3),
             "agree": agree, "nodes": nodes} for b, x in inputs.items()]


def interleaved(sessions: list[ort.InferenceSession], x: np.ndarray,
                seconds: float) -> list[float]:
    """Samples/s of each session from its median call time, single calls interleaved in a
    rotating order (A B C, B C A, ...), for ``seconds`` and at least two rounds.

    Interleaving makes drifting load from other processes (and each session's spinning worker
    threads) hit every side alike; the median ignores the calls it disturbed most.
    """
    runs = [partial(s.run, None, {"input": x}) for s in sessions]
    for fn in runs:
        fn()
    laps: list[list[float]] = [[] for _ in runs]
    start, k = time.perf_counter(), 0
    while k < 2 or time.perf_counter() - start < seconds:
        for i in range(len(runs)):
            side = (i + k) % len(runs)
            t = time.perf_counter()
            runs[side]()
            laps[side].append(time.perf_counter() - t)
        k += 1
    return [len(x) / float(np.median(lap)) for lap in laps]


def compare(ours: bytes, theirs: bytes, x: np.ndarray, seconds: float) -> list[float]:
    """Samples/s of our export, PyTorch's, and a second session of ours (the control, which
    shows how far apart two sessions of the very same graph land on this machine now)."""
    return interleaved([session(ours), session(theirs), session(ours)], x, seconds)


def eager_rate(net: nn.Module, x: np.ndarray, seconds: float) -> float:
    """PyTorch eager samples/s (no_grad, eval), with as many threads as onnxruntime gets."""
    default = torch.get_num_threads()
    torch.set_num_threads(THREADS["onnxruntime"] or default)
    try:
        with torch.no_grad():
            return rate(partial(net, torch.from_numpy(x)), len(x), seconds)
    finally:
        torch.set_num_threads(default)


def node_counts(data: bytes) -> tuple[int, int]:
    """ONNX nodes in a model as exported, and after onnxruntime's CPU graph optimisations."""
    import tempfile

    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        optimized = len(onnx.load(opts.optimized_model_filepath).graph.node)
    return len(onnx.load_from_string(data).graph.node), optimized


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
    print(f"{'model':<16}{'batch':>6}{'ours/s':>10}{'torch-onnx/s':>14}{'ours/torch-onnx':>17}"
          f"{'control':>9}"
          f"{'eager/s':>10}{'ours/eager':>12}{'engine/s':>10}{'ours/engine':>13}")
    for key in args.models.split(","):
        for r in bench_model(key, batches, args.seconds):
            print(f"{r['model']:<16}{r['batch']:>6}{r['ours']:>10.1f}{r['torch_onnx']:>14.1f}"
                  f"{r['ours'] / r['torch_onnx']:>16.2f}x{r['ours'] / r['control']:>8.2f}x"
                  f"{r['eager']:>10.1f}"
                  f"{r['ours'] / r['eager']:>11.2f}x{r['engine']:>10.1f}"
                  f"{r['ours'] / r['engine']:>12.1f}x")
        (ours_n, ours_opt), (theirs_n, theirs_opt) = r["nodes"]
        print(f"{'':<16}(the exports agree within {r['agree']:.1e}; ONNX nodes: ours {ours_n}, "
              f"PyTorch's {theirs_n}; after onnxruntime's optimisations {ours_opt} and "
              f"{theirs_opt})")


if __name__ == "__main__":
    main()

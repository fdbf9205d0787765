"""Training and inference throughput of the NumPy engine against PyTorch CPU on the same models.

For each (spec, batch) both frameworks run the same architecture (PyTorch's is built from the
same IR graph, with the same weights: cnncompile.backends.torch) on the same data, with the
same number of threads: a training step is forward, softmax cross-entropy, backward and an Adam
update; inference is a forward pass without gradients. Rounds of the two alternate so that
background load hits both alike; each figure is the median over rounds, after a warm-up.

    python benchmarks/engine_speed.py [--threads 2] [--rounds 5] [--seconds 0.6] [--only fmnist]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from _env import describe, use_native_kernel

ROOT = Path(__file__).resolve().parents[1]

# (label, spec, batch sizes); the textbook's batch size is 10, Fashion-MNIST's benchmark 128
MODELS = [
    ("fmnist_cnn", "specs/fashion_mnist/fmnist_cnn.yaml", (128,)),
    ("flowers_model_4", "specs/ch7/flowers_model_4.yaml", (10, 64)),
    ("residual_flower", "specs/ch9/residual_flower.yaml", (10, 64)),
]
GOALS = {("fmnist_cnn", "train"): 0.5, ("flowers_model_4", "train", 10): 1.0,
         ("residual_flower", "train", 10): 1.0}


def _set_threads(n: int) -> None:
    """Before NumPy is imported: its OpenBLAS reads these once, at load time."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def _load_torch_graph():
    from cnncompile.backends.torch import GraphModule

    return GraphModule


def _rates(fns, batch: int, rounds: int, seconds: float) -> list[tuple[float, float]]:
    """(median images/s, median CPU ms per image) of each step function, in alternating rounds.

    CPU time (all threads of the process) is the contention-robust figure: it counts the work
    done, not the waiting for a core that another process holds.
    """
    import statistics
    import time

    per_round = []
    for fn in fns:  # warm-up; also sizes a round to about ``seconds``
        fn()
        t = time.perf_counter()
        fn()
        fn()
        per_round.append(max(1, int(seconds / ((time.perf_counter() - t) / 2))))
    rates: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for k, fn in enumerate(fns):
            t, c = time.perf_counter(), time.process_time()
            for _ in range(per_round[k]):
                fn()
            images = batch * per_round[k]
            rates[k].append(images / (time.perf_counter() - t))
            cpu[k].append(1e3 * (time.process_time() - c) / images)
    return [(statistics.median(r), statistics.median(c)) for r, c in zip(rates, cpu, strict=True)]


def bench(label: str, path: str, batch: int, args, TorchGraph) -> list[tuple]:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from cnncompile.backends.numpy import Executor, init_params
    from cnncompile.backends.numpy.losses import loss_and_grad
    from cnncompile.backends.numpy.optim import make_optimizer
    from cnncompile.frontend import load_spec
    from cnncompile.ir import lower

    graph = lower(load_spec(ROOT / path))
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (batch,) + graph.input_shape).astype(np.float32)
    y = rng.integers(0, graph.output_shape[0], batch)
    params = init_params(graph, seed=0)
    model = TorchGraph(graph, params)
    params = {k: v.copy() for k, v in params.items()}
    ex = Executor(graph, threads=args.threads)
    opt = make_optimizer("adam", lr=1e-4)
    topt = torch.optim.Adam(model.parameters(), lr=1e-4)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def engine_train():
        logits = ex.forward(params, x, training=True)
        opt.step(params, ex.backward(loss_and_grad(graph.heads, logits, y).grad))

    def torch_train():
        topt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xt), yt).backward()
        topt.step()

    def engine_infer():
        ex.forward(params, x)

    def torch_infer():
        with torch.no_grad():
            model(xt)

    model.train()
    train = _rates([engine_train, torch_train], batch, args.rounds, args.seconds)
    model.eval()
    infer = _rates([engine_infer, torch_infer], batch, args.rounds, args.seconds)
    return [(label, batch, "train", *train), (label, batch, "forward", *infer)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.6, help="length of one timed round")
    ap.add_argument("--only", default="", help="run only models whose label contains this")
    args = ap.parse_args()
    use_native_kernel()
    _set_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    TorchGraph = _load_torch_graph()
    print(f"numpy {np.__version__}, torch {torch.__version__}, {args.threads} threads, "
          f"median of {args.rounds} rounds of ~{args.seconds}s")
    print(describe())  # BLAS threads: the engine runs BLAS on 1 inside its own thread pool
    print(f"{'model':16} {'batch':>5} {'pass':8} {'engine img/s':>13} {'torch img/s':>12} "
          f"{'ratio':>6}  {'goal':10} {'CPU ms/img engine':>17} {'torch':>6}")
    for label, path, batches in MODELS:
        if args.only not in label:
            continue
        for batch in batches:
            for name, b, mode, ours, theirs in bench(label, path, batch, args, TorchGraph):
                goal = GOALS.get((name, mode, b), GOALS.get((name, mode), 0.5 if mode ==
                                                            "forward" else None))
                ratio = ours[0] / theirs[0]
                mark = "" if goal is None else f">={goal:.1f} {'ok' if ratio >= goal else 'MISS'}"
                print(f"{name:16} {b:5d} {mode:8} {ours[0]:13.0f} {theirs[0]:12.0f} {ratio:6.2f}"
                      f"  {mark:10} {ours[1]:17.2f} {theirs[1]:6.2f}", flush=True)
    print(f"at the end: {describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

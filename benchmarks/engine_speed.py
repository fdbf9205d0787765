"""Training and inference throughput of the NumPy engine against PyTorch CPU on the same models.

For each (spec, batch) both frameworks run the same architecture (PyTorch's is built from the
same IR graph, with the same weights: cnncompile.backends.torch) on the same data, with the
same number of threads: a training step is forward, softmax cross-entropy, backward and an Adam
update; inference is a forward pass without gradients. Rounds of the two alternate so that
background load hits both alike; each figure is the median over rounds, after a warm-up.

    python benchmarks/engine_speed.py [--threads 2] [--rounds 5] [--seconds 0.6] [--only fmnist]
                                      [--batch 10] [--passes train] [--baseline /path/to/checkout]

``--baseline`` times a second engine, the one in another checkout's ``cnncompile`` (loaded under
another package name), in the same alternating rounds: the gain of a change, measured side by
side on a shared machine.
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


def _load_baseline(checkout: Path):
    """``checkout``'s cnncompile package as the module ``cnncompile_baseline`` (its imports
    inside the package are relative, so it runs its own code throughout)."""
    import importlib.util

    init = checkout / "cnncompile" / "__init__.py"
    spec = importlib.util.spec_from_file_location("cnncompile_baseline", init,
                                                  submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["cnncompile_baseline"] = module
    spec.loader.exec_module(module)
    return module


def _engine_steps(package: str, path: Path, params, x, y, threads: int):
    """(training step, inference step) of the NumPy engine of ``package`` on the spec at
    ``path`` (lowered by that package), with its own copy of ``params``."""
    import importlib

    frontend = importlib.import_module(f"{package}.frontend")
    graph = importlib.import_module(f"{package}.ir").lower(frontend.load_spec(path))
    backend = importlib.import_module(f"{package}.backends.numpy")
    losses = importlib.import_module(f"{package}.backends.numpy.losses")
    optim = importlib.import_module(f"{package}.backends.numpy.optim")
    params = {k: v.copy() for k, v in params.items()}
    ex = backend.Executor(graph, threads=threads)
    opt = optim.make_optimizer("adam", lr=1e-4)

    def train():
        logits = ex.forward(params, x, training=True)
        opt.step(params, ex.backward(losses.loss_and_grad(graph.heads, logits, y).grad))

    def infer():
        ex.forward(params, x)

    return train, infer


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

    from cnncompile.backends.numpy import init_params
    from cnncompile.frontend import load_spec
    from cnncompile.ir import lower

    graph = lower(load_spec(ROOT / path))
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (batch,) + graph.input_shape).astype(np.float32)
    y = rng.integers(0, graph.output_shape[0], batch)
    params = init_params(graph, seed=0)
    model = TorchGraph(graph, params)
    packages = ["cnncompile"] + (["cnncompile_baseline"] if args.baseline else [])
    steps = [_engine_steps(p, ROOT / path, params, x, y, args.threads) for p in packages]
    topt = torch.optim.Adam(model.parameters(), lr=1e-4)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def torch_train():
        topt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xt), yt).backward()
        topt.step()

    def torch_infer():
        with torch.no_grad():
            model(xt)

    rows = []
    for mode, k, torch_step in (("train", 0, torch_train), ("forward", 1, torch_infer)):
        if mode not in args.passes:
            continue
        model.train(mode == "train")
        rates = _rates([s[k] for s in steps] + [torch_step], batch, args.rounds, args.seconds)
        rows.append((label, batch, mode, rates[0], rates[-1], rates[1:-1]))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.6, help="length of one timed round")
    ap.add_argument("--only", default="", help="run only models whose label contains this")
    ap.add_argument("--batch", type=int, action="append",
                    help="run only this batch size (repeatable)")
    ap.add_argument("--passes", nargs="+", choices=("train", "forward"),
                    default=["train", "forward"])
    ap.add_argument("--baseline", type=Path,
                    help="also time the engine of this checkout (its cnncompile package)")
    args = ap.parse_args()
    use_native_kernel()
    _set_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    TorchGraph = _load_torch_graph()
    if args.baseline:
        _load_baseline(args.baseline)
        print(f"baseline engine: {args.baseline}")
    print(f"numpy {np.__version__}, torch {torch.__version__}, {args.threads} threads, "
          f"median of {args.rounds} rounds of ~{args.seconds}s")
    print(describe())  # BLAS threads: the engine runs BLAS on 1 inside its own thread pool
    print(f"{'model':16} {'batch':>5} {'pass':8} {'engine img/s':>13} {'torch img/s':>12} "
          f"{'ratio':>6}  {'goal':10} {'CPU ms/img engine':>17} {'torch':>6}"
          + (f" {'baseline img/s':>14} {'gain':>5}" if args.baseline else ""))
    for label, path, batches in MODELS:
        if args.only not in label:
            continue
        for batch in batches:
            if args.batch and batch not in args.batch:
                continue
            for name, b, mode, ours, theirs, base in bench(label, path, batch, args, TorchGraph):
                goal = GOALS.get((name, mode, b), GOALS.get((name, mode), 0.5 if mode ==
                                                            "forward" else None))
                ratio = ours[0] / theirs[0]
                mark = "" if goal is None else f">={goal:.1f} {'ok' if ratio >= goal else 'MISS'}"
                print(f"{name:16} {b:5d} {mode:8} {ours[0]:13.0f} {theirs[0]:12.0f} {ratio:6.2f}"
                      f"  {mark:10} {ours[1]:17.2f} {theirs[1]:6.2f}"
                      + "".join(f" {b[0]:14.0f} {ours[0] / b[0]:5.2f}" for b in base), flush=True)
    print(f"at the end: {describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

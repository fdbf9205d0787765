"""Fashion-MNIST accuracy goals for the recipes in specs/fashion_mnist/.

Trains each recipe with `cnncompile train` exactly as a user would (its `train:` section gives
every option), pinned to a number of cores (2 by default), and prints test accuracy, trainable
parameters and wall-clock minutes against the goals:

    fmnist_plain   >= 92.5% test accuracy, < 100K parameters, <= 20 minutes
    fmnist_bn      >= 93.5% with batch norm, <= 20 minutes (the issue bounds only the
                   first model's parameters)

Usage (from the repository root; needs the dataset-fashion-mnist package):

    python benchmarks/fashion_mnist.py [--cores 2] [--only fmnist_bn] [--epochs N]

``--epochs`` shortens the runs for a smoke test (the goals then do not apply). The load average
before and after is printed: other work on the machine slows the runs down, and says so.
Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _env import use_native_kernel

ROOT = Path(__file__).resolve().parents[1]
GOALS = {  # name: (minimum test accuracy, maximum parameters, maximum minutes)
    "fmnist_plain": (0.925, 100_000, 20.0),
    # the issue bounds the parameters of the 92.5% model only ("at least 92.5% test accuracy
    # with fewer than 100K parameters, and at least 93.5% with batch norm")
    "fmnist_bn": (0.935, None, 20.0),
}


def pin(cores: int) -> dict[str, str]:
    """Environment (BLAS threads) and CPU affinity for ``cores`` cores."""
    if hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, available[:cores])  # inherited by the training process
    threads = str(cores)
    return dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
                MKL_NUM_THREADS=threads, PYTHONPATH=str(ROOT))


def run(name: str, env: dict, epochs: int | None) -> dict:
    """Train one recipe; returns parameters, test accuracy and minutes."""
    cmd = [sys.executable, "-m", "cnncompile", "train", f"specs/fashion_mnist/{name}.yaml",
           "--data", "fashion-mnist", "--log-format", "json", "--out",
           f"runs/benchmark/{name}", "--overwrite"]
    if epochs:
        cmd += ["--epochs", str(epochs)]
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    minutes = (time.perf_counter() - t0) / 60
    if proc.returncode != 0:
        sys.exit(f"{name}: cnncompile train failed ({proc.returncode}): {proc.stderr.strip()}")
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    start = next(e for e in events if e["event"] == "start")
    test = next(e for e in events if e["event"] == "test")
    epochs_run = [e for e in events if e["event"] == "epoch"]
    return {"params": start["params"], "accuracy": test["accuracy"]["output"],
            "minutes": minutes, "epochs": len(epochs_run),
            "val": epochs_run[-1]["val_acc"] if epochs_run else None}


def _child_describe(env: dict) -> str:
    """describe() as the training processes see it (their BLAS threads, kernel), plus load."""
    code = "import numpy, _env; print(_env.describe())"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent, env=env,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--only", choices=sorted(GOALS), action="append")
    parser.add_argument("--epochs", type=int, help="shorter runs for a smoke test (no goals)")
    args = parser.parse_args()
    use_native_kernel()
    env = pin(args.cores)
    names = args.only or list(GOALS)
    print(f"{args.cores} cores; before: {_child_describe(env)}", flush=True)
    results = {name: run(name, env, args.epochs) for name in names}
    print(f"after: {_child_describe(env)}\n")
    print(f"{'model':<14}{'params':>9}{'epochs':>8}{'val acc':>9}{'test acc':>10}{'minutes':>9}"
          f"   goal")
    missed = 0
    for name, r in results.items():
        acc_goal, param_goal, minute_goal = GOALS[name]
        ok = (r["accuracy"] >= acc_goal and (param_goal is None or r["params"] < param_goal)
              and r["minutes"] <= minute_goal)
        params = "" if param_goal is None else f"< {param_goal // 1000}K params, "
        missed += not ok and not args.epochs
        verdict = "-" if args.epochs else ("met" if ok else "MISSED")
        print(f"{name:<14}{r['params']:>9,}{r['epochs']:>8}{r['val'] or 0:>9.4f}"
              f"{r['accuracy']:>10.4f}{r['minutes']:>9.1f}   >= {acc_goal:.1%}, "
              f"{params}<= {minute_goal:.0f} min: {verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Fashion-MNIST: every shipped recipe in specs/fashion_mnist/ against its goals, in one run.

Trains each recipe with `cnncompile train` exactly as a user would (its `train:` section gives
every option; the backend is the one its description names), pinned to a number of cores (2 by
default), and prints test accuracy, trainable parameters and wall-clock minutes against the goals:

    fmnist_plain   >= 92.5% test accuracy, < 100K parameters, <= 20 minutes (NumPy engine)
    fmnist_bn      >= 93.5%, batch norm, <= 20 minutes (NumPy engine)
    under100k      >= 93.5%, < 100K parameters, <= 20 minutes (--backend torch)
    best           >= 94.0%, any size, <= 20 minutes (--backend torch)

Usage (from the repository root; needs the dataset-fashion-mnist package, and the torch extra
for the torch recipes):

    python benchmarks/fashion_mnist.py [--cores 2] [--only best] [--epochs N]

``--epochs`` shortens the runs for a smoke test (the goals then do not apply). The BLAS kernel
and the load average before and after are printed: other work on the machine slows the runs
down, and says so. Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from _env import use_native_kernel

ROOT = Path(__file__).resolve().parents[1]


class Goal(NamedTuple):
    accuracy: float            # the least test accuracy
    params: int | None         # fewer trainable parameters than this (None: any size)
    minutes: float             # the most wall-clock minutes
    flags: tuple[str, ...]     # what the recipe's description tells a user to add


GOALS = {
    "fmnist_plain": Goal(0.925, 100_000, 20.0, ()),
    "fmnist_bn": Goal(0.935, None, 20.0, ()),
    "under100k": Goal(0.935, 100_000, 20.0, ("--backend", "torch")),
    "best": Goal(0.940, None, 20.0, ("--backend", "torch")),
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
           f"runs/benchmark/{name}", "--overwrite", *GOALS[name].flags]
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
    lines, missed = [], 0
    for name in names:  # each line as soon as its run ends: a later failure keeps it
        r = run(name, env, args.epochs)
        goal = GOALS[name]
        ok = (r["accuracy"] >= goal.accuracy and (goal.params is None or r["params"] < goal.params)
              and r["minutes"] <= goal.minutes)
        missed += not ok and not args.epochs
        params = "" if goal.params is None else f"< {goal.params // 1000}K params, "
        verdict = "-" if args.epochs else ("met" if ok else "MISSED")
        backend = "torch" if "torch" in goal.flags else "numpy"
        lines.append(f"{name:<14}{backend:>8}{r['params']:>9,}{r['epochs']:>8}"
                     f"{r['val'] or 0:>9.4f}{r['accuracy']:>10.4f}{r['minutes']:>9.1f}   "
                     f">= {goal.accuracy:.1%}, {params}<= {goal.minutes:.0f} min: {verdict}")
        print(lines[-1], flush=True)
    print(f"after: {_child_describe(env)}\n")
    print(f"{'recipe':<14}{'backend':>8}{'params':>9}{'epochs':>8}{'val acc':>9}{'test acc':>10}"
          f"{'minutes':>9}   goal")
    print("\n".join(lines))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

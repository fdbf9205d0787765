"""Training images/s of the NumPy engine, the torch backend and hand-written PyTorch, in one run.

For each model, one training step (forward, softmax cross-entropy, backward, Adam) of:

- ``numpy``: the NumPy engine as the trainer drives it (``train.step_engine.NumpyEngine``);
- ``backend``: the torch backend as the trainer drives it (``train.torch_loop.TorchEngine``:
  the IR's GraphModule, the loss of ``engine/losses.py`` on the gathered logits, the textbook's
  Adam mirrored in torch);
- ``hand``: the same network written by hand in PyTorch (nn.Conv2d, nn.BatchNorm2d, nn.Linear,
  F.cross_entropy, torch.optim.Adam), the reference the backend's overhead is measured
  against (goal: backend at most 10% slower, ``hand/backend`` <= 1.10).

The backend's and the hand-written steps alternate round by round, so background load hits both
alike; the NumPy engine's steps run as a block of their own first (interleaved with torch, the
engine's spinning worker threads and torch's OpenMP team slow each other several-fold). Each
figure is the median over rounds after a warm-up step. The BLAS kernel and the load average are printed
beside the figures.

    python benchmarks/backend_speed.py [--models fmnist,residual_flower,resnet50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnncompile.backends.numpy import init_params  # noqa: E402
from cnncompile.backends.numpy.optim import make_optimizer  # noqa: E402
from cnncompile.frontend import load_spec  # noqa: E402
from cnncompile.ir import lower  # noqa: E402
from cnncompile.train.step_engine import NumpyEngine  # noqa: E402
from cnncompile.train.torch_loop import TorchEngine  # noqa: E402

# -- the same networks, written by hand -------------------------------------------------------


class FashionCnn(nn.Module):
    """specs/fashion_mnist/fmnist_cnn.yaml: conv32-max-conv64-max-dense128."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1)
        self.fc, self.out = nn.Linear(64 * 7 * 7, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.out(F.relu(self.fc(x.flatten(1))))


class ConvLAB(nn.Module):
    """The textbook's conv with actions LAB: conv (+bias), relu, batch norm without affine."""

    def __init__(self, cin, cout, k, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2)
        self.bn = nn.BatchNorm2d(cout, eps=1e-10, momentum=0.001, affine=False)

    def forward(self, x):
        return self.bn(F.relu(self.conv(x)))


class ResidualFlower(nn.Module):
    """specs/ch9/residual_flower.yaml at 64x64: the textbook's ResNet, tiled avg shortcuts."""

    def __init__(self):
        super().__init__()
        self.stem = ConvLAB(3, 16, 7, 2)
        self.full = nn.ModuleList(nn.Sequential(ConvLAB(16, 16, 3), ConvLAB(16, 16, 3))
                                  for _ in range(2))
        self.halves = nn.ModuleList()
        for cin, c in ((16, 32), (32, 64)):
            self.halves.append(nn.ModuleList([
                nn.Sequential(ConvLAB(cin, c, 3, 2), ConvLAB(c, c, 3)),
                nn.Sequential(ConvLAB(c, c, 3), ConvLAB(c, c, 3))]))
        self.out = nn.Linear(64, 5)

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 3, 2, 1)
        for block in self.full:
            x = x + block(x)
        for down, block in self.halves:
            short = F.avg_pool2d(x, 2)
            x = down(x) + short.repeat(1, 2, 1, 1)
            x = x + block(x)
        return self.out(F.avg_pool2d(x, 4).flatten(1))


class Bottleneck(nn.Module):
    def __init__(self, cin, n, n4, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, n, 1, bias=False), nn.BatchNorm2d(n)
        self.c2, self.b2 = nn.Conv2d(n, n, 3, stride, 1, bias=False), nn.BatchNorm2d(n)
        self.c3, self.b3 = nn.Conv2d(n, n4, 1, bias=False), nn.BatchNorm2d(n4)
        self.down = (nn.Sequential(nn.Conv2d(cin, n4, 1, stride, bias=False), nn.BatchNorm2d(n4))
                     if cin != n4 or stride != 1 else None)

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = F.relu(self.b2(self.c2(y)))
        y = self.b3(self.c3(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet50(nn.Module):
    """specs/torchvision/resnet50.yaml: torchvision's layout, written out."""

    def __init__(self, classes=1000):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for n, count, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for i in range(count):
                blocks.append(Bottleneck(cin, n, 4 * n, stride if i == 0 else 1))
                cin = 4 * n
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Linear(2048, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 3, 2, 1)
        return self.out(F.avg_pool2d(self.blocks(x), 7).flatten(1))


MODELS = {  # name: (spec, hand-written module, batch)
    "fmnist": ("specs/fashion_mnist/fmnist_cnn.yaml", FashionCnn, 128),
    "residual_flower": ("specs/ch9/residual_flower.yaml", ResidualFlower, 32),
    "resnet50": ("specs/torchvision/resnet50.yaml", ResNet50, 4),
}

# -- measuring --------------------------------------------------------------------------------


def steps(key: str):
    """(graph, batch, {framework: one training step})."""
    path, Hand, batch = MODELS[key]
    graph = lower(load_spec(ROOT / path))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (batch,) + graph.input_shape).astype(np.float32)
    y = rng.integers(0, graph.output_shape[0], batch)
    params = init_params(graph, init="he")
    ours = NumpyEngine(graph, {k: v.copy() for k, v in params.items()},
                       make_optimizer("adam", 1e-4))
    backend = TorchEngine(graph, params, make_optimizer("adam", 1e-4), device="cpu")
    hand = Hand().train()
    opt = torch.optim.Adam(hand.parameters(), lr=1e-4)
    xt, yt = torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(y)

    def engine_step(e):
        e.update(e.forward_loss(x, y, 0.0, rng), 1e-4)

    def hand_step():
        opt.zero_grad()
        F.cross_entropy(hand(xt.contiguous()), yt).backward()
        opt.step()

    return batch, {"numpy": lambda: engine_step(ours), "backend": lambda: engine_step(backend),
                   "hand": hand_step}


def measure(fns: dict, batch: int, rounds: int) -> dict[str, float]:
    """Median images/s of each step function over alternating rounds, after a warm-up."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: batch / statistics.median(v) for k, v in times.items()}


def blas() -> str:
    from threadpoolctl import threadpool_info

    return ", ".join(f"{i.get('internal_api')} {i.get('version')} "
                     f"{i.get('architecture') or ''} ({i.get('num_threads')} threads)".strip()
                     for i in threadpool_info())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"numpy {np.__version__}, torch {torch.__version__}, torch threads "
          f"{torch.get_num_threads()}, median of {args.rounds} steps; BLAS: {blas()}")
    print(f"{'model':16}{'batch':>6}{'numpy img/s':>13}{'backend img/s':>15}{'hand img/s':>12}"
          f"{'backend/numpy':>15}{'hand/backend':>14}  load")
    for key in args.models.split(","):
        batch, fns = steps(key)
        r = measure({"numpy": fns.pop("numpy")}, batch, args.rounds)
        r.update(measure(fns, batch, args.rounds))
        ratio = r["hand"] / r["backend"]
        print(f"{key:16}{batch:>6}{r['numpy']:>13.1f}{r['backend']:>15.1f}{r['hand']:>12.1f}"
              f"{r['backend'] / r['numpy']:>14.2f}x{ratio:>13.2f}x  "
              f"{os.getloadavg()[0]:.2f}" + ("" if ratio <= 1.1 else "  (overhead > 10%)"),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`cnncompile analyze` on ResNet-152 against torchinfo.summary on the same network in PyTorch.

Both run as whole processes (interpreter start, imports, building the model, the report), in one
run of this script, alternating, and the medians are compared. The goal is at least 10x.

    python benchmarks/analyze_speed.py [--repeat 7] [--spec specs/torchvision/resnet152.yaml]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _env import describe, use_native_kernel

ROOT = Path(__file__).resolve().parents[1]

# torchvision is not a dependency; this is the standard ResNet-152 layout written in torch.nn.
TORCHINFO_SCRIPT = """
import torch
from torch import nn
from torchinfo import summary

class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                      if stride != 1 or cin != cout else nn.Identity())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.short(x))

def resnet(blocks):
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
              nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for i, (n, width) in enumerate(zip(blocks, (64, 128, 256, 512))):
        for j in range(n):
            layers.append(Bottleneck(cin, width, 2 if (j == 0 and i > 0) else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers)

model = resnet((3, 8, 36, 3))
stats = summary(model, input_size=(1, 3, 224, 224), verbose=0, depth=10)
print(str(stats).splitlines()[-9])
print("TOTAL", stats.total_params)
"""


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return time.perf_counter() - start, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--spec", default="specs/torchvision/resnet152.yaml")
    args = parser.parse_args()
    use_native_kernel()

    ours_cmd = [sys.executable, "-m", "cnncompile", "analyze", args.spec]
    theirs_cmd = [sys.executable, "-c", TORCHINFO_SCRIPT]
    ours, theirs = [], []
    timed(ours_cmd), timed(theirs_cmd)  # warm the file cache
    for _ in range(args.repeat):
        t, out = timed(ours_cmd)
        ours.append(t)
        t, ref = timed(theirs_cmd)
        theirs.append(t)
    params = next(line for line in out.splitlines() if line.startswith("Trainable params"))
    ref_total = next(line for line in ref.splitlines() if line.startswith("TOTAL"))
    a, b = statistics.median(ours), statistics.median(theirs)
    import numpy  # noqa: F401  (loads the BLAS that describe() reports; analyze's own)

    print(f"ResNet-152 at 224x224x3, {args.repeat} runs each, medians of whole processes")
    print(f"  {describe()}")
    print(f"  cnncompile analyze : {a * 1000:7.0f} ms   ({params.strip()})")
    print(f"  torchinfo.summary  : {b * 1000:7.0f} ms   (torch params {ref_total.split()[1]})")
    print(f"  ratio              : {b / a:7.1f}x faster (goal: >= 10x)")


if __name__ == "__main__":
    main()

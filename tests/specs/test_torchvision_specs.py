"""torchvision-layout specs against published counts and against torch models built here.

The torch models are written from torch.nn in this file (torchvision is not a dependency) in
torchvision's layout; parameters, batch-norm running statistics and conv+linear MACs are
counted on torch's side (MACs from forward hooks on the meta device, so nothing is computed).
"""

from __future__ import annotations

import math

import pytest
import torch

nn = torch.nn

# torchvision's documented parameter counts
PUBLISHED = {
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "resnet152": 60_192_808,
    "vgg16": 138_357_544,
}


def conv_bn(cin: int, cout: int, k: int, s: int, p: int) -> list:
    return [nn.Conv2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout)]


class Residual(nn.Module):
    """relu(main(x) + shortcut(x)), the shortcut being the identity or a 1x1 conv + bn."""

    def __init__(self, main: list, shortcut: list | None):
        super().__init__()
        self.main = nn.Sequential(*main)
        self.shortcut = nn.Sequential(*shortcut) if shortcut else nn.Identity()

    def forward(self, x):
        return torch.relu(self.main(x) + self.shortcut(x))


def basic(cin: int, n: int, s: int) -> Residual:
    main = conv_bn(cin, n, 3, s, 1) + [nn.ReLU()] + conv_bn(n, n, 3, 1, 1)
    return Residual(main, conv_bn(cin, n, 1, s, 0) if (s, cin) != (1, n) else None)


def bottleneck(cin: int, n: int, s: int) -> Residual:
    main = (conv_bn(cin, n, 1, 1, 0) + [nn.ReLU()] + conv_bn(n, n, 3, s, 1) + [nn.ReLU()]
            + conv_bn(n, 4 * n, 1, 1, 0))
    return Residual(main, conv_bn(cin, 4 * n, 1, s, 0) if (s, cin) != (1, 4 * n) else None)


def torch_resnet(kind: str, blocks: list[int]) -> nn.Module:
    make, expansion = (basic, 1) if kind == "basic" else (bottleneck, 4)
    layers = conv_bn(3, 64, 7, 2, 3) + [nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for stage, count in enumerate(blocks):
        n = 64 * 2**stage
        for i in range(count):
            layers.append(make(cin, n, 2 if (i == 0 and stage > 0) else 1))
            cin = n * expansion
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    return nn.Sequential(*layers)


def torch_vgg16() -> nn.Module:
    layers, cin = [], 3
    for n, reps in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(reps):
            layers += [nn.Conv2d(cin, n, 3, 1, 1), nn.ReLU()]
            cin = n
        layers.append(nn.MaxPool2d(2, 2))
    layers += [nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
               nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 1000)]
    return nn.Sequential(*layers)


def torch_figures(make) -> dict:
    """Trainable sizes, running-statistic count and conv+linear MACs of a torch model at 224."""
    with torch.device("meta"):  # shapes only: no weights are allocated or initialised
        model = make()
    macs = [0]

    def hook(mod, inputs, out):
        if isinstance(mod, nn.Conv2d):
            macs[0] += math.prod(out.shape[1:]) * math.prod(mod.weight.shape[1:])
        elif isinstance(mod, nn.Linear):
            macs[0] += mod.weight.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        out = model(torch.empty(1, 3, 224, 224, device="meta"))
    for h in handles:
        h.remove()
    assert tuple(out.shape) == (1, 1000)
    return {
        "sizes": sorted(p.numel() for p in model.parameters()),
        "stats": sum(b.numel() for name, b in model.named_buffers() if "running_" in name),
        "macs": macs[0],
    }


MODELS = {
    "resnet18": lambda: torch_resnet("basic", [2, 2, 2, 2]),
    "resnet50": lambda: torch_resnet("bottleneck", [3, 4, 6, 3]),
    "resnet152": lambda: torch_resnet("bottleneck", [3, 8, 36, 3]),
    "vgg16": torch_vgg16,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_matches_torch_model(analysed, name):
    a = analysed(f"torchvision/{name}.yaml")
    ref = torch_figures(MODELS[name])
    assert sum(ref["sizes"]) == PUBLISHED[name]  # the oracle itself is torchvision's layout
    ours = sorted(p.size for p in a.graph.params() if p.trainable)
    assert ours == ref["sizes"]  # the same tensors, one for one
    assert a.totals.trainable_params == PUBLISHED[name]
    assert a.totals.non_trainable_params == ref["stats"]
    assert a.totals.macs == ref["macs"]
    assert a.graph.output_shape == (1000,)


def test_resnet_blocks_use_the_extensions(analysed):
    g = analysed("torchvision/resnet50.yaml").graph
    convs = [n for n in g if n.op == "conv"]
    assert not any(n.attrs.bias for n in convs)
    bns = [n for n in g if n.op == "batch_norm"]
    assert len(bns) == len(convs) == 53
    assert {(n.attrs.epsilon, n.attrs.exp_ratio, n.attrs.rescale) for n in bns} == {(1e-5, 0.1, True)}
    adds = [n for n in g if n.op == "add"]
    assert len(adds) == 16
    users = g.users()
    assert all(g[u].op == "act" for a in adds for u in users[a.name])  # relu after the sum
    stem = convs[0].attrs.windows[0]
    assert (stem.kernel, stem.stride, stem.pad_lo, stem.out) == (7, 2, 3, 112)

"""The typed layer tree: what the front end hands to the rest of the compiler.

Every option is validated and canonicalised here (ints become per-axis pairs, padding strings
become upper case, defaults are filled in), so nothing after the front end sees raw dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Location

ACTFUNCS = ("relu", "sigmoid", "tanh", "none", "leaky_relu", "elu", "swish")


@dataclass
class Layer:
    """Base of every layer. ``loc`` has the file, line and layer path for error messages."""

    loc: Location = field(repr=False, compare=False)

    kind = "layer"

    @property
    def children(self) -> list[Layer]:
        return []


@dataclass
class Full(Layer):
    width: int = 0
    actfunc: str = "relu"
    bias: bool = True
    kind = "full"


@dataclass
class Conv(Layer):
    ksize: tuple[int, int] = (1, 1)
    chn: int = 0
    stride: tuple[int, int] = (1, 1)
    padding: tuple = ("SAME", "SAME")  # per axis: 'SAME' | 'VALID' | int
    actfunc: str = "relu"
    actions: str = "LA"
    bias: bool = True
    groups: int = 1
    bn: dict | None = None  # ext: {exp_ratio, epsilon} of the `B` action; None: the textbook's
    kind = "conv"


@dataclass
class Pool(Layer):
    op: str = "max"  # 'max' | 'avg'
    ksize: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple = ("SAME", "SAME")
    count_pad: bool = True  # integer padding only: avg divides by k*k (PyTorch's default)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.op


@dataclass
class Dropout(Layer):
    keep_prob: float = 1.0
    kind = "dropout"


@dataclass
class Noise(Layer):
    type: str = "normal"
    mean: float = 0.0
    std: float = 1.0
    ratio: float = 1.0
    kind = "noise"


@dataclass
class BatchNormal(Layer):
    rescale: bool = True
    epsilon: float = 1e-10
    exp_ratio: float = 0.001
    momentum: float | None = None  # ext: the rate as written, `momentum` (dumps write it back)
    kind = "batch_normal"


@dataclass
class Act(Layer):
    actfunc: str = "relu"
    kind = "act"


@dataclass
class Serial(Layer):
    items: list[Layer] = field(default_factory=list)
    kind = "serial"

    @property
    def children(self) -> list[Layer]:
        return self.items


@dataclass
class Parallel(Layer):
    branches: list[Layer] = field(default_factory=list)
    kind = "parallel"

    @property
    def children(self) -> list[Layer]:
        return self.branches


@dataclass
class Loop(Layer):
    repeat: int = 1
    body: Layer | None = None
    kind = "loop"

    @property
    def children(self) -> list[Layer]:
        return [self.body] if self.body is not None else []


@dataclass
class Add(Layer):
    branches: list[Layer] = field(default_factory=list)
    x: bool = True
    actions: str = ""
    actfunc: str = "relu"
    bn: dict | None = None  # ext: {exp_ratio, epsilon} of the `B` action; None: the textbook's
    kind = "add"

    @property
    def children(self) -> list[Layer]:
        return self.branches


@dataclass
class Custom(Layer):
    name: str = ""
    body: Layer | None = None
    # the call's arguments as written (placeholder -> value), for reports; not part of equality
    args: dict = field(default_factory=dict, compare=False)
    kind = "custom"

    @property
    def children(self) -> list[Layer]:
        return [self.body] if self.body is not None else []


def count_layers(layer: Layer) -> int:
    """Layers after expanding every loop (each copy counted), composites included."""
    if isinstance(layer, Loop):
        return 1 + layer.repeat * (count_layers(layer.body) if layer.body else 0)
    return 1 + sum(count_layers(c) for c in layer.children)

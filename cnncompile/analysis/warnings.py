"""Layers that are valid but do nothing, or one layer that holds most of the model.

The textbook's defaults make some layers silently inert: a bare ``max`` or ``avg`` is a 1x1
window with stride 1, a bare ``dropout`` keeps every value. :func:`find_warnings` names such
layers by the same path that errors use (``layers[1] > max``), so a user sees them before
training. A ``loop`` of one repeat is reported only outside macros: a macro's loop count is
usually an argument (the chapter-9 ``rhalf`` takes ``#cnt1: 1``), where one is deliberate.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Location
from ..frontend import layers as L
from ..ir.graph import Block, Graph

DOMINANT_SHARE = 0.5  # of all parameters ...
DOMINANT_MIN = 1_000_000  # ... and at least this many


@dataclass(frozen=True)
class SpecWarning:
    """One warning: where (file, line, layer path) and what."""

    loc: Location
    message: str

    def __str__(self) -> str:
        where = str(self.loc)
        return f"{where}: {self.message}" if where else self.message


def _inert(layer) -> str | None:
    """Why ``layer`` does nothing, or None."""
    if isinstance(layer, L.Pool) and layer.ksize == (1, 1) and layer.stride == (1, 1):
        return (f"{layer.op} with a 1x1 window and stride 1 passes its input through "
                f"unchanged (the default when neither ksize nor stride is given); "
                f"write e.g. [{layer.op}, {{stride: 2}}]")
    if isinstance(layer, L.Dropout) and layer.keep_prob == 1.0:
        return ("dropout with keep_prob 1 keeps every value (the default); "
                "write e.g. [dropout, {keep_prob: 0.5}]")
    if isinstance(layer, L.Noise) and (layer.ratio == 0 or (layer.std == 0 and layer.mean == 0)):
        what = "ratio 0" if layer.ratio == 0 else "std 0 and mean 0"
        return f"noise with {what} adds nothing"
    if isinstance(layer, L.Noise) and layer.std == 0:
        return f"noise with std 0 adds no randomness, only the constant {layer.mean:g}"
    if isinstance(layer, L.Loop) and layer.repeat == 1 and "custom " not in (layer.loc.path or ""):
        return "loop with repeat 1 runs its body once: the loop can go"
    return None


def _walk(block: Block):
    """``block`` and every block below it, in spec order. A stack rather than nested
    ``yield from``, which costs one step per level for every block (ResNet-152 nests deep)."""
    stack = [block]
    while stack:
        b = stack.pop()
        yield b
        stack.extend(reversed(b.children))


def _block_params(graph: Graph, block: Block) -> int:
    return sum(p.size for n in block.all_nodes() for p in graph[n].params)


def find_warnings(graph: Graph) -> list[SpecWarning]:
    """Inert layers and a dominating layer of ``graph``, in spec order, each named once."""
    found: list[SpecWarning] = []
    seen: set[tuple[str, str]] = set()

    def add(loc: Location, message: str) -> None:
        if (str(loc), message) not in seen:  # a macro or loop body reported once, not per copy
            seen.add((str(loc), message))
            found.append(SpecWarning(loc, message))

    total = sum(p.size for p in graph.params())
    for block in _walk(graph.block) if graph.block else ():
        layer = block.layer
        if layer is None:
            continue
        why = _inert(layer)
        if why:
            add(layer.loc, why)
        if block.is_leaf:
            n = _block_params(graph, block)
            if n >= DOMINANT_MIN and n > DOMINANT_SHARE * total:
                add(layer.loc, f"this one layer holds {n:,} of the model's {total:,} parameters "
                    f"({n / total:.0%}); a pooling layer before it, or fewer units, would "
                    "shrink it")
    out_params = sum(p.size for p in graph[graph.output].params)
    if out_params >= DOMINANT_MIN and out_params > DOMINANT_SHARE * total:
        add(Location(path="output"), f"the output layer holds {out_params:,} of the model's "
            f"{total:,} parameters ({out_params / total:.0%}); pool the features before it")
    return found

"""The one bound on a model's sizes that no machine changes: what a tensor index can count.

NumPy, ONNX and PyTorch count a tensor's elements in signed 64-bit integers, so a layer whose
output (for the batch asked about) or whose parameter holds more elements than that describes
nothing any backend could build: its figures are refused, with the layer named, instead of
being printed as 50-digit numbers or handed to a backend. :func:`~cnncompile.ir.lower`
checks every graph (batch 1) and the analysis checks the batch it is asked about. Below the
bound the figures stay exact, however large; the commands that allocate refuse what does not
fit in memory (``analysis/memory.py``).
"""

from __future__ import annotations

import math

from ..errors import ShapeError
from .graph import Graph

MAX_TENSOR_ELEMENTS = 2**63 - 1  # int64, the element count of NumPy, ONNX and torch tensors


def check_representable(graph: Graph, batch: int = 1) -> None:
    """Refuse ``graph`` when one of its tensors has more elements than any backend can count.

    Raises:
        ShapeError: located at the layer, e.g. ``s.yaml:5: layers[0] > conv: the output
            [8, 8, 1e+29] holds 6.4e+30 elements for batch 1; no backend can index more
            than 2**63 - 1 (9.2e+18)``.
    """
    for node in graph:
        output = "the input" if node.op == "input" else "the output"
        tensors = [(output, node.shape, max(batch, 1), f" for batch {batch}")]
        tensors += [(f"the parameter `{p.name}`", p.shape, 1, "") for p in node.params]
        for what, shape, copies, per in tensors:
            elements = math.prod(shape) * copies
            if elements > MAX_TENSOR_ELEMENTS:
                shown = ", ".join(str(d) if d < 10**6 else f"{d:.1e}" for d in shape)
                raise ShapeError(f"{what} [{shown}] holds {elements:.1e} elements{per}; no "
                                 f"backend can index more than 2**63 - 1 "
                                 f"({MAX_TENSOR_ELEMENTS:.1e})", node.loc)

"""Memory a step needs, estimated from shapes before anything is allocated.

Training, the export parity check and ``bench --batch`` call :func:`check_memory` before they
allocate, so a batch or a model too large for the machine is refused with the figure, instead
of ending in a MemoryError or in the kernel's out-of-memory killer.

The estimate is a lower bound: the float32 arrays a step cannot do without (parameters,
gradients, the optimiser's state, the activations). Workspace on top of it (conv columns,
temporaries) is left out, so a step refused here cannot fit, while one let through may still
be tight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ResourceError
from ..ir.graph import Graph
from ..machine import available_memory, size_text
from ..training_options import DEFAULTS, OPTIMIZER_RULES
from .report import BYTES, analyze_graph


def optimizer_copies(optimizer: str) -> int:
    """Float32 copies of the trainable parameters ``optimizer`` keeps during training: its
    state slots and the engine's work buffers (Adam: two moments and two flat buffers, 4;
    momentum: its velocity, 1; sgd: 0), from the option table's one record of them."""
    rule = OPTIMIZER_RULES[optimizer]
    return len(rule.slots) + rule.work_copies


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one forward (``training=False``) or training step needs, by kind."""

    batch: int
    training: bool
    input_shape: tuple[int, ...]
    parameters: int  # every parameter, float32
    gradients: int  # training: one per trainable parameter
    optimizer_state: int  # training
    activations: int  # training: all kept for backward, plus the largest gradient pair;
    # inference: the most alive at once
    kept_weights: int = 0  # training with keep best: the best epoch's copy of the parameters

    @property
    def total(self) -> int:
        return (self.parameters + self.gradients + self.optimizer_state + self.activations
                + self.kept_weights)

    def describe(self) -> str:
        """``needs 412.3 GiB for batch 100000 at 224x224x3 (parameters 97.5 MiB, ...)``."""
        parts = [("parameters", self.parameters), ("gradients", self.gradients),
                 ("optimizer state", self.optimizer_state), ("activations", self.activations),
                 ("kept weights", self.kept_weights)]
        parts = [(k, v) for k, v in parts if v]
        detail = f" ({', '.join(f'{k} {size_text(v)}' for k, v in parts)})" if len(parts) > 1 else ""
        at = "x".join(map(str, self.input_shape))
        what = f"batch {self.batch} at {at}" if self.batch else f"the model alone, input {at}"
        return f"needs {size_text(self.total)} for {what}{detail}"


def estimate_memory(graph: Graph, batch: int, training: bool = False,
                    optimizer: str = DEFAULTS["optimizer"],
                    keep: str = DEFAULTS["keep"]) -> MemoryEstimate:
    """The bytes a forward pass or a training step of ``batch`` samples needs (a lower bound).

    Args:
        graph: the lowered IR graph; no weight arrays are needed.
        batch: samples per step (0: the parameters alone).
        training: forward, backward and an optimiser update instead of a forward pass.
        optimizer: ``sgd``, ``momentum`` or ``adam`` (its state, when training).
        keep: ``best`` holds a copy of every parameter for the best epoch, when training.

    >>> from cnncompile.frontend import parse_spec
    >>> from cnncompile.ir import lower
    >>> g = lower(parse_spec("name: t\\ninput: [8, 8, 1]\\noutput: {classes: 2}\\n"
    ...                      "layers: [[conv, {ksize: 3, chn: 4}]]\\n", "t.yaml"))
    >>> e = estimate_memory(g, 10)
    >>> e.parameters, e.gradients    # 4 bytes x (3*3*1*4 + 4 conv, 8*8*4*2 + 2 dense)
    (2216, 0)
    >>> estimate_memory(g, 10, training=True, keep="last").describe()
    'needs 65.6 KiB for batch 10 at 8x8x1 (parameters 2.2 KiB, gradients 2.2 KiB, optimizer state 8.7 KiB, activations 52.6 KiB)'
    """
    totals = analyze_graph(graph, batch).totals
    trainable = totals.trainable_params * BYTES
    if not training:
        return MemoryEstimate(batch, False, graph.input_shape, totals.param_bytes, 0, 0,
                              totals.inference_peak_bytes)
    # backward holds one node's incoming gradient and the one it passes on at the same time
    largest = max(math.prod(n.shape) for n in graph) * batch * BYTES
    return MemoryEstimate(batch, True, graph.input_shape, totals.param_bytes, trainable,
                          optimizer_copies(optimizer) * trainable,
                          totals.activation_bytes + 2 * largest,
                          totals.param_bytes if keep == "best" else 0)


def input_estimate(input_shape: tuple[int, ...], batch: int, copies: int = 1) -> MemoryEstimate:
    """The bytes of ``copies`` float32 input batches alone: for a model known only by its
    input (an ONNX file), a lower bound of what running it needs."""
    size = copies * batch * math.prod(input_shape) * BYTES
    return MemoryEstimate(batch, False, tuple(input_shape), 0, 0, 0, size)


def check_memory(graph: Graph, batch: int, training: bool = False,
                 optimizer: str = DEFAULTS["optimizer"],
                 purpose: str = "this step", hint: str = "",
                 available: int | None = None, keep: str = DEFAULTS["keep"]) -> MemoryEstimate:
    """Refuse a step the machine cannot hold, before anything is allocated.

    Args:
        graph, batch, training, optimizer, keep: as for :func:`estimate_memory`.
        purpose: what is about to run, first in the message (``training``).
        hint: how to ask for less, last in the message (``lower --batch-size``).
        available: bytes available (default: :func:`available_memory`; unknown: no check).

    Returns:
        The estimate, when it fits.

    Raises:
        ResourceError: the estimate exceeds the memory available, e.g. ``training needs
            412.3 GiB for batch 100000 at 224x224x3 (...); this machine has 23.4 GiB
            available; lower --batch-size``.
    """
    estimate = estimate_memory(graph, batch, training, optimizer, keep)
    return check_estimate(estimate, purpose, hint, available)


def check_estimate(estimate: MemoryEstimate, purpose: str, hint: str = "",
                   available: int | None = None) -> MemoryEstimate:
    """Raise ResourceError when ``estimate`` exceeds the memory available (see check_memory).

    >>> check_estimate(input_estimate((224, 224, 3), 100000), "predict", "use fewer images",
    ...                available=4 << 30)
    Traceback (most recent call last):
    cnncompile.errors.ResourceError: predict needs 56.1 GiB for batch 100000 at 224x224x3; \
this machine has 4.0 GiB available; use fewer images
    """
    available = available_memory() if available is None else available
    if available is None or estimate.total <= available:
        return estimate
    tail = f"; {hint}" if hint else ""
    raise ResourceError(f"{purpose} {estimate.describe()}; this machine has "
                        f"{size_text(available)} available{tail}")

"""Precise batch norm: running statistics recomputed from the training data with final weights.

The textbook moves each batch-norm layer's running mean and variance by ``exp_ratio`` (0.001)
per step, so after a few hundred steps they still sit near their starting values (0 and 1)
and the trained model evaluates near chance. :func:`recalibrate` replaces them with the exact
population mean and biased variance that each layer's input has at inference time.

Exactness: a layer's inference-time input depends on the statistics of the batch-norm layers
before it. The layers are therefore processed in *levels*: level 0 holds the layers with no
batch norm upstream, level k those whose deepest batch-norm ancestor is at level k - 1. One
inference pass over the sample per level (cut off after the level's last node) accumulates
the moments of every layer of the level, with every earlier level already recalibrated; so
each layer's statistics are those of exactly the inputs it receives from the final model.
The sample is the whole training split up to :data:`FINAL_SAMPLES` samples (a fixed draw
beyond that), without augmentation, as inference sees images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir.graph import Graph

FINAL_SAMPLES = 10_000  # the recalibration after training
VALIDATION_SAMPLES = 256  # the statistics each epoch's validation figures use (cost: see docs)
BATCH = 250
CONVERGED = 0.1  # the largest weight the starting statistics may keep after training


@dataclass(frozen=True)
class Recalibration:
    """What :func:`recalibrate` did: the layers and the number of samples it used."""

    layers: int
    samples: int
    levels: int

    def describe(self) -> str:
        s = "s" if self.layers != 1 else ""
        return (f"batch-norm statistics of {self.layers} layer{s} recalibrated on "
                f"{self.samples:,} training samples")

    def to_json(self) -> dict:
        return {"recalibrated": True, "layers": self.layers, "samples": self.samples}


def batch_norm_levels(graph: Graph) -> list[list[str]]:
    """The batch-norm nodes grouped by how many batch-norm layers lie before them on a path.

    >>> from cnncompile.frontend import parse_spec
    >>> from cnncompile.ir import lower
    >>> g = lower(parse_spec("name: t\\ninput: [4, 4, 1]\\noutput: {classes: 2}\\nlayers: "
    ...     "[[conv, {ksize: 3, chn: 2, actions: LAB}], [conv, {ksize: 3, chn: 2, actions: LAB}]]"))
    >>> batch_norm_levels(g)
    [['conv_0/bn'], ['conv_1/bn']]
    """
    above: dict[str, int] = {}  # the number of batch-norm layers on the longest path into a node
    levels: list[list[str]] = []
    for n in graph:
        depth = max((above[i] + (graph[i].op == "batch_norm") for i in n.inputs), default=0)
        above[n.name] = depth
        if n.op == "batch_norm":
            while len(levels) <= depth:
                levels.append([])
            levels[depth].append(n.name)
    return [lv for lv in levels if lv]


def sample_indices(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """All of ``range(n)`` when it fits in ``limit``, else a fixed sorted draw of ``limit``."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 7]).choice(n, limit, replace=False))


def recalibrated_statistics(executor, params: dict[str, np.ndarray], split,
                            limit: int = FINAL_SAMPLES) -> tuple[dict[str, np.ndarray],
                                                                 Recalibration | None]:
    """New ``<bn>.mean`` / ``<bn>.var`` arrays for every batch-norm node (``params`` unchanged).

    Returns ``({}, None)`` when the graph has no batch norm or ``split`` is empty.
    """
    levels = batch_norm_levels(executor.graph)
    if not levels or len(split) == 0:
        return {}, None
    idx = sample_indices(len(split), limit)
    current = dict(params)
    new: dict[str, np.ndarray] = {}

    def batches():
        for s in range(0, len(idx), BATCH):
            yield split.inputs(idx[s:s + BATCH])

    for level in levels:
        for name, m in executor.batch_norm_moments(current, batches(), level).items():
            dtype = np.asarray(params[f"{name}.mean"]).dtype
            new[f"{name}.mean"] = m.mean.astype(dtype)
            new[f"{name}.var"] = m.var.astype(dtype)
        current.update(new)
    count = sum(len(lv) for lv in levels)
    return new, Recalibration(count, len(idx), len(levels))


def recalibrate(executor, params: dict[str, np.ndarray], split,
                limit: int = FINAL_SAMPLES) -> Recalibration | None:
    """Replace the running statistics in ``params`` (in place) by exact population ones."""
    new, info = recalibrated_statistics(executor, params, split, limit)
    for k, v in new.items():
        params[k][...] = v
    return info


def rate_warning(graph: Graph, steps: int) -> str | None:
    """A one-line warning when a batch-norm rate cannot forget its start in ``steps`` steps.

    After ``s`` steps at rate ``r`` the running statistics still hold ``(1 - r)^s`` of their
    starting values (mean 0, variance 1); above :data:`CONVERGED` they are not the data's.
    """
    rates = {n.attrs.exp_ratio for n in graph if n.op == "batch_norm"}
    if not rates or steps <= 0:
        return None
    r = min(rates)
    left = math.exp(steps * math.log1p(-r)) if r < 1 else 0.0
    if left <= CONVERGED:
        return None
    need = math.ceil(math.log(CONVERGED) / math.log1p(-r))
    return (f"batch-norm rate exp_ratio {r:g} keeps {left:.0%} of the starting statistics after "
            f"{steps:,} steps (needs {need:,} to fall below {CONVERGED:.0%})")

"""Precise batch norm: running statistics recomputed from the training data with final weights.

The textbook moves each batch-norm layer's running mean and variance by ``exp_ratio`` (0.001)
per step, so after a few hundred steps they still sit near their starting values (0 and 1)
and the trained model evaluates near chance. :func:`recalibrate` replaces them with the exact
population mean and biased variance that each layer's input has at inference time.

Exactness: a layer's inference-time input depends on the statistics of the batch-norm layers
before it. The sample therefore goes through the model as *one* batch in inference mode, with
every batch-norm layer normalising by the mean and variance of its own input over that batch
(``Executor.batch_norm_statistics``): those are exactly the statistics returned for it, so every
layer sees the inputs it will see at inference once they are installed. One forward pass, no
approximation. The sample is the training split without augmentation, up to
:data:`FINAL_SAMPLES` samples, fewer when one batch of them would need more than
:data:`MEMORY_BUDGET` bytes (a fixed random draw when it is smaller than the split).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir.graph import Graph

FINAL_SAMPLES = 10_000  # the recalibration after training
VALIDATION_SAMPLES = 256  # the statistics each epoch's validation figures use
MEMORY_BUDGET = 1 << 30  # bytes one recalibration batch may take
CONVERGED = 0.1  # the largest weight the starting statistics may keep after training


@dataclass(frozen=True)
class Recalibration:
    """What :func:`recalibrate` did: the layers and the number of samples it used."""

    layers: int
    samples: int

    def describe(self) -> str:
        s = "s" if self.layers != 1 else ""
        return (f"batch-norm statistics of {self.layers} layer{s} recalibrated on "
                f"{self.samples:,} training samples")

    def to_json(self) -> dict:
        return {"recalibrated": True, "layers": self.layers, "samples": self.samples}


def bytes_per_sample(graph: Graph) -> int:
    """A generous bound on the memory one sample takes in a recalibration pass.

    The largest node counts its inputs, output and convolution columns in float32, a batch-norm
    node its float64 moments work too; doubled for the tensors kept alive for later users.
    """
    worst = 0
    for n in graph:
        ins = sum(math.prod(graph[i].shape) for i in n.inputs)
        size = 4 * (ins + math.prod(n.shape))
        if n.op == "conv":
            kh, kw, cin = n.params[0].shape[:3]
            size += 4 * math.prod(n.shape[:-1]) * kh * kw * cin
        if n.op == "batch_norm":
            size += 16 * ins
        worst = max(worst, size)
    return 2 * worst


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
    if len(split) == 0 or not any(n.op == "batch_norm" for n in executor.graph):
        return {}, None
    fits = max(1, MEMORY_BUDGET // bytes_per_sample(executor.graph))
    idx = sample_indices(len(split), min(limit, fits))
    moments = executor.batch_norm_statistics(params, split.inputs(idx))
    new: dict[str, np.ndarray] = {}
    for name, m in moments.items():
        dtype = np.asarray(params[f"{name}.mean"]).dtype
        new[f"{name}.mean"] = m.mean.astype(dtype)
        new[f"{name}.var"] = m.var.astype(dtype)
    return new, Recalibration(len(moments), len(idx))


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

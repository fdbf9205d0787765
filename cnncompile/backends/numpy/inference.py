"""The graph the engine's inference runs: the model with its batch norms folded away.

At inference a batch norm is a per-channel affine map, so the IR passes can fold it into the
conv or dense before it (:func:`~cnncompile.ir.passes.fold_batch_norm`) or push it into the
ones after it (:func:`~cnncompile.ir.passes.push_affine_forward`), which saves a pass over
memory per batch norm. Pushes that would need a ``bias_map`` are left out: measured on this
engine (batch 10 and 32, one thread, interleaved medians of the inference forward, random
weights and statistics), ``bottleneck_flower`` ran 1.12x with them left out and 1.08x
with them, ``residual_flower`` 1.04x and 0.99x (the extra add also keeps the activation
after the conv from fusing into it). Training never runs this graph (it normalises by the
batch).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ...ir.graph import Graph
from ...ir.passes import fold_batch_norm, push_affine_forward, run_passes
from .kernel import Params

INFERENCE_PASSES = (fold_batch_norm, partial(push_affine_forward, bias_maps=False))


def inference_model(graph: Graph, params: Params) -> tuple[Graph, Params]:
    """``graph`` and ``params`` as the engine's inference runs them (new arrays where a pass
    rewrote one; ``params`` itself is left alone). Non-finite statistics give non-finite
    weights without a warning: the predictor's output check names the cause."""
    with np.errstate(all="ignore"):
        out, new_params, _ = run_passes(graph, params, INFERENCE_PASSES)
    return out, new_params

"""Buffers a kernel keeps from step to step (``Kernel.kept``) carry nothing into the next step.

A training step on one batch and then on another gives, bit for bit, what a fresh executor
gives on the second batch: cells a kernel adds into (col2im, overlapping pooling windows) start
from zero again, and no output of the first step shows through in the second.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.backends.numpy import Executor


def _step(ex: Executor, params, x, dlogits):
    """Logits and parameter gradients of one training step (running statistics move)."""
    logits = ex.forward(params, x, training=True, rng=np.random.default_rng(0))
    return logits, ex.backward(dlogits)


@pytest.mark.parametrize("case", ["conv_same_k3s1", "conv_valid_k3s2", "conv_int_pad",
                                  "conv_groups", "max_k2s2", "max_k3s2_overlap",
                                  "avg_k3s1_overlap", "add_x_tiled", "bn_rescale"])
def test_second_step_equals_a_fresh_executor(graph, gradcheck, op_cases, case):
    g = graph(*op_cases[case])
    params = {k: v.astype(np.float32) for k, v in gradcheck.random_params(g, 0).items()}
    rng = np.random.default_rng(1)
    xa, xb = (rng.normal(size=(5,) + g.input_shape).astype(np.float32) for _ in range(2))
    da, db = (rng.normal(size=(5, g.output_shape[0])).astype(np.float32) for _ in range(2))
    used = Executor(g)
    _step(used, params, xa, da)
    before_b = {k: v.copy() for k, v in params.items()}
    logits, grads = _step(used, params, xb, db)
    want_logits, want_grads = _step(Executor(g), before_b, xb, db)
    np.testing.assert_array_equal(logits, want_logits)
    assert grads.keys() == want_grads.keys()
    for name, want in want_grads.items():
        np.testing.assert_array_equal(grads[name], want, err_msg=name)

"""True gradients: central differences on the float64 engine for every op and option.

The second half plants each textbook gradient bug of spec-format section 7 in the engine and
shows that the same check fails on it, so a regression to any of them cannot pass.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cnncompile.backends.numpy import KERNELS
from cnncompile.backends.numpy.elementwise import Add, Concat
from cnncompile.backends.numpy.norm import BatchNorm
from cnncompile.backends.numpy.pooling import AvgPool
from cnncompile.backends.numpy.windows import tap_plan

TOL = 1e-6


def test_gradients_match_central_differences(op_case, graph, gradcheck):
    g = graph(*op_case)
    errors = gradcheck.grad_errors(g)
    assert set(errors) == {p.name for p in g.params() if p.trainable}
    name, err = gradcheck.worst(errors)
    assert err < TOL, f"{name}: relative error {err:.2e}"


def test_gradients_with_a_larger_batch_and_several_heads(graph, gradcheck):
    g = graph("[[conv, {ksize: 3, chn: 4, stride: 2, actions: LBA}], [avg, {ksize: 3}], 6]",
              "[9, 8, 3]", "{heads: {a: 2, b: 3}}")
    name, err = gradcheck.worst(gradcheck.grad_errors(g, batch=5, seed=3))
    assert err < TOL, f"{name}: {err:.2e}"


# -- the textbook's gradient bugs, planted one at a time -------------------------------------


class TextbookBatchNorm(BatchNorm):
    """Backward that ignores how the batch mean and variance depend on the input."""

    def backward(self, dy, p, need_dx):
        dxs, grads = super().backward(dy, p, need_dx)
        _, _, inv_std = self._saved
        mul = inv_std * p["scale"] if self.attrs.rescale else inv_std
        return [dy * mul.reshape((-1,) + (1,) * (dy.ndim - 1))], grads


class TextbookConcat(Concat):
    """Backward that hands every branch the first branch's channels."""

    def backward(self, dy, p, need_dx):
        widths = np.diff(self.bounds)
        return [dy[:w] for w in widths], {}


class TextbookAvgPool(AvgPool):
    """Backward that puts each window's gradient at the wrong place (windows not anchored)."""

    def backward(self, dy, p, need_dx):
        right = self.taps
        unanchored = tuple(dataclasses.replace(w, pad_lo=0) for w in self.node.attrs.windows)
        self.taps = [t for t in tap_plan(unanchored) if not t.empty]
        try:
            return super().backward(dy, p, need_dx)
        finally:
            self.taps = right


class TextbookAdd(Add):
    """Forward that adds in place into the first child's (saved) activation."""

    def forward(self, xs, p, ctx):
        y = xs[0]
        for x in xs[1:]:
            y += x
        return y


@pytest.mark.parametrize("op, buggy, case", [
    ("batch_norm", TextbookBatchNorm, "bn_rescale"),
    ("batch_norm", TextbookBatchNorm, "conv_LBA_strided"),
    ("concat", TextbookConcat, "parallel"),
    ("avg_pool", TextbookAvgPool, "avg_k3s2_overlap"),
    ("avg_pool", TextbookAvgPool, "avg_k3s1_overlap"),
    ("add", TextbookAdd, "add_AB"),
])
def test_check_catches_textbook_bug(monkeypatch, graph, gradcheck, op_cases, op, buggy, case):
    g = graph(*op_cases[case])
    name, err = gradcheck.worst(gradcheck.grad_errors(g))
    assert err < TOL, f"{name}: {err:.2e}"
    monkeypatch.setitem(KERNELS, op, buggy)
    name, err = gradcheck.worst(gradcheck.grad_errors(g))
    assert err > 1e-2, f"the planted bug went unnoticed ({name}: {err:.2e})"


def test_check_catches_activation_derivative_taken_from_the_final_output(
        graph, gradcheck, op_cases):
    """The textbook's add takes the `A` derivative from the block's final output, after `B`."""
    g = graph(*op_cases["add_AB"])
    assert [g["add/relu"].op, g["add/bn"].inputs] == ["act", ["add/relu"]]

    def plant(ex):
        shape, xhat, _ = ex.kernels["add/bn"]._saved
        p = ex._node_params["add/bn"]
        final = xhat * p["scale"][:, None] + p["shift"][:, None]  # channel-major
        ex.kernels["add/relu"]._saved = (None, final.reshape(shape), None)

    name, err = gradcheck.worst(gradcheck.grad_errors(g, after_forward=plant))
    assert err > 1e-2, f"the planted bug went unnoticed ({name}: {err:.2e})"


@pytest.mark.parametrize("case", ["conv_same_k3s1", "conv_same_k3s2_crop", "conv_valid_k3s2",
                                  "conv_groups", "conv_depthwise", "conv_asymmetric",
                                  "add_x_tiled", "dense", "max_k2s2", "max_k3s2_overlap",
                                  "avg_k3s1_overlap", "bn_rescale", "act_swish", "parallel"])
def test_parts_and_memory_bounded_columns_are_exact(monkeypatch, graph, gradcheck, ref,
                                                    op_cases, case):
    """Many batch parts and channel blocks on three threads, conv columns rebuilt per part
    instead of kept: the same numbers as the naive reference, the same true gradients."""
    from cnncompile.backends.numpy import conv, dense, executor, parallel

    monkeypatch.setattr(conv, "KEEP_BYTES", 1)
    monkeypatch.setattr(conv, "PART_BYTES", 1)
    monkeypatch.setattr(conv, "PART_MACS", 1)
    monkeypatch.setattr(parallel, "MIN_PART_ELEMENTS", 1)
    monkeypatch.setattr(dense, "PARALLEL_MACS", 1)
    monkeypatch.setattr(executor, "default_threads", lambda: 3)
    g = graph(*op_cases[case])
    params = gradcheck.random_params(g, 0)
    x = np.random.default_rng(0).normal(size=(7,) + g.input_shape)
    want = ref.run_graph(g, params, x, training=True)[g.output]
    got = executor.Executor(g, np.float64).forward(params, x, training=True)
    assert np.abs(got - want).max() < 1e-12
    name, err = gradcheck.worst(gradcheck.grad_errors(g, batch=7))
    assert err < TOL, f"{name}: {err:.2e}"


def _peak_bytes(graph, x) -> int:
    """Peak traced allocation of one training forward and backward."""
    import tracemalloc

    from cnncompile.backends.numpy import Executor, init_params

    ex, params = Executor(graph, threads=2), init_params(graph)
    tracemalloc.start()
    try:
        y = ex.forward(params, x, training=True)
        ex.backward(np.ones_like(y))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_bounded_when_columns_do_not_fit(monkeypatch, graph):
    """A conv whose columns take 38 MB: over the keep limit it never holds them all at once."""
    from cnncompile.backends.numpy import conv

    g = graph("[[conv, {ksize: 3, chn: 32, actfunc: none}]]", "[64, 64, 16]")
    x = np.random.default_rng(0).normal(size=(16, 64, 64, 16)).astype(np.float32)
    cols_bytes = 16 * 64 * 64 * 9 * 16 * 4
    monkeypatch.setattr(conv, "KEEP_BYTES", 16 << 20)
    bounded = _peak_bytes(g, x)  # kept up to 16 MB, else parts of about PART_BYTES
    monkeypatch.setattr(conv, "KEEP_BYTES", 1 << 30)
    monkeypatch.setattr(conv, "PART_BYTES", 1 << 30)
    kept = _peak_bytes(g, x)
    assert kept - bounded > 0.75 * cols_bytes, f"{bounded / 2**20:.1f} vs {kept / 2**20:.1f} MiB"

"""Forward exactness: every op against the naive reference, hand-computed cells, spec files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnncompile.backends.numpy import KERNELS, Executor, init_params
from cnncompile.backends.numpy.kernel import Kernel, RunContext
from cnncompile.backends.numpy.parallel import pool
from cnncompile.errors import DataError
from cnncompile.frontend import load_spec
from cnncompile.ir import OPS, lower

SPECS = Path(__file__).resolve().parents[3] / "specs"


def test_every_ir_op_has_a_kernel():
    assert set(KERNELS) == set(OPS)
    for op, cls in KERNELS.items():
        assert cls.forward is not Kernel.forward, op
        assert cls.backward is not Kernel.backward, op


def _random_params(graph, seed=0):
    rng = np.random.default_rng(seed)
    params = init_params(graph, seed, init="he")
    for p in graph.params():
        if p.role in ("bias", "shift", "mean"):
            params[p.name] = rng.normal(0, 0.3, p.shape).astype(np.float32)
        elif p.role in ("scale", "var"):
            params[p.name] = rng.uniform(0.5, 1.5, p.shape).astype(np.float32)
    return params


def _compare_all(graph, params, x, training, ref, dtype, tol):
    want = ref.run_graph(graph, params, x, training)
    got = Executor(graph, dtype=dtype).forward_all(
        {k: v.astype(dtype) for k, v in params.items()}, x, training=training,
        rng=np.random.default_rng(0))
    assert set(got) == set(want)
    for name, w in want.items():
        assert got[name].dtype == dtype, name
        assert got[name].shape == w.shape, name
        err = np.abs(got[name] - w).max() / max(1.0, np.abs(w).max())
        assert err < tol, f"{name}: {err:.2e}"


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 3e-6)])
def test_forward_matches_naive_reference(op_case, graph, ref, dtype, tol):
    layers, shape = op_case
    g = graph(layers, shape)
    params = _random_params(g)
    x = np.random.default_rng(1).normal(size=(3,) + g.input_shape).astype(np.float32)
    _compare_all(g, params, x, False, ref, dtype, tol)
    if not any(n.op in ("dropout", "noise") for n in g):  # random in training
        _compare_all(g, params, x, True, ref, dtype, tol)


def test_forward_leaves_inputs_and_trainable_params_alone(op_case, graph):
    g = graph(*op_case)
    params = _random_params(g)
    before = {k: v.copy() for k, v in params.items()}
    x = np.random.default_rng(1).normal(size=(2,) + g.input_shape).astype(np.float32)
    x0 = x.copy()
    ex = Executor(g)
    y = ex.forward(params, x, training=True, rng=np.random.default_rng(0))
    ex.backward(np.ones_like(y))
    assert np.array_equal(x, x0)
    for p in g.params():
        if p.trainable:
            assert np.array_equal(params[p.name], before[p.name]), p.name


# -- hand-computed cells: the textbook's anchors and stride offsets (spec-format section 3) ----


def _row_conv(graph, width: int, conv: str) -> list[float]:
    """A ones-kernel conv over the row 1, 2, ..., width: each output is its window's sum."""
    g = graph(f"[[conv, {{chn: 1, bias: false, actfunc: none, {conv}}}]]", f"[1, {width}, 1]")
    params = init_params(g)
    params["conv.kernel"][:] = 1.0
    x = np.arange(1, width + 1, dtype=np.float32).reshape(1, 1, width, 1)
    return Executor(g).forward_all(params, x)["conv"].reshape(-1).tolist()


@pytest.mark.parametrize("conv, width, expected", [
    # SAME k3 s2: windows centred at 0, 2, 4 (TensorFlow pads at the end: 6, 12, 11)
    ("ksize: [1, 3], stride: [1, 2]", 6, [3, 9, 15]),
    # SAME k2 s2: anchor 0, windows at 2j
    ("ksize: [1, 2], stride: [1, 2]", 6, [3, 7, 11]),
    # SAME k4 s3: offset 1, anchor 1, so window j covers 3j .. 3j+3
    ("ksize: [1, 4], stride: [1, 3]", 8, [10, 22]),
    # VALID k3 s3: offset 1, windows start at 1 and 4 (TensorFlow: 0 and 3, giving 6, 15)
    ("ksize: [1, 3], stride: [1, 3], padding: VALID", 9, [9, 18]),
    # VALID k1 s3: the window starts inside the input
    ("ksize: [1, 1], stride: [1, 3], padding: VALID", 7, [2, 5]),
    # integer padding 1 (PyTorch's rule): windows start at -1, 1, 3
    ("ksize: [1, 3], stride: [1, 2], padding: [0, 1]", 6, [3, 9, 15]),
    # SAME k3 s1 keeps the size; the border windows see one zero
    ("ksize: [1, 3]", 4, [3, 6, 9, 7]),
])
def test_conv_windows_by_hand(graph, conv, width, expected):
    assert _row_conv(graph, width, conv) == expected


def _pool_out(graph, layer: str, x: np.ndarray) -> np.ndarray:
    g = graph(f"[{layer}]", f"[{x.shape[0]}, {x.shape[1]}, 1]")
    name = next(n.name for n in g if n.op.endswith("_pool"))
    out = Executor(g).forward_all(init_params(g), x[None, :, :, None].astype(np.float32),
                                  keep=[name])
    return out[name][0, :, :, 0]


def test_avg_divides_by_real_cells_at_the_border(graph):
    x = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    y = _pool_out(graph, "[avg, {ksize: 3}]", x)
    assert y[0, 0] == pytest.approx((1 + 2 + 4 + 5) / 4)
    assert y[0, 1] == pytest.approx((1 + 2 + 3 + 4 + 5 + 6) / 6)
    assert y[1, 1] == pytest.approx(5.0)


def test_avg_integer_padding_counts_pads_unless_told(graph):
    x = np.ones((4, 4), np.float32)
    counted = _pool_out(graph, "[avg, {ksize: 3, stride: 2, padding: 1}]", x)
    real = _pool_out(graph, "[avg, {ksize: 3, stride: 2, padding: 1, count_pad: false}]", x)
    assert counted[0, 0] == pytest.approx(4 / 9) and counted[1, 1] == pytest.approx(1.0)
    assert np.allclose(real, 1.0)


def test_avg_stride_4_on_6_takes_the_window_at_offset_1_anchor_1(graph):
    x = np.arange(36, dtype=np.float32).reshape(6, 6)
    y = _pool_out(graph, "[avg, {stride: 4}]", x)
    assert y.shape == (1, 1) and y[0, 0] == pytest.approx(x[0:4, 0:4].mean())


def test_max_ignores_padded_cells(graph):
    x = -np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    y = _pool_out(graph, "[max, {ksize: 3}]", x)
    assert y[0, 0] == -1.0 and y[2, 2] == -5.0


def test_max_overlapping_windows_by_hand(graph):
    x = np.array([[1, 9, 2, 0, 3], [4, 5, 6, 7, 8]], np.float32)
    # SAME k3 s2 on 5 columns: out 2, offset 0, anchor 1: windows start at -1 and 1
    y = _pool_out(graph, "[max, {ksize: [1, 3], stride: [1, 2]}]", x)
    assert y.tolist() == [[9, 9], [5, 7]]


@pytest.mark.parametrize("layer, x, winners", [
    # one 2x2 window holding its maximum twice: the top row's cell wins, not the left column's
    ("[max, {stride: 2}]", [[0, 5], [5, 1]], [[0, 1], [0, 0]]),
    # overlapping 3x3/2 windows (a separable kernel: each row's maximum, then the rows')
    ("[max, {ksize: 3, stride: 2, padding: 0}]",
     [[1, 2, 7, 0, 0], [7, 0, 0, 3, 0], [0, 0, 0, 0, 7], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
     [[0, 0, 2, 0, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]),
])
def test_max_ties_send_the_gradient_to_the_row_major_first_cell(graph, layer, x, winners):
    x = np.array(x, np.float32)
    g = graph(f"[{layer}]", f"[{x.shape[0]}, {x.shape[1]}, 1]")
    node = next(n for n in g if n.op == "max_pool")
    kernel = KERNELS["max_pool"](node, [g[i].shape for i in node.inputs], np.dtype(np.float32))
    kernel.pool = pool(1)
    y = kernel.forward([x[None, None]], {}, RunContext(True, np.random.default_rng()))
    (dx,), _ = kernel.backward(np.ones_like(y), {}, [True])
    assert dx[0, 0].tolist() == winners


# -- whole models -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["ch7/flowers_model_4.yaml", "ch9/residual_flower.yaml",
                                  "fashion_mnist/fmnist_cnn.yaml"])
def test_spec_models_match_reference(path, ref):
    g = lower(load_spec(SPECS / path))
    params = _random_params(g)
    x = np.random.default_rng(2).uniform(0, 1, (2,) + g.input_shape).astype(np.float32)
    _compare_all(g, params, x, True, ref, np.float32, 5e-5)  # 16 float32 batch norms deep
    want = ref.run_graph(g, params, x, False)[g.output]
    got = Executor(g).forward(params, x)
    assert np.abs(got - want).max() < 1e-5 * max(1.0, np.abs(want).max())


# -- training-mode behaviour ----------------------------------------------------------------


def test_batch_norm_moves_running_statistics(graph):
    g = graph("[[conv, {ksize: 1, chn: 2, actfunc: none}], [batch_normal, {exp_ratio: 0.1}]]",
              "[4, 4, 1]")
    params = init_params(g)
    x = np.random.default_rng(0).normal(2.0, 3.0, (5, 4, 4, 1)).astype(np.float32)
    h = Executor(g).forward_all(params, x, training=True, keep=["conv"])["conv"]
    mean, var = h.mean(axis=(0, 1, 2)), h.var(axis=(0, 1, 2))
    assert np.allclose(params["batch_normal.mean"], 0.1 * mean, rtol=1e-5)
    assert np.allclose(params["batch_normal.var"], 1 + 0.1 * (var - 1), rtol=1e-5)


def test_dropout_is_inverted_and_reproducible(graph):
    g = graph("[[dropout, {keep_prob: 0.25}]]", "[20, 20, 4]")
    x = np.ones((8, 20, 20, 4), np.float32)
    ex = Executor(g)
    keep = [n.name for n in g if n.op == "dropout"]
    y = ex.forward_all(init_params(g), x, True, np.random.default_rng(3), keep)[keep[0]]
    assert set(np.unique(y)) == {0.0, 4.0}
    assert abs((y > 0).mean() - 0.25) < 0.02
    again = ex.forward_all(init_params(g), x, True, np.random.default_rng(3), keep)[keep[0]]
    assert np.array_equal(y, again)
    assert np.array_equal(ex.forward_all(init_params(g), x, keep=keep)[keep[0]], x)


@pytest.mark.parametrize("ratio, noisy", [(0.0, False), (1.0, True)])
def test_noise_adds_gaussian_noise_with_probability_ratio(graph, ratio, noisy):
    g = graph(f"[[noise, {{mean: 0.5, std: 2.0, ratio: {ratio}}}]]", "[16, 16, 4]")
    x = np.zeros((16, 16, 16, 4), np.float32)
    name = next(n.name for n in g if n.op == "noise")
    ex, params = Executor(g), init_params(g)
    y = ex.forward_all(params, x, True, np.random.default_rng(0), [name])[name]
    if noisy:
        assert abs(y.mean() - 0.5) < 0.05 and abs(y.std() - 2.0) < 0.05
    else:
        assert not y.any()
    assert not ex.forward_all(params, x, keep=[name])[name].any()


# -- errors -------------------------------------------------------------------------------


def test_wrong_input_shape_is_a_data_error(graph):
    g = graph("[[conv, {ksize: 3, chn: 2}]]", "[6, 5, 3]")
    with pytest.raises(DataError, match=r"input batch has shape \[2, 5, 6, 3\].*\[N, 6, 5, 3\]"):
        Executor(g).forward(init_params(g), np.zeros((2, 5, 6, 3), np.float32))


def test_missing_parameter_is_a_data_error(graph):
    g = graph("[[conv, {ksize: 3, chn: 2}]]", "[6, 5, 3]")
    params = init_params(g)
    del params["conv.bias"]
    with pytest.raises(DataError, match="`conv.bias` is missing"):
        Executor(g).forward(params, np.zeros((2, 6, 5, 3), np.float32))


def test_backward_needs_a_training_forward(graph):
    g = graph("[4]", "[3]")
    ex = Executor(g)
    y = ex.forward(init_params(g), np.zeros((2, 3), np.float32))
    with pytest.raises(RuntimeError, match="training=True"):
        ex.backward(np.ones_like(y))

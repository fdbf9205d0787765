"""Output-layer losses: values, gradients (by central differences), accuracies, errors."""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.backends.numpy.losses import loss_and_grad
from cnncompile.errors import DataError
from cnncompile.frontend.spec import Head, OutputSpec

ONE = OutputSpec("classes", (Head("output", 4),))
TWO = OutputSpec("classes", (Head("domain", 3), Head("object", 5)))
BINARY = OutputSpec("binary", (Head("output", 1),))
REGRESSION = OutputSpec("regression", (Head("output", 2),))


def _numeric_grad(heads, z, y, eps=1e-6, smoothing=0.0):
    g = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[i] += eps
        zm[i] -= eps
        g[i] = (loss_and_grad(heads, zp, y, smoothing).loss
                - loss_and_grad(heads, zm, y, smoothing).loss) / (2 * eps)
    return g


@pytest.mark.parametrize("heads, y", [
    (ONE, np.array([0, 3, 1, 1, 2])),
    (TWO, np.array([[0, 4], [2, 0], [1, 1], [2, 3], [0, 2]])),
    (BINARY, np.array([0, 1, 1, 0, 1])),
    (REGRESSION, np.random.default_rng(1).normal(size=(5, 2))),
])
def test_gradient_matches_central_differences(heads, y):
    z = np.random.default_rng(0).normal(0, 2, (5, heads.width))
    r = loss_and_grad(heads, z, y)
    assert np.abs(r.grad - _numeric_grad(heads, z, y)).max() < 1e-8


@pytest.mark.parametrize("heads, y", [
    (ONE, np.array([0, 3, 1, 1, 2])),
    (TWO, np.array([[0, 4], [2, 0], [1, 1], [2, 3], [0, 2]])),
])
def test_label_smoothing_gradient_matches_central_differences(heads, y):
    z = np.random.default_rng(0).normal(0, 2, (5, heads.width))
    r = loss_and_grad(heads, z, y, 0.1)
    assert np.abs(r.grad - _numeric_grad(heads, z, y, smoothing=0.1)).max() < 1e-8
    assert r.loss != pytest.approx(loss_and_grad(heads, z, y).loss)


def test_label_smoothing_is_cross_entropy_against_smoothed_targets():
    z = np.array([[2.0, 1.0, 0.0, -1.0], [0.0, 0.0, 3.0, 0.0]])
    y = np.array([0, 1])
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    target = np.full((2, 4), 0.2 / 4)
    target[[0, 1], y] += 0.8
    r = loss_and_grad(ONE, z, y, 0.2)
    assert r.loss == pytest.approx(-(target * logp).sum(axis=1).mean())
    assert np.allclose(r.grad, (np.exp(logp) - target) / 2)
    assert r.head_accuracy == {"output": 0.5}  # accuracy is unchanged by the targets


def test_label_smoothing_needs_class_heads():
    with pytest.raises(DataError, match="softmax class heads"):
        loss_and_grad(BINARY, np.zeros((2, 1)), np.array([0, 1]), 0.1)


def test_softmax_cross_entropy_value_and_accuracy():
    z = np.array([[2.0, 1.0, 0.0, -1.0], [0.0, 0.0, 3.0, 0.0]])
    r = loss_and_grad(ONE, z, np.array([0, 1]))
    logp0 = 2.0 - np.log(np.exp([2.0, 1.0, 0.0, -1.0]).sum())
    logp1 = 0.0 - np.log(3 + np.exp(3.0))
    assert r.loss == pytest.approx(-(logp0 + logp1) / 2)
    assert r.head_accuracy == {"output": 0.5}
    assert r.predictions.tolist() == [0, 2]


def test_several_heads_sum_their_mean_losses():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(6, 8))
    y = np.stack([rng.integers(0, 3, 6), rng.integers(0, 5, 6)], axis=1)
    r = loss_and_grad(TWO, z, y)
    a = loss_and_grad(OutputSpec("classes", (Head("d", 3),)), z[:, :3], y[:, 0])
    b = loss_and_grad(OutputSpec("classes", (Head("o", 5),)), z[:, 3:], y[:, 1])
    assert r.loss == pytest.approx(a.loss + b.loss)
    assert list(r.head_accuracy) == ["domain", "object"]
    assert r.predictions.shape == (6, 2)


def test_huge_logits_stay_finite():
    z = np.array([[1e4, -1e4, 0.0, 0.0]], np.float32)
    r = loss_and_grad(ONE, z, np.array([1]))
    assert r.loss == pytest.approx(2e4) and np.isfinite(r.grad).all()
    rb = loss_and_grad(BINARY, np.array([[-1e4]]), np.array([1]))
    assert rb.loss == pytest.approx(1e4) and np.isfinite(rb.grad).all()


def test_grad_keeps_the_logits_dtype():
    z = np.zeros((2, 4), np.float32)
    assert loss_and_grad(ONE, z, np.array([0, 1])).grad.dtype == np.float32


def test_binary_accuracy_is_positive_logit_equals_label():
    r = loss_and_grad(BINARY, np.array([[0.5], [-0.1], [0.0], [2.0]]), np.array([1, 0, 1, 0]))
    assert r.head_accuracy == {"output": 0.5}
    assert r.predictions.tolist() == [1, 0, 0, 1]
    p = 1 / (1 + np.exp(-np.array([0.5, -0.1, 0.0, 2.0])))
    y = np.array([1, 0, 1, 0])
    assert r.loss == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_regression_is_mean_squared_error():
    z = np.array([[1.0, 2.0], [3.0, 5.0]])
    y = np.array([[1.0, 1.0], [2.0, 4.0]])
    r = loss_and_grad(REGRESSION, z, y)
    assert r.loss == pytest.approx((0 + 1 + 1 + 1) / 4)
    assert r.head_accuracy["output"] == pytest.approx(1 - (0 + 1 + 0.5 + 0.25) / 4)


@pytest.mark.parametrize("heads, z, y, message", [
    (ONE, np.zeros((2, 4)), np.array([0, 4]), "label 4 is out of range for head 'output'"),
    (ONE, np.zeros((2, 4)), np.array([0.0, 1.0]), r"integers of shape \[2\]"),
    (TWO, np.zeros((2, 8)), np.array([0, 1]), r"\[2\] or \[2, 2\]"),
    (ONE, np.zeros((2, 5)), np.array([0, 1]), r"logits must have shape \[N, 4\]"),
    (BINARY, np.zeros((2, 1)), np.array([0, 2]), "binary labels must be 0 or 1"),
])
def test_bad_labels_are_data_errors(heads, z, y, message):
    with pytest.raises(DataError, match=message):
        loss_and_grad(heads, z, y)

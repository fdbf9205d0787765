"""Gradient checks swept over small windows: every kind, padding and kernel/stride relation.

Each window op (conv, max, avg) sits behind a 1x1 conv, so the 1x1 conv's kernel and bias
gradients carry the window op's input gradient: a gradient dropped or sent to the wrong cell
anywhere changes them. Each axis takes every size from 1 to 7 (1 to 5 output cells), with
SAME, VALID and integer padding, and windows smaller than, equal to and larger than the
stride. Sizes where
no window fits are refused by the front end (checked: the error names the layer) and skipped;
every window still gets checked at some size.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.errors import ShapeError

TOL = 1e-6
# (H, W): each axis sees every size 1 .. 7 (up to 5 output cells, and room for a VALID 4/3
# window), the two axes mostly different so that one cannot stand in for the other
SIZES = [(1, 2), (2, 1), (3, 4), (4, 3), (5, 6), (6, 5), (7, 7)]
# (ksize, stride): k < s, k = s and k > s, with even and odd windows
WINDOWS = [(1, 2), (2, 3), (1, 1), (2, 2), (3, 3), (3, 1), (3, 2), (4, 3)]
PADDINGS = ["SAME", "VALID", "int"]


def _layer(kind: str, k: int, s: int, padding: str, count_pad: bool) -> str:
    # pooling padding may be at most half the window (PyTorch's rule): use the largest allowed
    pad = (k // 2 if kind != "conv" else max(1, k // 2)) if padding == "int" else padding
    if kind == "conv":
        return f"[conv, {{ksize: {k}, chn: 2, stride: {s}, padding: {pad}, actfunc: none}}]"
    extra = f", count_pad: {str(count_pad).lower()}" if kind == "avg" and padding == "int" else ""
    return f"[{kind}, {{ksize: {k}, stride: {s}, padding: {pad}{extra}}}]"


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("k, s", WINDOWS, ids=[f"k{k}s{s}" for k, s in WINDOWS])
@pytest.mark.parametrize("kind", ["conv", "max", "avg"])
def test_window_gradients_match_central_differences(graph, gradcheck, kind, k, s, padding):
    checked = 0
    for count_pad in ([True, False] if kind == "avg" and padding == "int" else [True]):
        layers = f"[[conv, {{ksize: 1, chn: 2, actfunc: none}}], {_layer(kind, k, s, padding, count_pad)}]"
        for h, w in SIZES:
            try:
                g = graph(layers, f"[{h}, {w}, 1]", "{classes: 2}")
            except ShapeError as e:
                assert "layers[1]" in str(e) and "no output cells" in str(e), e
                continue
            name, err = gradcheck.worst(gradcheck.grad_errors(g, batch=2, max_entries=6))
            assert err < TOL, f"{h}x{w} count_pad={count_pad}: {name}: relative error {err:.2e}"
            checked += 1
    assert checked, "no size in the sweep fits this window"


def test_max_pool_window_whose_first_tap_is_always_padding(graph):
    """The issue's reproduction: a 3x3/2 SAME max over a 2x2 input reads tap 0 only in the
    padding; the maximum 4 must still send its gradient back (d/d kernel 4, d/d bias 1)."""
    from cnncompile.backends.numpy import Executor

    g = graph("[[conv, {ksize: 1, chn: 1, actfunc: none}], [max, {ksize: 3, stride: 2}]]",
              "[2, 2, 1]", "{classes: 1}")
    params = {"conv.kernel": np.ones((1, 1, 1, 1)), "conv.bias": np.zeros(1),
              "output.weight": np.ones((1, 1)), "output.bias": np.zeros(1)}
    ex = Executor(g, dtype=np.float64)
    x = np.array([[4.0, 1.0], [2.0, 3.0]]).reshape(1, 2, 2, 1)
    y = ex.forward(params, x, training=True)
    grads = ex.backward(np.ones_like(y))
    assert y.tolist() == [[4.0]]
    assert grads["conv.kernel"].item() == 4.0
    assert grads["conv.bias"].item() == 1.0

"""PyTorch CPU as an independent oracle: same weights, same outputs, same gradients.

torchvision-layout models (integer padding, no conv bias, batch norm, standalone activations,
residual adds with a conv shortcut) must agree with PyTorch to 1e-4 in float32. Every small op
case and the benchmark specs are compared too, through the torch backend's GraphModule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncompile.backends.numpy import Executor
from cnncompile.backends.numpy.losses import loss_and_grad
from cnncompile.backends.numpy.optim import make_optimizer
from cnncompile.frontend import load_spec
from cnncompile.ir import lower
from cnncompile.ir.ops import WEIGHT_ROLES

SPECS = Path(__file__).resolve().parents[3] / "specs"

_BN = "[batch_normal, {epsilon: 1.0e-5, exp_ratio: 0.1}]"
_CONV = "[conv, {{ksize: {k}, chn: {c}, stride: {s}, padding: {p}, bias: false, actfunc: none}}]"


def _conv(k, c, s=1, p=None):
    return _CONV.format(k=k, c=c, s=s, p=(k // 2 if p is None else p))


def _basic_block(c: int, stride: int, conv_shortcut: bool) -> str:
    """torchvision's BasicBlock: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))."""
    main = f"[serial, {_conv(3, c, stride)}, {_BN}, [act, {{}}], {_conv(3, c)}, {_BN}]"
    if not conv_shortcut:
        return f"[add, {{x: true, actions: A}}, {main}]"
    shortcut = f"[serial, {_conv(1, c, stride, 0)}, {_BN}]"
    return f"[add, {{x: false, actions: A}}, {main}, {shortcut}]"


TORCHVISION_LAYOUT = {
    "resnet_stem_and_blocks": (
        f"[{_conv(7, 8, 2, 3)}, {_BN}, [act, {{}}], [max, {{ksize: 3, stride: 2, padding: 1}}], "
        f"{_basic_block(8, 1, False)}, {_basic_block(16, 2, True)}, "
        "[avg, {ksize: 4, stride: 4, padding: 0}]]",
        "[32, 32, 3]"),
    "resnext_groups_and_bottleneck": (
        f"[{_conv(3, 16, 1)}, {_BN}, [act, {{}}], [add, {{x: true, actions: A}}, [serial, "
        f"{_conv(1, 8)}, {_BN}, [act, {{}}], "
        "[conv, {ksize: 3, chn: 8, padding: 1, groups: 4, bias: false, actfunc: none}], "
        f"{_BN}, [act, {{}}], {_conv(1, 16)}, {_BN}]], "
        "[avg, {ksize: 3, stride: 2, padding: 1}], [dropout, {keep_prob: 1.0}], 10]",
        "[12, 12, 4]"),
    "inception_branches": (
        f"[{_conv(3, 6, 2, 1)}, [parallel, {_conv(1, 4)}, [serial, {_conv(1, 4)}, "
        "[conv, {ksize: [1, 3], chn: 4, padding: [0, 1], bias: false}], "
        "[conv, {ksize: [3, 1], chn: 5, padding: [1, 0]}]], "
        "[serial, [avg, {ksize: 3, stride: 1, padding: 1, count_pad: false}], "
        f"{_conv(1, 3)}]], {_BN}, [act, {{actfunc: swish}}], [max, {{ksize: 2, stride: 2}}]]",
        "[16, 14, 3]"),
}


def _params(graph, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for p in graph.params():
        if p.role in WEIGHT_ROLES:
            fan_in = int(np.prod(p.shape[:-1]))
            out[p.name] = rng.normal(0, np.sqrt(2 / fan_in), p.shape)
        elif p.role in ("scale", "var"):
            out[p.name] = rng.uniform(0.5, 1.5, p.shape)
        else:
            out[p.name] = rng.normal(0, 0.2, p.shape)
    return {k: v.astype(np.float32) for k, v in out.items()}


def _close(a, b, tol):
    return np.abs(a - b).max() <= tol * max(1.0, np.abs(b).max())


def _compare(graph, torch_graph, batch=4, tol=1e-4, seed=0):
    """Inference and training outputs, parameter gradients of the CE loss, running means."""
    params = _params(graph, seed)
    labels = np.arange(batch) % graph.output_shape[0]
    x = np.random.default_rng(seed + 1).normal(size=(batch,) + graph.input_shape)
    x = x.astype(np.float32)
    model = torch_graph(graph, params)
    ex = Executor(graph)

    model.eval()
    want = model(torch.tensor(x)).detach().numpy()
    assert _close(ex.forward(params, x), want, tol)

    model.train()
    logits_t = model(torch.tensor(x))
    F.cross_entropy(logits_t, torch.tensor(labels)).backward()
    logits = ex.forward(params, x, training=True)
    assert _close(logits, logits_t.detach().numpy(), tol)
    result = loss_and_grad(graph.heads, logits, labels)
    assert result.loss == pytest.approx(
        float(F.cross_entropy(logits_t.detach(), torch.tensor(labels))), rel=tol)
    grads = ex.backward(result.grad)
    want_grads = model.ir_grads()
    assert set(grads) == set(want_grads)
    for name, g in grads.items():
        assert _close(g, want_grads[name], tol), f"{name}: {np.abs(g - want_grads[name]).max()}"
    stats = model.ir_params()
    for name in stats:
        if name.endswith(".mean"):
            assert _close(params[name], stats[name], tol), name


@pytest.mark.parametrize("name", list(TORCHVISION_LAYOUT))
def test_torchvision_layout_specs_match_pytorch(name, graph, torch_graph):
    layers, shape = TORCHVISION_LAYOUT[name]
    _compare(graph(layers, shape, "{classes: 5}"), torch_graph)


@pytest.mark.parametrize("path", ["ch7/flowers_model_4.yaml", "ch9/residual_flower.yaml",
                                  "fashion_mnist/fmnist_cnn.yaml"])
def test_benchmark_specs_match_pytorch(path, torch_graph):
    _compare(lower(load_spec(SPECS / path)), torch_graph, batch=3)


def test_every_op_case_matches_pytorch_in_float64(op_case, graph, gradcheck, torch_graph):
    g = graph(*op_case)
    if any(n.op in ("dropout", "noise") for n in g):
        return  # random in training; their exactness is tested against the reference
    params = gradcheck.random_params(g, 0)
    x = np.random.default_rng(1).normal(size=(3,) + g.input_shape)
    r = np.random.default_rng(2).normal(size=(3,) + g.output_shape)
    model = torch_graph(g, params, torch.float64)
    ex = Executor(g, np.float64)
    y = ex.forward(params, x, training=True)
    yt = model(torch.tensor(x))
    assert _close(y, yt.detach().numpy(), 1e-12)
    (yt * torch.tensor(r)).sum().backward()
    grads, want = ex.backward(r), model.ir_grads()
    for name in grads:
        assert np.abs(grads[name] - want[name]).max() < 1e-10, name


def test_adam_steps_match_pytorch(graph, torch_graph):
    g = graph("[[conv, {ksize: 3, chn: 4}], 6]", "[6, 6, 2]")
    params = _params(g)
    model = torch_graph(g, params)
    opt_t = torch.optim.Adam(model.parameters(), lr=0.01, eps=1e-8)
    opt = make_optimizer("adam", lr=0.01)
    ex = Executor(g)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.normal(size=(4, 6, 6, 2)).astype(np.float32)
        y = rng.integers(0, 3, 4)
        opt_t.zero_grad()
        F.cross_entropy(model(torch.tensor(x)), torch.tensor(y)).backward()
        opt_t.step()
        opt.step(params, ex.backward(loss_and_grad(g.heads, ex.forward(params, x, True), y).grad))
    model_params = model.ir_params()
    for name, v in params.items():
        assert np.abs(v - model_params[name]).max() < 1e-5, name


def test_label_smoothing_agrees_with_pytorch():
    from cnncompile.frontend.spec import Head, OutputSpec

    rng = np.random.default_rng(5)
    z = rng.normal(0, 3, (16, 10))
    y = rng.integers(0, 10, 16)
    z_t = torch.tensor(z, requires_grad=True)
    loss_t = F.cross_entropy(z_t, torch.tensor(y), label_smoothing=0.1)
    loss_t.backward()
    r = loss_and_grad(OutputSpec("classes", (Head("output", 10),)), z, y, 0.1)
    assert r.loss == pytest.approx(float(loss_t.detach()), rel=1e-12)
    assert np.allclose(r.grad, z_t.grad.numpy(), atol=1e-14)

"""The torch backend computes what the NumPy engine computes: per op, per spec, per step.

float64: every op case of the engine's tests (dropout and noise included: both draw from the
same generator), forward in training and inference mode, every parameter's gradient and the
batch-norm running statistics after the step, relative error below 1e-6. float32: every shipped
spec's inference forward within 1e-5 of the output scale (the biggest at batch 1).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch backend's tests need torch (test extra)")

from cnncompile.backends.numpy import Executor, init_params  # noqa: E402
from cnncompile.backends.numpy.losses import loss_and_grad  # noqa: E402
from cnncompile.backends.numpy.optim import make_optimizer  # noqa: E402
from cnncompile.backends.torch import GraphModule, RandomSource, TorchOptimizer  # noqa: E402
from cnncompile.frontend import load_spec  # noqa: E402
from cnncompile.ir import lower  # noqa: E402
from cnncompile.ir.ops import WEIGHT_ROLES  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
SPECS = sorted(p.relative_to(ROOT / "specs").as_posix() for p in (ROOT / "specs").rglob("*.yaml")
               if p.parent.name != "lib")
# a forward of these at batch 2 costs the NumPy engine seconds each: batch 1 keeps the file
# inside its time budget (every spec still runs at its shipped input shape)
BIG = {"ch9/bottleneck_152.yaml", "ch9/inception_v3.yaml", "ch9/residual_34.yaml",
       "ch9/plain_34.yaml", "ch9/vgg_19.yaml", "classic/alexnet.yaml",
       "torchvision/resnet152.yaml", "torchvision/resnet50.yaml", "torchvision/vgg16.yaml",
       "torchvision/resnet18.yaml"}
ZERO_GRAD = 1e-7  # gradients below this (a bias before batch norm) compare absolutely


def _engine_helper(name: str):
    """tests/backends/numpy/<name>.py (op cases, random parameters), loaded once under a private name."""
    key = f"_backend_tests_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, ROOT / "tests" / "backends" / "numpy" / f"{name}.py")
        sys.modules[key] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[key]


CASES = _engine_helper("conftest")
random_params = _engine_helper("gradcheck").random_params


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared: torch's thread team stalls when busy
    yield
    torch.set_num_threads(threads)


def rel_err(got: np.ndarray, want: np.ndarray, floor: float = 1e-30) -> float:
    return float(np.abs(got - want).max() / max(np.abs(want).max(), floor))


@pytest.mark.parametrize("case", list(CASES.OP_CASES))
def test_every_op_matches_the_engine_in_float64(case):
    g = CASES.build_graph(*CASES.OP_CASES[case])
    params = random_params(g, 0)
    x = np.random.default_rng(1).normal(size=(3,) + g.input_shape)
    r = np.random.default_rng(2).normal(size=(3,) + g.output_shape)
    module = GraphModule(g, params, torch.float64)
    ex = Executor(g, np.float64)

    module.eval()
    assert rel_err(module(torch.tensor(x)).detach().numpy(), ex.forward(params, x)) < 1e-6

    y = ex.forward(params, x, training=True, rng=np.random.default_rng(7))  # moves params' stats
    module.train()
    module.random = RandomSource(np.random.default_rng(7), batch=3)
    yt = module(torch.tensor(x))
    assert rel_err(yt.detach().numpy(), y) < 1e-6
    (yt * torch.tensor(r)).sum().backward()
    grads, got = ex.backward(r), module.ir_grads()
    assert set(got) == set(grads) == {p.name for p in g.params() if p.trainable}
    for name, want in grads.items():
        assert rel_err(got[name], want, ZERO_GRAD) < 1e-6, name
    after = module.ir_params()
    for p in g.params():
        if not p.trainable:  # running mean and variance after one training step
            assert rel_err(after[p.name], params[p.name]) < 1e-12, p.name


def test_running_variance_moves_towards_the_biased_batch_variance():
    g = CASES.build_graph("[[conv, {ksize: 1, chn: 2, actfunc: none}], "
                          "[batch_normal, {exp_ratio: 0.5}]]", "[1, 2, 1]")
    params = {k: v.astype(np.float64) for k, v in init_params(g).items()}
    params["conv.kernel"][:] = [[[[1.0, 2.0]]]]
    x = np.array([[[[1.0], [3.0]]]])  # one sample, two cells: values 1, 3 and 2, 6
    module = GraphModule(g, params, torch.float64).train()
    module(torch.tensor(x))
    stats = module.ir_params()
    name = [p.name for p in g.params() if p.name.endswith(".var")][0]
    # biased variances 1 and 4 (unbiased would be 2 and 8); var = 1 + 0.5 * (v - 1)
    assert stats[name].tolist() == [1.0, 2.5]


def _float32_params(graph) -> dict[str, np.ndarray]:
    """He-scaled weights, non-trivial biases and running statistics, drawn fast in float32
    (VGG-16's 138 M parameters take a second, not the twenty of a float64 draw)."""
    rng = np.random.default_rng(0)
    out = {}
    for p in graph.params():
        if p.role in WEIGHT_ROLES:
            a = rng.standard_normal(p.shape, dtype=np.float32)
            a *= np.float32(np.sqrt(2.0 / np.prod(p.shape[:-1])))
        elif p.role in ("scale", "var"):
            a = rng.uniform(0.5, 1.5, p.shape).astype(np.float32)
        else:
            a = rng.normal(0.0, 0.2, p.shape).astype(np.float32)
        out[p.name] = a
    return out


@pytest.mark.parametrize("path", SPECS)
def test_every_shipped_spec_matches_the_engine_in_float32(path):
    g = lower(load_spec(ROOT / "specs" / path))
    params = _float32_params(g)
    batch = 1 if path in BIG else 2
    x = np.random.default_rng(3).uniform(0, 1, (batch,) + g.input_shape).astype(np.float32)
    want = Executor(g).forward(params, x)
    with torch.no_grad():
        got = GraphModule(g, params).eval()(torch.from_numpy(x)).numpy()
    assert rel_err(got, want) < 1e-5


def test_parameters_go_both_ways_unchanged():
    g = lower(load_spec(ROOT / "specs" / "ch9" / "inception_flower.yaml"))
    params = init_params(g, seed=3)
    back = GraphModule(g, params).ir_params()
    assert list(back) == list(params)
    for name, a in params.items():
        assert back[name].shape == a.shape and np.array_equal(back[name], a), name


@pytest.mark.parametrize("kind", ["adam", "momentum", "sgd"])
def test_optimizer_steps_and_state_match_the_engine(kind):
    g = CASES.build_graph("[[conv, {ksize: 3, chn: 4, actions: LAB}], 6]", "[6, 6, 2]")
    params = random_params(g, 0)
    module = GraphModule(g, params, torch.float64).train()
    engine_opt = make_optimizer(kind, lr=0.01, l1=1e-3, l2=1e-2)
    opt = TorchOptimizer.like(engine_opt, module.named_ir_parameters())
    ex = Executor(g, np.float64)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.normal(size=(4, 6, 6, 2))
        y = rng.integers(0, 3, 4)
        res = loss_and_grad(g.heads, ex.forward(params, x, True), y)
        engine_opt.step(params, ex.backward(res.grad))
        opt.zero_grad()
        module(torch.tensor(x)).backward(torch.tensor(res.grad))
        opt.step()
    got = module.ir_params()
    for name, want in params.items():
        assert rel_err(got[name], want) < 1e-9, name
    theirs, ours = engine_opt.state_dict(), opt.state_dict()
    assert set(theirs) == set(ours)
    for key in theirs:
        assert np.allclose(np.asarray(ours[key], float) if key != "kind" else 0,
                           np.asarray(theirs[key], float) if key != "kind" else 0), key
    # and back: the engine continues from the torch optimiser's state
    engine_opt.load_state_dict(ours)
    assert engine_opt.state_dict().keys() == theirs.keys()



@pytest.mark.parametrize("kind", ["adam", "momentum"])
def test_optimizer_state_is_built_once(kind, monkeypatch):
    # zeros built (and thrown away) on every step cost ResNet-50 two parameter-sized tensors
    g = CASES.build_graph("[[conv, {ksize: 3, chn: 4}], 3]", "[6, 6, 2]")
    module = GraphModule(g, random_params(g, 0), torch.float64).train()
    opt = TorchOptimizer(kind, module.named_ir_parameters(), lr=0.01)
    x = torch.tensor(np.random.default_rng(0).normal(size=(2, 6, 6, 2)))
    built, zeros_like = [], torch.zeros_like
    monkeypatch.setattr(torch, "zeros_like", lambda t: built.append(t.shape) or zeros_like(t))
    for _ in range(3):
        opt.zero_grad()
        module(x).sum().backward()
        opt.step()
    slots = 2 if kind == "adam" else 1
    assert len(built) == slots * len(module.named_ir_parameters())

"""Every IR op on every backend: a lowering exists and computes what the NumPy engine computes.

Each case is a graph of one op (multi-input ops read the input and its tanh, so that their
inputs differ); a spatial result is read out through flatten and a dense layer, since the
output must be flat (a flatten is read by dense too: the ONNX
backend reorders the dense weight rows instead of the flattened features). On random float32 inputs and parameters, torch (inference, training with
the engine's random draws, and the gradients of the training step) and onnxruntime
(inference) agree with the engine within float32 tolerances relative to the output's scale.
A new op fails ``test_every_op_has_a_case`` until it gets a case here, and then every backend
without a lowering of it fails by name.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the op x backend walk needs torch (test extra)")
ort = pytest.importorskip("onnxruntime", reason="the op x backend walk needs onnxruntime")

from cnncompile.backends.numpy import KERNELS, Executor  # noqa: E402
from cnncompile.backends.onnx import EMITTERS, ExportOptions, build_model  # noqa: E402
from cnncompile.backends.registry import Lowerings  # noqa: E402
from cnncompile.backends.torch import GraphModule, RandomSource  # noqa: E402
from cnncompile.backends.torch.ops import LOWERINGS  # noqa: E402
from cnncompile.frontend.spec import Head, OutputSpec  # noqa: E402
from cnncompile.ir.graph import Graph, make_node  # noqa: E402
from cnncompile.ir.ops import (  # noqa: E402
    ACTIVATIONS,
    OPS,
    ActAttrs,
    BatchNormAttrs,
    ConvAttrs,
    DenseAttrs,
    DropoutAttrs,
    InputAttrs,
    NoAttrs,
    NoiseAttrs,
    PoolAttrs,
    TileAttrs,
)
from cnncompile.ir.window import axis_window  # noqa: E402

BACKENDS: dict[str, Lowerings] = {"numpy": KERNELS, "torch": LOWERINGS, "onnx": EMITTERS}
IMAGE = (7, 6, 4)
FLAT = (12,)
BATCH = 3
READOUT = 5  # dense units reading a spatial result out
TORCH_TOL = 1e-5  # float32, relative to the largest output (as the torch parity tests)
ONNX_TOL = 1e-4  # the exporter's own parity tolerance


def windows(kernel: int, stride: int, padding, shape=IMAGE):
    return tuple(axis_window(n, kernel, stride, padding) for n in shape[:2])


# op -> {case id: (attrs, input shape)}
CASES: dict[str, dict[str, tuple[object, tuple[int, ...]]]] = {
    "input": {"image": (None, IMAGE), "flat": (None, FLAT)},
    "conv": {
        "same": (ConvAttrs(windows(3, 1, "SAME"), 5), IMAGE),
        "stride2_groups2_nobias": (ConvAttrs(windows(3, 2, "SAME"), 6, groups=2, bias=False), IMAGE),
        "valid_offset": (ConvAttrs(windows(1, 3, "VALID"), 3), IMAGE),
        "pad2": (ConvAttrs(windows(4, 2, 2), 3), IMAGE),
    },
    "max_pool": {
        "same": (PoolAttrs(windows(2, 2, "SAME")), IMAGE),
        "k3s2": (PoolAttrs(windows(3, 2, "SAME")), IMAGE),
        "pad1": (PoolAttrs(windows(3, 2, 1)), IMAGE),
    },
    "avg_pool": {
        "same": (PoolAttrs(windows(3, 2, "SAME")), IMAGE),
        "pad1_count_pad": (PoolAttrs(windows(3, 2, 1), count_pad=True), IMAGE),
        "valid_offset": (PoolAttrs(windows(1, 3, "VALID")), IMAGE),
    },
    "dense": {"bias": (DenseAttrs(4), FLAT), "nobias": (DenseAttrs(4, bias=False), FLAT)},
    "flatten": {"image": (NoAttrs(), IMAGE)},
    "batch_norm": {
        "rescale": (BatchNormAttrs(epsilon=1e-5, exp_ratio=0.1), IMAGE),
        "plain_flat": (BatchNormAttrs(rescale=False), FLAT),
    },
    "act": {f: (ActAttrs(f), IMAGE) for f in ACTIVATIONS},
    "dropout": {"half": (DropoutAttrs(0.5), IMAGE)},
    "noise": {"gauss": (NoiseAttrs(0.1, 0.5, 1.0), IMAGE)},
    "concat": {"image": (NoAttrs(), IMAGE), "flat": (NoAttrs(), FLAT)},
    "add": {"image": (NoAttrs(), IMAGE)},
    "tile": {"reps3": (TileAttrs(3), IMAGE)},
    "bias_map": {"image": (NoAttrs(), IMAGE)},  # made by a pass only (push_affine_forward)
}
CASE_IDS = [(op, case) for op, cases in CASES.items() for case in cases]


def one_op_graph(op: str, attrs, shape: tuple[int, ...]) -> Graph:
    """input -> op (-> flatten -> dense when its result is spatial), regression head."""
    nodes = {}

    def node(name, node_op, node_attrs, inputs):
        nodes[name] = make_node(name, node_op, node_attrs, inputs, [nodes[i].shape for i in inputs])
        return name

    y = node("input", "input", InputAttrs(shape), [])
    if op != "input":
        inputs = [y]
        if OPS[op].arity[1] is None:  # concat, add: two different inputs
            inputs.append(node("tanh", "act", ActAttrs("tanh"), [y]))
        y = node(op, op, attrs, inputs)
    if len(nodes[y].shape) != 1:
        y = node("flatten_out", "flatten", NoAttrs(), [y])
    if y != op or op == "flatten":  # ONNX's flatten is only ever read by dense
        y = node("readout", "dense", DenseAttrs(READOUT), [y])
    heads = OutputSpec("regression", (Head("y", nodes[y].shape[0]),))
    g = Graph(op, nodes, "input", y, heads)
    g.lint()
    return g


def random_params(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    """float32 parameters far from their starts (running variances in [0.5, 2])."""
    rng = np.random.default_rng(seed)
    out = {}
    for p in graph.params():
        if p.start is None:
            out[p.name] = rng.standard_normal(p.shape).astype(np.float32) / np.sqrt(np.prod(p.shape[:-1]))
        elif p.role in ("scale", "var"):
            out[p.name] = rng.uniform(0.5, 2.0, p.shape).astype(np.float32)
        else:
            out[p.name] = rng.normal(0.0, 0.5, p.shape).astype(np.float32)
    return out


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def copy(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in params.items()}


def test_every_op_has_a_case():
    assert set(CASES) == set(OPS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_op_has_a_lowering(backend):
    assert BACKENDS[backend].missing() == []


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=CASE_IDS, ids=[f"{op}-{case}" for op, case in CASE_IDS])
def case(request):
    op, name = request.param
    attrs, shape = CASES[op][name]
    g = one_op_graph(op, attrs, shape)
    x = np.random.default_rng(1).standard_normal((BATCH, *shape)).astype(np.float32)
    return g, random_params(g, 0), x


def test_torch_matches_the_engine(case):
    g, params, x = case
    LOWERINGS.lookup(g.name)  # a missing lowering fails here, by backend and op (graph = op)
    ex = Executor(g)
    module = GraphModule(g, params).eval()
    with torch.no_grad():
        assert rel_err(module(torch.from_numpy(x)).numpy(), ex.forward(copy(params), x)) < TORCH_TOL

    engine_params = copy(params)
    y = ex.forward(engine_params, x, training=True, rng=np.random.default_rng(7))
    module.train()
    module.random = RandomSource(np.random.default_rng(7), batch=BATCH)
    yt = module(torch.from_numpy(x))
    assert rel_err(yt.detach().numpy(), y) < TORCH_TOL
    if any(p.trainable for p in g.params()):  # the gradients of the training step
        dy = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
        (yt * torch.from_numpy(dy)).sum().backward()
        grads, got = ex.backward(dy), module.ir_grads()
        assert set(got) == set(grads)
        for name, want in grads.items():
            assert rel_err(got[name], want) < 10 * TORCH_TOL, name
    after = module.ir_params()
    for p in g.params():  # running statistics moved alike
        assert rel_err(after[p.name], engine_params[p.name]) < TORCH_TOL, p.name


def test_onnx_matches_the_engine(case):
    g, params, x = case
    EMITTERS.lookup(g.name)  # a missing emitter fails here, by backend and op
    model, _ = build_model(g, params, ExportOptions(outputs="logits"))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    assert rel_err(got, Executor(g).forward(copy(params), x)) < ONNX_TOL


@pytest.mark.parametrize("op", [op for op in CASES if op != "input"])
def test_a_wrong_lowering_is_caught(op, monkeypatch):
    """The walk notices a lowering that computes something else (here: the op negated)."""
    attrs, shape = next(iter(CASES[op].values()))
    g = one_op_graph(op, attrs, shape)
    params = random_params(g, 0)
    x = np.random.default_rng(1).standard_normal((BATCH, *shape)).astype(np.float32)
    right = LOWERINGS[op]
    monkeypatch.setitem(LOWERINGS, op, lambda m, n, xs: -right(m, n, xs))
    with torch.no_grad():
        got = GraphModule(g, params).eval()(torch.from_numpy(x)).numpy()
    assert rel_err(got, Executor(g).forward(copy(params), x)) > TORCH_TOL

"""One record of each optimiser's state: both backends keep what the option table says, and
the memory estimate counts it."""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.analysis.memory import estimate_memory
from cnncompile.analysis.report import analyze_graph
from cnncompile.backends.numpy.optim import OPTIMIZER_CLASSES, make_optimizer
from cnncompile.ir.layout import to_out_first
from cnncompile.training_options import OPTIMIZER_RULES, OPTIONS_BY_NAME


def _grads(rng):
    return {"a.kernel": rng.normal(size=(3, 3, 1, 2)).astype(np.float32),
            "a.bias": rng.normal(size=(2,)).astype(np.float32)}


def _slots(state: dict) -> dict[str, set[str]]:
    """``slot/param`` keys of a state dict, grouped by parameter."""
    out: dict[str, set[str]] = {}
    for key in state:
        if key != "kind":
            slot, _, name = key.partition("/")
            out.setdefault(name, set()).add(slot)
    return out


def test_every_optimiser_of_the_table_has_one_implementation():
    assert set(OPTIMIZER_CLASSES) == set(OPTIMIZER_RULES) == set(
        OPTIONS_BY_NAME["optimizer"].choices)


@pytest.mark.parametrize("kind", list(OPTIMIZER_RULES))
def test_the_numpy_engine_keeps_the_table_state(kind):
    rule, rng = OPTIMIZER_RULES[kind], np.random.default_rng(0)
    opt = make_optimizer(kind, lr=0.01)
    params = {k: np.zeros_like(g) for k, g in _grads(rng).items()}
    opt.step(params, _grads(rng))
    expected = set(rule.slots) | ({"t"} if rule.step_count else set())
    assert _slots(opt.state_dict()) == ({k: expected for k in params} if expected else {})
    for name, slots in opt.state.items():
        assert all(slots[s].shape == params[name].shape for s in rule.slots)


@pytest.mark.parametrize("kind", list(OPTIMIZER_RULES))
def test_the_torch_backend_keeps_the_same_state(kind):
    torch = pytest.importorskip("torch")
    from cnncompile.backends.torch import TorchOptimizer

    rng = np.random.default_rng(0)
    grads = _grads(rng)
    engine = make_optimizer(kind, lr=0.01)
    engine.step({k: np.zeros_like(g) for k, g in grads.items()}, grads)
    params = []
    for k, g in grads.items():  # as GraphModule registers them: out-first, knowing their layout
        layout = "HWIO" if k.endswith(".kernel") else "C"
        p = torch.nn.Parameter(torch.zeros(to_out_first(layout, g).shape))
        p.grad, p.ir_layout = torch.from_numpy(np.ascontiguousarray(to_out_first(layout, g))), layout
        params.append((k, p))
    opt = TorchOptimizer(kind, params, lr=0.01)
    opt.step()
    assert _slots(opt.state_dict()) == _slots(engine.state_dict())


@pytest.mark.parametrize("kind", list(OPTIMIZER_RULES))
def test_the_memory_estimate_counts_the_state_and_the_engine_buffers(kind, make_graph):
    graph = make_graph("[[conv, {ksize: 3, chn: 2}]]", input="[6, 6, 1]")
    trainable = analyze_graph(graph, 1).totals.trainable_params * 4
    rule = OPTIMIZER_RULES[kind]
    estimate = estimate_memory(graph, 1, training=True, optimizer=kind)
    assert estimate.optimizer_state == (len(rule.slots) + rule.work_copies) * trainable
    assert {k: estimate_memory(graph, 1, True, k).optimizer_state // trainable
            for k in OPTIMIZER_RULES} == {"adam": 4, "momentum": 1, "sgd": 0}

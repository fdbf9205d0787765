"""Pass test helpers: every spec's graph (small where the spec allows), the engine's reference
output before any rewrite, and the checks every pass must pass (torch's test_dce_pass habit).

Loaded by this folder's conftest.py (fixture ``ph``) under a private name (the suite runs with
--import-mode=importlib).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cnncompile.analysis import analyze_graph
from cnncompile.backends.numpy import Executor
from cnncompile.errors import ShapeError
from cnncompile.frontend import load_spec, parse_spec
from cnncompile.ir import lower

SPECS = Path(__file__).resolve().parents[3] / "specs"
ALL = sorted(str(p.relative_to(SPECS)) for p in SPECS.glob("*/*.yaml") if p.parent.name != "lib")
# image specs are tried at these sides first (the same layers, a fraction of the work); ResNets
# and Inception v3 end in a fixed-size pool and keep their own input
SMALL_SIDES = (32, 80)
BIG_MACS = 1e8  # a batch of one above this
TOLERANCE = 1e-4  # largest difference relative to the output's scale (the export's parity bar)


def spec_graph(rel: str):
    """The linted graph of ``specs/rel``, at a small square input where the spec allows it."""
    spec = load_spec(SPECS / rel)
    graph = None
    if len(spec.input_shape) == 3:
        h, w, c = spec.input_shape
        for side in (s for s in SMALL_SIDES if s < min(h, w)):
            try:
                graph = lower(load_spec(SPECS / rel, input_shape=(side, side, c)))
                break
            except ShapeError:
                continue
    if graph is None:
        graph = lower(spec)
    graph.lint()
    return graph


def inline_graph(layers: str, input: str = "[8, 8, 3]"):
    """The linted graph of a one-off spec."""
    spec = parse_spec(f"name: t\ninput: {input}\noutput: {{classes: 3}}\nlayers: {layers}\n",
                      "t.yaml")
    graph = lower(spec)
    graph.lint()
    return graph


def batch_for(graph, seed: int = 1) -> np.ndarray:
    """Random inputs: two samples, one for a model over 100M MACs per sample."""
    n = 1 if analyze_graph(graph).totals.macs > BIG_MACS else 2
    return np.random.default_rng(seed).standard_normal((n, *graph.input_shape)).astype(
        np.float32)


def random_params(graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Parameters where every value matters: weights uniform with variance 1/fan_in (so
    activations keep their scale through deep models), running variances in [0.5, 2], scales
    in [0.5, 1.5], biases, shifts and means in [-0.5, 0.5]. Uniform float32 draws are several
    times cheaper than normal ones, which counts for ResNet-152's 60M parameters."""
    rng = np.random.default_rng(seed)
    out = {}
    for p in graph.params():
        short = p.name.rsplit(".", 1)[1]
        if short in ("kernel", "weight"):
            half = math.sqrt(3 / math.prod(p.shape[:-1]))
            lo, hi = -half, half
        else:
            lo, hi = {"var": (0.5, 2.0), "scale": (0.5, 1.5)}.get(short, (-0.5, 0.5))
        a = rng.random(p.shape, dtype=np.float32)
        a *= hi - lo
        a += lo
        out[p.name] = a
    return out


_REFERENCES: dict[str, np.ndarray] = {}


def spec_case(rel: str):
    """``(graph, params, x, reference)`` for ``specs/rel``: the reference is the engine's output
    on the graph as lowered, every activation its own kernel (computed once a session and
    shared by the pass files)."""
    graph = spec_graph(rel)
    params, x = random_params(graph), batch_for(graph)
    if rel not in _REFERENCES:
        _REFERENCES[rel] = Executor(graph, fuse_activations=False).forward(params, x)
    return graph, params, x, _REFERENCES[rel]


def snapshot(graph, params=None):
    """Everything a pass must leave alone in its input (parameter arrays are made read-only
    instead, so that a write into one fails on the spot)."""
    for a in (params or {}).values():
        a.flags.writeable = False
    nodes = [(n.name, n.op, n.attrs, tuple(n.inputs), n.shape, tuple(n.params), n.cost)
             for n in graph]
    return (str(graph), graph.structure_hash(), nodes, dict(graph.users()),
            dict(graph.aliases), graph.input, graph.output,
            graph.block.all_nodes() if graph.block else None,
            {k: id(v) for k, v in (params or {}).items()})


def run_checked(run, graph, params=None, **kwargs):
    """Run a pass and check what every pass promises: its input untouched, its result linted,
    and ``changed`` truthful (unchanged means the very same graph and parameters)."""
    before = snapshot(graph, params)
    result = run(graph, params, **kwargs)
    assert snapshot(graph, params) == before
    result.graph.lint()
    if result.changed:
        assert str(result.graph) != str(graph)
        assert result.graph.nodes is not graph.nodes
    else:
        assert result.graph is graph and result.params is params
    if params is not None:
        assert set(result.params) == {p.name for p in result.graph.params()}
        for p in result.graph.params():
            assert result.params[p.name].shape == p.shape
    return result


def assert_outputs_agree(got: np.ndarray, want: np.ndarray, tol: float = TOLERANCE) -> None:
    """Equal within ``tol`` relative to the output's scale (and finite)."""
    assert np.all(np.isfinite(want)) and got.shape == want.shape
    scale = float(np.max(np.abs(want))) or 1.0
    assert float(np.max(np.abs(got.astype(np.float64) - want))) <= tol * scale

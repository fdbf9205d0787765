"""Helpers for the export tests: one-layer specs, parameters that make every value matter.

Loaded by tests/conftest.py (fixture ``ox``) under a private name (the suite runs with
--import-mode=importlib).
"""

from __future__ import annotations

import math

import numpy as np

from cnncompile.backends.onnx import ExportOptions, Weights, export_graph
from cnncompile.frontend import parse_spec
from cnncompile.ir import lower
from cnncompile.ir.ops import WEIGHT_ROLES


def random_params(graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Parameters where biases, shifts and running statistics are far from their defaults.

    Kernels and weights get std 1/sqrt(fan_in) so activations keep their scale; running
    variances lie in [0.5, 2], so a batch norm that ignored them would be caught.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for p in graph.params():
        if p.role in WEIGHT_ROLES:
            std = 1.0 / math.sqrt(math.prod(p.shape[:-1]))
            out[p.name] = (rng.standard_normal(p.shape, dtype=np.float32) * std)
        elif p.role == "var":
            out[p.name] = rng.uniform(0.5, 2.0, p.shape).astype(np.float32)
        elif p.role == "scale":
            out[p.name] = rng.uniform(0.5, 1.5, p.shape).astype(np.float32)
        else:  # bias, shift, mean
            out[p.name] = rng.normal(0, 0.5, p.shape).astype(np.float32)
    return out


def spec_and_graph(layers: str, input: str = "[9, 9, 3]", output: str = "{classes: 3}"):
    spec = parse_spec(f"name: t\ninput: {input}\noutput: {output}\nlayers: {layers}\n", "t.yaml")
    graph = lower(spec)
    graph.lint()
    return spec, graph


def export_layers(layers: str, input: str = "[9, 9, 3]", output: str = "{classes: 3}",
                  batch: int = 3, seed: int = 0, **options):
    """Export a one-off spec with random parameters; the parity check runs inside.

    Returns (graph, ExportResult). ``options`` go to ExportOptions (logits by default, the
    most sensitive output to compare).
    """
    spec, graph = spec_and_graph(layers, input, output)
    options.setdefault("outputs", "logits")
    weights = Weights(random_params(graph, seed), "test parameters")
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((batch, *graph.input_shape)).astype(np.float32)
    result = export_graph(spec, graph, weights, None, ExportOptions(**options), x=x)
    return graph, result


def op_types(model) -> list[str]:
    return [n.op_type for n in model.graph.node]


def attrs_of(model, op_type: str) -> list[dict]:
    from onnx import helper

    return [{a.name: helper.get_attribute_value(a) for a in n.attribute}
            for n in model.graph.node if n.op_type == op_type]

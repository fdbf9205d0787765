"""Every spec in specs/ exports to a checker-clean model that matches the engine within 1e-4.

The parity check inside ``export_graph`` runs onnxruntime against the NumPy engine; the
parameters are random with non-trivial biases and batch-norm statistics (so folding and
inference-form batch norm are exercised), logits are compared. Models over a GMAC per sample
use a batch of one. The VGGs (over 100M parameters, nearly all in the classifier) run at
64x64: the same layers, a narrower first dense layer, and a sixth of the time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnncompile.analysis import analyze_graph
from cnncompile.backends.onnx import ExportOptions, Weights, export_graph
from cnncompile.backends.onnx.assemble import pipeline
from cnncompile.frontend import load_spec
from cnncompile.ir import lower
from cnncompile.ir.passes import run_passes

SPECS = Path(__file__).resolve().parents[3] / "specs"
ALL = sorted(str(p.relative_to(SPECS)) for p in SPECS.glob("*/*.yaml") if p.parent.name != "lib")
BIG_MACS = 1e9
HUGE_PARAMS = 1e8


def test_the_spec_list_is_not_empty():
    assert len(ALL) >= 10 and "fashion_mnist/fmnist_cnn.yaml" in ALL


@pytest.mark.slow
@pytest.mark.parametrize("rel", ALL)
def test_spec_exports_checks_and_matches(ox, rel):
    spec = load_spec(SPECS / rel)
    graph = lower(spec)
    totals = analyze_graph(graph).totals
    if totals.trainable_params > HUGE_PARAMS:
        spec = load_spec(SPECS / rel, input_shape=(64, 64, spec.input_shape[2]))
        graph = lower(spec)
    big = totals.macs > BIG_MACS
    batch = 1 if big else 3
    x = np.random.default_rng(0).uniform(0, 1, (batch, *graph.input_shape)).astype(np.float32)
    params, options = ox.random_params(graph), ExportOptions(outputs="logits")
    r = export_graph(spec, graph, Weights(params, "test"), None, options, x=x)
    assert r.shapes_checked == len(graph.nodes)
    assert r.parity.max_rel <= 1e-4
    folded = set(graph.nodes) - set(run_passes(graph, params, pipeline(options)).graph.nodes)
    emitted = {n.name for n in graph if n.op not in ("input", "dropout", "noise")
               and n.name not in folded}
    assert emitted <= {n.name for n in r.model.graph.node}  # node names come from IR names

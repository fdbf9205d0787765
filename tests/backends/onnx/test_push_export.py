"""The export's batch-norm push (push_affine_forward): what the LAB models hold after it, their
parity with the engine running the model as given, and the switch that turns it off."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from cnncompile.backends.numpy import init_params
from cnncompile.backends.onnx import ExportOptions, Weights, export_graph
from cnncompile.backends.onnx.assemble import build_model
from cnncompile.frontend import load_spec
from cnncompile.ir import lower

SPECS = Path(__file__).resolve().parents[3] / "specs"
LAB = {  # spec -> batch norms as lowered, left in the default export (random statistics)
    "ch9/residual_flower.yaml": (13, 12),
    "ch9/bottleneck_flower.yaml": (19, 6),
}


def export(ox, rel: str, **options):
    spec = load_spec(SPECS / rel)
    graph = lower(spec)
    x = np.random.default_rng(0).uniform(0, 1, (2, *graph.input_shape)).astype(np.float32)
    r = export_graph(spec, graph, Weights(ox.random_params(graph), "test"), None,
                     ExportOptions(outputs="logits", **options), x=x)
    return graph, r


@pytest.mark.slow
@pytest.mark.parametrize("rel", sorted(LAB))
def test_with_bias_maps_a_lab_export_holds_no_batch_norm_and_matches_the_model(ox, rel):
    graph, r = export(ox, rel, bias_maps=True)
    types = ox.op_types(r.model)
    assert sum(n.op == "batch_norm" for n in graph) == LAB[rel][0]
    assert "BatchNormalization" not in types
    assert types.count("Conv") == sum(n.op == "conv" for n in graph)
    assert types.count("Add") > 0 and r.parity.max_rel <= 1e-4  # against the unfolded model
    assert r.shapes_checked == len(graph.nodes)


@pytest.mark.slow
@pytest.mark.parametrize("rel", sorted(LAB))
def test_by_default_only_the_pushes_without_a_map_are_made(ox, rel):
    """A batch norm whose shift reaches a padded conv stays (the push would need a bias map,
    which onnxruntime runs slower): in residual_flower every shift but the last block's does,
    through the residual adds; in bottleneck_flower those before the 3x3 convs."""
    graph, r = export(ox, rel)
    assert ox.op_types(r.model).count("BatchNormalization") == LAB[rel][1]
    assert not any(n.name.endswith("bias_map") for n in r.model.graph.node)
    assert r.parity.max_rel <= 1e-4


# the exports as they were before the push (tests/test_behaviour_kept.py pins the pushed ones)
UNPUSHED = {"fashion_mnist/fmnist_bn.yaml": "fa14f4d6c47e6723",
            "ch9/residual_flower.yaml": "4c39d9ce524deeda"}


@pytest.mark.parametrize("rel", sorted(UNPUSHED))
def test_switched_off_the_export_is_what_it_was(rel):
    graph = lower(load_spec(SPECS / rel))
    model, _ = build_model(graph, init_params(graph, seed=0), ExportOptions(push_batch_norm=False))
    del model.metadata_props[:]
    digest = hashlib.sha256(model.graph.SerializeToString(deterministic=True)).hexdigest()[:16]
    assert digest == UNPUSHED[rel]

"""Runtime fixtures: small models exported once per session, with known weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cnncompile.artifacts.preprocess import for_export
from cnncompile.backends.numpy import init_params
from cnncompile.backends.onnx import ExportOptions, Weights, export_graph
from cnncompile.frontend import parse_spec
from cnncompile.ir import lower

IMAGE_SPEC = """\
name: pics
input: [12, 10, 3]
output: {labels: [cat, dog, owl, emu]}
layers: [[conv, {ksize: 3, chn: 6, stride: 2}], [max, {stride: 2}], 8]
"""
HEADS_SPEC = """\
name: office
input: [8, 8, 1]
output: {heads: {domain: 2, object: 3}}
layers: [[conv, {ksize: 3, chn: 4}], [avg, {stride: 2}], 6]
"""
BINARY_SPEC = "name: yesno\ninput: [5]\noutput: {binary: true}\nlayers: [4]\n"


@dataclass
class Exported:
    path: Path
    graph: object
    params: dict


def _export(tmp: Path, text: str, name: str, scale: float = 1 / 255, **options) -> Exported:
    spec = parse_spec(text, f"{name}.yaml")
    graph = lower(spec)
    params = init_params(graph, seed=1, init="he")
    for p in graph.params():
        if p.name.endswith(".bias"):
            params[p.name] = np.linspace(-0.5, 0.5, p.shape[0], dtype=np.float32)
    path = tmp / f"{name}.onnx"
    export_graph(spec, graph, Weights(params, "test"), path, ExportOptions(**options),
                 preprocessing=for_export(graph.input_shape, scale=scale))
    return Exported(path, graph, params)


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Exported models by key: images (probs), images_logits, images_nchw, heads, binary."""
    tmp = tmp_path_factory.mktemp("models")
    return {
        "images": _export(tmp, IMAGE_SPEC, "pics"),
        "images_logits": _export(tmp, IMAGE_SPEC, "pics_logits", outputs="logits"),
        "images_nchw": _export(tmp, IMAGE_SPEC, "pics_nchw", layout="nchw"),
        "heads": _export(tmp, HEADS_SPEC, "office", scale=1.0),
        "binary": _export(tmp, BINARY_SPEC, "yesno", scale=1.0),
    }

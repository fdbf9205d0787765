"""A checkpoint knows its spec: weights of another version are refused, naming what changed."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncompile.artifacts.weights import save_checkpoint
from cnncompile.backends.numpy import init_params
from cnncompile.cli import app
from cnncompile.frontend.spec import load_spec
from cnncompile.ir import lower

runner = CliRunner()
SPEC = """\
name: m
input: [8, 8, 1]
output: {{classes: 3}}
layers:
  - [conv, {{ksize: 3, chn: 4, actfunc: {act}}}]
  - [{pool}, {{stride: 2}}]
"""


def checkpoint_of(tmp_path, **kw):
    """A checkpoint trained (as far as its record goes) on SPEC with ``kw``."""
    path = tmp_path / "trained.yaml"
    path.write_text(SPEC.format(**{"act": "relu", "pool": "max", **kw}))
    spec = load_spec(path)
    graph = lower(spec)
    meta = {"name": "m", "spec_path": str(path), "spec_text": spec.text,
            "input_shape": list(graph.input_shape), "ir_hash": graph.structure_hash(),
            "accuracy": {"output": 0.93}}
    return save_checkpoint(tmp_path / "run" / "checkpoint.npz", init_params(graph), meta)


@pytest.mark.parametrize("change, detail", [
    ({"act": "sigmoid"}, "at node 'conv/sigmoid': the checkpoint's spec has act func 'relu', "
                         "this one 'sigmoid'"),
    ({"pool": "avg"}, "at node 'avg': the checkpoint's spec has max_pool, this one avg_pool"),
])
def test_export_and_evaluate_refuse_weights_of_another_version(tmp_path, change, detail):
    ckpt = checkpoint_of(tmp_path)
    edited = tmp_path / "edited.yaml"
    edited.write_text(SPEC.format(**{"act": "relu", "pool": "max", **change}))
    r = runner.invoke(app, ["export", str(edited), "-w", str(ckpt), "-o", str(tmp_path / "m.onnx")])
    assert r.exit_code == 2, r.output
    assert f"trained on another version of model 'm' ({detail})" in r.output
    assert not (tmp_path / "m.onnx").exists()
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((20, 8, 8, 1)), y=np.arange(20) % 3)
    r = runner.invoke(app, ["evaluate", str(edited), "-w", str(ckpt), "--data", str(data)])
    assert r.exit_code == 2 and detail in r.output, r.output


def test_the_spec_it_was_trained_on_still_exports(tmp_path):
    ckpt = checkpoint_of(tmp_path)
    r = runner.invoke(app, ["export", str(tmp_path / "trained.yaml"), "-w", str(ckpt),
                            "-o", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.output

"""Checkpoint files: round trip, atomic replacement, refusal of a checkpoint that does not fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnncompile.backends.numpy import init_params
from cnncompile.backends.numpy.optim import make_optimizer
from cnncompile.errors import DataError
from cnncompile.frontend import parse_spec
from cnncompile.ir import lower
from cnncompile.train import check_fits, choose_run_dir, read_checkpoint, save_checkpoint
from cnncompile.train.checkpoint import Checkpoint
from cnncompile.train.run import load_resume

SPEC = "name: m\ninput: [6, 6, 1]\noutput: {classes: 3}\nlayers: [[conv, {ksize: 3, chn: %d}], 5]\n"


def graph(chn=2):
    return lower(parse_spec(SPEC % chn))


def test_round_trip_keeps_parameters_optimiser_state_and_order(tmp_path):
    g = graph()
    params = init_params(g, seed=3)
    opt = make_optimizer("adam", 0.01)
    grads = {k: np.ones_like(v) for k, v in params.items()}
    opt.step(params, grads)
    perm = np.arange(7)[::-1]
    path = save_checkpoint(tmp_path / "run" / "checkpoint.npz", params,
                           {"epoch": 2, "rng": {"state": 2 ** 100}}, opt.state_dict(), perm)
    ck = read_checkpoint(path)
    assert ck.meta["epoch"] == 2 and ck.meta["rng"]["state"] == 2 ** 100
    assert ck.meta["format"] == "cnncompile.checkpoint/1"
    assert ck.params.keys() == params.keys()
    assert all(np.array_equal(ck.params[k], params[k]) for k in params)
    assert np.array_equal(ck.perm, perm)
    again = make_optimizer("adam", 0.01)
    again.load_state_dict(ck.opt_state)
    a, b = dict(params), {k: v.copy() for k, v in params.items()}
    opt.step(a, grads)
    again.step(b, grads)
    assert all(np.array_equal(a[k], b[k]) for k in a)  # Adam's step count came back too
    with np.load(path) as z:  # parameters sit under their IR names, metadata is JSON text
        assert "conv.kernel" in z.files and json.loads(str(z["__meta__"]))["epoch"] == 2


def test_a_failed_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    g = graph()
    path = save_checkpoint(tmp_path / "checkpoint.npz", init_params(g, seed=1), {"epoch": 1})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(DataError, match="checkpoint.npz: cannot write \\(disk full\\)"):
        save_checkpoint(path, init_params(g, seed=2), {"epoch": 2})
    assert read_checkpoint(path).meta["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]


def test_a_checkpoint_of_another_model_is_refused_naming_the_parameter(tmp_path):
    params = init_params(graph(2))
    with pytest.raises(DataError, match=r"x.npz: parameter `conv.kernel` has the wrong shape. "
                                        r"Received: shape=\[3, 3, 1, 2\], expected \[3, 3, 1, 4\]"):
        check_fits(graph(4), Checkpoint(params), "x.npz")
    del params["full.bias"]
    with pytest.raises(DataError, match="parameter `full.bias` is missing"):
        check_fits(graph(2), Checkpoint(params), "x.npz")


def test_a_changed_structure_with_the_same_parameters_is_refused(tmp_path):
    g = graph()
    ck = Checkpoint(init_params(g), {"ir_hash": "0123456789abcdef"})
    # resuming, evaluating and exporting alike: the parameters fit, the computation does not
    with pytest.raises(DataError, match="trained on another version of model 'm'"):
        check_fits(g, ck, "c.npz")
    check_fits(g, Checkpoint(init_params(g), {"ir_hash": g.structure_hash()}), "c.npz")


def test_plain_parameter_files_load_but_cannot_be_resumed(tmp_path):
    g = graph()
    np.savez(tmp_path / "checkpoint.npz", **init_params(g))
    ck = read_checkpoint(tmp_path / "checkpoint.npz")
    assert ck.meta == {} and ck.opt_state is None
    with pytest.raises(DataError, match="a plain parameters file, not a training checkpoint"):
        load_resume(tmp_path)
    (tmp_path / "bad.npz").write_text("nope")
    with pytest.raises(DataError, match=r"bad.npz: not an .npz file \(a checkpoint or numpy.savez parameters\)"):
        read_checkpoint(tmp_path / "bad.npz")


def test_run_folders(tmp_path):
    root = tmp_path / "runs"
    assert choose_run_dir("m", None, False, root) == root / "m"
    for d in ("m", "m-2"):
        (root / d).mkdir(parents=True)
        (root / d / "checkpoint.npz").write_bytes(b"")
    assert choose_run_dir("m", None, False, root) == root / "m-3"
    assert choose_run_dir("m", None, True, root) == root / "m-2"
    with pytest.raises(DataError, match="already holds a run: add --resume"):
        choose_run_dir("m", root / "m", False, root)
    with pytest.raises(DataError, match="holds no checkpoint.npz to continue"):
        choose_run_dir("m", root / "other", True, root)
    with pytest.raises(DataError, match="no run of 'x' under"):
        choose_run_dir("x", None, True, root)

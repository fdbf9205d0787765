"""Precise batch norm: exact recalibrated statistics, the `bn` option of `B`, no collapse."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncompile.backends.numpy import Executor, init_params
from cnncompile.backends.numpy.norm import Moments
from cnncompile.cli import app
from cnncompile.errors import DslSyntaxError
from cnncompile.train.checkpoint import read_checkpoint
from cnncompile.train.recalibrate import (
    bytes_per_sample,
    rate_warning,
    recalibrate,
    sample_indices,
)

ROOT = Path(__file__).resolve().parents[2]
COLOURS = [(220, 40, 40), (40, 200, 60), (50, 70, 230), (230, 210, 40), (200, 60, 220)]

# a conv with B, a residual add with B after it, then dense layers with a batch_normal between
LAYERS = ("[[conv, {ksize: 3, chn: 4, actions: LAB}], "
          "[add, {actions: AB}, [conv, {ksize: 3, chn: 4, actions: LAB}]], "
          "[full, {width: 6}], batch_normal]")


class _Split:
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def inputs(self, index=slice(None)):
        return self.x[index]


def _trained_like(graph, seed=0):
    """Random weights and deliberately wrong running statistics (mean 3, variance 7)."""
    params = init_params(graph, seed, "he")
    for k in params:
        if k.endswith(".mean"):
            params[k][...] = 3.0
        elif k.endswith(".var"):
            params[k][...] = 7.0
    return params


def test_recalibrated_statistics_are_the_population_moments_of_each_inference_input(make_graph):
    g = make_graph(LAYERS)
    ex = Executor(g, np.float64)
    params = _trained_like(g)
    x = np.random.default_rng(1).normal(2.0, 3.0, (37, 8, 8, 3))
    info = recalibrate(ex, params, _Split(x), limit=1000)
    assert (info.layers, info.samples) == (4, 37)
    # by hand: the input each layer receives at inference with the new statistics
    outs = ex.forward_all(params, x)
    for node in ("conv/bn", "add/conv/bn", "add/bn", "batch_normal"):
        inp = outs[g[node].inputs[0]]
        flat = inp.reshape(-1, inp.shape[-1])
        # checkpoints keep statistics in float32: exact up to that rounding
        np.testing.assert_allclose(params[f"{node}.mean"], flat.mean(axis=0), rtol=2e-7)
        np.testing.assert_allclose(params[f"{node}.var"], ((flat - flat.mean(0)) ** 2).mean(0),
                                   rtol=2e-7)
    # later layers differ from what one pass with the old statistics upstream would give
    stale = Executor(g, np.float64).forward_all(_trained_like(g), x)
    assert not np.allclose(stale[g["add/bn"].inputs[0]], outs[g["add/bn"].inputs[0]])


def test_batches_merge_exactly():
    rng = np.random.default_rng(0)
    data = rng.normal(1e4, 1.0, (3, 1000)).astype(np.float32)  # a large mean: no cancellation
    m = Moments(3)
    for a, b in ((0, 1), (1, 250), (250, 999), (999, 1000)):
        m.add(data[:, a:b])
    exact = data.astype(np.float64)
    np.testing.assert_allclose(m.mean, exact.mean(1), rtol=1e-12)
    np.testing.assert_allclose(m.var, exact.var(1), rtol=1e-9)
    assert m.count == 1000


def test_the_sample_is_bounded_and_fixed(make_graph, monkeypatch):
    assert list(sample_indices(5, 10)) == [0, 1, 2, 3, 4]
    a = sample_indices(100, 10)
    assert len(set(a)) == 10 and list(a) == sorted(a) and list(a) == list(sample_indices(100, 10))
    # one batch of the sample must fit the memory budget: a smaller budget, a smaller sample
    g = make_graph(LAYERS)
    monkeypatch.setattr("cnncompile.train.recalibrate.MEMORY_BUDGET", 20 * bytes_per_sample(g))
    x = np.random.default_rng(1).normal(0, 1, (37, 8, 8, 3))
    assert recalibrate(Executor(g), _trained_like(g), _Split(x)).samples == 20


def test_rate_warning_rule(make_graph):
    g = make_graph("[[conv, {ksize: 3, chn: 4, actions: LAB}]]")
    # (1 - 0.001)^500 = 0.61 of the start is left; 2,302 steps bring it under 0.1
    assert rate_warning(g, 500) == ("batch-norm rate exp_ratio 0.001 keeps 61% of the starting "
                                    "statistics after 500 steps (needs 2,302 to fall below 10%)")
    assert rate_warning(g, 2302) is None
    fast = make_graph("[[conv, {ksize: 3, chn: 4, actions: LAB, bn: {exp_ratio: 0.1}}]]")
    assert rate_warning(fast, 22) is None and rate_warning(fast, 21) is not None
    assert rate_warning(make_graph("[[conv, {ksize: 3, chn: 4}]]"), 1) is None


def test_b_action_takes_batch_norm_options(make_graph):
    g = make_graph("[[conv, {ksize: 3, chn: 4, actions: LAB, bn: {exp_ratio: 0.1, "
                   "epsilon: 1.0e-5}}], [add, {actions: B, bn: {momentum: 0.9}}, "
                   "[conv, {ksize: 3, chn: 4}]]]")
    a, b = g["conv/bn"].attrs, g["add/bn"].attrs
    assert (a.exp_ratio, a.epsilon, a.rescale) == (0.1, 1e-5, False)
    assert (b.exp_ratio, b.epsilon, b.rescale) == (0.1, 1e-10, True)


@pytest.mark.parametrize("options, message", [
    ("{actions: LAB, bn: {exp_rato: 0.1}}", r"`bn` has an unknown key 'exp_rato' \(did you mean "
                                            r"'exp_ratio'\?\)"),
    ("{actions: LA, bn: {exp_ratio: 0.1}}", r"`bn` sets the options of the `B` action, but the "
                                            r"actions 'LA' have no B"),
    ("{actions: LAB, bn: {exp_ratio: 2}}", r"`bn` key `exp_ratio` must be"),
    ("{actions: LAB, bn: {exp_ratio: 0.1, momentum: 0.9}}", r"`momentum` or `exp_ratio`"),
    ("{actions: LAB, bn: 0.1}", r"`bn` must be a mapping"),
])
def test_bad_bn_options_are_located(make_graph, options, message):
    with pytest.raises(DslSyntaxError, match=message) as e:
        make_graph(f"[[max], [conv, {{ksize: 3, chn: 4, {options[1:-1]}}}]]")
    assert "layers[1] > conv" in str(e.value)


# -- end to end: the README's residual_flower on a learnable folder ----------------------------

def make_folder(root: Path, per_class: int, size: int = 32, seed: int = 0) -> Path:
    """``root/<class>/*.png``: a coloured square or disc on a noisy grey background."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for c, colour in enumerate(COLOURS):
        folder = root / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            img = rng.normal(120, 30, (size, size, 3))
            r = rng.uniform(size / 5, size / 3)
            cy, cx = rng.uniform(r, size - r, 2)
            if c % 2:
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
            else:
                mask = (abs(yy - cy) < r) & (abs(xx - cx) < r)
            img[mask] = np.asarray(colour) + rng.normal(0, 20, (mask.sum(), 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def flower_folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("bn") / "shapes", per_class=80)


def _train(folder, run, *extra):
    spec = ROOT / "specs" / "ch9" / "residual_flower.yaml"
    r = CliRunner().invoke(app, ["train", str(spec), "--data", str(folder), "--epochs", "3",
                                 "--out", str(run), *extra])
    assert r.exit_code == 0, r.output
    epochs = re.findall(r"epoch +\d+ +loss \S+ +acc (\S+) +\| val loss \S+ +acc (\S+)", r.output)
    train_acc, val_acc = map(float, epochs[-1])
    test_acc = json.loads((run / "test.json").read_text())["accuracy"]["output"]
    return r, train_acc, test_acc, val_acc


def test_residual_flower_with_defaults_scores_at_test_what_it_trains_to(flower_folder, tmp_path):
    r, train_acc, test_acc, val_acc = _train(flower_folder, tmp_path / "on")
    assert train_acc > 0.8  # learnable: the comparison below means something
    assert test_acc >= train_acc - 0.05, r.output
    assert val_acc >= train_acc - 0.1, r.output  # validation on recalibrated statistics too
    assert "batch-norm statistics of 13 layers recalibrated on 320 training samples" in r.output
    assert "warning" not in r.output  # the rate does not matter: its averages are replaced
    ckpt = read_checkpoint(tmp_path / "on" / "checkpoint.npz")
    record = {"recalibrated": True, "layers": 13, "samples": 320}
    assert ckpt.meta["batch_norm"] == record
    assert json.loads((tmp_path / "on" / "test.json").read_text())["batch_norm"] == record
    # the textbook's running means would still be within a few % of 0; these are the data's
    assert np.abs(ckpt.params["residual_flower/conv/bn.mean"]).max() > 1.0
    # evaluate reads the checkpoint's statistics and finds the same accuracy
    ev = CliRunner().invoke(app, ["evaluate", str(ROOT / "specs/ch9/residual_flower.yaml"),
                                  "--weights", str(tmp_path / "on" / "checkpoint.npz"),
                                  "--data", str(flower_folder), "--format", "json"])
    assert ev.exit_code == 0, ev.output
    assert json.loads(ev.output)["accuracy"]["output"] == pytest.approx(test_acc)


def test_textbook_behaviour_collapses_when_asked_for(flower_folder, tmp_path):
    r, train_acc, test_acc, val_acc = _train(flower_folder, tmp_path / "off",
                                             "--bn-recalibrate", "off")
    assert train_acc > 0.8
    assert test_acc < train_acc - 0.4, r.output  # the textbook's collapse
    assert val_acc < train_acc - 0.4, r.output  # and validation shows it
    assert "running averages (--bn-recalibrate off)" in r.output
    assert ("warning: batch-norm rate exp_ratio 0.001 keeps 91% of the starting statistics "
            "after 96 steps (needs 2,302 to fall below 10%): the model will evaluate poorly"
            in r.output)  # stderr, which the runner mixes in
    assert read_checkpoint(tmp_path / "off" / "checkpoint.npz").meta["batch_norm"] == {
        "recalibrated": False}

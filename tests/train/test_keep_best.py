"""`--keep best|last` and `--patience N`: the kept epoch, the early stop, resume and Ctrl-C.

The fixture's validation loss (8 epochs, Adam at 0.01, 30% of the labels redrawn at random)
falls to its lowest at epoch 4 and rises after it, so "best" and "last" differ.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncompile.cli import app
from cnncompile.frontend import load_spec
from cnncompile.ir import lower
from cnncompile.report.sections import kept_text, run_html
from cnncompile.report.sources import read_run
from cnncompile.train import TrainConfig, Trainer, TrainHooks, TrainingInterrupted, load_dataset
from cnncompile.train import read_checkpoint as read
from cnncompile.train.run import finish, load_resume

SPEC = """\
name: noisy
input: [8, 8, 1]
output: {classes: 3}
layers:
  - [conv, {ksize: 3, chn: 8, actions: LBA}]
  - [max, {stride: 2}]
  - [full, {width: 32}]
train: {epochs: 8, batch_size: 10, validation: 0.2, learning_rate: 0.01}
"""
BEST = 4  # the fixture's epoch of lowest validation loss (test_the_fixture_overfits pins it)


@pytest.fixture
def noisy(tmp_path):
    """(spec, data): 250 8x8 images, a faint band of rows gives the class, 30% labels redrawn."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 250)
    x = rng.normal(0, 1, (250, 8, 8, 1)).astype(np.float32)
    for k in range(3):
        x[y == k, 3 * k:3 * k + 2] += 1.0
    flip = rng.random(250) < 0.3
    y[flip] = rng.integers(0, 3, flip.sum())
    np.savez(tmp_path / "noisy.npz", x=x, y=y)
    (tmp_path / "noisy.yaml").write_text(SPEC)
    return tmp_path / "noisy.yaml", tmp_path / "noisy.npz"


def train(noisy, out, *flags, code: int = 0) -> list[dict]:
    """The JSON events of `cnncompile train` on the fixture."""
    spec, data = noisy
    r = CliRunner().invoke(app, [str(a) for a in ("train", spec, "--data", data, "--out", out,
                                                  "--log-format", "json", *flags)])
    assert r.exit_code == code, r.output
    return [json.loads(line) for line in r.output.splitlines() if line.startswith("{")]


def val_losses(events: list[dict]) -> list[float]:
    return [e["val_loss"] for e in events if e["event"] == "epoch"]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture
def full_run(noisy, tmp_path):
    """The 8-epoch run with the default --keep best: (events, its checkpoint)."""
    events = train(noisy, tmp_path / "full")
    return events, read(tmp_path / "full")


def test_the_fixture_overfits(full_run):
    losses = val_losses(full_run[0])
    assert len(losses) == 8
    assert 1 + int(np.argmin(losses)) == BEST
    assert losses[BEST] > losses[BEST - 1] and losses[BEST + 1] > losses[BEST - 1]


def test_keep_best_tests_and_keeps_the_best_epochs_weights(noisy, tmp_path, full_run):
    events, ckpt = full_run
    # the weights of a run that trained exactly BEST epochs, tested the same way
    short = train(noisy, tmp_path / "short", "--epochs", BEST, "--keep", "last")
    short_ckpt = read(tmp_path / "short")
    assert same(ckpt.params, short_ckpt.params)
    assert events[-1]["accuracy"] == short[-1]["accuracy"]
    assert events[-1]["kept"].startswith(f"kept the weights of epoch {BEST} of 8 (the lowest "
                                         "validation loss")
    kept = ckpt.meta["kept"]
    assert (kept["keep"], kept["epoch"], kept["best_epoch"]) == ("best", BEST, BEST)
    assert kept["epochs_since_best"] == 8 - BEST and kept["stopped_early"] is False
    assert ckpt.meta["epoch"] == 8  # trained 8 epochs; a resume adding epochs goes on from 8
    # the validation accuracy recorded with the weights is the kept epoch's
    assert ckpt.meta["accuracy"]["output"] == ckpt.meta["history"][BEST - 1]["val_acc"]
    # the weights training continues from are stored beside the kept ones
    assert not same(ckpt.other_weights["last"], ckpt.params)


def test_keep_last_keeps_the_last_epoch(noisy, tmp_path, full_run):
    events = train(noisy, tmp_path / "last", "--keep", "last")
    ckpt = read(tmp_path / "last")
    assert val_losses(events) == val_losses(full_run[0])  # the same training
    assert ckpt.meta["kept"]["epoch"] == 8 and ckpt.meta["kept"]["best_epoch"] == BEST
    assert ckpt.other_weights == {}
    assert not same(ckpt.params, full_run[1].params)
    assert "epoch 8 of 8 (--keep last)" in events[-1]["kept"]


def test_patience_stops_after_n_epochs_without_improvement(noisy, tmp_path, full_run):
    events = train(noisy, tmp_path / "p2", "--patience", 2)
    ckpt = read(tmp_path / "p2")
    assert val_losses(events) == val_losses(full_run[0])[:BEST + 2]
    assert ckpt.meta["kept"]["stopped_early"] is True and ckpt.meta["epoch"] == BEST + 2
    assert same(ckpt.params, full_run[1].params)  # the same kept weights, tested the same way
    assert events[-1]["accuracy"] == full_run[0][-1]["accuracy"]
    assert events[-1]["kept"].endswith("stopped early: 2 epochs without a lower validation loss "
                                       "(--patience 2)")
    # resuming a run that stopped early retests it; a longer patience continues the count
    assert val_losses(train(noisy, tmp_path / "p2", "--resume")) == []
    more = train(noisy, tmp_path / "p2", "--resume", "--patience", 3)
    assert val_losses(more) == val_losses(full_run[0])[BEST + 2:BEST + 3]
    assert read(tmp_path / "p2").meta["kept"]["epochs_since_best"] == 3


def test_the_report_page_says_which_epoch_was_kept_and_why_the_run_ended(noisy, tmp_path):
    train(noisy, tmp_path / "p2", "--patience", 2)
    html = run_html(read_run(tmp_path / "p2"))
    assert (f'id="kept">Weights kept: epoch {BEST} of {BEST + 2} (the lowest validation loss, '
            in html)
    assert "stopped early: 2 epochs without a lower validation loss (patience 2)" in html


class StopAt(TrainHooks):
    """Ctrl-C after step ``step`` of epoch ``epoch`` (step None: as that epoch ends)."""

    def __init__(self, epoch: int, step: int | None):
        self.at = (epoch, step)

    def on_step(self, info):
        if (info.epoch, info.step) == self.at:
            raise KeyboardInterrupt

    def on_epoch_end(self, row):
        if (row["epoch"], None) == self.at:
            raise KeyboardInterrupt


def trainer(noisy, run_dir, hooks=None, resume=False, **flags) -> Trainer:
    spec = load_spec(noisy[0])
    graph = lower(spec)
    ckpt = load_resume(run_dir) if resume else None
    config = (TrainConfig(**ckpt.meta["config"]).replace(flags) if ckpt
              else TrainConfig.from_sources(spec.train, flags))
    data = load_dataset(noisy[1], graph.input_shape, graph.heads, validation=config.validation)
    return Trainer(spec, graph, data, config, run_dir, hooks=hooks, resume=ckpt)


@pytest.mark.parametrize("stop", [(BEST, None), (BEST + 1, 3)],
                         ids=["as-the-best-epoch-ends", "inside-a-later-epoch"])
def test_ctrl_c_and_resume_keep_the_best_weights_and_the_count(noisy, tmp_path, stop):
    straight = trainer(noisy, tmp_path / "a", patience=3)
    straight.fit()
    finish(straight)
    stopped = trainer(noisy, tmp_path / "b", hooks=StopAt(*stop), patience=3)
    with pytest.raises((TrainingInterrupted, KeyboardInterrupt)):
        stopped.fit()
    saved = read(tmp_path / "b")
    assert saved.meta["kept"]["best_epoch"] == BEST
    assert ("best" in saved.other_weights) == (stop[1] is not None)  # apart once they differ
    resumed = trainer(noisy, tmp_path / "b", resume=True)
    resumed.fit()
    finish(resumed)
    a, b = read(tmp_path / "a"), read(tmp_path / "b")
    assert a.meta["kept"] == b.meta["kept"] and a.meta["kept"]["stopped_early"] is True
    assert same(a.params, b.params)
    assert same(a.other_weights["last"], b.other_weights["last"])


def test_keep_cannot_change_on_resume(noisy, tmp_path):
    train(noisy, tmp_path / "r", "--epochs", 2, "--keep", "last")
    events = train(noisy, tmp_path / "r", "--resume", "--keep", "best", code=2)
    assert events == []
    r = CliRunner().invoke(app, ["train", str(noisy[0]), "--data", str(noisy[1]), "--out",
                                 str(tmp_path / "r"), "--resume", "--keep", "best"])
    assert "the run was trained with --keep last" in r.output


def test_patience_needs_validation_samples(noisy, tmp_path):
    spec, data = noisy
    r = CliRunner().invoke(app, ["train", str(spec), "--data", str(data), "--out",
                                 str(tmp_path / "v"), "--validation", "0", "--patience", "2"])
    assert r.exit_code == 2, r.output
    assert "--patience 2 watches the validation loss, and this run has no validation samples" \
        in r.output


def test_without_validation_samples_the_last_epoch_is_kept(noisy, tmp_path):
    events = train(noisy, tmp_path / "v", "--validation", 0, "--epochs", 2)
    assert read(tmp_path / "v").meta["kept"]["epoch"] == 2
    assert events[-1]["kept"] == ("kept the weights of epoch 2 of 2 (no validation samples to "
                                  "choose by)")


@pytest.mark.parametrize("workers", [1, 2])
def test_torch_keeps_the_best_epoch_and_every_worker_stops_together(noisy, tmp_path, workers):
    pytest.importorskip("torch", reason="the torch backend's tests need torch (test extra)")
    torch_flags = ("--backend", "torch", "--device", "cpu", "--workers", workers)
    events = train(noisy, tmp_path / "t", *torch_flags, "--patience", 2)
    ckpt = read(tmp_path / "t")
    assert ckpt.meta["kept"]["best_epoch"] == BEST and ckpt.meta["epoch"] == BEST + 2
    assert len(val_losses(events)) == BEST + 2
    train(noisy, tmp_path / "short", *torch_flags, "--epochs", BEST, "--keep", "last")
    assert same(ckpt.params, read(tmp_path / "short").params)


def test_the_spec_train_section_sets_keep_and_patience(noisy, tmp_path):
    spec = tmp_path / "recipe.yaml"
    spec.write_text(SPEC.replace("learning_rate: 0.01}", "learning_rate: 0.01, keep: last, "
                                 "patience: 2}"))
    events = train((spec, noisy[1]), tmp_path / "s")
    kept = read(tmp_path / "s").meta["kept"]
    assert (kept["keep"], kept["patience"], kept["epoch"]) == ("last", 2, BEST + 2)
    assert len(val_losses(events)) == BEST + 2
    # a value out of range is the option's one-line error, exit 2
    r = CliRunner().invoke(app, ["train", str(spec), "--data", str(noisy[1]), "--out",
                                 str(tmp_path / "z"), "--patience", "0"])
    assert r.exit_code == 2 and "--patience: 0 is not a positive integer" in r.output, r.output


@pytest.mark.parametrize(("kept", "shown"), [
    ({"epoch": "<b>4</b>", "keep": "best"}, None),
    ({"epoch": True, "keep": "best"}, None),
    ({"epoch": 3, "keep": "<i>x</i>", "best_val_loss": "<i>0.1</i>", "stopped_early": "yes",
      "epochs_since_best": 2, "patience": 2}, "epoch 3 of 8"),
    ({"epoch": 3, "keep": "best", "best_val_loss": None}, "epoch 3 of 8 (no validation samples "
     "to choose by: the last epoch)"),
])
def test_the_report_reads_a_kept_record_from_someone_elses_file_defensively(kept, shown):
    assert kept_text({"epoch": 8, "kept": kept}) == shown

"""The loop: resume gives the same weights, Ctrl-C keeps the last step, NaN stops cleanly."""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.frontend import load_spec
from cnncompile.ir import lower
from cnncompile.train import (
    DivergedError,
    TrainConfig,
    Trainer,
    TrainHooks,
    TrainingInterrupted,
    load_dataset,
    read_checkpoint,
)
from cnncompile.train.run import load_resume


def setup(toy, **flags):
    spec_path, data_path = toy
    spec = load_spec(spec_path)
    graph = lower(spec)
    config = TrainConfig.from_sources(spec.train, flags)
    data = load_dataset(data_path, graph.input_shape, graph.heads, limit=config.limit)
    return spec, graph, data, config


def train(toy, run_dir, hooks=None, resume=False, **flags):
    spec, graph, data, config = setup(toy, **flags)
    ckpt = load_resume(run_dir) if resume else None
    if ckpt is not None:
        config = TrainConfig(**ckpt.meta["config"]).replace(flags)
    t = Trainer(spec, graph, data, config, run_dir, hooks=hooks, resume=ckpt)
    t.fit()
    return t


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


class StopAt(TrainHooks):
    """Raises KeyboardInterrupt after step ``step`` of epoch ``epoch``, as Ctrl-C would."""

    def __init__(self, epoch, step):
        self.at = (epoch, step)

    def on_step(self, info):
        if (info.epoch, info.step) == self.at:
            raise KeyboardInterrupt


def test_resume_after_an_epoch_gives_the_same_weights(toy, tmp_path):
    # the toy spec has batch norm, noise, dropout and flip_shift augmentation: every RNG use
    straight = train(toy, tmp_path / "a", epochs=2)
    train(toy, tmp_path / "b", epochs=1)
    resumed = train(toy, tmp_path / "b", resume=True, epochs=2)
    assert same(straight.params, resumed.params)
    assert straight.history[1]["train_loss"] == resumed.history[1]["train_loss"]
    assert len(resumed.history) == 2
    # batch-norm running statistics moved and are part of the equality
    assert not np.array_equal(straight.params["conv/bn.var"], np.ones(4))
    assert not same(straight.params, train(toy, tmp_path / "c", epochs=2, seed=1).params)


def test_ctrl_c_inside_an_epoch_saves_that_step_and_resumes_exactly(toy, tmp_path):
    straight = train(toy, tmp_path / "a", epochs=2)
    with pytest.raises(TrainingInterrupted, match=r"interrupted at epoch 2, step 5/15: saved "
                                                  r".*checkpoint.npz \(the last completed step\)"):
        train(toy, tmp_path / "b", hooks=StopAt(2, 5), epochs=2)
    ckpt = read_checkpoint(tmp_path / "b" / "checkpoint.npz")
    assert ckpt.meta["epoch"] == 1 and ckpt.meta["step"] == 5 and ckpt.perm is not None
    resumed = train(toy, tmp_path / "b", resume=True)
    assert same(straight.params, resumed.params)
    assert resumed.history[1]["train_loss"] == pytest.approx(straight.history[1]["train_loss"])


def test_nan_loss_names_epoch_and_step_and_keeps_the_good_checkpoint(toy, tmp_path):
    class Poison(TrainHooks):
        def __init__(self):
            self.trainer = None

        def on_step(self, info):
            if (info.epoch, info.step) == (2, 3):
                self.trainer.params["output.weight"][:] = np.nan

    spec, graph, data, config = setup(toy, epochs=3)
    hooks = Poison()
    t = Trainer(spec, graph, data, config, tmp_path / "r", hooks=hooks)
    hooks.trainer = t
    with pytest.raises(DivergedError, match=r"the loss became nan at epoch 2, step 4: training "
                                            r"stopped; the last good checkpoint .* epoch 1. "
                                            r"is kept"):
        t.fit()
    ckpt = read_checkpoint(tmp_path / "r" / "checkpoint.npz")
    assert ckpt.meta["epoch"] == 1
    assert all(np.isfinite(v).all() for v in ckpt.params.values())


def test_learns_the_toy_problem_and_writes_metrics(toy, tmp_path):
    t = train(toy, tmp_path / "r", epochs=4, lr_schedule="cosine", learning_rate=0.01)
    assert t.history[-1]["val_acc"] > 0.8
    assert t.history[-1]["lr"] < 0.01 * 0.05  # cosine ends near zero
    lines = (tmp_path / "r" / "metrics.csv").read_text().splitlines()
    assert lines[0] == ("epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds,elapsed,"
                        "backend,device,workers,threads")
    assert len(lines) == 5 and lines[4].startswith("4,")


def test_options_flags_over_spec_over_textbook():
    c = TrainConfig.from_sources({"epochs": 3, "batch_size": 32},
                                 {"epochs": 5, "learning_rate": None})
    assert (c.epochs, c.batch_size, c.learning_rate, c.optimizer) == (5, 32, 0.001, "adam")
    assert TrainConfig().batch_size == 10 and TrainConfig().init == "normal"
    assert c.replace({"epochs": 9, "seed": None}).epochs == 9

"""train_model as a library call: train, resume, the run folder, hooks and typed errors."""

from __future__ import annotations

import os
import signal
import textwrap

import numpy as np
import pytest

from cnncompile.errors import DataError, DslSyntaxError, OptionError
from cnncompile.frontend import load_spec
from cnncompile.train import TrainHooks, TrainingInterrupted, read_checkpoint
from cnncompile.workflows.train import train_model

TOY = """\
    name: toy
    input: [8, 8, 1]
    output: {classes: 3}
    layers:
      - [conv, {ksize: 3, chn: 4, actions: LBA}]
      - [max, {stride: 2}]
      - [full, {width: 16}]
      - [dropout, {keep_prob: 0.8}]
    train: {epochs: 1, batch_size: 16, augment: flip}
    """


@pytest.fixture
def toy(tmp_path):
    """(spec path, npz path): 3 classes of 8x8 images, a bright band of rows per class."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    x = rng.normal(0, 1, (200, 8, 8, 1)).astype(np.float32)
    for k in range(3):
        x[y == k, 3 * k:3 * k + 2] += 2.5
    np.savez(tmp_path / "toy.npz", x=x, y=y)
    spec = tmp_path / "toy.yaml"
    spec.write_text(textwrap.dedent(TOY))
    return spec, tmp_path / "toy.npz"


class Recorder(TrainHooks):
    def __init__(self):
        self.events = []

    def on_start(self, start):
        self.events.append(("start", start.resumed, start.trainer.epoch,
                            start.batch_norm_validation is not None))

    def on_epoch_end(self, row):
        self.events.append(("epoch", row["epoch"]))


def test_one_epoch_into_a_folder_then_resumed_to_the_weights_of_a_two_epoch_run(toy, tmp_path):
    spec, data = toy
    hooks = Recorder()
    first = train_model(spec, data, tmp_path / "run", hooks=hooks)
    assert hooks.events == [("start", False, 0, True), ("epoch", 1)]
    assert first.run_dir == tmp_path / "run"
    assert first.checkpoint == tmp_path / "run" / "checkpoint.npz"
    assert set(first.accuracy) == {"output"} and first.test_samples == 30
    assert {f.name for f in first.files} >= {"curves.png", "confusion.png", "test.json"}
    assert read_checkpoint(first.checkpoint).meta["epoch"] == 1

    hooks = Recorder()
    again = train_model(spec, data, tmp_path / "run", resume=True, options={"epochs": 2},
                        hooks=hooks)
    assert hooks.events == [("start", True, 1, True), ("epoch", 2)]
    straight = train_model(spec, data, tmp_path / "straight", options={"epochs": 2})
    resumed, whole = read_checkpoint(again.checkpoint), read_checkpoint(straight.checkpoint)
    assert resumed.meta["epoch"] == whole.meta["epoch"] == 2
    assert all(np.array_equal(resumed.params[k], whole.params[k]) for k in whole.params)
    assert again.accuracy == straight.accuracy


def test_a_loaded_spec_with_overrides_into_the_default_run_folders(toy, tmp_path):
    spec, data = toy
    sp = load_spec(spec)
    root = tmp_path / "runs"
    a = train_model(sp, data, runs_root=root, options={"batch_size": 20, "augment": "none"})
    assert a.run_dir == root / "toy"
    meta = read_checkpoint(a.checkpoint).meta
    assert meta["config"]["batch_size"] == 20 and meta["input_shape"] == [8, 8, 1]
    # the lock was released: a resume of the same folder in this process is possible
    b = train_model(sp, data, runs_root=root, resume=True, options={"epochs": 2})
    assert b.run_dir == root / "toy" and read_checkpoint(b.checkpoint).meta["epoch"] == 2
    assert train_model(sp, data, runs_root=root).run_dir == root / "toy-2"


def test_a_resume_takes_the_recorded_input_shape(toy, tmp_path):
    spec, data = toy
    x, y = np.load(data)["x"], np.load(data)["y"]
    np.savez(tmp_path / "big.npz", x=np.repeat(np.repeat(x, 2, 1), 2, 2), y=y)
    run = tmp_path / "run"
    train_model(spec, tmp_path / "big.npz", run, input_shape=(16, 16, 1), classes=3)
    again = train_model(spec, tmp_path / "big.npz", run, resume=True, options={"epochs": 2})
    assert read_checkpoint(again.checkpoint).meta["input_shape"] == [16, 16, 1]


def test_user_mistakes_are_typed_errors(toy, tmp_path):
    spec, data = toy
    with pytest.raises(DataError, match="--resume continues a run and --overwrite replaces"):
        train_model(spec, data, tmp_path / "a", resume=True, overwrite=True)
    with pytest.raises(OptionError, match="unknown training option 'epoch'"):
        train_model(spec, data, tmp_path / "b", options={"epoch": 2})
    with pytest.raises(OptionError, match="training option `batch_size` must be a positive"):
        train_model(spec, data, tmp_path / "c", options={"batch_size": 0})
    with pytest.raises(DslSyntaxError, match="`input` must be"):
        train_model(spec, data, tmp_path / "d", input_shape=(8, 8))
    with pytest.raises(DataError, match="holds no checkpoint.npz to continue"):
        train_model(spec, data, tmp_path / "e", resume=True)


class _InterruptAtStep(TrainHooks):
    def on_step(self, info):
        if info.step == 3:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: deferred to the end of the step


def test_ctrl_c_saves_the_step_and_raises_a_typed_interruption(toy, tmp_path):
    spec, data = toy
    with pytest.raises(TrainingInterrupted) as caught:
        train_model(spec, data, tmp_path / "run", hooks=_InterruptAtStep())
    assert caught.value.exit_code == 130
    assert caught.value.checkpoint == tmp_path / "run" / "checkpoint.npz"
    assert read_checkpoint(caught.value.checkpoint).meta["partial"]["step"] == 3
    done = train_model(spec, data, tmp_path / "run", resume=True)
    assert read_checkpoint(done.checkpoint).meta["epoch"] == 1


class _StartRecorder(TrainHooks):
    def on_start(self, start):
        self.start = start


def test_the_start_and_the_checkpoint_say_where_the_run_trains(toy, tmp_path):
    spec, data = toy
    hooks = _StartRecorder()
    result = train_model(spec, data, tmp_path / "run", hooks=hooks)
    engine = hooks.start.engine
    assert {k: engine[k] for k in ("backend", "device", "workers")} == {
        "backend": "numpy", "device": "cpu", "workers": 1}
    assert engine["threads"] >= 1
    assert read_checkpoint(result.checkpoint).meta["engine"] == engine
    assert hooks.start.resume_note is None
    import csv

    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert {k: row[k] for k in engine} == {k: str(v) for k, v in engine.items()}


def test_a_resume_says_what_it_keeps_and_what_it_changes(toy, tmp_path):
    spec, data = toy
    train_model(spec, data, tmp_path / "run", options={"batch_size": 20,
                                                       "learning_rate": 0.01})
    hooks = _StartRecorder()
    train_model(spec, data, tmp_path / "run", resume=True, options={"epochs": 2}, hooks=hooks)
    assert hooks.start.resume_note == ("keeps the recorded --batch-size 20, --lr 0.01; "
                                       "changes --epochs 1 -> 2")


def test_resuming_a_finished_run_trains_and_tests_nothing(toy, tmp_path):
    spec, data = toy
    first = train_model(spec, data, tmp_path / "run")
    before = first.checkpoint.read_bytes()
    hooks = Recorder()
    again = train_model(spec, data, tmp_path / "run", resume=True, hooks=hooks)
    assert again.complete_at_epoch == 1 and again.accuracy == first.accuracy
    assert hooks.events == []  # no start, no epoch
    assert first.checkpoint.read_bytes() == before


def test_a_signal_another_process_took_during_the_checkpoint_stops_this_one_alike(toy, tmp_path):
    """The stop is shared as the signal's number: a process that took no signal itself says
    and exits as the one that did (it crashed on `None is not a valid Signals`)."""
    from cnncompile.frontend import load_spec
    from cnncompile.ir import lower
    from cnncompile.train import TrainConfig, Trainer, load_dataset
    from cnncompile.train.step_engine import NumpyEngine

    class OtherRankTerminated(NumpyEngine):
        at_epoch_end = False

        def max_over_ranks(self, value):
            return int(signal.SIGTERM) if OtherRankTerminated.at_epoch_end else value

    class EpochEnd(TrainHooks):
        def on_epoch_end(self, row):
            OtherRankTerminated.at_epoch_end = True  # as the checkpoint was taken

    spec, data = toy
    sp = load_spec(spec)
    graph = lower(sp)
    trainer = Trainer(sp, graph, load_dataset(str(data), graph.input_shape, graph.heads),
                      TrainConfig(epochs=3, batch_size=16), tmp_path / "run", hooks=EpochEnd(),
                      engine=OtherRankTerminated)
    with pytest.raises(TrainingInterrupted) as caught:
        trainer.fit()
    assert caught.value.exit_code == 143
    assert str(caught.value).startswith("terminated (SIGTERM) after epoch 1: saved")

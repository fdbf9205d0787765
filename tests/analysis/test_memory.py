"""Memory estimated before allocating: the figures, and refusals with them, not MemoryError."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncompile.analysis.memory import (
    MemoryEstimate,
    available_memory,
    check_estimate,
    check_memory,
    estimate_memory,
    input_estimate,
)
from cnncompile.cli import app
from cnncompile.errors import ResourceError

runner = CliRunner()
GIB = 1 << 30
# 1e11 classes behind a 4x4x1 input: 1.6e12 weights, terabytes on any machine
HUGE_CLASSES = 100_000_000_000


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def small(make_graph):
    # conv 3x3x1x4 + 4 = 40 params, output [6, 6, 4] (and its relu); dense 144x2 + 2 = 290
    return make_graph("[[conv, {ksize: 3, chn: 4, padding: VALID}]]", "[8, 8, 1]",
                      "{classes: 2}")


def test_inference_counts_parameters_and_the_peak_of_live_activations(small):
    e = estimate_memory(small, 10)
    assert (e.parameters, e.gradients, e.optimizer_state) == (4 * 330, 0, 0)
    # alive together: input 8*8*1 and conv 6*6*4, then conv and relu (the peak: 144 + 144),
    # relu and flatten, flatten and the output 2
    assert e.activations == 4 * 10 * (144 + 144)
    assert e.total == 4 * 330 + 4 * 10 * 288


@pytest.mark.parametrize("optimizer, copies", [("sgd", 0), ("momentum", 1), ("adam", 4)])
def test_training_adds_gradients_optimizer_state_and_every_kept_activation(small, optimizer,
                                                                           copies):
    e = estimate_memory(small, 10, training=True, optimizer=optimizer)
    assert e.gradients == 4 * 330
    assert e.optimizer_state == copies * 4 * 330
    # input 64, conv 144, relu 144, flatten 144, output 2 kept; two of the largest in backward
    assert e.activations == 4 * 10 * (64 + 3 * 144 + 2 + 2 * 144)


def test_the_estimate_grows_with_the_batch_and_batch_zero_is_the_model_alone(small):
    one, many = estimate_memory(small, 1, True), estimate_memory(small, 1000, True)
    assert many.activations == 1000 * one.activations
    assert many.parameters == one.parameters
    assert estimate_memory(small, 0, True).activations == 0


def test_refusal_names_the_figure_batch_input_and_what_is_available(small):
    with pytest.raises(ResourceError) as e:
        check_memory(small, 1_000_000, training=True, purpose="training",
                     hint="lower --batch-size", available=GIB)
    needed = estimate_memory(small, 1_000_000, training=True).total
    assert str(e.value) == (
        f"training needs {needed / GIB:.1f} GiB for batch 1000000 at 8x8x1 (parameters 1.3 KiB, "
        f"gradients 1.3 KiB, optimizer state 5.2 KiB, activations {(needed - 9240) / GIB:.1f} "
        "GiB, kept weights 1.3 KiB); this machine has 1.0 GiB available; lower --batch-size")
    assert check_memory(small, 10, training=True, available=GIB).total < GIB


def test_input_only_estimate_for_a_model_known_by_its_input():
    e = input_estimate((224, 224, 3), 100_000, copies=2)
    assert e == MemoryEstimate(100_000, False, (224, 224, 3), 0, 0, 0, 2 * 100_000 * 150528 * 4)
    with pytest.raises(ResourceError, match=r"^bench --batch 100000 needs 112\.2 GiB for batch "
                                            r"100000 at 224x224x3; this machine has 23\.4 GiB"):
        check_estimate(e, "bench --batch 100000", available=int(23.4 * GIB) + 1)


@pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="reads Linux's /proc/meminfo")
def test_available_memory_is_positive_and_below_physical_memory():
    avail = available_memory()
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < avail <= physical


# -- the commands refuse before allocating -----------------------------------------------------


@pytest.fixture
def tiny(tmp_path):
    """(spec, data): a 4x4x1, 2-class model and 40 samples of it."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((40, 4, 4, 1), np.float32),
             y=rng.integers(0, 2, 40))
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\ninput: [4, 4, 1]\noutput: {classes: 2}\nlayers: [4]\n"
                    "train: {epochs: 1, batch_size: 8}\n")
    return spec, tmp_path / "d.npz"


def _one_line_refusal(r, pattern: str) -> None:
    assert r.exit_code == 2, r.output
    assert "MemoryError" not in r.output and "internal error" not in r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and re.fullmatch(pattern, lines[0]), r.stderr


def test_train_refuses_a_huge_classes_before_loading_data_or_weights(tiny, tmp_path):
    spec, data = tiny
    r = cli("train", spec, "--data", data, "--out", tmp_path / "run", "--classes", HUGE_CLASSES)
    _one_line_refusal(r, r"error: training needs \d+\.\d TiB for the model alone, input 4x4x1 "
                         r"\(parameters .*\); this machine has \d+\.\d [GMT]iB available")
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_export_refuses_huge_classes_and_a_huge_parity_batch(tiny, tmp_path):
    spec, _ = tiny
    r = cli("export", spec, "--classes", HUGE_CLASSES, "-o", tmp_path / "m.onnx")
    _one_line_refusal(r, r"error: building the model needs \d+\.\d TiB for the model alone, "
                         r"input 4x4x1; this machine has .* available")
    r = cli("export", spec, "--parity-batch", 10**12, "-o", tmp_path / "m.onnx")
    _one_line_refusal(r, r"error: export's parity check needs \d+\.\d TiB for batch "
                         r"1000000000000 at 4x4x1 \(.*\); this machine has .* available; "
                         r"lower --parity-batch")
    assert not (tmp_path / "m.onnx").exists()


def test_bench_refuses_a_huge_batch(tiny, tmp_path):
    spec, _ = tiny
    assert cli("export", spec, "-o", tmp_path / "m.onnx").exit_code == 0
    r = cli("bench", tmp_path / "m.onnx", "--batch", "1,1000000000000", "--seconds", 0.01)
    assert r.exit_code == 2, r.output
    assert re.search(r"error: bench --batch 1000000000000 needs \d+\.\d TiB for batch "
                     r"1000000000000 at 4x4x1; this machine has .* available", r.stderr)


def test_analyze_allocates_nothing_so_reports_any_size(tiny):
    spec, _ = tiny
    r = cli("analyze", spec, "--classes", HUGE_CLASSES)
    assert r.exit_code == 0 and "Trainable params:     500,000,000,068" in r.stdout, r.output


def test_keep_best_counts_the_best_epochs_copy_of_the_weights(make_graph):
    graph = make_graph("[[conv, {ksize: 3, chn: 4}]]", input="[8, 8, 1]")
    best = estimate_memory(graph, 10, training=True, keep="best")
    last = estimate_memory(graph, 10, training=True, keep="last")
    assert best.kept_weights == best.parameters == 4 * (3 * 3 * 1 * 4 + 4 + 8 * 8 * 4 * 2 + 2)
    assert last.kept_weights == 0 and best.total - last.total == best.parameters
    assert "kept weights 2.2 KiB" in best.describe()
    assert estimate_memory(graph, 10, keep="best").kept_weights == 0  # inference keeps nothing

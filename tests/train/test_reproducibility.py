"""docs/reproducibility.md's claims, one test each, on the CPU.

- The same run twice (same backend, device, workers and threads) gives bit-identical weights:
  NumPy, torch in one process, torch in two gloo processes.
- SGD agrees within float32 rounding across worker counts and across backends.
- Adam can drift across worker counts and backends: float32 rounding in near-zero gradients is
  amplified by its normalisation (m / sqrt(v)); the drift measured here is far above rounding.

Every run is the tiny model of tests/backends/torch (conv + batch norm + dropout, here with the
conv's bias, which batch norm cancels: its gradient is rounding noise) on 100 8x8 images, batch
13 (six full batches and one of 2 per epoch), 28 steps, the last weights kept.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncompile.cli import app
from cnncompile.train import read_checkpoint

SPEC = """\
name: tiny
input: [8, 8, 1]
output: {classes: 3}
layers:
  - [conv, {ksize: 3, chn: 4, actions: LBA}]  # a bias that batch norm cancels
  - [max, {stride: 2}]
  - [dropout, {keep_prob: 0.8}]
  - 8
"""
RATES = {"sgd": 0.05, "adam": 0.01}
EPOCHS = 4  # 28 steps
ROUNDING = 1e-5  # float32 rounding over 28 steps, relative to each parameter's scale


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs(backend, optimizer, workers=1, repeat=0) -> the run's last weights (cached)."""
    folder = tmp_path_factory.mktemp("reproducibility")
    rng = np.random.default_rng(0)
    y = np.arange(100) % 3
    x = rng.integers(0, 100, (100, 8, 8, 1))
    for k in range(3):
        x[y == k, 3 * k:3 * k + 3] += 120
    np.savez(folder / "toy.npz", x=x.astype(np.float32) / 255, y=y)
    (folder / "tiny.yaml").write_text(SPEC)
    done: dict[tuple, dict[str, np.ndarray]] = {}

    def run(backend: str, optimizer: str, workers: int = 1, repeat: int = 0):
        key = (backend, optimizer, workers, repeat)
        if key not in done:
            if backend == "torch":
                pytest.importorskip("torch", reason="the torch backend's tests need torch")
            out = folder / "-".join(map(str, key))
            flags = ["--backend", backend, "--workers", workers] + (
                ["--device", "cpu"] if backend == "torch" else [])
            r = CliRunner().invoke(app, [str(a) for a in (
                "train", folder / "tiny.yaml", "--data", folder / "toy.npz", "--out", out,
                "--epochs", EPOCHS, "--batch-size", 13, "--optimizer", optimizer,
                "--lr", RATES[optimizer], "--keep", "last", "--log-format", "json", *flags)])
            assert r.exit_code == 0, r.output
            done[key] = read_checkpoint(out / "checkpoint.npz").params
        return done[key]

    return run


def drift(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """The largest difference of any parameter, relative to its scale (at least 0.1)."""
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) / max(float(np.abs(b[k]).max()), 0.1)
               for k in b)


@pytest.mark.parametrize(("backend", "workers"), [("numpy", 1), ("torch", 1), ("torch", 2)])
@pytest.mark.parametrize("optimizer", ["adam"])
def test_the_same_run_twice_gives_bit_identical_weights(runs, backend, workers, optimizer):
    a, b = runs(backend, optimizer, workers), runs(backend, optimizer, workers, repeat=1)
    assert a.keys() == b.keys() and any(k.endswith(".var") for k in a)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_sgd_agrees_within_float32_rounding_across_worker_counts(runs):
    assert drift(runs("torch", "sgd", 2), runs("torch", "sgd", 1)) <= ROUNDING


def test_sgd_agrees_within_float32_rounding_across_backends(runs):
    assert drift(runs("torch", "sgd", 1), runs("numpy", "sgd")) <= ROUNDING


NOISE_GRADIENT = ("conv.bias", "conv/bn.mean")  # the cancelled bias and the mean that tracks it


@pytest.mark.parametrize("pair", [(("torch", "adam", 2), ("torch", "adam", 1)),
                                  (("torch", "adam", 1), ("numpy", "adam"))],
                         ids=["two-workers-vs-one", "torch-vs-numpy"])
def test_adam_can_drift_where_the_gradient_is_rounding_noise(runs, pair):
    a, b = runs(*pair[0]), runs(*pair[1])
    # m / sqrt(v) turns rounding-sized gradients into full-sized steps of either sign
    assert drift({k: a[k] for k in NOISE_GRADIENT}, {k: b[k] for k in NOISE_GRADIENT}) > 0.1
    rest = [k for k in b if k not in NOISE_GRADIENT]
    assert drift({k: a[k] for k in rest}, {k: b[k] for k in rest}) <= ROUNDING

"""Fixtures of the hostile-input tests: a toy model and its data, the CLI, error checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncompile.cli import app

TOY_SPEC = """\
name: toy
input: [8, 8, 1]
output: {classes: 3}
layers:
  - [conv, {ksize: 3, chn: 4}]
  - [max, {stride: 2}]
"""


def _toy_data(path: Path, seed: int = 0, n: int = 300) -> Path:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 1, (n, 8, 8, 1)).astype(np.float32)
    for k in range(3):
        x[y == k, 3 * k:3 * k + 2] += 2.5  # a bright band of rows says the class
    np.savez(path, x=x, y=y)
    return path


@pytest.fixture
def toy_data():
    """toy_data(path, seed=0, n=300) -> an .npz of n 8x8x1 samples in 3 classes."""
    return _toy_data


@pytest.fixture
def toy(tmp_path):
    """(spec path, .npz path): a tiny 3-class model and its data (300 samples; 45 test)."""
    spec = tmp_path / "toy.yaml"
    spec.write_text(TOY_SPEC)
    return spec, _toy_data(tmp_path / "toy.npz")


@pytest.fixture
def cli():
    """cli(*args) -> the CliRunner result of ``cnncompile ARGS`` (in this process)."""
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def _one_line_error(r, *parts) -> str:
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "internal error" not in lines[0] and "Traceback" not in r.output
    for part in parts:
        assert str(part) in lines[0], (part, lines[0])
    return lines[0]


@pytest.fixture
def one_line_error():
    """one_line_error(result, *parts): exit 2 with one `error:` line mentioning every part."""
    return _one_line_error

"""Training fixtures: spec files and a toy run (the data-set fixtures are in tests/conftest.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def spec_file(tmp_path):
    """spec_file(text) -> path of a dedented spec in the test's folder."""

    def make(text: str, name: str = "model.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return make


TOY_SPEC = """\
    name: toy
    input: [8, 8, 1]
    output: {classes: 3}
    layers:
      - [conv, {ksize: 3, chn: 4, actions: LBA}]
      - [noise, {std: 0.1, ratio: 0.5}]
      - [max, {stride: 2}]
      - [full, {width: 16}]
      - [dropout, {keep_prob: 0.8}]
    train: {epochs: 2, batch_size: 16, augment: flip_shift}
    """


@pytest.fixture
def toy(tmp_path, spec_file):
    """(spec path, npz path): a 3-class 8x8 problem; a bright band of rows gives the class.

    The band survives flips and one-pixel shifts, so augmentation keeps the labels true.
    """
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 1, (n, 8, 8, 1)).astype(np.float32)
    for k in range(3):
        x[y == k, 3 * k:3 * k + 2] += 2.5
    data = tmp_path / "toy.npz"
    np.savez(data, x=x, y=y)
    return spec_file(TOY_SPEC, "toy.yaml"), data

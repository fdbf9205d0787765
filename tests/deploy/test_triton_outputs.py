"""`export -o M --triton REPO`: both files or neither; labels one a line, whatever they hold."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cnncompile.cli import app

runner = CliRunner()
SPEC = """\
name: lab
input: [8, 8, 1]
output:
  labels: ["two\\nlines", "b\\u001b[2J", c]
layers: [[conv, {ksize: 3, chn: 2}]]
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text(SPEC)
    return path


def test_a_label_with_a_newline_is_one_escaped_line(spec, tmp_path):
    r = runner.invoke(app, ["export", str(spec), "--triton", str(tmp_path / "repo")])
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "repo" / "lab" / "labels.txt").read_text().splitlines()
    assert lines == ["two\\x0alines", "b\\x1b[2J", "c"]


def test_a_failing_repository_leaves_the_model_file_as_it_was(spec, tmp_path):
    good = tmp_path / "good.onnx"
    good.write_bytes(b"keep")
    (tmp_path / "notafolder").write_text("")
    r = runner.invoke(app, ["export", str(spec), "-o", str(good), "--triton",
                            str(tmp_path / "notafolder")])
    assert r.exit_code == 2 and "notafolder: exists and is not a folder" in r.output
    assert good.read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.onnx", "lab.yaml", "notafolder"]


def test_an_unwritable_model_file_leaves_no_repository(spec, tmp_path):
    folder = tmp_path / "good.onnx"
    folder.mkdir()  # -o names a folder: the model cannot be written, so neither is the repo
    r = runner.invoke(app, ["export", str(spec), "-o", str(folder), "--triton",
                            str(tmp_path / "repo")])
    assert r.exit_code == 2, r.output
    assert not (tmp_path / "repo" / "lab").exists()
    assert [p.name for p in (tmp_path / "repo").iterdir()] == []

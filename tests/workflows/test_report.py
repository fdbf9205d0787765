"""workflows.report.write_report as a library function."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncompile.errors import DataError
from cnncompile.frontend import parse_spec
from cnncompile.workflows.export import export_model
from cnncompile.workflows.report import write_report

TINY = """\
name: tiny
input: [8, 8, 3]
output: {labels: [a, b, c]}
layers: [[conv, {ksize: 3, chn: 4}], [max, {stride: 2}], 6]
"""


def test_a_spec_file_gives_a_page_named_after_the_model(tmp_path, monkeypatch):
    (tmp_path / "t.yaml").write_text(TINY)
    monkeypatch.chdir(tmp_path)
    path = write_report(tmp_path / "t.yaml")
    assert path == Path("tiny.html")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and "tiny" in page and "<svg" in page


def test_a_loaded_spec_with_overrides_and_an_export(tmp_path):
    spec = parse_spec(TINY, "t.yaml")
    model = export_model(spec, None, tmp_path / "m.onnx", input_shape=(16, 16, 3),
                         scale=1 / 255).path
    path = write_report(spec, tmp_path / "r.html", input_shape=(16, 16, 3), model=model,
                        batch=2)
    page = path.read_text()
    assert path == tmp_path / "r.html" and "input [16, 16, 3]" in page and "m.onnx" in page


def test_refusals_write_nothing(tmp_path):
    spec = parse_spec(TINY, "t.yaml")
    with pytest.raises(DataError, match="`--bench` times an exported model"):
        write_report(spec, tmp_path / "r.html", bench=True)
    with pytest.raises(DataError, match="the folder .*missing does not exist"):
        write_report(spec, tmp_path / "missing" / "r.html")
    with pytest.raises(DataError, match="`--batch` must be at least 1"):
        write_report(spec, tmp_path / "r.html", batch=0)
    assert list(tmp_path.iterdir()) == []

"""`cnncompile report` and `analyze --format svg`: what the files hold, and one-line errors."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncompile.analysis import analyze_graph
from cnncompile.cli import app
from cnncompile.frontend import load_spec
from cnncompile.ir import lower
from cnncompile.report.data import diagram_items, max_level, walk

ROOT = Path(__file__).resolve().parents[2]

RESIDUAL = str(ROOT / "specs/ch9/residual_flower.yaml")
TINY = """\
name: tiny
input: [8, 8, 3]
output: {labels: [a, b, c]}
layers: [[conv, {ksize: 3, chn: 4}], [max, {stride: 2}], 6]
"""


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, *words):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for w in words:
        assert w in lines[0]


def test_page_is_self_contained_and_holds_the_analysis(tmp_path):
    out = tmp_path / "page.html"
    r = run("report", RESIDUAL, "-o", out)
    assert r.exit_code == 0, r.output
    assert r.output == f"wrote {out}\n"
    html = out.read_text()
    assert "default-src 'none'" in html
    # nothing that a browser would fetch: no remote src/href/url(), no @import
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", html)
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", html)
    assert "@import" not in html and "<link" not in html
    a = analyze_graph(lower(load_spec(RESIDUAL)))
    every = re.search(r'<tbody data-k="all"[^>]*>(.*?)</tbody>', html, re.S).group(1)
    names = re.findall(r'<tr data-i="\d+"><td>([^<]*)</td>', every)
    assert names == [r.node.name for r in a.nodes]
    for r in a.nodes:  # each row's MACs as analyze counts them
        assert f'<td class="n" data-v="{r.node.cost.macs}">{r.node.cost.macs:,}</td>' in html
    t = a.totals
    foot = re.search(r"<tfoot>(.*?)</tfoot>", html, re.S).group(1)
    assert f"{t.trainable_params:,}" in foot and f"{t.macs:,}" in foot
    assert "Activations (batch 1): inference peak 128.00 KiB, training 666.52 KiB" in html
    assert "259x259/64x64" in html  # the last spatial layer's receptive field
    # one drawing per depth, each with every item that depth shows
    root = diagram_items(a.graph)
    drawings = re.findall(r'<div class="dgv" data-depth="(\d+)"', html)
    assert drawings == [str(d) for d in range(max_level(root) + 2)]
    for item in walk(root):
        if item.kind in ("leaf", "group"):
            assert f'data-id="{item.id}"' in html


def test_page_is_written_atomically_and_replaces_an_old_one(tmp_path):
    out = tmp_path / "page.html"
    out.write_text("old")
    assert run("report", RESIDUAL, "-o", out).exit_code == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]  # no temporary file left


def test_page_name_defaults_to_the_model_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("report", RESIDUAL)
    assert r.exit_code == 0 and r.output == "wrote residual_flower.html\n"
    assert (tmp_path / "residual_flower.html").read_text().startswith("<!DOCTYPE html>")


def test_run_section(tmp_path, run_folder):
    out = tmp_path / "page.html"
    r = run("report", RESIDUAL, "--run", run_folder, "-o", out)
    assert r.exit_code == 0, r.output
    html = out.read_text()
    run_part = html[html.index('<section id="run">'):]
    assert 'data-series="train_loss"' in run_part and 'data-series="val_acc"' in run_part
    assert '<table class="cm" data-head="output">' in run_part
    assert "data:image/png;base64," in run_part  # samples.png, inline
    assert "<td>batch_size</td><td>32</td>" in run_part
    assert "<td>accuracy output</td><td>83.33%</td>" in run_part
    assert 'class="warn"' not in run_part
    other = str(ROOT / "specs/ch9/plain_flower.yaml")
    assert run("report", other, "--run", run_folder, "-o", out).exit_code == 0
    assert "Warning: this run is of model &#x27;residual_flower&#x27;" in out.read_text()


@pytest.mark.parametrize("remove, words", [
    ("metrics.csv", ["no metrics.csv"]),
    ("checkpoint.npz", ["no checkpoint.npz"]),
])
def test_run_folder_without_its_files(tmp_path, run_folder, remove, words):
    (run_folder / remove).unlink()
    one_line_error(run("report", RESIDUAL, "--run", run_folder, "-o", tmp_path / "p.html"),
                   str(run_folder), *words)
    assert not (tmp_path / "p.html").exists()


def test_bad_inputs_are_one_line_errors(tmp_path, run_folder):
    one_line_error(run("report", RESIDUAL, "--run", tmp_path / "nope"), "no such run folder")
    (run_folder / "metrics.csv").write_text("epoch,train_loss\n1,abc\n")
    one_line_error(run("report", RESIDUAL, "--run", run_folder), "metrics.csv:2")
    fake = tmp_path / "fake.onnx"
    fake.write_text("not a model")
    one_line_error(run("report", RESIDUAL, "--model", fake), "fake.onnx")
    one_line_error(run("report", RESIDUAL, "--bench"), "--model")
    one_line_error(run("report", RESIDUAL, "-o", tmp_path / "no" / "p.html"), "does not exist")


def test_model_section_with_bench(tmp_path):
    pytest.importorskip("onnxruntime")
    from cnncompile.artifacts.preprocess import for_export
    from cnncompile.backends.numpy import init_params
    from cnncompile.backends.onnx import ExportOptions, Weights, export_graph

    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(TINY)
    spec = load_spec(spec_path)
    graph = lower(spec)
    onnx_path = tmp_path / "tiny.onnx"
    export_graph(spec, graph, Weights(init_params(graph, seed=0), "test"), onnx_path,
                 ExportOptions(),
                 preprocessing=for_export(graph.input_shape, scale=1 / 255))
    out = tmp_path / "page.html"
    r = run("report", spec_path, "--model", onnx_path, "--bench", "-o", out)
    assert r.exit_code == 0, r.output
    part = out.read_text().split('<section id="model">')[1]
    assert "<td>spec_name</td><td>tiny</td>" in part
    assert "<summary>Spec recorded in the model</summary>" in part
    batches = re.findall(r'<tr><td class="n">(\d+)</td>', part.split('id="bench"')[1])
    assert batches == ["1", "8"]


def test_analyze_svg_is_a_standalone_diagram(tmp_path):
    r = run("analyze", RESIDUAL, "--format", "svg")
    assert r.exit_code == 0
    svg = ET.fromstring(r.output.encode())
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.find("{http://www.w3.org/2000/svg}style") is not None
    root = diagram_items(lower(load_spec(RESIDUAL)))
    ids = {g.get("data-id") for g in svg.iter() if g.get("data-id")}
    assert {i.id for i in walk(root) if i.kind in ("leaf", "group")} <= ids
    assert 'class="cl' not in r.output  # everything expanded
    out = tmp_path / "d.svg"
    r = run("analyze", RESIDUAL, "-f", "svg", "--depth", "1", "-o", out)
    assert r.exit_code == 0 and r.output == f"wrote {out}\n"
    shallow = ET.parse(out).getroot()
    closed = [g.get("data-id") for g in shallow.iter() if (g.get("class") or "") == "cl"]
    assert closed == ["0.2", "0.3", "0.4"]  # rfull and both rhalf, closed below level 1
    assert np.isclose(float(shallow.get("height")), float(shallow.get("viewBox").split()[3]))

"""What the page says, for people: units and rounding instead of Python's repr, the diagram's
parameter counts as the table's, charts that stay readable with wild values, a bounded page,
and a visible warning for a run or export of another version of the spec."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncompile.analysis import analyze_graph
from cnncompile.analysis.render import human
from cnncompile.cli import app
from cnncompile.frontend import load_spec
from cnncompile.ir import lower
from cnncompile.report import build_page, warnings_for
from cnncompile.report.data import diagram_items, max_level, walk
from cnncompile.report.layout import layout
from cnncompile.report.sections import run_html
from cnncompile.report.sources import MAX_CURVE_ROWS, read_run
from cnncompile.report.svg import diagram_svg, line_chart
from cnncompile.report.text import value_text
from cnncompile.train.checkpoint import read_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
RESIDUAL = ROOT / "specs/ch9/residual_flower.yaml"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("value, key, text", [
    (True, "augment", "yes"), (False, "", "no"), (None, "limit", "none"),
    ({"output": 0.9333333333333333}, "accuracy", "output 93.33%"),
    ({"domain": 0.5, "object": 0.25}, "accuracy", "domain 50.00%; object 25.00%"),
    (5.02313, "elapsed", "5.02 s"), (200.0, "elapsed", "3 min 20 s"),
    (7380, "seconds", "2 h 03 min"), (0.001, "learning_rate", "0.001"),
    (1234567, "samples", "1,234,567"), (0.123456789, "weight_decay", "0.1235"),
    ([64, 64, 3], "input_shape", "64, 64, 3"), (math.nan, "val_loss", "not a number"),
    (math.inf, "val_loss", "infinite"), ("text", "", "text"),
])
def test_values_are_written_in_words_and_units(value, key, text):
    assert value_text(value, key) == text


def test_run_section_holds_no_python_repr(run_folder):
    folder = run_folder
    ckpt = read_checkpoint(folder / "checkpoint.npz")
    meta = {**ckpt.meta, "elapsed": 5.02313, "accuracy": {"output": 0.9333333333333333},
            "config": {**ckpt.meta["config"], "augment": True, "limit": None,
                       "workers": None, "learning_rate": 0.0012345678}}
    save_checkpoint(folder / "checkpoint.npz", ckpt.params, meta)
    html = run_html(read_run(folder))
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    for raw in ("True", "False", "None", "{", "5.02313", "0.9333333333333333", "0.0012345678"):
        assert not [c for c in cells if raw in c], (raw, cells)
    assert "<td>elapsed</td><td>5.02 s</td>" in html
    assert "<td>accuracy</td><td>output 93.33%</td>" in html
    assert "<td>augment</td><td>yes</td>" in html and "<td>limit</td><td>none</td>" in html
    assert "<td>learning_rate</td><td>0.001235</td>" in html


@pytest.mark.parametrize("spec", ["specs/ch9/residual_flower.yaml",
                                  "specs/torchvision/resnet18.yaml"])
def test_diagram_boxes_count_parameters_as_the_table_does(spec):
    """A box's 'N params' is its trainable parameters, the table's Params column; batch-norm
    statistics (non-trainable) are in the tooltip only."""
    root = diagram_items(lower(load_spec(ROOT / spec)))
    svg = diagram_svg(layout(root, max_level(root) + 1))
    leaves = {i.id: i for i in walk(root) if i.kind == "leaf"}
    with_stats = 0
    for iid, text in re.findall(r'<g class="lf" data-id="([^"]+)">.*?<text class="m"[^>]*>'
                                r"([^<]*)</text>", svg, re.S):
        item = leaves[iid]
        assert text.startswith(f"{human(item.trainable)} params"), (item.title, text)
        with_stats += item.non_trainable > 0
    assert with_stats  # the spec has batch norms, whose statistics the box leaves out


def _chart(series) -> ET.Element:
    return ET.fromstring(line_chart(series, "loss", "loss"))


def _plot_area(svg: ET.Element) -> tuple[float, float, float, float]:
    pa = next(r for r in svg.iter(f"{SVG}rect") if r.get("class") == "pa")
    return (float(pa.get("x")), float(pa.get("y")), float(pa.get("width")),
            float(pa.get("height")))


def _points(svg: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for line in svg.iter(f"{SVG}polyline")
            for p in line.get("points").split()]


def test_the_legend_is_outside_the_plot():
    series = {k: [(e, v + e * 0.01) for e in range(1, 30)]
              for k, v in (("train_loss", 0.2), ("val_loss", 0.9), ("train_acc", 0.5),
                           ("val_acc", 0.6))}
    svg = _chart(series)
    x, y, w, h = _plot_area(svg)
    legend = [ln for ln in svg.iter(f"{SVG}line") if ln.get("class") != "gl"]
    assert len(legend) == 4
    for ln in legend:  # every legend entry sits below the plot area, none over a line
        assert float(ln.get("y1")) > y + h + 12
    labels = [t for t in svg.iter(f"{SVG}text")
              if t.find(f"{SVG}title") is not None and t.find(f"{SVG}title").text in series]
    assert len(labels) == 4 and all(float(t.get("y")) > y + h + 12 for t in labels)
    assert float(svg.get("height")) >= max(float(t.get("y")) for t in labels)


def test_long_series_names_are_cut_to_their_legend_column():
    name = "val_acc_" + "a_very_long_head_name_" * 5
    svg = _chart({"train_acc": [(1, 0.5), (2, 0.6)], name: [(1, 0.4), (2, 0.5)]})
    label = next(t for t in svg.iter(f"{SVG}text") if t.find(f"{SVG}title") is not None
                 and t.find(f"{SVG}title").text == name)
    shown = label.find(f"{SVG}title").tail
    assert shown.endswith("\u2026") and name.startswith(shown[:-1])
    assert float(label.get("x")) + 5.6 * len(shown) <= float(svg.get("width"))


def test_wild_values_are_skipped_or_clipped_and_said_so():
    series = {"train_loss": [(1, 2.0), (2, 1.5), (3, math.nan), (4, 1e308), (5, 1.2)],
              "val_loss": [(1, 2.1), (2, -1e308), (math.nan, 1.0), (4, math.inf), (5, 1.3)]}
    text = line_chart(series, "loss", "loss")
    assert "nan" not in text.lower() and "inf" not in text.lower()
    svg = ET.fromstring(text)
    x, y, w, h = _plot_area(svg)
    pts = _points(svg)
    assert all(math.isfinite(px) and math.isfinite(py) for px, py in pts)
    assert all(x - 1e-6 <= px <= x + w + 1e-6 and y - 1e-6 <= py <= y + h + 1e-6
               for px, py in pts)
    ordinary = sorted({py for px, py in pts if y + 1 < py < y + h - 1})
    assert len(ordinary) == 3 and ordinary[-1] - ordinary[0] > 50  # not flattened to one line
    note = next(t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "tk nt")
    assert "3 points not drawn" in note and "2 beyond" in note and "edge" in note


def test_a_huge_metrics_csv_makes_a_bounded_page(run_folder):
    folder = run_folder
    rows = 300_000
    e = np.arange(1, rows + 1)
    loss = 1.0 / np.sqrt(e)
    table = np.column_stack([e, np.full(rows, 0.001), loss, 1 - loss, loss * 1.1, 1 - loss * 1.1,
                             np.full(rows, 0.5), e * 0.5])
    header = "epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds,elapsed"
    np.savetxt(folder / "metrics.csv", table, fmt="%.6g", delimiter=",", header=header,
               comments="")
    run = read_run(folder)
    assert run.history_rows == rows and len(run.history) <= MAX_CURVE_ROWS
    assert run.history[0]["epoch"] == 1 and run.history[-1]["epoch"] == rows
    html = build_page(analyze_graph(lower(load_spec(RESIDUAL))), run=run)
    assert len(html.encode()) < 2_000_000
    assert f"metrics.csv holds {rows:,} rows; the curves show {len(run.history):,}" in html


def _other_version(tmp_path: Path) -> Path:
    """residual_flower with batch norm before the activation: same name, same parameters."""
    text = RESIDUAL.read_text()
    other = text.replace("'#act': LAB", "'#act': LBA").replace(
        "../lib/", str(ROOT / "specs/lib") + "/")
    assert other.count("LBA") == 1
    spec = tmp_path / "residual_flower.yaml"
    spec.write_text(other)
    return spec


def test_a_run_of_another_version_of_the_spec_is_warned(tmp_path, run_folder):
    other = lower(load_spec(_other_version(tmp_path)))
    this = lower(load_spec(RESIDUAL))
    assert other.name == this.name and other.structure_hash() != this.structure_hash()
    assert {p.name: p.shape for p in other.params()} == {p.name: p.shape for p in this.params()}
    folder = run_folder
    ckpt = read_checkpoint(folder / "checkpoint.npz")
    save_checkpoint(folder / "checkpoint.npz", ckpt.params,
                    {**ckpt.meta, "ir_hash": other.structure_hash()})
    run = read_run(folder)
    warnings = warnings_for(this, run)
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "another version of model" in warnings[0]
    assert other.structure_hash() in warnings[0] and this.structure_hash() in warnings[0]
    out = tmp_path / "page.html"
    r = CliRunner().invoke(app, ["report", str(RESIDUAL), "--run", str(folder), "-o", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    banner = re.search(r'<p class="warn" role="alert">([^<]*)</p>', html).group(1)
    assert banner.startswith("Warning: this run comes from another version of model")
    assert html.index(banner) < html.index('<section id="summary">')  # at the top, seen first
    # the same run read with the spec it was trained on: no warning
    assert warnings_for(other, run) == []
    assert build_page(analyze_graph(other), run=run).count('class="warn"') == 0


@pytest.mark.parametrize("spec", ["specs/torchvision/resnet152.yaml",
                                  "specs/ch9/inception_flower.yaml"])
def test_box_figures_and_shapes_are_never_cut(spec):
    """Every depth's boxes show their shape, layer count and figures whole (titles may be cut:
    the tooltip holds them)."""
    root = diagram_items(lower(load_spec(ROOT / spec)))
    for depth in range(max_level(root) + 2):
        svg = diagram_svg(layout(root, depth))
        lines = re.findall(r'<text class="[sm]"[^>]*>([^<]*)</text>', svg)
        assert lines and not [t for t in lines if "\u2026" in t], depth
        if depth == 0:
            assert any(re.fullmatch(r"\[.*\] \u00b7 \d+ layers", t) for t in lines)


def test_model_metadata_is_shown_in_words():
    import json

    from cnncompile.report.sections import model_html
    from cnncompile.report.sources import ModelInfo

    meta = {"accuracy": json.dumps({"output": 0.9333333333333333}),
            "heads": json.dumps([{"labels": ["a", "b"], "name": "output", "size": 2}]),
            "input_shape": "[8, 8, 3]", "output_kind": "classes", "spec": "name: tiny"}
    html = model_html(ModelInfo(Path("m.onnx"), meta, "cpu"))
    cells = re.findall(r'<table class="kv">(.*?)</table>', html)[0]
    assert not re.search(r"[\[\]{}\"]", cells), cells
    assert "<td>accuracy</td><td>output 93.33%</td>" in cells
    assert "<td>input_shape</td><td>8, 8, 3</td>" in cells
    assert "<td>heads</td><td>labels a, b; name output; size 2</td>" in cells


def test_long_class_lists_are_cut_with_a_note(run_folder):
    import json

    n = 300
    names = [f"c{i}" for i in range(n)]
    test = {"samples": n, "accuracy": {"output": 0.5},
            "per_class": {"output": [{"class": c, "precision": 0.5, "recall": 0.5, "f1": 0.5,
                                      "support": 1} for c in names]},
            "confusion": {"output": {"labels": names, "matrix": np.eye(n, dtype=int).tolist()}}}
    (run_folder / "test.json").write_text(json.dumps(test))
    html = run_html(read_run(run_folder))
    per_class = html.split("<h3>Per class: output</h3>")[1].split("</table>")[0]
    assert per_class.count("<tr>") == 1 + 200 and "300 classes: the first 200 are shown" in html
    cm = html.split('<table class="cm"')[1].split("</table>")[0]
    assert cm.count("<tr>") == 1 + 40 and cm.count("<td") == 40 * 40
    assert "300 classes: the first 40 are shown" in html
    assert len(html) < 200_000


def test_chart_ticks_read_as_epochs_and_percentages():
    svg = ET.fromstring(line_chart({"val_acc": [(1, 0.25), (2_000_000, 0.75)]}, "accuracy",
                                   "accuracy", percent=True))
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "tk"]
    assert "25%" in ticks and "75%" in ticks and "50%" in ticks
    assert "2,000,000" in ticks and not [t for t in ticks if t and "e+" in t]


def test_the_command_prints_the_warning_too(tmp_path, run_folder):
    """The page's banner and one `warning:` line on stderr say the same."""
    other = lower(load_spec(_other_version(tmp_path)))
    ckpt = read_checkpoint(run_folder / "checkpoint.npz")
    save_checkpoint(run_folder / "checkpoint.npz", ckpt.params,
                    {**ckpt.meta, "ir_hash": other.structure_hash()})
    out = tmp_path / "page.html"
    r = CliRunner().invoke(app, ["report", str(RESIDUAL), "--run", str(run_folder), "-o",
                                 str(out)])
    assert r.exit_code == 0, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("warning: ")]
    assert len(lines) == 1 and "this run comes from another version of model" in lines[0]

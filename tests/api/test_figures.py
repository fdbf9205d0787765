"""A model's figures are the command line's: the same table, JSON values and diagram, shown
inline in a notebook; loading and analysing from Python stays as light as `analyze`."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from html import escape
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cnncompile
from cnncompile.cli import app

ROOT = Path(__file__).resolve().parents[2]
SPECS = ["specs/ch7/flowers_model_1.yaml", "specs/ch9/residual_flower.yaml",
         "specs/fashion_mnist/fmnist_bn.yaml"]


def analyze(*args) -> str:
    r = CliRunner().invoke(app, ["analyze", *map(str, args)])
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.mark.parametrize("spec", SPECS)
def test_the_table_and_the_values_are_analyze_s(spec):
    path = ROOT / spec
    model = cnncompile.load(path)
    assert model.summary() == analyze(path)
    assert model.summary(depth=2, batch=8) == analyze(path, "--depth", "2", "--batch", "8")
    assert model.analysis() == json.loads(analyze(path, "--format", "json"))
    assert model.analysis(batch=4) == json.loads(analyze(path, "--format", "json", "--batch", 4))
    assert model.diagram() == analyze(path, "--format", "svg")
    assert model.diagram(depth=1) == analyze(path, "--format", "svg", "--depth", "1")


def test_a_layer_list_s_table_is_analyze_s_with_the_same_overrides(write):
    layers = [["conv", {"ksize": 5, "chn": 6}], ["max", {"stride": 2}], 84]
    model = cnncompile.load(layers, input_shape=(28, 28, 1), classes=10, name="lenet")
    path = write("lenet.yaml", "[[conv, {ksize: 5, chn: 6}], [max, {stride: 2}], 84]\n")
    assert model.summary() == analyze(path, "--input", "28,28,1", "--classes", "10")


def test_values_are_plain_python():
    a = cnncompile.load(ROOT / SPECS[0]).analysis()
    t = a["totals"]
    assert t["trainable_params"] == 96 * 96 * 3 * 30 + 30 + 30 * 10 + 10 + 10 * 5 + 5
    assert t["trainable_params"] == sum(r["trainable_params"] for r in a["layers"])
    assert [(r["name"], r["output_shape"]) for r in a["layers"]][:3] == [
        ("input", [96, 96, 3]), ("full_0/flatten", [96 * 96 * 3]), ("full_0", [30])]


def test_repr_is_one_short_line():
    m = cnncompile.load(ROOT / SPECS[0])
    assert repr(m) == ("<Model 'flowers_model_1': input [96, 96, 3] -> classes 5, "
                       "829,835 params, 830k MACs>")


def test_a_notebook_shows_the_table_and_the_report_s_diagram():
    m = cnncompile.load(ROOT / SPECS[1])
    html = m._repr_html_()
    assert f"<pre>{escape(m.summary())}</pre>" in html
    svg = m.diagram()
    body = svg[svg.index("<svg"):]  # the report's drawing, inline: no XML declaration
    assert html.endswith(body + "</div>") and body.startswith('<svg xmlns=')
    assert "<?xml" not in html and html.count("<svg") == 1


def test_warnings_are_analyze_s(write):
    path = write("w.yaml", "name: w\ninput: [8, 8, 3]\noutput: {classes: 2}\n"
                 "layers: [[max, {ksize: 1, stride: 1}], [full, {width: 4}]]\n")
    r = CliRunner().invoke(app, ["analyze", str(path)])
    shown = [line.removeprefix("warning: ") for line in r.stderr.splitlines()]
    assert shown and cnncompile.load(path).warnings() == shown


LIGHT = """
import json, sys
import cnncompile
m = cnncompile.load({spec!r})
m.summary(); m.analysis(); repr(m)
print(json.dumps(sorted(sys.modules)))
"""


def startup_heavy() -> tuple[str, ...]:
    """tests/cli/test_startup.py's list of modules analyze must not import."""
    spec = importlib.util.spec_from_file_location("_startup_test", ROOT / "tests" / "cli" /
                                                  "test_startup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.HEAVY


def test_loading_and_analysing_import_nothing_heavy():
    heavy = startup_heavy()
    r = subprocess.run([sys.executable, "-c", LIGHT.format(spec=str(ROOT / SPECS[1]))],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    mods = set(json.loads(r.stdout))
    assert "cnncompile.api" in mods
    assert sorted(m for m in mods for h in heavy if m == h or m.startswith(h + ".")) == []
    assert not any(m.startswith("cnncompile.workflows.") for m in mods)

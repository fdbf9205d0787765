"""The CLI: exit codes, one-line errors on stderr, formats, overrides."""

import json
import pathlib

from typer.testing import CliRunner

from cnncompile.cli import app

ROOT = pathlib.Path(__file__).resolve().parents[1]
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_analyze_table_and_formats():
    spec = ROOT / "specs/ch9/residual_flower.yaml"
    r = run("analyze", spec)
    assert r.exit_code == 0, r.output
    assert "residual_flower/rhalf_1/rh/add/serial/conv_0" in r.stdout
    assert "Trainable params:     173,637" in r.stdout
    r = run("analyze", spec, "--format", "json", "--batch", "8")
    doc = json.loads(r.stdout)
    assert doc["batch"] == 8 and doc["totals"]["trainable_params"] == 173637
    r = run("analyze", spec, "-f", "textbook")
    assert r.stdout.splitlines()[2] == "    1: conv, (64, 64, 3)=>[32, 32, 16] pm:7x7x3x16+16=2368"
    r = run("analyze", spec, "-f", "tree", "--depth", "3")
    assert "custom rhalf" in r.stdout and "loop" not in r.stdout
    assert "loop" in run("analyze", spec, "-f", "tree").stdout


def test_input_and_classes_overrides():
    spec = ROOT / "specs/ch9/residual_flower.yaml"
    r = run("analyze", spec, "--input", "96,96,3", "--classes", "7", "-f", "json")
    doc = json.loads(r.stdout)
    assert doc["input_shape"] == [96, 96, 3]
    assert doc["layers"][-1]["output_shape"] == [7]
    r = run("analyze", spec, "--input", "96,x")
    assert r.exit_code == 2 and "--input: `input` must be [H, W, C] or [N]" in r.stderr


def test_user_mistake_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\ninput: [8, 8, 3]\noutput: {classes: 2}\nlayers:\n  - [conv, {ksize: 3}]\n")
    r = run("analyze", bad)
    assert r.exit_code == 2
    assert r.stderr == f"error: {bad}:5: layers[0] > conv: 'chn' is required\n"
    assert r.stdout == ""


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\ninput: [8, 8, 3]\noutput: {classes: 2}\nlayers: [[conv]]\n")
    r = run("--debug", "analyze", bad)
    assert r.exit_code != 0 and r.exc_info is not None
    assert type(r.exception).__name__ == "DslSyntaxError"


def test_missing_file_and_bad_option():
    r = run("analyze", "nope.yaml")
    assert r.exit_code == 2 and r.stderr.startswith("error: nope.yaml: cannot read the spec")
    r = run("analyze", ROOT / "specs/ch9/residual_flower.yaml", "--format", "xml")
    assert r.exit_code == 2


def test_expand_prints_a_spec_that_analyses_the_same(tmp_path):
    spec = ROOT / "specs/ch9/residual_flower.yaml"
    r = run("expand", spec)
    assert r.exit_code == 0 and "custom" not in r.stdout
    out = tmp_path / "expanded.yaml"
    out.write_text(r.stdout)
    a = json.loads(run("analyze", spec, "-f", "json").stdout)["totals"]
    b = json.loads(run("analyze", out, "-f", "json").stdout)["totals"]
    assert a == b


def test_help_explains():
    r = run("--help")
    assert r.exit_code == 0 and "analyze" in r.stdout
    r = run("analyze", "--help")
    assert "--format" in r.stdout and "textbook" in r.stdout

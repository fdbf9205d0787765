"""The CLI: exit codes, one-line errors on stderr, formats, overrides."""

import json
import pathlib

import pytest
import typer.main
from typer.testing import CliRunner

import cnncompile
from cnncompile.cli import app

ROOT = pathlib.Path(__file__).resolve().parents[2]
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


# -- the command line shows what it will do ------------------------------------------------------

def one_line_error(r, start: str):
    """The result is exit 2 with exactly one line on stderr, beginning with ``start``."""
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(start), r.stderr
    assert "Usage:" not in r.stderr and "╭" not in r.stderr
    return r.stderr.rstrip("\n")


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and r.stdout == f"cnncompile {cnncompile.__version__}\n"


def test_bad_option_values_are_one_line():
    spec = ROOT / "specs/ch9/residual_flower.yaml"
    assert one_line_error(run("train", spec, "--data", "d", "--epochs", "x"), "error: ") == (
        "error: --epochs: 'x' is not a valid integer")
    assert one_line_error(run("train", spec, "--data", "d", "--lr", "0"), "error: ") == (
        "error: --lr: 0 is not in (0, 10]")
    assert one_line_error(run("train", spec, "--data", "d", "--lr-schedule", "cosin"),
                          "error: ") == ("error: --lr-schedule: 'cosin' is not one of constant, "
                                         "cosine, step (did you mean 'cosine'?)")
    one_line_error(run("train", spec, "--data", "d", "--bn-recalibrate", "maybe"),
                   "error: --bn-recalibrate: 'maybe' is not on or off")
    one_line_error(run("analyze", spec, "--format", "xml"), "error: --format: 'xml' is not one of")
    one_line_error(run("analyze", spec, "--batch", "0"), "error: --batch: 0 is not in the range")
    one_line_error(run("evaluate", spec, "--data", "d", "--split", "tests"),
                   "error: --split: 'tests' is not one of")
    one_line_error(run("bench", "m.onnx", "--provider", "gpu"),
                   "error: --provider: 'gpu' is not one of")


def test_missing_arguments_and_unknown_options_are_one_line():
    spec = ROOT / "specs/ch9/residual_flower.yaml"
    assert one_line_error(run("train"), "error: ") == (
        "error: cnncompile train: missing argument SPEC (see cnncompile train --help)")
    assert one_line_error(run("train", spec), "error: ") == (
        "error: cnncompile train: missing option --data (see cnncompile train --help)")
    assert one_line_error(run("train", spec, "--data", "d", "--epoch", "3"), "error: ") == (
        "error: cnncompile train: no such option --epoch (did you mean --epochs or --keep or --report?)")
    one_line_error(run("analyze", spec, "extra"), "error: cnncompile analyze: got unexpected")
    one_line_error(run("--nope"), "error: cnncompile: no such option --nope")
    one_line_error(run("anlyze", spec), "error: cnncompile: no such command 'anlyze'")
    r = run("--debug", "train", spec, "--data", "d", "--epochs", "x")
    assert r.exit_code == 2 and "Invalid value" in r.output  # --debug keeps click's own report


def test_no_arguments_still_shows_the_help():
    r = run()
    assert "Usage:" in r.output and "analyze" in r.output and "error:" not in r.output


def commands():
    return sorted(typer.main.get_command(app).commands)


@pytest.mark.parametrize("name", commands())
def test_every_command_help_has_an_example(name):
    r = runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    lines = [line.strip(" │") for line in r.stdout.splitlines()]
    assert any(line.startswith(f"Example: cnncompile {name} ") for line in lines), r.stdout


def test_convert_help_keeps_angle_brackets():
    r = runner.invoke(app, ["convert", "--help"], env={"COLUMNS": "200"})
    assert "DIR/<name>.yaml" in r.stdout


def test_choices_are_enums_from_their_one_home():
    from cnncompile.choices import PROVIDERS
    from cnncompile.cli.common import Init, Provider
    from cnncompile.training_options import OPTIONS_BY_NAME

    assert tuple(p.value for p in Provider) == PROVIDERS
    assert tuple(i.value for i in Init) == OPTIONS_BY_NAME["init"].choices
    for command in typer.main.get_command(app).commands.values():
        for param in command.params:
            if command.name == "train" and param.name in OPTIONS_BY_NAME:
                choices = OPTIONS_BY_NAME[param.name].choices  # the table checks them
                assert not choices or param.metavar == "[" + "|".join(choices) + "]"
            elif param.name in ("split", "provider", "format", "layout", "outputs", "log_format",
                                "init"):
                assert param.type.name == "choice", (command.name, param.name)


def test_expand_keeps_description_and_the_written_rates(tmp_path):
    from cnncompile.frontend import load_spec

    spec = tmp_path / "bn.yaml"
    spec.write_text("name: bn\ndescription: A net with\n  two lines of words.\n"
                    "input: [8, 8, 1]\noutput: {classes: 2}\nlayers:\n"
                    "  - [conv, {ksize: 3, chn: 4, actfunc: none}]\n"
                    "  - [batch_normal, {momentum: 0.9}]\n  - [batch_normal, {exp_ratio: 0.1}]\n"
                    "  - [batch_normal, {momentum: 0.3}]\n  - [batch_normal, {momentum: 0.99}]\n")
    r = run("expand", spec)
    assert r.exit_code == 0, r.output
    assert "0.0999999" not in r.stdout and "0.0100000" not in r.stdout
    assert "momentum: 0.9}" in r.stdout and "exp_ratio: 0.1}" in r.stdout
    assert "description: A net with two lines of words.\n" in r.stdout
    again = tmp_path / "again.yaml"
    again.write_text(r.stdout)
    a, b = load_spec(spec), load_spec(again)
    assert a.description == b.description
    assert [x.exp_ratio for x in a.layers.items[1:]] == [x.exp_ratio for x in b.layers.items[1:]]

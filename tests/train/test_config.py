"""The option table makes TrainConfig, the spec's `train:` section, the flags and the docs table,
so the four accept exactly the same values."""

from __future__ import annotations

import dataclasses
import math
import pathlib

import pytest
import typer.main

from cnncompile.cli import app
from cnncompile.errors import DslSyntaxError, OptionError
from cnncompile.frontend import parse_spec
from cnncompile.train import TrainConfig
from cnncompile.training_options import OPTIONS, OPTIONS_BY_NAME, BadValue, markdown

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC = "name: t\ninput: [8, 8, 1]\noutput: {classes: 3}\nlayers: [10]\n"

# Texts tried for every option of a kind: each is given once as a spec value and once as a flag
TEXTS = {
    int: ["0", "1", "3", "-1", "2.5", "x", "1e3", "true", "nan", "1_000", "0x10", "'4'", "",
          "[1]", "none", "null", "10000000000000000000000"],
    float: ["0", "0.001", "1e-3", "1", "0.5", "0.99", "1.5", "10", "11", "-0.1", "nan", ".nan",
            "inf", ".inf", "-.inf", "x", "true", "'0.25'", "", "[0.1]", "none", "1e400"],
    str: ["", "1", "true", "none", "[adam]", "cosin", "ADAM", "flip-shift"],
    bool: ["on", "off", "true", "false", "yes", "no", "On", "maybe", "1", "0", "", "'off'",
           "none"],
}


def _cases():
    for option in OPTIONS:
        if not (option.in_spec and option.cli_flag):
            continue  # an option only one of them takes has nothing to agree on
        texts = TEXTS[option.kind] + list(option.choices)
        for text in texts:
            yield pytest.param(option, text, id=f"{option.name}={text}")


def spec_value(option, text):
    """What `train: {name: text}` in a spec gives: ('ok', value) or ('refused', message)."""
    try:
        spec = parse_spec(SPEC + f"train:\n  {option.name}: {text}\n", "t.yaml")
    except DslSyntaxError as e:
        return "refused", str(e)
    return "ok", spec.train.get(option.name)


def flag_value(option, text):
    """What `cnncompile train t.yaml --data d FLAG text` parses to, through the real command."""
    group = typer.main.get_command(app)
    command = group.commands["train"]
    try:
        ctx = command.make_context("train", ["t.yaml", "--data", "d", option.cli_flag, text])
    except typer.BadParameter as e:
        return "refused", e.message
    return "ok", ctx.params[option.name]


@pytest.mark.parametrize(("option", "text"), _cases())
def test_a_spec_and_a_flag_accept_the_same_values(option, text):
    spec, flag = spec_value(option, text), flag_value(option, text)
    assert spec[0] == flag[0], (spec, flag)
    if spec[0] == "ok":
        assert spec[1] == flag[1] and type(spec[1]) is type(flag[1])
        value = spec[1]
        assert value is None or isinstance(value, option.kind)
        assert not (isinstance(value, float) and not math.isfinite(value))
        if value is not None:  # what both accept, TrainConfig accepts too
            assert getattr(TrainConfig(**{option.name: value}), option.name) == value


def test_the_table_is_every_consumer():
    assert [f.name for f in dataclasses.fields(TrainConfig)] == [o.name for o in OPTIONS]
    assert TrainConfig().to_dict() == {o.name: o.default for o in OPTIONS}
    flags = {p.name: p for p in typer.main.get_command(app).commands["train"].params}
    for o in (o for o in OPTIONS if o.cli_flag):
        assert flags[o.name].opts == [o.cli_flag]
        assert flags[o.name].help.startswith(o.help)  # the help text comes from the table
    assert OPTIONS_BY_NAME["bn_recalibrate"].default is True and TrainConfig().bn_recalibrate


@pytest.mark.parametrize("bad", [
    {"learning_rate": 0}, {"learning_rate": math.nan}, {"learning_rate": math.inf},
    {"l2_decay": -math.inf}, {"momentum": 1.0}, {"label_smoothing": math.nan},
    {"epochs": 0}, {"epochs": 2.0}, {"epochs": True}, {"batch_size": "10"[:0]},
    {"lr_schedule": "cosin"}, {"augment": "flip-shift"}, {"optimizer": None},
    {"bn_recalibrate": "maybe"}, {"limit": 0}, {"validation": 0.6},
])
def test_trainconfig_refuses_bad_values_on_construction(bad):
    with pytest.raises(OptionError, match=f"training option `{next(iter(bad))}` must be"):
        TrainConfig(**bad)


def test_trainconfig_names_and_canonical_values():
    with pytest.raises(TypeError):
        TrainConfig(epoch=3)  # a misspelt keyword is Python's TypeError
    with pytest.raises(OptionError, match=r"unknown training option 'epoch' \(did you mean "
                                          r"'epochs'\?\)"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(OptionError, match="unknown training option 'lr'"):
        TrainConfig.from_sources({}, {"lr": 0.1})
    c = TrainConfig(learning_rate=1, bn_recalibrate="off")
    assert c.learning_rate == 1.0 and isinstance(c.learning_rate, float)
    assert c.bn_recalibrate is False
    c = TrainConfig.from_sources({"epochs": 3, "optimizer": "sgd"}, {"epochs": 5, "seed": None})
    assert (c.epochs, c.optimizer, c.seed) == (5, "sgd", 0)  # flag > spec > default
    assert TrainConfig.from_dict(c.to_dict()) == c
    with pytest.raises(OptionError, match="`learning_rate` must be in"):
        c.replace({"learning_rate": 0.0})


def test_spec_errors_are_located_and_suggest():
    with pytest.raises(DslSyntaxError, match=r"t.yaml:7: `train.learning_rate` must be in "
                                             r"\(0, 10\]. Received: 0"):
        parse_spec(SPEC + "train:\n  epochs: 2\n  learning_rate: 0\n", "t.yaml")
    with pytest.raises(DslSyntaxError, match=r"`train.lr_schedule` must be one of constant, "
                                             r"cosine, step \(did you mean 'cosine'\?\)"):
        parse_spec(SPEC + "train: {lr_schedule: cosin}\n", "t.yaml")
    spec = parse_spec(SPEC + "train: {learning_rate: 1e-3, limit: 50, bn_recalibrate: off}\n")
    assert spec.train == {"learning_rate": 0.001, "limit": 50, "bn_recalibrate": False}


def test_bad_value_wording_for_a_flag():
    epochs, lr = OPTIONS_BY_NAME["epochs"], OPTIONS_BY_NAME["learning_rate"]
    with pytest.raises(BadValue) as e:
        epochs.parse_text("x")
    assert e.value.cli("x") == "'x' is not a valid integer"
    with pytest.raises(BadValue) as e:
        lr.parse_text("0")
    assert e.value.cli("0") == "0 is not in (0, 10]"


def test_docs_table_is_generated_from_the_table():
    """docs/train-options.md; regenerate with: python -m cnncompile.training_options >
    docs/train-options.md"""
    text = (ROOT / "docs/train-options.md").read_text()
    assert text == markdown()
    for o in OPTIONS:
        assert f"`{o.name}`" in text and (not o.cli_flag or f"`{o.cli_flag}`" in text)

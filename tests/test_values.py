"""cnncompile/values.py: YAML 1.2 scalars and the one rule per value, for layer options, the
spec's `train:` section and the `cnncompile train` flags alike."""

import math

import pytest
import yaml

from cnncompile.errors import DslSyntaxError
from cnncompile.frontend import parse_spec
from cnncompile.training_options import OPTIONS_BY_NAME, BadValue
from cnncompile.values import ValueRefused, boolean, choice, integer, number, scalar

BASE = "name: t\ninput: [8, 8, 3]\noutput: {classes: 2}\n"

# (text, what the YAML 1.2 core schema reads); PyYAML's YAML 1.1 reads each otherwise
DIFFERS_FROM_YAML_1_1 = [
    ("1e-5", 1e-5), ("1E3", 1000.0), ("-1e+3", -1000.0), ("010", 10), ("0o10", 8),
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("Off", "Off"),
    ("1_000", "1_000"), ("0b11", "0b11"), ("1:30", "1:30"),
]


@pytest.mark.parametrize(("text", "value"), DIFFERS_FROM_YAML_1_1)
def test_scalars_follow_the_yaml_1_2_core_schema(text, value):
    old = yaml.safe_load(text)
    assert (old, type(old)) != (value, type(value))
    got = scalar(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(("text", "value"), [
    (".5", 0.5), ("-1.5e+3", -1500.0), ("+2.", 2.0), ("0x10", 16), ("0x1F", 31), ("y", "y"),
])
def test_more_core_schema_numbers(text, value):
    got = scalar(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("False", False), ("TRUE", True), ("null", None), ("~", None), ("", None),
    ("3", 3), ("-0.25", -0.25), ("'010'", "010"), ("[1, 2]", "[1, 2]"), ("a: b", "a: b"),
])
def test_scalars_yaml_1_1_and_1_2_agree_on(text, value):
    got = scalar(text)
    assert got == value and type(got) is type(value)


def test_infinities_and_nan():
    assert scalar(".inf") == math.inf and scalar("-.Inf") == -math.inf
    assert math.isnan(scalar(".NaN"))
    assert scalar("nan") == "nan" and scalar("inf") == "inf"


@pytest.mark.parametrize("c_loader", [True, False], ids=["libyaml", "python"])
def test_the_spec_loader_reads_yaml_1_2_with_both_parsers(c_loader, monkeypatch):
    from cnncompile.frontend import source

    if c_loader and source._CSafeLoader is None:
        pytest.skip("PyYAML built without libyaml")
    if not c_loader:
        monkeypatch.setattr(source, "_CSafeLoader", None)
    raw = source.load_yaml("a: [1e-5, .5, 1E3, 010, 0o10, 0x10, yes, on, true, ~]\nb: 1\n",
                           "t.yaml")
    assert raw["a"] == [1e-5, 0.5, 1000.0, 10, 8, 16, "yes", "on", True, None]
    assert [type(v) for v in raw["a"][:6]] == [float, float, float, int, int, int]
    assert str(raw.value_loc("b")) == "t.yaml:2"


def test_epsilon_1e_5_is_a_number_in_a_layer(make_spec):
    spec = make_spec(BASE + "layers: [[batch_normal, {epsilon: 1e-5, exp_ratio: .5}], "
                            "[noise, {std: 1E-1}], [dropout, {keep_prob: .5}], "
                            "[conv, {ksize: 3, chn: 010, actions: LB, bn: {epsilon: 1e-5}}]]\n")
    bn, noise, dropout, conv = spec.layers.items
    assert (bn.epsilon, bn.exp_ratio) == (1e-5, 0.5)
    assert noise.std == 0.1 and dropout.keep_prob == 0.5
    assert conv.chn == 10 and conv.bn == {"exp_ratio": 0.001, "epsilon": 1e-5}


def test_numbers_read_alike_in_train_and_in_layers(make_spec):
    spec = make_spec(BASE + "layers: [[dropout, {keep_prob: .5}]]\n"
                            "train: {learning_rate: .5, l2_decay: 1E-3, epochs: 010, seed: 0x10}\n")
    assert spec.train == {"learning_rate": 0.5, "l2_decay": 0.001, "epochs": 10, "seed": 16}


def test_flags_read_numbers_as_the_spec_does():
    assert OPTIONS_BY_NAME["epochs"].parse_text("010") == 10
    assert OPTIONS_BY_NAME["learning_rate"].parse_text(".5") == 0.5
    assert OPTIONS_BY_NAME["learning_rate"].parse_text("1E-3") == 0.001
    assert OPTIONS_BY_NAME["bn_recalibrate"].parse_text("off") is False
    with pytest.raises(BadValue, match=r"must be on or off \(true or false\). Received: 'yes'"):
        OPTIONS_BY_NAME["bn_recalibrate"].parse_text("yes")


def test_the_epochs_flag_010_trains_ten_epochs():
    import typer

    from cnncompile.cli import app

    command = typer.main.get_command(app).commands["train"]
    ctx = command.make_context("train", ["t.yaml", "--data", "d", "--epochs", "010"])
    assert ctx.params["epochs"] == 10


def test_a_quoted_number_is_a_string_for_layers_and_train_alike(make_spec):
    with pytest.raises(DslSyntaxError, match=r"`epsilon` must be a number. Received: '1e-5'"):
        make_spec(BASE + "layers: [[batch_normal, {epsilon: '1e-5'}]]\n")
    with pytest.raises(DslSyntaxError, match=r"`train.learning_rate` must be in \(0, 10\]. "
                                             r"Received: '0.1'"):
        make_spec(BASE + "layers: [10]\ntrain: {learning_rate: '0.1'}\n")


def test_yes_and_no_are_strings_not_booleans(make_spec):
    with pytest.raises(DslSyntaxError, match=r"`bias` must be true or false. Received: 'yes'"):
        make_spec(BASE + "layers: [[full, {width: 3, bias: yes}]]\n")
    assert make_spec(BASE + "layers: [[full, {width: 3, bias: off}]]\n").layers.items[0].bias \
        is False


def test_the_checks_word_their_rule():
    assert integer(3, low=1) == 3 and number(1, 0, 1) == 1.0 and type(number(1, 0, 1)) is float
    assert boolean("ON") is True and boolean(False) is False and choice("a", ("a", "b")) == "a"
    for call, message in [
        (lambda: integer(True, low=0), "must be a non-negative integer. Received: True"),
        (lambda: integer(11, 0, 10), "must be in [0, 10]. Received: 11"),
        (lambda: number("x", 0, 1), "must be a number. Received: 'x'"),
        (lambda: number(math.inf, 0, None), "must be a number >= 0. Received: inf"),
        (lambda: number(0, 0, 1, low_open=True), "must be in (0, 1]. Received: 0"),
        (lambda: boolean(1), "must be true or false. Received: 1"),
        (lambda: choice("b", ("a",)), "must be one of a. Received: 'b'"),
    ]:
        with pytest.raises(ValueRefused) as e:
            call()
        assert str(e.value) == message


def test_parse_spec_reads_python_literal_booleans_still():
    spec = parse_spec(BASE + "layers: [['full', {'width': 3, 'bias': False}]]\n")
    assert spec.layers.items[0].bias is False


def test_expand_quotes_the_strings_yaml_1_2_reads_as_numbers():
    from cnncompile.frontend.dump import expanded_yaml

    text = ("name: '1e5'\ndescription: '010'\ninput: [4]\noutput: {labels: [yes, '1e3', on]}\n"
            "layers: [[batch_normal, {epsilon: 1e-5}]]\ntrain: {learning_rate: 1e-3}\n")
    a = parse_spec(text)
    written = expanded_yaml(a)
    assert "name: '1e5'\n" in written and "description: '010'\n" in written
    b = parse_spec(written)
    assert (a.name, a.description, a.output, a.layers, a.train) == (
        b.name, b.description, b.output, b.layers, b.train)

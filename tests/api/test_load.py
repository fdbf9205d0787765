"""`cnncompile.load`: every source form reads through the front end to the same model, and
every mistake is the front end's typed, located error, raised and never printed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cnncompile
from cnncompile.api import Model
from cnncompile.errors import CnnCompileError, DslSyntaxError, ShapeError
from cnncompile.frontend import load_spec

LAYERS = [["conv", {"ksize": 3, "chn": 6}], ["max", {"stride": 2}], ["full", {"width": 10}]]
FILE = """\
name: textbook
input: [12, 12, 1]
output: {labels: [a, b, c]}
layers:
- [conv, {ksize: 3, chn: 6}]
- [max, {stride: 2}]
- [full, {width: 10}]
"""


def figures(model: Model) -> dict:
    return {k: v for k, v in model.analysis().items() if k != "name"}


@pytest.fixture
def spec_file(write) -> Path:
    return write("textbook.yaml", FILE)


def test_every_source_form_gives_the_same_model(spec_file, monkeypatch):
    from_file = cnncompile.load(spec_file)
    forms = {
        "str path": cnncompile.load(str(spec_file)),
        "text": cnncompile.load(FILE),
        "list": cnncompile.load(LAYERS, input_shape=(12, 12, 1), labels=["a", "b", "c"]),
        "tuples": cnncompile.load(tuple((k, o) for k, o in LAYERS), input_shape=[12, 12, 1],
                                  labels=("a", "b", "c")),
        "mapping": cnncompile.load({"input": [12, 12, 1], "output": {"labels": ["a", "b", "c"]},
                                    "layers": LAYERS}),
    }
    monkeypatch.chdir(spec_file.parent)  # a bare file name that exists is a path, not YAML
    forms["relative"] = cnncompile.load("textbook.yaml")
    want = figures(from_file)
    assert want["totals"]["trainable_params"] == (9 * 6 + 6) + (6 * 6 * 6 * 10 + 10) + (10 * 3 + 3)
    for form, model in forms.items():
        assert figures(model) == want, form
        assert model.graph.heads.heads[0].labels == ("a", "b", "c"), form


def test_names_and_the_recorded_spec_text(spec_file):
    assert cnncompile.load(spec_file).name == "textbook"
    assert cnncompile.load(spec_file, name="renamed").name == "renamed"
    assert cnncompile.load(spec_file, name="renamed").graph.name == "renamed"
    listed = cnncompile.load(LAYERS, input_shape=(12, 12, 1), classes=3)
    assert listed.name == "model"
    assert cnncompile.load({"layers": LAYERS, "input": [12, 12, 1], "output": 3}).name == "model"
    named = cnncompile.load(LAYERS, input_shape=(12, 12, 1), classes=3, name="lenet_ish")
    # a layer list becomes the spec file a user would write, one layer per line
    assert named.spec.text == ("name: lenet_ish\nlayers:\n- [conv, {ksize: 3, chn: 6}]\n"
                               "- [max, {stride: 2}]\n- [full, {width: 10}]\n")
    assert named.spec.path is None


def test_overrides_replace_the_spec_s_input_and_output(spec_file):
    m = cnncompile.load(spec_file, input_shape="16,16,1", classes=4)
    assert m.graph.input_shape == (16, 16, 1)
    assert [(h.size, h.labels) for h in m.graph.heads.heads] == [(4, None)]
    assert cnncompile.load(spec_file, labels=["x", "y"]).graph.heads.heads[0].labels == ("x", "y")
    vector = cnncompile.load([30, 10], input_shape=(784,), classes=10)
    assert vector.graph.input_shape == (784,)


def test_numpy_numbers_in_a_layer_list_are_plain_numbers():
    m = cnncompile.load([["conv", {"ksize": np.int64(3), "chn": np.int32(6)}]],
                        input_shape=np.array([12, 12, 1]).tolist(), classes=np.int64(2).item())
    assert m.spec.text.splitlines()[2] == "- [conv, {ksize: 3, chn: 6}]"


def test_the_model_is_built_from_a_spec_too(spec_file):
    m = Model(load_spec(spec_file))
    assert m.graph.name == "textbook" and m.spec.path == str(spec_file)


def test_the_package_exports_the_api_lazily():
    import cnncompile.api as api

    assert cnncompile.load is api.load and cnncompile.Model is api.Model
    assert cnncompile.quantize is api.quantize and cnncompile.predict is api.predict
    assert {"load", "Model", "quantize", "predict"} <= set(dir(cnncompile))
    with pytest.raises(AttributeError, match="no attribute 'lod'"):
        cnncompile.lod  # noqa: B018


BAD = [
    # (what, call, error type, the exact message)
    ("layer list without input", lambda: cnncompile.load(LAYERS, classes=3), DslSyntaxError,
     "input_shape: a layer list needs `input_shape` ((H, W, C) or (N,)) and `classes` or "
     "`labels`. Received: input_shape=None, classes=3, labels=None"),
    ("layer list without output", lambda: cnncompile.load(LAYERS, input_shape=(8, 8, 1)),
     DslSyntaxError, "classes: a layer list needs `input_shape` ((H, W, C) or (N,)) and "
     "`classes` or `labels`. Received: input_shape=(8, 8, 1), classes=None, labels=None"),
    ("a required option", lambda: cnncompile.load(
        [["full", {"width": 4}], ["conv", {"ksize": 3}]], input_shape=(8, 8, 1), classes=2),
     DslSyntaxError, "<list>:4: layers[1] > conv: 'chn' is required"),
    ("a misspelt option", lambda: cnncompile.load(
        [["conv", {"ksiz": 3, "chn": 2}]], input_shape=(8, 8, 1), classes=2), DslSyntaxError,
     "<list>:3: layers[0] > conv: unknown option 'ksiz' (did you mean 'ksize'?); conv takes: "
     "ksize, chn, stride, padding, actfunc, actions, bias, groups, bn"),
    ("a bad input shape", lambda: cnncompile.load(LAYERS, input_shape=(0, 8, 1), classes=2),
     DslSyntaxError, "input_shape: `input` must be [H, W, C] or [N] with positive integers. "
     "Received: [0, 8, 1]"),
    ("labels that disagree", lambda: cnncompile.load(
        LAYERS, input_shape=(8, 8, 1), classes=3, labels=["a", "b"]), DslSyntaxError,
     "classes: `output.labels` has 2 names for 3 classes"),
    ("labels as one string", lambda: cnncompile.load(LAYERS, input_shape=(8, 8, 1),
                                                     labels="ab"),
     DslSyntaxError, "labels: `output.labels` must be a list of names"),
    ("shapes that do not fit", lambda: cnncompile.load(
        [["max", {"stride": 2, "padding": "VALID"}]] * 5, input_shape=(8, 8, 1), classes=2),
     ShapeError, "<list>:5: layers[2] > max: the H axis would have no output cells: window 2 "
     "with stride 2 and padding 'VALID' on 1 cells. Received: input=[1, 1, 1], ksize=[2, 2], "
     "stride=[2, 2]"),
    ("a value YAML cannot hold", lambda: cnncompile.load(
        [["conv", {"ksize": 3, "chn": {1, 2}}]], input_shape=(8, 8, 1), classes=2),
     DslSyntaxError, "layers[0]: a spec holds numbers, strings, booleans, None, lists and "
     "mappings. Received: set {1, 2}"),
    ("a bad name for a list", lambda: cnncompile.load(LAYERS, input_shape=(8, 8, 1), classes=2,
                                                      name="my model"),
     DslSyntaxError, "<list>:1: `name` must be letters, digits, _ . - only. Received: "
     "'my model'"),
    ("not a spec at all", lambda: cnncompile.load(42), DslSyntaxError,
     "source: a spec is a file path, YAML text, a layer list or a mapping. Received: int"),
    ("a missing file", lambda: cnncompile.load("nope.yaml"), DslSyntaxError,
     "nope.yaml: cannot read the spec file: No such file or directory"),
    ("broken YAML text", lambda: cnncompile.load("layers: [[conv, {ksize: 3, chn: 2}]\n"),
     DslSyntaxError, "<text>:2: invalid YAML: expected ',' or ']', but got '<stream end>'"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_mistakes_are_typed_located_errors_and_nothing_is_printed(case, capsys):
    _, call, kind, message = case
    with pytest.raises(kind) as info:
        call()
    assert str(info.value) == message
    assert isinstance(info.value, CnnCompileError)
    assert capsys.readouterr() == ("", "")


def test_a_bad_name_for_a_file_names_the_argument(spec_file):
    with pytest.raises(DslSyntaxError) as info:
        cnncompile.load(spec_file, name="x y")
    assert str(info.value) == "name: `name` must be letters, digits, _ . - only. Received: 'x y'"

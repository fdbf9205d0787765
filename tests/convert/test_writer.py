"""The YAML writer: flow text that reads back as the same values and looks like the book."""

from __future__ import annotations

import pytest
import yaml

from cnncompile.convert import convert_file
from cnncompile.convert.writer import flow_yaml


def test_layer_lists_keep_the_python_literal_look(book):
    path, _ = book
    (m,) = convert_file(path, model="flowers_cnn_2")
    assert "  - ['dropout', {'keep_prob': 0.6}]\n" in m.text
    (m,) = convert_file(path, model="model_flower_LA")
    assert "layers: ['custom', {'name': 'inception_flower', 'args': {'#act': 'LA'}}]\n" in m.text


@pytest.mark.parametrize("value", [
    [1e-05, 1e16, -0.5, 2.0, 0, -3, True, False, None],
    ["it's", "#act", "##x", "a: b", "한국어", "tab\there", "- x", "[", "yes", "null", "1.5"],
    {"a": [1, [2, {"b": 3.25}]], 3: "x", "c": {}},
])


def test_flow_literals_read_back_as_the_same_values(value):
    assert yaml.safe_load(flow_yaml(value)) == value

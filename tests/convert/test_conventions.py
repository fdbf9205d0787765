"""The textbook's conventions: models, macros, data sets and training options."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from cnncompile.convert import convert_file, convert_source
from cnncompile.errors import DslSyntaxError
from cnncompile.frontend import parse_spec

HEAD = "fd = FlowersDataset([96, 96], [96, 96, 3])\n"


def convert_text(text, **kw):
    return convert_source(textwrap.dedent(text), "net.py", **kw)


def test_training_options_and_heads_follow_the_script(book):
    path, _ = book
    specs = {m.name: parse_spec(m.text) for m in convert_file(path)}
    assert specs["flowers_model_2"].train == {"optimizer": "sgd", "epochs": 10, "report": 2}
    assert specs["flowers_cnn_2"].train == {"epochs": 10, "report": 2}
    assert specs["office31_cnn_1"].train == {"l2_decay": 0.1}
    assert specs["model_flower_LA"].train == {"report": 2, "learning_rate": 1e-4}
    heads = specs["office31_cnn_1"].output.heads
    assert [(h.name, h.size) for h in heads] == [("domain", 3), ("object", 31)]
    assert specs["flowers_cnn_2"].output.heads[0].labels[0] == "daisy"


def test_only_the_macros_a_model_uses_are_written(book):
    path, _ = book
    (m,) = convert_file(path, model="model_flower_LA")
    macros = yaml.safe_load(m.text)["macros"]
    assert list(macros) == ["flower_preproc", "flower_inception1", "flower_resize",
                            "flower_inception2", "flower_postproc", "inception_flower"]
    assert "macros" not in yaml.safe_load(convert_file(path, model="flowers_cnn_2")[0].text)


def test_errors_in_macro_bodies_point_into_the_macro():
    text = HEAD + ("CnnExtModel.set_macro('blk',\n"
                   "    ['serial',\n"
                   "     ['conv', {'ksize':3, 'chn':'#n', 'padding':'FULL'}]])\n"
                   "m = CnnExtModel('m', fd, ['custom', {'name':'blk', 'args':{'#n':4}}])\n")
    with pytest.raises(DslSyntaxError, match=r"^net\.py:4:6: model 'm' does not make a valid "
                       r"spec: .*`padding` must be 'SAME', 'VALID' or an integer"):
        convert_text(text)


def test_a_broken_model_does_not_block_the_others():
    text = HEAD + "a = CnnRegModel('a', fd, oops())\nb = CnnRegModel('b', fd, [30])\n"
    (b,) = convert_text(text, model="b")
    assert b.name == "b"
    with pytest.raises(DslSyntaxError, match="^net.py:2:26: "):
        convert_text(text)


def test_unknown_data_sets_need_input_and_classes():
    text = "ad = AbaloneDataset()\nm = CnnRegModel('m', ad, [30, 10])\n"
    with pytest.raises(DslSyntaxError) as e:
        convert_text(text)
    assert str(e.value) == ("net.py:2:5: model 'm': `ad` is not a FlowersDataset, "
                            "Office31Dataset or DummyDataset built earlier; give --input "
                            "H,W,C and --classes K")
    (m,) = convert_text(text, input_shape=(8,), classes=3)
    spec = parse_spec(m.text)
    assert spec.input_shape == (8,) and spec.output.width == 3


def test_data_set_forms():
    (m,) = convert_text("m = CnnBasicModel('m', FlowersDataset(), [10])\n")
    assert parse_spec(m.text).input_shape == (100 * 100 * 3,)  # the book's flat default
    (m,) = convert_text("CnnExtModel.set_macro('x', ['avg', {'stride': 299}])\n"
                        "d = DummyDataset('imagenet', 'select', [299, 299, 3], 200)\n"
                        "m = CnnExtModel('m', d, [['custom', {'name':'x'}]])\n")
    spec = parse_spec(m.text)
    assert spec.input_shape == (299, 299, 3) and spec.output.width == 200


def test_macros_are_taken_as_they_stood_at_construction():
    text = ("fd = FlowersDataset([8, 8], [8, 8, 3])\n"
            "CnnExtModel.set_macro('b', ['max', {'stride': 2}])\n"
            "m = CnnExtModel('m', fd, [['custom', {'name': 'b'}]])\n"
            "CnnExtModel.set_macro('b', ['avg', {'stride': 4}])\n"
            "n = CnnExtModel('m', fd, [['custom', {'name': 'b'}]])\n")
    first, second = convert_text(text)
    assert (first.name, second.name) == ("m", "m_2")
    assert yaml.safe_load(first.text)["macros"]["b"] == ["max", {"stride": 2}]
    assert yaml.safe_load(second.text)["macros"]["b"] == ["avg", {"stride": 4}]

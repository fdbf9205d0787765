"""`cnncompile convert`: textbook Python scripts -> specs, read with ast and never executed."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cnncompile.analysis import analyze_graph
from cnncompile.cli import app
from cnncompile.errors import DslSyntaxError
from cnncompile.frontend import load_spec, parse_spec
from cnncompile.frontend.convert import _compact, check_spec, convert_file, convert_source
from cnncompile.ir import lower

SPECS = Path(__file__).resolve().parents[2] / "specs"

# A reader's chapter 7-9 script, with the habits real copies have: comments (Korean ones too),
# a dangerous call next to the models, configs bound to names, options set after construction.
BOOK = '''\
# -*- coding: utf-8 -*-
import os
from ch9.cnn_ext_model import CnnExtModel

os.system("touch MARKER")  # 변환기는 이 줄을 실행하면 안 된다

fd = FlowersDataset([96, 96], [96, 96, 3])
od = Office31Dataset([96, 96], [96, 96, 3])

# 7장: 완전연결 계층만으로 구성
fm2 = CnnBasicModel('flowers_model_2', fd,
                    [['full', {'width':30}],
                     ['full', {'width':10}]])
fm2.use_adam = False
fm2.exec_all(epoch_count = 10, report = 2)

# 8장: 드롭아웃
cnn2 = [['conv', {'ksize':3, 'chn':6}], ['max', {'stride':2}], ['dropout', {'keep_prob':0.6}],
        ['conv', {'ksize':3, 'chn':12}], ['max', {'stride':2}], ['dropout', {'keep_prob':0.6}],
        ['conv', {'ksize':3, 'chn':24}], ['avg', {'stride':3}], ['dropout', {'keep_prob':0.6}]]
fcnn2 = CnnRegModel('flowers_cnn_2', fd, cnn2)
fcnn2.exec_all(epoch_count=10, report=2, show_cnt=0)
ocnn1 = CnnRegModel('office31_cnn_1', od,
                    [['conv', {'ksize':3, 'chn':6}], ['max', {'stride':2}],
                     ['conv', {'ksize':3, 'chn':12}], ['max', {'stride':2}],
                     ['conv', {'ksize':3, 'chn':24}], ['avg', {'stride':3}]], l2_decay=0.1)

# 9장: 꽃 인셉션 모델
CnnExtModel.set_macro('flower_preproc',
                      ['serial',
                       ['conv', {'ksize':3, 'stride':2, 'chn':6, 'actions':'#act'}]])
CnnExtModel.set_macro('flower_inception1',
                      ['parallel',
                       ['conv', {'ksize':1, 'chn':4, 'actions':'#act'}],
                       ['conv', {'ksize':3, 'chn':6, 'actions':'#act'}],
                       ['serial',
                        ['conv', {'ksize':3, 'chn':6, 'actions':'#act'}],
                        ['conv', {'ksize':3, 'chn':6, 'actions':'#act'}]],
                       ['serial',
                        ['avg', {'ksize':3, 'stride':1}],
                        ['conv', {'ksize':1, 'chn':4, 'actions':'#act'}]]])
CnnExtModel.set_macro('flower_resize',
                      ['parallel',
                       ['conv', {'ksize':3, 'stride':2, 'chn':12, 'actions':'#act'}],
                       ['serial',
                        ['conv', {'ksize':3, 'chn':12, 'actions':'#act'}],
                        ['conv', {'ksize':3, 'stride':2, 'chn':12, 'actions':'#act'}]],
                       ['avg', {'ksize':3, 'stride':2}]])
CnnExtModel.set_macro('flower_inception2',
                      ['parallel',
                       ['conv', {'ksize':1, 'chn':8, 'actions':'#act'}],
                       ['serial',
                        ['conv', {'ksize':[3,3], 'chn':8, 'actions':'#act'}],
                        ['parallel',
                         ['conv', {'ksize':[1,3], 'chn':8, 'actions':'#act'}],
                         ['conv', {'ksize':[3,1], 'chn':8, 'actions':'#act'}]]],
                       ['serial',
                        ['conv', {'ksize':[1,1], 'chn':8, 'actions':'#act'}],
                        ['conv', {'ksize':[3,3], 'chn':8, 'actions':'#act'}],
                        ['parallel',
                         ['conv', {'ksize':[1,3], 'chn':8, 'actions':'#act'}],
                         ['conv', {'ksize':[3,1], 'chn':8, 'actions':'#act'}]]],
                       ['serial',
                        ['avg', {'ksize':3, 'stride':1}],
                        ['conv', {'ksize':1, 'chn':8, 'actions':'#act'}]]])
CnnExtModel.set_macro('flower_postproc',
                      ['serial', ['avg', {'stride':6}], ['dropout', {'keep_prob':0.7}]])
CnnExtModel.set_macro('inception_flower',
                      ['serial',
                       ['custom', {'name':'flower_preproc', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_inception1', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_resize', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_inception1', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_resize', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_inception2', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_resize', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_inception2', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_postproc', 'args':{'#act':'#act'}}]])
CnnExtModel.set_macro('never_used', ['serial', ['max', {'stride':2}]])

conf_flower_LA = ['custom', {'name':'inception_flower', 'args':{'#act':'LA'}}]
model_flower_LA = CnnExtModel('model_flower_LA', fd, conf_flower_LA, dump_structure=True)
model_flower_LA.exec_all(report=2, learning_rate=1e-4)
'''

# converted model -> the hand-written spec it must equal
EQUIVALENT = {
    "flowers_model_2": "ch7/flowers_model_2.yaml",
    "flowers_cnn_2": "ch8/flowers_cnn_2.yaml",
    "office31_cnn_1": "ch8/office31_cnn_1.yaml",
    "model_flower_LA": "ch9/inception_flower.yaml",
}


@pytest.fixture
def book(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "book.py"
    path.write_text(BOOK.replace("MARKER", str(marker)), encoding="utf-8")
    return path, marker


def run(*args):
    return CliRunner().invoke(app, ["convert", *map(str, args)])


def figures(spec):
    graph = lower(spec)
    graph.lint()
    t = analyze_graph(graph).totals
    return t.trainable_params, t.non_trainable_params, t.macs, graph.structure_hash()


def test_book_converts_to_the_hand_written_specs(book, tmp_path):
    path, marker = book
    out = tmp_path / "specs"
    result = run(path, "-o", f"{out}/")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.yaml" for n in EQUIVALENT)
    for name, rel in EQUIVALENT.items():
        converted = load_spec(out / f"{name}.yaml")
        assert converted.name == name
        assert figures(converted) == figures(load_spec(SPECS / rel)), name
    assert not marker.exists()  # os.system(...) was read, never run


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
    assert yaml.safe_load(_compact(value)) == value


def test_several_models_need_a_choice(book, tmp_path):
    path, _ = book
    result = run(path, "-o", tmp_path / "one.yaml")
    assert result.exit_code == 2
    assert "constructs 4 models" in result.stderr and "--model NAME" in result.stderr
    assert not (tmp_path / "one.yaml").exists()
    result = run(path, "--model", "flowers_cnn_2", "-o", tmp_path / "one.yaml")
    assert result.exit_code == 0, result.output
    assert load_spec(tmp_path / "one.yaml").name == "flowers_cnn_2"
    result = run(path, "--model", "flowers_cnn_3")
    assert result.exit_code == 2
    assert "no model named 'flowers_cnn_3' (did you mean 'flowers_cnn_2'" in result.stderr


def test_without_output_the_spec_is_printed(book):
    path, _ = book
    result = run(path, "--model", "flowers_model_2")
    assert result.exit_code == 0
    assert parse_spec(result.stdout).name == "flowers_model_2"


# -- mistakes in the Python file ------------------------------------------------------------


def convert_text(text, **kw):
    return convert_source(textwrap.dedent(text), "net.py", **kw)


HEAD = "fd = FlowersDataset([96, 96], [96, 96, 3])\n"


@pytest.mark.parametrize("body, message", [
    # a comma missing between a string and a dict: a Python syntax error
    ("m = CnnRegModel('m', fd, [['conv', {'ksize':3, 'chn':6}],  # 합성곱\n"
     "                          ['max' {'stride':2}]])\n",
     "net.py:3:33: missing comma here (Python: invalid syntax)"),
    # a comma missing between two layers: valid Python (indexing), caught in the literal
    ("m = CnnRegModel('m', fd, [['conv', {'ksize':3, 'chn':6}]\n"
     "                          ['max', {'stride':2}]])\n",
     "net.py:3:27: missing comma before this '['"),
    # a comma missing between two strings: Python joins them
    ("m = CnnRegModel('m', fd, [['conv' 'max', {'ksize':3}]])\n",
     "net.py:2:34: missing comma between the strings 'conv' and 'max'"),
    ("m = CnnRegModel('m', fd, [30 10])\n", "net.py:2:29: missing comma here"),
    # brackets
    ("m = CnnRegModel('m', fd, [['conv', {'ksize':3, 'chn':6}],\n"
     "                          ['max', {'stride':2}]\n",
     "net.py:2:26: '[' was never closed"),
    ("cnn1 = [['max', {'stride':2}]]]\n", "net.py:2:31: unmatched ']'"),
    ("m = CnnRegModel('m', fd, [['conv', {'ksize':3, 'chn':6}]]])\n",
     "net.py:2:58: closing parenthesis ']' does not match opening parenthesis '('"),
    ("m = CnnRegModel('m', fd, [['conv', {'ksize':3, 'chn':6}),\n]\n",
     "net.py:2:56: closing parenthesis ')' does not match opening parenthesis '['"),
])
def test_syntax_mistakes_name_line_and_column(body, message):
    with pytest.raises(DslSyntaxError) as e:
        convert_text(HEAD + body)
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("body, message", [
    ("m = CnnRegModel('m', fd, make_layers())\n",
     "net.py:2:26: the layer list of 'm' must be a Python literal (lists, dicts, strings, "
     "numbers, True/False) or a name bound to one; found a function call `make_layers()`"),
    ("m = CnnRegModel('m', fd, [[c, {}] for c in kinds])\n",
     "net.py:2:26: the layer list of 'm' must be a Python literal"),
    ("m = CnnRegModel('m', fd, cnn9)\n",
     "net.py:2:26: the layer list of 'm': `cnn9` is not bound to a literal earlier in the file"),
    ("cnn = build()\nm = CnnRegModel('m', fd, cnn)\n",
     "net.py:3:26: the layer list of 'm': `cnn` is bound at line 2 to a function call "
     "`build()`, not to a literal"),
    ("m = CnnRegModel('flowers_cnn_1')\n",
     "net.py:2:5: CnnRegModel(...) needs a name, a data set and a layer list; `dataset` and "
     "`hconfigs` are missing"),
    ("m = CnnRegModel('m', fd, [['conv', {'ksize':3, 'chn':6, 'action':'LA'}]])\n",
     "net.py:2:27: model 'm' does not make a valid spec: layers[0] > conv: unknown option "
     "'action' (did you mean 'actions'?)"),
    ("m = CnnRegModel('m', fd, [['custom', {'name':'nope'}]])\n",
     "net.py:2:27: model 'm' does not make a valid spec: layers[0] > custom: unknown macro "
     "'nope'"),
    ("m = CnnRegModel('m', fd, [['conv', {'ksize':3, 'ksize':5}]])\n",
     "net.py:2:48: the layer list of 'm': the key 'ksize' appears twice in this dict"),
])
def test_non_literal_and_invalid_configs(body, message):
    with pytest.raises(DslSyntaxError) as e:
        convert_text(HEAD + body)
    assert str(e.value).startswith(message)


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


# -- files ------------------------------------------------------------------------------------


def test_cli_exit_codes(tmp_path):
    good = tmp_path / "good.py"
    good.write_text(HEAD + "m = CnnBasicModel('m', fd, [30, 10])\n")
    result = run(good, "-o", tmp_path / "m.yaml")
    assert result.exit_code == 0, result.output
    assert load_spec(tmp_path / "m.yaml").input_shape == (96, 96, 3)
    bad = tmp_path / "bad.py"
    bad.write_text(HEAD + "m = CnnBasicModel('m', fd, [30 10])\n", encoding="utf-8")
    result = run(bad, "-o", tmp_path / "bad.yaml")
    assert result.exit_code == 2
    assert result.stderr == f"error: {bad}:2:31: missing comma here (Python: invalid syntax)\n"
    assert not (tmp_path / "bad.yaml").exists()
    result = run(tmp_path / "missing.py")
    assert result.exit_code == 2 and "cannot read the Python file" in result.stderr
    result = run(good, "--input", "3,x")
    assert result.exit_code == 2 and "--input" in result.stderr


def test_a_spec_that_does_not_load_is_refused_at_its_target_path(tmp_path):
    target = tmp_path / "out.yaml"
    with pytest.raises(DslSyntaxError, match=r"out\.yaml:4: layers\[0\] > conv: 'ksize' is req"):
        check_spec("name: x\ninput: [4]\noutput: {classes: 2}\nlayers: [[conv]]\n", target)
    assert list(tmp_path.iterdir()) == []


def test_convert_writes_through_the_atomic_writer_and_keeps_the_old_file_on_error(
        tmp_path, monkeypatch):
    import cnncompile.frontend.convert as front

    good = tmp_path / "good.py"
    good.write_text(HEAD + "m = CnnBasicModel('m', fd, [30, 10])\n")
    target = tmp_path / "out.yaml"
    target.write_text("old\n")
    monkeypatch.setattr(front, "check_spec", _refuse)
    result = run(good, "-o", target)
    assert result.exit_code == 2 and "refused" in result.stderr
    assert target.read_text() == "old\n"
    monkeypatch.undo()
    assert run(good, "-o", target).exit_code == 0
    umask = os.umask(0o022)
    os.umask(umask)
    assert "name: m" in target.read_text() and target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.py", "out.yaml"]


def _refuse(text, path):
    raise DslSyntaxError(f"{path}: refused")


def test_source_files_that_are_not_text(tmp_path):
    binary = tmp_path / "b.py"
    binary.write_bytes(b"x = 1\x00")
    with pytest.raises(DslSyntaxError, match="binary file"):
        convert_file(binary)
    latin = tmp_path / "l.py"
    latin.write_bytes(HEAD.encode() + "# 한국어\n".encode("cp949"))
    with pytest.raises(DslSyntaxError, match=r"l\.py:2:1: the file is not utf-8 text"):
        convert_file(latin)
    declared = tmp_path / "k.py"
    declared.write_bytes(("# -*- coding: cp949 -*-\n# 한국어\n" + HEAD +
                          "m = CnnBasicModel('m', fd, [10])\n").encode("cp949"))
    assert convert_file(declared)[0].name == "m"

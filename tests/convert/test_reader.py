"""The reader: syntax, literals, names and file text, each mistake one located line."""

from __future__ import annotations

import textwrap
import time

import pytest
import yaml

from cnncompile.convert import MAX_INT_DIGITS, MAX_STRING_CHARS, convert_file, convert_source
from cnncompile.errors import DslSyntaxError

HEAD = "fd = FlowersDataset([96, 96], [96, 96, 3])\n"


def convert_text(text, **kw):
    return convert_source(textwrap.dedent(text), "net.py", **kw)


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


# -- bounds and linear work (issue 21: a 3 MB string literal took more than 60 s) -------------
# The bounds below are wall-clock, but about ten times what the linear reader needs on a loaded
# 2-core machine, while the quadratic reader needed minutes for the same input.
SLOW = 10.0  # seconds


def _macro_arg_script(arg: str) -> str:
    """A valid script whose model passes ``arg`` to a macro that ignores it."""
    return ("CnnExtModel.set_macro('b', ['max', {'stride': 2}])\n" + HEAD +
            f"m = CnnExtModel('m', fd, [['custom', {{'name': 'b', 'args': {{'#u': {arg}}}}}]])\n")


def test_many_strings_and_lists_on_one_long_non_ascii_line_are_read_in_linear_time():
    # 8,000 lists and strings on one 64 kB line: every node asked for its column and every
    # string for its source; the old reader redid the whole line (or file) for each
    items = ", ".join(["['가나']"] * 8000)
    start = time.perf_counter()
    (m,) = convert_text(_macro_arg_script(f"[{items}]"))
    assert time.perf_counter() - start < SLOW
    assert yaml.safe_load(m.text)["layers"][0][1]["args"]["#u"] == [["가나"]] * 8000


def test_columns_on_a_long_non_ascii_line_count_characters():
    # the mistake sits after 5,000 two-byte characters: its column counts characters, not bytes
    text = _macro_arg_script("'" + "가" * 5000 + "'").replace("}}]])", "}}] ['max']])")
    with pytest.raises(DslSyntaxError) as e:
        convert_text(text)
    assert str(e.value).startswith(f"net.py:3:{text.splitlines()[2].index('[', 5000) + 1}: "
                                   "missing comma before this '['")


def test_a_string_literal_over_the_limit_is_one_located_line():
    big = "x" * (MAX_STRING_CHARS + 1)
    with pytest.raises(DslSyntaxError) as e:
        convert_text(_macro_arg_script(f"'{big}'"))
    assert str(e.value) == ("net.py:3:67: a string literal may be at most 1,048,576 "
                            "characters; this one has 1,048,577")
    # also when the literal is bound to a name first, and reported where it was written
    with pytest.raises(DslSyntaxError) as e:
        convert_text(f"u = '{big}'\n" + _macro_arg_script("u"))
    assert str(e.value).startswith("net.py:1:5: a string literal may be at most 1,048,576 ")


def test_an_integer_literal_over_the_limit_is_one_located_line():
    with pytest.raises(DslSyntaxError) as e:  # hex: Python itself does not bound it
        convert_text(_macro_arg_script("0x" + "f" * 100))
    assert str(e.value) == (f"net.py:3:67: an integer literal may have at most {MAX_INT_DIGITS} "
                            "digits")
    (m,) = convert_text(_macro_arg_script("-" + "9" * MAX_INT_DIGITS))
    assert yaml.safe_load(m.text)["layers"][0][1]["args"]["#u"] == -int("9" * MAX_INT_DIGITS)

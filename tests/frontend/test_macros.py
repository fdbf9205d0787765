"""Macro expansion follows the textbook's replacement rules exactly (spec-format section 5)."""

import pytest

from cnncompile.errors import DslSyntaxError
from cnncompile.frontend import layers as L

HEAD = "name: t\ninput: [8, 8, 3]\noutput: {classes: 2}\n"


def test_whole_string_items_and_values_are_replaced_keys_never(make_spec):
    spec = make_spec(HEAD + """\
macros:
  m: [conv, {ksize: '#k', chn: '#n', actions: '#act'}]
layers: [[custom, {name: m, args: {'#k': [1, 3], '#n': 7, '#act': LAB}}]]
""")
    custom = spec.layers.items[0]
    assert isinstance(custom, L.Custom) and custom.name == "m"
    conv = custom.body
    assert conv.ksize == (1, 3) and conv.chn == 7 and conv.actions == "LAB"


def test_substring_is_not_replaced(make_spec):
    # '#n2' is a different placeholder; '#n' inside it must not be touched
    with pytest.raises(DslSyntaxError, match=r"placeholder '#n2' was never given a value \(macro m\)"):
        make_spec(HEAD + """\
macros:
  m: [conv, {ksize: 3, chn: '#n2'}]
layers: [[custom, {name: m, args: {'#n': 7}}]]
""")


def test_pass_through_args_and_no_rescan(make_spec):
    spec = make_spec(HEAD + """\
macros:
  inner: [conv, {ksize: 3, chn: '#n'}]
  outer: [serial, [custom, {name: inner, args: {'#n': '#n'}}], [loop, {repeat: '#r'}, [max, {stride: 1}]]]
layers: [[custom, {name: outer, args: {'#n': 5, '#r': 3}}]]
""")
    outer = spec.layers.items[0]
    serial = outer.body
    assert serial.items[0].body.chn == 5
    assert serial.items[1].repeat == 3


def test_a_substituted_value_is_not_scanned_again(make_spec):
    # the value '#b' given for '#a' stays literally '#b' even though '#b' is also an argument
    with pytest.raises(DslSyntaxError, match=r"placeholder '#b' was never given a value"):
        make_spec(HEAD + """\
macros:
  m: [conv, {ksize: 3, chn: '#a'}]
layers: [[custom, {name: m, args: {'#a': '#b', '#b': 4}}]]
""")


def test_double_hash_loses_one_hash_per_expansion(make_spec):
    # outer's '##n' becomes '#n' when outer expands; inner then receives '#n' -> filled by inner's arg
    spec = make_spec(HEAD + """\
macros:
  inner: [conv, {ksize: 3, chn: 6}]
  outer: [custom, {name: inner, args: {'##n': 1}}]
  lit: [conv, {ksize: 3, chn: '##n'}]
layers: [[custom, {name: outer}]]
""")
    assert spec.layers.items[0].body.body.chn == 6
    with pytest.raises(DslSyntaxError, match=r"placeholder '#n' was never given a value \(macro lit\)"):
        make_spec(HEAD + "macros:\n  lit: [conv, {ksize: 3, chn: '##n'}]\nlayers: [[custom, {name: lit}]]\n")


def test_missing_argument_names_the_macro_chain(make_spec):
    with pytest.raises(DslSyntaxError) as e:
        make_spec(HEAD + """\
macros:
  inner: [conv, {ksize: 3, chn: '#n'}]
  outer: [serial, [max, {stride: 1}], [custom, {name: inner}]]
layers: [[custom, {name: outer}]]
""")
    msg = str(e.value)
    assert msg.startswith("t.yaml:5: layers[0] > custom outer > serial[1] > custom inner > conv: ")
    assert "the placeholder '#n' was never given a value (macro outer > inner)" in msg


def test_unknown_macro_lists_close_matches(make_spec):
    with pytest.raises(DslSyntaxError, match=r"t.yaml:7: layers\[0\] > custom: unknown macro 'rhalv' \(did you mean 'rhalf'\?\)"):
        make_spec(HEAD + "macros:\n  rhalf: [max]\nlayers:\n  - [custom, {name: rhalv}]\n")


@pytest.mark.parametrize("macros,cycle", [
    ("  a: [custom, {name: a}]\n", "a > a"),
    ("  a: [serial, [custom, {name: b}]]\n  b: [custom, {name: c}]\n  c: [custom, {name: a}]\n", "a > b > c > a"),
])
def test_recursive_macros_are_an_error_not_a_recursion_error(make_spec, macros, cycle):
    with pytest.raises(DslSyntaxError, match=f"expands itself: {cycle}"):
        make_spec(HEAD + "macros:\n" + macros + "layers: [[custom, {name: a}]]\n")


def test_macro_body_may_be_a_layer_list(make_spec):
    spec = make_spec(HEAD + "macros:\n  m: [[conv, {ksize: 3, chn: 2}], [max, {stride: 2}]]\nlayers: [[custom, {name: m}]]\n")
    body = spec.layers.items[0].body
    assert isinstance(body, L.Serial) and len(body.items) == 2


def test_includes_relative_paths_and_overrides(write):
    from cnncompile.frontend import load_spec

    write("lib/a.yaml", "macros:\n  blk: [conv, {ksize: 3, chn: 4}]\n  other: [max, {stride: 2}]\n")
    write("lib/b.yaml", "include: [a.yaml]\nmacros:\n  more: [avg, {stride: 2}]\n")
    p = write("net/spec.yaml", HEAD + "include: [../lib/b.yaml]\nmacros:\n  other: [max, {stride: 1}]\n"
              "layers: [[custom, {name: blk}], [custom, {name: other}], [custom, {name: more}]]\n")
    spec = load_spec(p)
    blk, other, more = (c.body for c in spec.layers.items)
    assert blk.chn == 4 and other.stride == (1, 1) and more.op == "avg"


def test_include_errors(write):
    from cnncompile.frontend import load_spec

    write("a.yaml", "include: [b.yaml]\nmacros: {x: [max]}\n")
    write("b.yaml", "include: [a.yaml]\n")
    p = write("s.yaml", HEAD + "include: [a.yaml]\nlayers: [10]\n")
    with pytest.raises(DslSyntaxError, match=r"include cycle: .*a.yaml > b.yaml > a.yaml|include cycle"):
        load_spec(p)
    write("c.yaml", "macros: {x: [max]}\n")
    write("d.yaml", "macros: {x: [avg]}\n")
    p2 = write("s2.yaml", HEAD + "include: [c.yaml, d.yaml]\nlayers: [10]\n")
    with pytest.raises(DslSyntaxError, match=r"macro 'x' is defined in two included files"):
        load_spec(p2)
    p3 = write("s3.yaml", HEAD + "include: [nope.yaml]\nlayers: [10]\n")
    with pytest.raises(DslSyntaxError, match=r"s3.yaml:4: included file 'nope.yaml' does not exist"):
        load_spec(p3)

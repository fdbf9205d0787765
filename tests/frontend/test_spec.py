"""Reading specs: top level, shorthand, the wrapping rule, options and their errors."""

import pytest

from cnncompile.errors import DslSyntaxError
from cnncompile.frontend import layers as L

BASE = "name: t\ninput: [8, 8, 3]\noutput: {classes: 2}\n"


def test_python_literal_config_is_accepted(make_spec):
    spec = make_spec(BASE + "layers: [['conv', {'ksize':3, 'chn':6}], ['max', {'stride':2}], 30, 10]\n")
    conv, pool, f30, f10 = spec.layers.items
    assert isinstance(conv, L.Conv) and conv.ksize == (3, 3) and conv.chn == 6
    assert conv.stride == (1, 1) and conv.padding == ("SAME", "SAME") and conv.actions == "LA"
    assert isinstance(pool, L.Pool) and pool.ksize == (2, 2) and pool.stride == (2, 2)
    assert isinstance(f30, L.Full) and f30.width == 30 and f30.actfunc == "relu"
    assert f10.width == 10


def test_python_booleans_are_yaml_booleans(make_spec):
    spec = make_spec(BASE + "layers: [['add', {'x': False}, ['conv', {'ksize': 1, 'chn': 3}]]]\n")
    assert spec.layers.items[0].x is False


def test_wrapping_rule_for_a_single_expression(make_spec):
    spec = make_spec(BASE + "layers: [serial, [conv, {ksize: 3, chn: 4}], [max, {stride: 2}]]\n")
    (only,) = spec.layers.items
    assert isinstance(only, L.Serial) and len(only.items) == 2


def test_bare_string_batch_normal(make_spec):
    spec = make_spec(BASE + "layers: [[conv, {ksize: 3, chn: 4}], batch_normal, 10]\n")
    bn = spec.layers.items[1]
    assert isinstance(bn, L.BatchNormal) and bn.rescale and bn.epsilon == 1e-10
    assert bn.exp_ratio == 0.001


def test_batch_norm_momentum_is_keras_momentum(make_spec):
    spec = make_spec(BASE + "layers: [[batch_normal, {momentum: 0.99}]]\n")
    assert spec.layers.items[0].exp_ratio == pytest.approx(0.01)
    with pytest.raises(DslSyntaxError, match="not both"):
        make_spec(BASE + "layers: [[batch_normal, {momentum: 0.99, exp_ratio: 0.1}]]\n")


def test_pool_ksize_defaults_to_stride_and_padding_lower_case(make_spec):
    spec = make_spec(BASE + "layers: [[avg, {stride: 3, padding: valid}], [max, {stride: 2, ksize: 3}]]\n")
    avg, mx = spec.layers.items
    assert avg.ksize == (3, 3) and avg.padding == ("VALID", "VALID")
    assert mx.ksize == (3, 3) and mx.stride == (2, 2)


def test_asymmetric_and_integer_options(make_spec):
    spec = make_spec(BASE + "layers: [[conv, {ksize: [1, 3], chn: 4, stride: [2, 1], padding: [0, 1]}]]\n")
    conv = spec.layers.items[0]
    assert conv.ksize == (1, 3) and conv.stride == (2, 1) and conv.padding == (0, 1)


def test_output_variants(make_spec):
    heads = make_spec("name: t\ninput: [8, 8, 3]\noutput: {heads: {domain: 3, object: 31}}\nlayers: [10]\n")
    assert [(h.name, h.size) for h in heads.output.heads] == [("domain", 3), ("object", 31)]
    assert heads.output.width == 34
    labels = make_spec("name: t\ninput: [4]\noutput: {labels: [a, b, c]}\nlayers: [10]\n")
    assert labels.output.heads[0].size == 3 and labels.output.heads[0].labels == ("a", "b", "c")
    binary = make_spec("name: t\ninput: [4]\noutput: {binary: true}\nlayers: [10]\n")
    assert binary.output.kind == "binary" and binary.output.width == 1
    reg = make_spec("name: t\ninput: [4]\noutput: {regression: 2}\nlayers: [10]\n")
    assert reg.output.kind == "regression" and reg.output.width == 2


def test_train_section(make_spec):
    spec = make_spec(BASE + "layers: [10]\ntrain: {epochs: 3, optimizer: sgd, learning_rate: 0.01}\n")
    assert spec.train == {"epochs": 3, "optimizer": "sgd", "learning_rate": 0.01}
    with pytest.raises(DslSyntaxError, match=r"t.yaml:5: unknown `train` option 'epoch' \(did you mean 'epochs'\?\)"):
        make_spec(BASE + "layers: [10]\ntrain: {epoch: 3}\n")
    assert make_spec(BASE + "layers: [10]\ntrain: {label_smoothing: 0.1}\n").train == {
        "label_smoothing": 0.1}
    with pytest.raises(DslSyntaxError, match=r"t.yaml:5: `train.label_smoothing` "):
        make_spec(BASE + "layers: [10]\ntrain: {label_smoothing: 1}\n")


def test_bare_layer_list_file_takes_input_from_options(write):
    from cnncompile.frontend import OutputSpec, load_spec
    from cnncompile.frontend.spec import Head

    p = write("net.yaml", "[['conv', {'ksize':3, 'chn':6}], 10]\n")
    spec = load_spec(p, (8, 8, 1), OutputSpec("classes", (Head("output", 4),)))
    assert spec.name == "net" and spec.input_shape == (8, 8, 1)
    with pytest.raises(DslSyntaxError, match="`input` is required"):
        load_spec(p)


# --- errors: each one line, located -------------------------------------------------------

ERRORS = [
    # (layers text, message regex)
    ("[[conv, {ksize: 3}]]", r"t.yaml:4: layers\[0\] > conv: 'chn' is required"),
    ("[[conv, {ksize: 3, chn: 4, strides: 2}]]",
     r"t.yaml:4: layers\[0\] > conv: unknown option 'strides' \(did you mean 'stride'\?\); conv takes: ksize"),
    ("[[convo, {ksize: 3}]]", r"t.yaml:4: layers\[0\]: unknown layer kind 'convo' \(did you mean 'conv'\?\)"),
    ("[[conv, {ksize: 0, chn: 4}]]", r"layers\[0\] > conv: `ksize` must be a positive integer. Received: 0"),
    ("[[conv, {ksize: 3, chn: 4.5}]]", r"`chn` must be a positive integer. Received: 4.5"),
    ("[[conv, {ksize: 3, chn: 4, padding: SAMEE}]]",
     r"`padding` must be 'SAME', 'VALID' or an integer \(did you mean 'SAME'\?\). Received: 'SAMEE'"),
    ("[[conv, {ksize: 3, chn: 4, actions: LL}]]", r"exactly one L"),
    ("[[conv, {ksize: 3, chn: 4, actfunc: rellu}]]", r"did you mean 'relu'"),
    ("[[dropout, {keep_prob: 0}]]", r"`keep_prob` must be in \(0, 1\]. Received: 0"),
    ("[[dropout, {keep_prob: 1.5}]]", r"`keep_prob` must be in \(0, 1\]"),
    ("[[loop, {repeat: 2}, 10, 10]]", r"loop takes exactly one child layer .*found 2"),
    ("[[max, {stride: 2}, 10]]", r"max takes no child layers"),
    ("[[parallel]]", r"parallel needs at least one child layer"),
    ("[[serial, [conv, {ksize: 3}]]]", r"layers\[0\] > serial\[0\] > conv: 'chn' is required"),
    ("[[add, [serial, 10, [conv, {ksize: 3}]]]]", r"layers\[0\] > add > serial\[1\] > conv: 'chn' is required"),
    ("[[add, 10, [conv, {ksize: 3}]]]", r"layers\[0\] > add\[1\] > conv: 'chn' is required"),
    ("[10, 3.5]", r"layers\[1\]: a layer must be a list like"),
    ("[[]]", r"an empty list is not a layer"),
    ("[10, conv]", r"layers\[1\]: conv needs options or child layers"),
    ("[['#n']]", r"'#n' is a macro placeholder, but it is not inside a macro body"),
    ("{a: 1}", r"`layers` must be a list of layer expressions"),
]


@pytest.mark.parametrize("layers,message", ERRORS)
def test_layer_errors(make_spec, layers, message):
    with pytest.raises(DslSyntaxError, match=message) as e:
        make_spec(BASE + f"layers: {layers}\n")
    assert "\n" not in str(e.value)


TOP_ERRORS = [
    ("input: [8, 8, 3]\noutput: {classes: 2}\nlayers: [10]\nname: 'bad name'\n", r"t.yaml:4: `name` must be"),
    ("name: t\ninput: [8, 8]\noutput: {classes: 2}\nlayers: [10]\n", r"t.yaml:2: `input` must be \[H, W, C\] or \[N\]"),
    ("name: t\ninput: [8, 8, 3]\noutput: {clases: 2}\nlayers: [10]\n", r"unknown `output` key 'clases' \(did you mean 'classes'\?\)"),
    ("name: t\ninput: [8, 8, 3]\noutput: {classes: 2, labels: [a]}\nlayers: [10]\n", r"`output.labels` has 1 names for 2 classes"),
    ("name: t\ninput: [8, 8, 3]\noutput: {classes: 2}\nlayer: [10]\n", r"t.yaml:4: unknown top-level key 'layer' \(did you mean 'layers'\?\)"),
    ("name: t\ninput: [8, 8, 3]\noutput: {classes: 2}\n", r"`layers` is required"),
    ("name: t\nname: u\n", r"t.yaml:2: the key 'name' appears twice"),
    ("42\n", r"a spec must be a mapping .* this file holds a int"),
    ("name: t\ninput: [8, 8, 3]\noutput: {classes: 2}\nlayers: [[conv, {ksize: 3, chn: 4]]\n",
     r"t.yaml:4: invalid YAML"),
]


@pytest.mark.parametrize("text,message", TOP_ERRORS)
def test_top_level_errors(make_spec, text, message):
    with pytest.raises(DslSyntaxError, match=message):
        make_spec(text)


def test_unquoted_placeholder_is_explained(make_spec):
    block = BASE + "macros:\n  m:\n    - conv\n    - {ksize: 3, chn: #n}\nlayers: [[custom, {name: m, args: {'#n': 4}}]]\n"
    with pytest.raises(DslSyntaxError, match=r"t.yaml:7: the placeholder #n is not quoted, so YAML reads it as a comment; write '#n'"):
        make_spec(block)
    block2 = BASE + "macros:\n  m:\n    - conv\n    - ksize: 3\n      chn: #n\nlayers: [[custom, {name: m, args: {'#n': 4}}]]\n"
    with pytest.raises(DslSyntaxError, match=r"t.yaml:8: .*placeholder #n is not quoted"):
        make_spec(block2)


def test_dollar_placeholder_is_a_synonym(make_spec):
    text = BASE + "macros:\n  m: [conv, {ksize: 3, chn: $n}]\nlayers: [[custom, {name: m, args: {$n: 5}}]]\n"
    conv = make_spec(text).layers.items[0].body
    assert conv.chn == 5


@pytest.mark.parametrize(("name", "message"), [
    ("'.'", r"t.yaml:1: `name` must not be only dots .*Received: '\.'"),
    ("'..'", r"`name` must not be only dots .*Received: '\.\.'"),
    ('"net\\n"', r"`name` must be letters, digits, _ \. - only. Received: 'net\\n'"),
    ("n" * 101, r"`name` must be at most 100 characters long. Received: 'nnnn"),
])
def test_spec_names_that_would_misname_a_run_folder_are_refused(make_spec, name, message):
    with pytest.raises(DslSyntaxError, match=message):
        make_spec(f"name: {name}\ninput: [8, 8, 3]\noutput: {{classes: 2}}\nlayers: [10]\n")


def test_spec_names_with_dots_inside_or_at_the_limit_are_fine(make_spec):
    for name in ("v1.2", ".hidden", "a..b", "n" * 100):
        assert make_spec(f"name: {name}\ninput: [4]\noutput: {{classes: 2}}\nlayers: [3]\n").name \
            == name

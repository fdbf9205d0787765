"""`analyze` warns about layers that do nothing and about one layer holding most parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnncompile.analysis.warnings import find_warnings
from cnncompile.cli import app
from cnncompile.frontend import load_spec
from cnncompile.ir import lower

ROOT = Path(__file__).resolve().parents[2]
# the classic designs whose first dense layer holds most of the model: true to the originals
DOMINATED = {"specs/ch9/vgg_19.yaml", "specs/classic/alexnet.yaml", "specs/torchvision/vgg16.yaml"}


def _warnings(make_graph, layers: str, input: str = "[8, 8, 3]") -> list[str]:
    return [str(w) for w in find_warnings(make_graph(layers, input=input))]


def test_bare_max_warns_naming_it_and_the_table_is_still_printed(write):
    spec = write("bare.yaml", """\
        name: bare
        input: [8, 8, 3]
        output: {classes: 2}
        layers:
          - [conv, {ksize: 3, chn: 4}]
          - max
        """)
    r = CliRunner().invoke(app, ["analyze", str(spec)])
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines() == [
        f"warning: {spec}:6: layers[1] > max: max with a 1x1 window and stride 1 passes its "
        "input through unchanged (the default when neither ksize nor stride is given); write "
        "e.g. [max, {stride: 2}]"]
    assert "\nmax " in r.stdout and "Trainable params:     626" in r.stdout


def test_strict_makes_warnings_errors(write):
    spec = write("bare.yaml", "name: bare\ninput: [8, 8, 3]\noutput: {classes: 2}\n"
                              "layers:\n  - [dropout]\n  - [dropout, {keep_prob: 0.5}]\n")
    r = CliRunner().invoke(app, ["analyze", str(spec), "--strict"])
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        f"warning: {spec}:5: layers[0] > dropout: dropout with keep_prob 1 keeps every value "
        "(the default); write e.g. [dropout, {keep_prob: 0.5}]",
        "error: --strict: 1 warning above, and --strict makes them errors"]
    fine = write("fine.yaml", "name: fine\ninput: [8, 8, 3]\noutput: {classes: 2}\n"
                              "layers: [[max, {stride: 2}]]\n")
    r = CliRunner().invoke(app, ["analyze", str(fine), "--strict"])
    assert r.exit_code == 0 and r.stderr == ""


@pytest.mark.parametrize("layers, expected", [
    ("[[avg]]", "layers[0] > avg: avg with a 1x1 window"),
    ("[avg]", "layers > avg: avg with a 1x1 window"),  # the wrapping rule: one layer
    ("[[max, {ksize: 1, stride: 2}]]", None),  # subsamples: does something
    ("[[max, {ksize: 3}]]", None),
    ("[[noise, {std: 0}]]", "layers[0] > noise: noise with std 0 and mean 0 adds nothing"),
    ("[[noise, {ratio: 0}]]", "layers[0] > noise: noise with ratio 0 adds nothing"),
    ("[[noise, {std: 0, mean: 2}]]", "noise with std 0 adds no randomness, only the constant 2"),
    ("[[noise, {std: 0.1}]]", None),
    ("[[loop, {repeat: 1}, [conv, {ksize: 3, chn: 2}]]]",
     "layers[0] > loop: loop with repeat 1 runs its body once"),
    ("[[loop, {repeat: 2}, [conv, {ksize: 3, chn: 2}]]]", None),
])
def test_inert_layers(make_graph, layers, expected):
    found = _warnings(make_graph, layers)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0]


def test_a_loop_of_one_inside_a_macro_is_an_argument_not_a_mistake(make_spec):
    spec = make_spec("""\
        name: m
        input: [8, 8, 3]
        output: {classes: 2}
        macros:
          block: [loop, {repeat: '#n'}, [conv, {ksize: 3, chn: 2}]]
        layers: [[custom, {name: block, args: {'#n': 1}}]]
        """)
    assert find_warnings(lower(spec)) == []


def test_one_dense_layer_holding_most_parameters(make_graph):
    # 16x16x16 = 4,096 features into 1,024 units: 4.19 M of about 4.2 M parameters
    found = _warnings(make_graph, "[[conv, {ksize: 3, chn: 16}], [full, {width: 1024}]]",
                      input="[16, 16, 3]")
    assert len(found) == 1
    assert "layers[1] > full: this one layer holds 4,195,328 of the model's" in found[0]
    # the same share below a million parameters is no concern
    assert _warnings(make_graph, "[[conv, {ksize: 3, chn: 16}], [full, {width: 64}]]",
                     input="[16, 16, 3]") == []
    # a wide output layer is named as the output
    found = _warnings(make_graph, "[[conv, {ksize: 3, chn: 16}]]", input="[16, 16, 3]")
    assert found == []
    g = make_graph("[[conv, {ksize: 3, chn: 16}]]", input="[32, 32, 3]",
                   output="{classes: 100}")
    assert [str(w) for w in find_warnings(g)] == [
        "output: the output layer holds 1,638,500 of the model's 1,638,948 parameters (100%); "
        "pool the features before it"]


def test_shipped_specs_warn_only_where_documented():
    specs = sorted(p for d in ("specs", "exported") for p in (ROOT / d).rglob("*.yaml")
                   if "lib" not in p.parts)
    assert len(specs) > 20
    warned = {str(p.relative_to(ROOT)) for p in specs if find_warnings(lower(load_spec(p)))}
    assert warned == DOMINATED

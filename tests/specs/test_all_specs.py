"""Every shipped spec loads, lowers and lints; libraries are only included; the textbook dump."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cnncompile.cli import app
from cnncompile.frontend import layers as L
from cnncompile.frontend import load_spec as _load_spec
from cnncompile.ir import lower

SPECS = Path(__file__).resolve().parents[2] / "specs"
LIBRARIES = sorted((SPECS / "lib").glob("*.yaml"))
MODELS = sorted(p for p in SPECS.rglob("*.yaml") if (SPECS / "lib") not in p.parents)


load_spec = functools.cache(_load_spec)


def rel(p: Path) -> str:
    return str(p.relative_to(SPECS))


def used_macros(layer: L.Layer) -> set[str]:
    out = {layer.name} if isinstance(layer, L.Custom) else set()
    for child in layer.children:
        out |= used_macros(child)
    return out


def test_the_collection_is_there():
    assert len(LIBRARIES) >= 2
    names = {rel(p) for p in MODELS}
    for expected in ("ch7/flowers_model_1.yaml", "ch8/flowers_cnn_4.yaml",
                     "ch9/residual_flower.yaml", "ch9/inception_v3.yaml",
                     "classic/alexnet.yaml", "torchvision/resnet50.yaml"):
        assert expected in names


@pytest.mark.parametrize("path", MODELS, ids=rel)
def test_every_spec_analyses(path):
    spec = load_spec(path)
    graph = lower(spec)
    graph.lint()
    assert graph.output_shape == (spec.output.width,)
    assert spec.description, "every shipped spec says what it is"


def test_spec_names_are_unique():
    names = [load_spec(p).name for p in MODELS]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


@pytest.mark.parametrize("path", LIBRARIES, ids=rel)
def test_libraries_hold_only_macros(path):
    doc = yaml.safe_load(path.read_text())
    assert doc["layers"] == []
    assert set(doc) <= {"name", "description", "macros", "layers"}
    assert doc["macros"]


def test_every_library_macro_is_used_by_a_shipped_spec():
    defined = set()
    for path in LIBRARIES:
        defined |= set(yaml.safe_load(path.read_text())["macros"])
    used = set()
    for path in MODELS:
        used |= used_macros(load_spec(path).layers)
    assert defined - used == set()


# -- spec-format section 6: the textbook's structure dump ---------------------------------------

SECTION_6_START = """\
custom residual_flower
  serial
    1: conv, (64, 64, 3)=>[32, 32, 16] pm:7x7x3x16+16=2368
    2: max, [32, 32, 16]=>[16, 16, 16]
    custom rfull
      serial
        loop
          custom rf
            add
              serial
                3: conv, [16, 16, 16]=>[16, 16, 16] pm:3x3x16x16+16=2320
""".splitlines()


def residual_flower_total() -> int:
    """Conv and full weights plus biases of residual_flower at 64x64x3 (batch norm left out)."""
    convs = [(7, 3, 16)] + [(3, 16, 16)] * 4 + [(3, 16, 32)] + [(3, 32, 32)] * 3 \
        + [(3, 32, 64)] + [(3, 64, 64)] * 3
    return sum(k * k * cin * cout + cout for k, cin, cout in convs) + 64 * 5 + 5


def test_textbook_dump_of_residual_flower():
    result = CliRunner().invoke(app, ["analyze", str(SPECS / "ch9/residual_flower.yaml"),
                                      "--format", "textbook"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[: len(SECTION_6_START)] == SECTION_6_START
    total = residual_flower_total()
    assert total == 173_637
    assert lines[-1] == f"Total parameter count: {total}"
    assert lines[-2] == "18: full, [1, 1, 64]=>[5] pm:64x5+5=325"
    # the pm: figures of the leaves add up to the printed total
    assert sum(int(m.group(1)) for m in map(re.compile(r"pm:\S+=(\d+)$").search, lines) if m) \
        == total

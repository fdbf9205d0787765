"""Shared fixtures: build specs and graphs from text; ``ox``, the export test helpers."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

from cnncompile.frontend import parse_spec
from cnncompile.ir import lower


def _spec(text: str, name: str = "t.yaml", path=None):
    return parse_spec(textwrap.dedent(text), name, path)


def _graph(layers: str, input: str = "[8, 8, 3]", output: str = "{classes: 2}"):
    text = f"name: t\ninput: {input}\noutput: {output}\nlayers: {layers}\n"
    g = lower(parse_spec(text, "t.yaml"))
    g.lint()
    return g


def load_export_helpers():
    """Import ``tests/backends/onnx/helpers.py`` once, as ``_onnx_export_tests_helpers``."""
    key = "_onnx_export_tests_helpers"
    if key not in sys.modules:
        path = Path(__file__).parent / "backends" / "onnx" / "helpers.py"
        spec = importlib.util.spec_from_file_location(key, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.fixture(scope="session")
def ox():
    """tests/backends/onnx/helpers.py: one-off specs, random parameters, exports."""
    return load_export_helpers()


@pytest.fixture
def make_spec():
    """make_spec(yaml_text) -> Spec (the text is dedented)."""
    return _spec


@pytest.fixture
def make_graph():
    """make_graph('[[conv, {ksize: 3, chn: 4}]]', input='[8, 8, 3]') -> linted Graph."""
    return _graph


@pytest.fixture
def write(tmp_path):
    """write('a.yaml', text) -> path, with the text dedented."""

    def _write(name: str, text: str):
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
        return p

    return _write

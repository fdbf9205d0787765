"""Export test fixtures: ``ox`` is helpers.py (one-off specs, random parameters, exports)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def load_helpers():
    """Import ``tests/onnx_export/helpers.py`` once, as ``_onnx_export_tests_helpers``."""
    key = "_onnx_export_tests_helpers"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).parent / "helpers.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.fixture(scope="session")
def ox():
    return load_helpers()

"""Pass tests: ``ph`` (the helpers in helpers.py) and ``spec_rel``, every spec in specs/."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _helpers():
    key = "_pass_tests_helpers"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name("helpers.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def pytest_generate_tests(metafunc):
    if "spec_rel" in metafunc.fixturenames:
        metafunc.parametrize("spec_rel", _helpers().ALL)


@pytest.fixture(scope="session")
def ph():
    return _helpers()

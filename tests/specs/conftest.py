"""Shared helpers for the shipped-spec tests: every spec is analysed once per session."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from cnncompile.analysis import Analysis, analyze_graph
from cnncompile.frontend import load_spec
from cnncompile.ir import lower

SPECS = Path(__file__).resolve().parents[2] / "specs"


@functools.cache
def _analysis(rel: str) -> Analysis:
    graph = lower(load_spec(SPECS / rel))
    graph.lint()
    return analyze_graph(graph)


@pytest.fixture
def analysed():
    """analysed('ch7/flowers_model_3.yaml') -> Analysis of the shipped spec (linted graph)."""
    return _analysis


def conv_macs(a: Analysis) -> int:
    """MACs of the conv nodes alone (spec-format section 9 states module costs this way)."""
    return sum(r.node.cost.macs for r in a.nodes if r.node.op == "conv")


@pytest.fixture
def conv_only_macs():
    return conv_macs

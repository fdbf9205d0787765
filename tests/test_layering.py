"""Layering: deployment and the ONNX backend never reach into training (issue 20).

Imports are read from the source (lazy ones inside functions included) and followed through
the package, so a module that imports one that imports ``cnncompile.train`` fails too.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

import cnncompile

PACKAGE = Path(cnncompile.__file__).parent
FORBIDDEN = "cnncompile.train"
# what must not depend on training: the deployment side of the pipeline
CHECKED = ["backends/onnx", "deploy", "runtime", "workflows/export.py", "workflows/quantize.py",
           "workflows/predict.py", "workflows/report.py"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _file_of(module: str) -> Path | None:
    base = PACKAGE.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """The absolute names of the cnncompile modules ``path`` imports, anywhere in the file."""
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    return _imports_in(path.read_text(), package)


def _imports_in(source: str, package: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if _file_of(f"{base}.{a.name}")}
    return {m for m in found if m == "cnncompile" or m.startswith("cnncompile.")}


@cache
def _reach(module: str) -> frozenset[str]:
    """Every cnncompile module ``module`` imports, directly or through others."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        path = _file_of(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        if name != "cnncompile":  # the root holds __version__ and, imported on first use only,
            todo += sorted(_imports(path))  # the user's API facade: no module here goes through it
    return frozenset(seen)


def _checked_files() -> list[Path]:
    files = []
    for entry in CHECKED:
        path = PACKAGE / entry
        files += sorted(path.glob("*.py")) if path.is_dir() else [path]
    return files


@pytest.mark.parametrize("path", _checked_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_deployment_imports_nothing_from_train(path):
    reached = _reach(_module_name(path))
    bad = sorted(m for m in reached if m == FORBIDDEN or m.startswith(FORBIDDEN + "."))
    assert not bad, f"{_module_name(path)} reaches {bad}"


def test_the_check_sees_relative_lazy_and_transitive_imports():
    """The rule itself: a lazy ``from ...train import x`` two packages down is caught, and
    so is training reached through another module."""
    lazy = "def f():\n    from ...train import loop\n"
    assert {"cnncompile.train", "cnncompile.train.loop"} <= _imports_in(lazy,
                                                                        "cnncompile.backends.onnx")
    assert "cnncompile.train" in _reach("cnncompile.cli.train")

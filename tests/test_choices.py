"""Every choice list is written once: training's in the option table, the others in
cnncompile/choices.py. A second copy of one, anywhere in the package, fails here."""

from __future__ import annotations

import ast
from pathlib import Path

from cnncompile import choices
from cnncompile.training_options import OPTIONS

ROOT = Path(__file__).resolve().parents[1]
HOMES = {"cnncompile/training_options.py", "cnncompile/choices.py"}


def _lists() -> dict[frozenset[str], str]:
    found = {frozenset(o.choices): f"training option {o.name!r}" for o in OPTIONS if o.choices}
    for name, value in vars(choices).items():
        if name.isupper() and isinstance(value, tuple):
            found.setdefault(frozenset(value), f"choices.{name}")
    return found


def test_no_module_but_a_home_writes_a_choice_list():
    lists = _lists()
    assert len(lists) >= 10  # the check has something to find
    found = []
    for path in sorted((ROOT / "cnncompile").rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        if where in HOMES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts and all(
                    isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                words = frozenset(e.value for e in node.elts)
                if words in lists:
                    found.append(f"{where}:{node.lineno}: {lists[words]}")
    assert found == []


def test_the_cli_offers_exactly_the_library_choices():
    from cnncompile.cli.deploy import Format, Mode
    from cnncompile.cli.export import Accelerator, Layout, Outputs

    for enum, values in ((Format, choices.QUANTIZE_FORMATS), (Mode, choices.QUANTIZE_MODES),
                         (Layout, choices.LAYOUTS), (Outputs, choices.HEAD_OUTPUTS),
                         (Accelerator, choices.ACCELERATORS)):
        assert tuple(e.value for e in enum) == values

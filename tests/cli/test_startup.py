"""`cnncompile analyze` starts fast: what its path imports, builds and parses.

The speed goal (ten times torchinfo on ResNet-152, benchmarks/analyze_speed.py) is kept here by
what can be checked without a clock: no heavy module on analyze's path, one command built, and
specs parsed by libyaml with the same values, lines and error wording as PyYAML's own loader.
"""

import json
import subprocess
import sys

import pytest
import yaml

from cnncompile.cli import COMMAND_MODULES, app, app_for
from cnncompile.errors import DslSyntaxError
from cnncompile.frontend import source

# Each costs tens to hundreds of milliseconds to import (measured: numpy 110 ms, onnx 270,
# onnxruntime 200, matplotlib 830, cnncompile.backends.numpy 330), or loads a shared library analyze
# never uses (_hashlib, OpenSSL). Their commands import them inside the command function.
HEAVY = ("numpy", "onnx", "onnxruntime", "torch", "matplotlib", "PIL", "_hashlib",
         "cnncompile.deploy", "cnncompile.report", "cnncompile.runtime", "cnncompile.train",
         "cnncompile.backends.numpy", "cnncompile.backends.onnx", "cnncompile.backends",
         "cnncompile.artifacts.images")

SPEC = """\
name: small
input: [32, 32, 3]
output: {classes: 10}
layers: [[conv, {ksize: 3, chn: 8}], [max, {stride: 2}], [full, {width: 16}]]
train: {epochs: 2, learning_rate: 0.01}
"""

RUN_AND_LIST = """
import json, sys
from cnncompile.cli import main
sys.argv = ["cnncompile", *sys.argv[1:]]
try:
    main()
finally:
    print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def imported_by(*args) -> set[str]:
    """The modules loaded by one run of the console entry point with ``args``."""
    r = subprocess.run([sys.executable, "-c", RUN_AND_LIST, *map(str, args)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return set(json.loads(r.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_analyze_imports_nothing_heavy(tmp_path, fmt):
    spec = tmp_path / "small.yaml"
    spec.write_text(SPEC)
    mods = imported_by("analyze", spec, "--format", fmt)
    assert {"cnncompile.analysis", "cnncompile.ir.lower"} <= mods  # the run did analyse
    loaded = sorted(m for m in mods for h in HEAVY if m == h or m.startswith(h + "."))
    assert loaded == []
    # nor the other commands' modules: a run imports only the one that registers its command
    assert sorted(m for m in mods if m.startswith("cnncompile.cli.")) == [
        "cnncompile.cli.analyze", "cnncompile.cli.app", "cnncompile.cli.common"]


def test_every_command_is_listed_with_its_module():
    registered = {c.name: c.callback.__module__ for c in app.registered_commands}
    assert registered == {name: f"cnncompile.cli.{m}" for name, m in COMMAND_MODULES.items()}


def test_main_builds_only_the_command_it_runs():
    names = [c.name for c in app.registered_commands]
    assert len(names) > 5 and "analyze" in names and "train" in names
    assert [c.name for c in app_for(["analyze", "x.yaml"]).registered_commands] == ["analyze"]
    assert [c.name for c in app_for(["--debug", "train", "--help"]).registered_commands] == [
        "train"]
    # anything but a plain command name keeps the whole app (group help, suggestions)
    for args in ([], ["--help"], ["--version"], ["analyse", "x.yaml"], ["-h", "analyze"]):
        assert app_for(args) is app
    assert len(app.registered_commands) == len(names)  # the app itself is left whole


def load_both(text, monkeypatch):
    """``load_yaml`` through libyaml, then through PyYAML's Python loader: value or error."""
    out = []
    for c_loader in (source._CSafeLoader, None):
        monkeypatch.setattr(source, "_CSafeLoader", c_loader)
        try:
            v = source.load_yaml(text, "t.yaml")
            out.append((v, locations(v)))
        except DslSyntaxError as e:
            out.append(str(e))
    return out


def locations(v):
    """Every location a loaded value carries, in order."""
    if isinstance(v, source.LList):
        return [str(v.loc), [str(v.item_loc(i)) for i in range(len(v))], [locations(x) for x in v]]
    if isinstance(v, source.LDict):
        return [str(v.loc), {k: str(v.value_loc(k)) for k in v}, {k: locations(x)
                                                              for k, x in v.items()}]
    return None


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
@pytest.mark.parametrize("text", [
    SPEC,
    "a: &x [1, 2]\nb: *x\nc: {<<: {d: 1}, e: 2.5}\nf: [yes, null, '#n', 0x10]\n",
    "[1, 2", "a: b: c\n", "\t- x\n", "a: 1\na: 2\n", "a: \x07\n", "a: [1, *nope]\n", "",
    "a: !!python/object:os.system x\n", "- [conv, {ksize: 3}\n",
])
def test_libyaml_and_python_loader_agree(text, monkeypatch):
    fast, python = load_both(text, monkeypatch)
    assert fast == python


def test_deep_nesting_is_an_error_not_a_crash():
    # libyaml would recurse past the C stack here; a long text goes to the Python loader
    depth = 40_000
    assert 2 * depth > source.C_LOADER_MAX_CHARS
    with pytest.raises(DslSyntaxError, match="nests too deeply"):
        source.load_yaml("a: " + "[" * depth + "]" * depth + "\n", "deep.yaml")

"""Command-line interface. Each module registers its commands on the shared Typer app.

Command modules import heavy libraries (numpy, onnx, onnxruntime, matplotlib) inside the
command functions, so that ``cnncompile analyze`` starts fast. For the same reason a run of
one command imports only the module that registers it (:data:`COMMAND_MODULES`) and builds
only that command; ``cnncompile.cli.app`` (the attribute) is the whole app, every command on it.
"""

import copy
import importlib
import sys

from .app import app as _app

# every module that registers commands, imported together for the whole app
MODULES = ("analyze", "convert", "deploy", "export", "report", "runtime", "samples",
           "train")
# command -> the module that registers it (tests/cli/test_startup.py checks the two agree); a
# command missing here still runs, through the whole app
COMMAND_MODULES = {
    "analyze": "analyze", "expand": "analyze", "convert": "convert", "quantize": "deploy",
    "export": "export", "report": "report", "predict": "runtime", "bench": "runtime",
    "train": "train", "evaluate": "train", "sample-data": "samples",
}

# `from .app import ...` bound the submodule here; the name `app` means the whole app instead,
# made (every module imported) on first use by __getattr__ below
del app  # noqa: F821  (bound by the import system, not by this file)


def _load(modules) -> None:
    for name in modules:
        importlib.import_module(f"{__name__}.{name}")


def __getattr__(name: str):
    if name == "app":
        _load(MODULES)
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def app_for(args: list[str]):
    """The app with only the command that ``args`` run, when they name one plainly.

    Importing every command module and building every command's click options (Typer builds
    them all before it runs any) is a third of `analyze`'s start; one run needs one command.
    Anything else -- no command, a group option other than --debug first, a misspelt or
    unlisted name -- gets the whole app, so the group's help, --version and its "no such
    command" line are unchanged.
    """
    rest = list(args)
    while rest and rest[0] == "--debug":
        rest.pop(0)
    module = COMMAND_MODULES.get(rest[0]) if rest else None
    _load([module] if module else MODULES)
    chosen = [c for c in _app.registered_commands if module and c.name == rest[0]]
    if not chosen:
        _load(MODULES)
        return _app
    one = copy.copy(_app)
    one.registered_commands = chosen
    return one


def main() -> None:
    app_for(sys.argv[1:])()


__all__ = ["app", "app_for", "main"]

"""Command-line interface. Each module registers its commands on the shared Typer app.

Command modules import heavy libraries (numpy, onnx, onnxruntime, matplotlib) inside the
command functions, so that ``cnncompile analyze`` starts fast.
"""

import copy
import sys

from . import analyze, convert, deploy, export, report, runtime, train  # noqa: F401  (they register commands)
from .app import app


def app_for(args: list[str]) -> "typer.Typer":  # noqa: F821  (typer is imported by .app)
    """The app with only the command that ``args`` runs, when they name one plainly.

    Typer builds every command's click options before it runs any (about 15 ms for all of
    them, a tenth of `analyze`'s start), and one run needs only its own command's. Anything
    else -- no command, a group option other than --debug first, a misspelt name -- gets the
    whole app, so the group's help, --version and its "no such command" line are unchanged.
    """
    rest = list(args)
    while rest and rest[0] == "--debug":
        rest.pop(0)
    chosen = [c for c in app.registered_commands if rest and c.name == rest[0]]
    if not chosen:
        return app
    one = copy.copy(app)
    one.registered_commands = chosen
    return one


def main() -> None:
    app_for(sys.argv[1:])()


__all__ = ["app", "app_for", "main"]

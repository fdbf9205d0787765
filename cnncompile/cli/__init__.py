"""Command-line interface. Each module registers its commands on the shared Typer app.

Command modules import heavy libraries (numpy, onnx, onnxruntime, matplotlib) inside the
command functions, so that ``cnncompile analyze`` starts fast.
"""

from . import analyze, convert, deploy, export, report, runtime, train  # noqa: F401  (they register commands)
from .app import app


def main() -> None:
    app()


__all__ = ["app", "main"]

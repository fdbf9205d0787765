"""Command-line interface. Each module registers its commands on the shared Typer app.

Command modules import heavy libraries (numpy, onnx, onnxruntime) inside the command
functions, so that ``cnncompile analyze`` starts fast.
"""

from . import analyze as _analyze  # noqa: F401  (registers commands)
from .app import app

for _name in ("convert", "train", "export", "runtime"):
    try:  # command groups land one by one; a missing module only hides its commands
        __import__(f"{__name__}.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"{__name__}.{_name}":
            raise


def main() -> None:
    app()


__all__ = ["app", "main"]

"""One exception tree for every mistake a user can make.

The CLI prints ``str(error)`` on one line and exits 2 for any :class:`CnnCompileError`;
anything else is a bug in cnncompile and exits 1.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a spec value came from: a file, a 1-based line, and the layer path."""

    file: str | None = None
    line: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        elif self.line:
            parts.append(f"line {self.line}")
        if self.path:
            parts.append(self.path)
        return ": ".join(parts)

    def at(self, path: str) -> Location:
        return Location(self.file, self.line, path)


class CnnCompileError(Exception):
    """A user's mistake: bad spec, bad data, bad checkpoint. Never a bug."""

    def __init__(self, message: str, location: Location | None = None):
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location and str(location) else message)


class DslSyntaxError(CnnCompileError):
    """The spec file cannot be read or does not follow the DSL's grammar."""


SpecError = DslSyntaxError


class ShapeError(CnnCompileError):
    """Shapes do not fit: a window larger than its input, a branch of another size, ..."""


class ExportError(CnnCompileError):
    """An export could not be made or failed its validity or parity checks."""


class DataError(CnnCompileError):
    """A data set, checkpoint or image could not be used."""


class ResourceError(CnnCompileError):
    """The machine cannot hold what was asked for (a batch, a model); says how much it needs."""


class OptionError(CnnCompileError, ValueError):
    """A training option's name or value is not one the option table accepts."""


class WorkerFailed(CnnCompileError):
    """A process of a multi-process training run ended or stopped answering; the message names
    it and how it ended (the run's last completed step is saved, as on Ctrl-C)."""

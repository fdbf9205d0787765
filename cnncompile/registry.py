"""A name -> definition table that refuses a second definition: every registry uses it.

IR ops (``ir.ops.OPS``), the DSL's layer kinds (``frontend.kinds.KINDS``) and each backend's
lowerings (``backends.registry.Lowerings``) are such tables. Defining one name twice is a bug
in cnncompile (two modules claim the same op), never a user's mistake, so it is a ValueError
at import time.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class Registry(dict[str, T]):
    """A dict filled through :meth:`add`, which refuses a name already there.

    >>> kinds = Registry("layer kind")
    >>> kinds.add("conv", 1)
    1
    >>> kinds.add("conv", 2)
    Traceback (most recent call last):
    ...
    ValueError: layer kind 'conv' registered twice
    """

    def __init__(self, what: str):
        super().__init__()
        self.what = what

    def add(self, name: str, definition: T) -> T:
        """Register ``definition`` under ``name``; returns it (decorators pass it on)."""
        if name in self:
            raise ValueError(f"{self.what} {name!r} registered twice")
        self[name] = definition
        return definition

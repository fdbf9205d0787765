"""One way for every backend to say how it computes each IR op: a :class:`Lowerings` table.

Each backend keeps one table (the NumPy engine's kernel classes, the torch backend's
functions, the ONNX emitters) and fills it with its ``register(op)`` decorator, one lowering
per op next to the code that computes it. The backend package imports its lowering modules
itself, so a caller never has to. ``tests/backends/test_op_coverage.py`` walks every op of
every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..ir.ops import OPS
from ..registry import Registry

T = TypeVar("T")


class MissingLowering(NotImplementedError):
    """A backend was asked for an op it has no lowering of."""


class Lowerings(Registry[T]):
    """A backend's lowerings by IR op name.

    >>> table = Lowerings("demo")
    >>> @table.register("flatten")
    ... def flatten(x):
    ...     return x
    >>> table.lookup("flatten") is flatten, table.missing()[:2]
    (True, ['act', 'add'])
    >>> table.lookup("conv")
    Traceback (most recent call last):
    ...
    cnncompile.backends.registry.MissingLowering: the demo backend has no lowering of IR op 'conv'
    """

    def __init__(self, backend: str):
        super().__init__(f"{backend} lowering of op")
        self.backend = backend

    def register(self, op: str) -> Callable[[T], T]:
        """Decorator: ``fn`` lowers IR op ``op``. An unknown op or a second lowering is a bug."""

        def deco(fn: T) -> T:
            if op not in OPS:
                raise ValueError(f"{self.backend} lowering of unknown IR op {op!r}")
            return self.add(op, fn)

        return deco

    def lookup(self, op: str) -> T:
        """The lowering of ``op``; :class:`MissingLowering` names the backend and the op."""
        try:
            return self[op]
        except KeyError:
            raise MissingLowering(f"the {self.backend} backend has no lowering of IR op {op!r}") from None

    def missing(self) -> list[str]:
        """The IR ops without a lowering here, sorted."""
        return sorted(set(OPS) - set(self))

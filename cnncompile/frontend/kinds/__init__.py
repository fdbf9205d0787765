"""The DSL's layer kinds, one module each, registered in :data:`KINDS` on import.

Adding a kind: a module here with its layer dataclass and one ``register(LayerKind(...))``,
imported below; its class re-exported from ``frontend/layers.py`` (the one module the rest of
the compiler reads layers through); its lowering to IR ops in ``ir/lower.py``; an example in
``tests/frontend/test_kinds.py`` (docs/architecture.md walks through it).
"""

from . import act, batch_normal, composite, conv, custom, dropout, full, noise, pool
from .base import KINDS, REQUIRED, Layer, LayerCall, LayerKind, kind_of, register, to_dsl

__all__ = ["KINDS", "REQUIRED", "Layer", "LayerCall", "LayerKind", "kind_of", "register",
           "to_dsl", "act", "batch_normal", "composite", "conv", "custom", "dropout", "full",
           "noise", "pool"]

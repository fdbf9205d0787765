"""``act``: an elementwise activation, one of :data:`ACTIVATIONS`.

relu, sigmoid, tanh, leaky_relu (slope :data:`LEAKY_SLOPE` below zero), elu (alpha 1:
``e^x - 1`` below zero), swish (``x * sigmoid(x)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import OpDef, register, same_shape

ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "elu", "swish")
LEAKY_SLOPE = 0.01


@dataclass(frozen=True)
class ActAttrs:
    func: str = "relu"  # one of ACTIVATIONS


ACT = register(OpDef("act", ActAttrs, same_shape, label=lambda a: a.func))

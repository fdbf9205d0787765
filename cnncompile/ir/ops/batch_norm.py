"""``batch_norm``: the textbook's batch normalisation and its defaults.

Training normalises by the batch mean and *biased* variance and moves the running statistics
by ``exp_ratio`` towards them: ``running += exp_ratio * (batch - running)``. Inference uses the
running statistics. ``rescale`` adds the trainable ``scale`` and ``shift``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .base import OpDef, ParamSpec, Shape, register, same_shape

BN_EPSILON = 1e-10  # the textbook's epsilon inside the square root
BN_EXP_RATIO = 0.001  # the textbook's rate of the running statistics


def exp_ratio_from_momentum(momentum: float) -> float:
    """The textbook's rate for a Keras/PyTorch-style ``momentum``: ``1 - momentum``.

    Computed on the decimal number as written, so the rate is what a reader expects
    (float subtraction gives 0.09999999999999998 for 0.9):

    >>> exp_ratio_from_momentum(0.9), exp_ratio_from_momentum(0.99), exp_ratio_from_momentum(0)
    (0.1, 0.01, 1.0)
    """
    return float(Decimal(1) - Decimal(repr(float(momentum))))


@dataclass(frozen=True)
class BatchNormAttrs:
    epsilon: float = BN_EPSILON
    exp_ratio: float = BN_EXP_RATIO  # running stat += exp_ratio * (batch stat - running stat)
    rescale: bool = True


def batch_norm_params(in_shapes: list[Shape], a: BatchNormAttrs) -> list[ParamSpec]:
    """scale and shift (when ``rescale``), then the running mean and variance, all ``[C]``."""
    c = (in_shapes[0][-1],)
    out = ([ParamSpec("scale", c, "scale", "C", start=1.0),
            ParamSpec("shift", c, "shift", "C", start=0.0)] if a.rescale else [])
    return out + [ParamSpec("mean", c, "mean", "C", start=0.0, trainable=False),
                  ParamSpec("var", c, "var", "C", start=1.0, trainable=False)]


BATCH_NORM = register(OpDef("batch_norm", BatchNormAttrs, same_shape, batch_norm_params,
                            label=lambda a: "bn"))

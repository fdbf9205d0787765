"""``noise``: at training, with probability ``ratio`` per batch, add N(mean, std) noise to
every value; the identity at inference."""

from __future__ import annotations

from dataclasses import dataclass

from .base import OpDef, register, same_shape


@dataclass(frozen=True)
class NoiseAttrs:
    mean: float = 0.0
    std: float = 1.0
    ratio: float = 1.0


NOISE = register(OpDef("noise", NoiseAttrs, same_shape))

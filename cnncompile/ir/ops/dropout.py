"""``dropout``: at training, keep each value with probability ``keep_prob`` and scale it by
``1 / keep_prob``; the identity at inference."""

from __future__ import annotations

from dataclasses import dataclass

from .base import OpDef, register, same_shape


@dataclass(frozen=True)
class DropoutAttrs:
    keep_prob: float = 1.0


DROPOUT = register(OpDef("dropout", DropoutAttrs, same_shape))

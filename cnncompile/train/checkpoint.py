"""Checkpoints of training runs: read and written by :mod:`cnncompile.artifacts.weights`.

The layout and the reading rules live there (one reader for every weights file); this module
keeps the trainer's names for them.
"""

from __future__ import annotations

from ..artifacts.weights import (
    CHECKPOINT,
    FORMAT,
    META_KEY,
    OPT_PREFIX,
    PERM_KEY,
    Checkpoint,
    check_fits,
    read_checkpoint,
    save_checkpoint,
)

__all__ = ["CHECKPOINT", "FORMAT", "META_KEY", "OPT_PREFIX", "PERM_KEY", "Checkpoint",
           "check_fits", "read_checkpoint", "save_checkpoint"]

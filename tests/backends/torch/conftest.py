"""Helpers of the torch backend's multi-process tests."""

from __future__ import annotations

import os
import time


def group_ends(pgid: int, seconds: float = 20.0) -> bool:
    """Whether every process of the session's group exits within ``seconds`` (polled: the
    event is the group's end; multiprocessing's resource tracker leaves a moment after the run,
    when its pipe closes)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False

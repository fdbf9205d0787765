"""What kind of file a path is: the one test behind every "is a FIFO, not a ..." line.

At the bottom of the package (like :mod:`cnncompile.errors`), so the spec front end and
:mod:`cnncompile.artifacts.files` share it; each raises its own error class with it. A FIFO
would block a reader and a device never ends, so only regular files are ever opened.
"""

from __future__ import annotations

import stat

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def special_kind(mode: int) -> str | None:
    """None for a regular file; else what it is, e.g. 'a folder' or 'a FIFO (named pipe)'.

    >>> import os
    >>> special_kind(os.stat(".").st_mode)
    'a folder'
    """
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")

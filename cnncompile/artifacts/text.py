"""Text from files shown safely: names that are not UTF-8 and control characters escaped.

File names are bytes on POSIX; Python hands undecodable bytes over as lone surrogates
(``surrogateescape``), which a strict UTF-8 standard output cannot print. Labels and names read
from a model or a folder may hold control characters (an escape sequence that clears the
terminal, a right-to-left override). Everything cnncompile prints from such a source goes
through :func:`printable`.
"""

from __future__ import annotations

import os


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object) -> str:
    """``text`` (a str, a path or bytes) with undecodable bytes and control characters escaped.

    >>> printable("ok.png")
    'ok.png'
    >>> printable(os.fsdecode(b"caf\\xe9.png"))
    'caf\\\\xe9.png'
    >>> printable("a\\x1b[2Jb")
    'a\\\\x1b[2Jb'
    """
    if isinstance(text, (bytes, os.PathLike)):
        raw = os.fsencode(text)
    else:
        try:
            raw = str(text).encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate that no file name produced
            raw = str(text).encode("utf-8", "backslashreplace")
    decoded = raw.decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else _escape(c) for c in decoded)

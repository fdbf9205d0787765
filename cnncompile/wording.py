"""Small helpers for the words of user-facing lines."""

from __future__ import annotations

import difflib


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and the noun that agrees with it.

    >>> plural(1, "epoch"), plural(3, "epoch"), plural(1, "class", "classes")
    ('1 epoch', '3 epochs', '1 class')
    >>> plural(2, "class", "classes"), plural(12000, "sample")
    ('2 classes', '12,000 samples')
    """
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


def closest(word: str, choices) -> str:
    """' (did you mean X?)' for the nearest valid names, or ''.

    >>> closest("cosin", ["constant", "cosine", "step"])
    " (did you mean 'cosine'?)"
    """
    scored = sorted(
        ((difflib.SequenceMatcher(None, str(word), str(c)).ratio(), str(c)) for c in choices),
        reverse=True,
    )
    near = [c for r, c in scored if r >= 0.6 and r >= scored[0][0] - 0.1][:3]
    if not near:
        return ""
    return " (did you mean " + " or ".join(repr(n) for n in near) + "?)"

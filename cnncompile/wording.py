"""Small helpers for the words of user-facing lines."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and the noun that agrees with it.

    >>> plural(1, "epoch"), plural(3, "epoch"), plural(1, "class", "classes")
    ('1 epoch', '3 epochs', '1 class')
    >>> plural(2, "class", "classes"), plural(12000, "sample")
    ('2 classes', '12,000 samples')
    """
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"

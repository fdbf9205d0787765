"""Option parsers of layer kinds, and the one function that checks an expression's options.

Each kind's schema (``frontend/kinds/``) pairs an option with one of these parsers and its
default. Numbers, integers, booleans and choices follow :mod:`cnncompile.values`, the rules the
training options use too; what is layer-only (per-axis pairs, padding, action strings) is here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import values
from ..errors import DslSyntaxError, Location
from ..values import ValueRefused
from ..wording import closest
from .source import hint_at

if TYPE_CHECKING:
    from .kinds.base import LayerKind

__all__ = ["REQUIRED", "Unfilled", "actions_string", "boolean", "check_filled", "choice", "closest",
           "number", "padding", "pair_of", "parse_options", "positive_int", "positive_pair"]


REQUIRED = object()  # a schema default: the option has none and must be written


class Unfilled(Exception):
    """A ``#placeholder`` reached a place where a value is needed."""

    def __init__(self, placeholder: str):
        self.placeholder = placeholder


def check_filled(value):
    """``value``, or :class:`Unfilled` when it is a macro placeholder (``'##x'`` is literal)."""
    if isinstance(value, str) and value.startswith("#") and not value.startswith("##"):
        raise Unfilled(value)
    return value


def positive_int(value) -> int:
    return values.integer(value, low=1)


def non_negative_int(value) -> int:
    return values.integer(value, low=0)


boolean = values.boolean


def number(low: float, high: float, low_open=False, high_open=False) -> Callable[[Any], float]:
    """A parser of finite numbers in the range (see :func:`cnncompile.values.number`)."""

    def parse(value) -> float:
        return values.number(value, low, high, low_open, high_open)

    return parse


def choice(*names: str) -> Callable[[Any], str]:
    def parse(value) -> str:
        return values.choice(value, names)

    return parse


def pair_of(check: Callable[[Any], int], what: str) -> Callable[[Any], tuple[int, int]]:
    def parse(value) -> tuple[int, int]:
        if isinstance(value, list):
            if len(value) != 2:
                raise ValueRefused(f"{what} or a list of two", value)
            return (check(check_filled(value[0])), check(check_filled(value[1])))
        v = check(value)
        return (v, v)

    return parse


positive_pair = pair_of(positive_int, "a positive integer")


PADDING_NAMES = ("SAME", "VALID")


def padding(value) -> tuple:
    """'SAME' | 'VALID' (any case) | p | [ph, pw] -> a per-axis pair."""
    if isinstance(value, str):
        upper = value.upper()
        if upper in PADDING_NAMES:
            return (upper, upper)
        raise ValueRefused("'SAME', 'VALID' or an integer", value, closest(upper, PADDING_NAMES))
    return pair_of(non_negative_int, "'SAME', 'VALID', a non-negative integer")(value)


def actions_string(allowed: str, need_l: bool) -> Callable[[Any], str]:
    def parse(value) -> str:
        if not isinstance(value, str) or any(ch not in allowed for ch in value):
            raise ValueRefused(f"a string of the letters {', '.join(allowed)}", value)
        if need_l and value.count("L") != 1:
            raise ValueRefused("a string with exactly one L (the convolution)", value)
        if len(value) > 8:
            raise ValueRefused("at most 8 actions", value)
        return value

    return parse


def parse_options(kind: LayerKind, options: dict, where: Location, value_loc) -> dict:
    """Validated options for ``kind`` with defaults filled in; raises located DslSyntaxError.

    ``value_loc(key)`` gives the location of the value under ``key`` (for the line number).
    Raises :class:`Unfilled` for a ``#placeholder`` so that the caller can name the macro chain.
    """
    schema = kind.schema
    for key in options:
        if key not in schema:
            valid = ", ".join(schema) or "none"
            raise DslSyntaxError(
                f"unknown option {key!r}{closest(key, schema)}; {kind.name} takes: {valid}",
                value_loc(key).at(where.path),
            )
    out = {}
    for key, (parse, default) in schema.items():
        if key not in options:
            if default is REQUIRED:
                raise DslSyntaxError(f"{key!r} is required", where)
            out[key] = default if default is None else parse(default)
            continue
        value = options[key]
        if value is None and hint_at(value_loc(key)):
            raise DslSyntaxError(hint_at(value_loc(key)), value_loc(key).at(where.path))
        if not kind.raw_options:
            check_filled(value)
        try:
            out[key] = parse(value)
        except ValueError as e:
            raise DslSyntaxError(f"`{key}` {e}", value_loc(key).at(where.path)) from None
    return out

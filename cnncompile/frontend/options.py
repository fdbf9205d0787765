"""Per-kind option schemas: the textbook's defaults, types and ranges, checked in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import DslSyntaxError, Location
from ..ir.ops import exp_ratio_from_momentum
from ..wording import closest
from .layers import ACTFUNCS
from .source import hint_at


class Unfilled(Exception):
    """A ``#placeholder`` reached a place where a value is needed."""

    def __init__(self, placeholder: str):
        self.placeholder = placeholder


def _check_filled(value):
    if isinstance(value, str) and value.startswith("#") and not value.startswith("##"):
        raise Unfilled(value)
    return value


def _bad(what: str, value) -> ValueError:
    return ValueError(f"must be {what}. Received: {value!r}")


def positive_int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad("a positive integer", value)
    return value


def non_negative_int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad("a non-negative integer", value)
    return value


def pair_of(check: Callable[[Any], int], what: str) -> Callable[[Any], tuple[int, int]]:
    def parse(value) -> tuple[int, int]:
        if isinstance(value, list):
            if len(value) != 2:
                raise _bad(f"{what} or a list of two", value)
            return (check(_check_filled(value[0])), check(_check_filled(value[1])))
        v = check(value)
        return (v, v)

    return parse


positive_pair = pair_of(positive_int, "a positive integer")


def padding(value) -> tuple:
    """'SAME' | 'VALID' (any case) | p | [ph, pw] -> a per-axis pair."""
    if isinstance(value, str):
        upper = value.upper()
        if upper in ("SAME", "VALID"):
            return (upper, upper)
        raise ValueError(
            f"must be 'SAME', 'VALID' or an integer{closest(upper, ['SAME', 'VALID'])}. "
            f"Received: {value!r}"
        )
    return pair_of(non_negative_int, "'SAME', 'VALID', a non-negative integer")(value)


def boolean(value) -> bool:
    if not isinstance(value, bool):
        raise _bad("true or false", value)
    return value


def number(low: float, high: float, low_open=False, high_open=False) -> Callable[[Any], float]:
    def parse(value) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad("a number", value)
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
        if not ok:
            lo = "(" if low_open else "["
            hi = ")" if high_open else "]"
            raise _bad(f"in {lo}{low}, {high}{hi}", value)
        return float(value)

    return parse


def choice(*names: str) -> Callable[[Any], str]:
    def parse(value) -> str:
        if not isinstance(value, str) or value not in names:
            raise ValueError(
                f"must be one of {', '.join(names)}{closest(value, names)}. Received: {value!r}"
            )
        return value

    return parse


def actions_string(allowed: str, need_l: bool) -> Callable[[Any], str]:
    def parse(value) -> str:
        if not isinstance(value, str) or any(ch not in allowed for ch in value):
            raise _bad(f"a string of the letters {', '.join(allowed)}", value)
        if need_l and value.count("L") != 1:
            raise _bad("a string with exactly one L (the convolution)", value)
        if len(value) > 8:
            raise _bad("at most 8 actions", value)
        return value

    return parse


def bn_options(value) -> dict:
    """The batch-norm options of a `B` action (ext): ``{exp_ratio, epsilon}`` or ``momentum``.

    Returns both keys filled (the textbook's 0.001 and 1e-10 for the ones left out).
    """
    if not isinstance(value, dict):
        raise _bad("a mapping such as {exp_ratio: 0.1, epsilon: 1e-5}", value)
    fields = {"exp_ratio": number(0, 1), "epsilon": number(0, 1, low_open=True),
              "momentum": number(0, 1)}
    out = {"exp_ratio": 0.001, "epsilon": 1e-10}
    for key, v in value.items():
        if key not in fields:
            raise ValueError(f"has an unknown key {key!r}{closest(key, fields)}; it takes: "
                             f"{', '.join(fields)}")
        try:
            out[key] = fields[key](_check_filled(v))
        except ValueError as e:
            raise ValueError(f"key `{key}` {e}") from None
    if "momentum" in out:
        if "exp_ratio" in value:
            raise ValueError("takes `momentum` or `exp_ratio`, not both")
        out["exp_ratio"] = exp_ratio_from_momentum(out.pop("momentum"))
    return out


REQUIRED = object()
inf = float("inf")

# kind -> option -> (parser, default). REQUIRED marks options without a default.
SCHEMAS: dict[str, dict[str, tuple[Callable, Any]]] = {
    "full": {
        "width": (positive_int, REQUIRED),
        "actfunc": (choice(*ACTFUNCS), "relu"),
        "bias": (boolean, True),
    },
    "conv": {
        "ksize": (positive_pair, REQUIRED),
        "chn": (positive_int, REQUIRED),
        "stride": (positive_pair, 1),
        "padding": (padding, "SAME"),
        "actfunc": (choice(*ACTFUNCS), "relu"),
        "actions": (actions_string("LAB", need_l=True), "LA"),
        "bias": (boolean, True),
        "groups": (positive_int, 1),
        "bn": (bn_options, None),
    },
    "max": {
        "stride": (positive_pair, 1),
        "ksize": (positive_pair, None),
        "padding": (padding, "SAME"),
    },
    "avg": {
        "stride": (positive_pair, 1),
        "ksize": (positive_pair, None),
        "padding": (padding, "SAME"),
        "count_pad": (boolean, True),
    },
    "dropout": {"keep_prob": (number(0, 1, low_open=True), 1.0)},
    "noise": {
        "type": (choice("normal"), "normal"),
        "mean": (number(-inf, inf), 0.0),
        "std": (number(0, inf), 1.0),
        "ratio": (number(0, 1), 1.0),
    },
    "batch_normal": {
        "rescale": (boolean, True),
        "epsilon": (number(0, 1, low_open=True), 1e-10),
        "exp_ratio": (number(0, 1), 0.001),
        "momentum": (number(0, 1), None),
    },
    "act": {"actfunc": (choice(*ACTFUNCS), "relu")},
    "serial": {},
    "parallel": {},
    "loop": {"repeat": (positive_int, 1)},
    "add": {
        "x": (boolean, True),
        "actions": (actions_string("AB", need_l=False), ""),
        "actfunc": (choice(*ACTFUNCS), "relu"),
        "bn": (bn_options, None),
    },
    "custom": {"name": (lambda v: v, REQUIRED), "args": (lambda v: v, None)},
}

KINDS = tuple(SCHEMAS)


def parse_options(kind: str, options: dict, where: Location, value_loc) -> dict:
    """Validated options for ``kind`` with defaults filled in; raises located DslSyntaxError.

    ``value_loc(key)`` gives the location of the value under ``key`` (for the line number).
    Raises :class:`Unfilled` for a ``#placeholder`` so that the caller can name the macro chain.
    """
    schema = SCHEMAS[kind]
    for key in options:
        if key not in schema:
            valid = ", ".join(schema) or "none"
            raise DslSyntaxError(
                f"unknown option {key!r}{closest(key, schema)}; {kind} takes: {valid}",
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
        if kind != "custom":
            _check_filled(value)
        try:
            out[key] = parse(value)
        except ValueError as e:
            raise DslSyntaxError(f"`{key}` {e}", value_loc(key).at(where.path)) from None
    return out

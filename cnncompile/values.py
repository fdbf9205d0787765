"""The one reader of option values: YAML 1.2 scalars, numbers in ranges, booleans, choices.

Layer options (``frontend/options.py``), the spec's `train:` section and the `cnncompile train`
flags (``training_options.py``) all read values here, so a value means the same wherever it is
written. Scalars follow the YAML 1.2 core schema, not PyYAML's default YAML 1.1:

>>> [scalar(t) for t in ("1e-5", ".5", "1E3", "-1.5e+3", "010", "0o10", "0x10")]
[1e-05, 0.5, 1000.0, -1500.0, 10, 8, 16]
>>> [scalar(t) for t in ("true", "False", "yes", "off", "~", "")]
[True, False, 'yes', 'off', None, None]

Each check returns the canonical value or raises :class:`ValueRefused`, whose text is the rule
and the received value (``must be a positive integer. Received: 0``); callers put the option's
name and location in front.

This module sits below ``frontend/`` and ``train/`` and imports nothing from either.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import yaml

from .wording import closest

# -- YAML 1.2 core schema -------------------------------------------------------------------

_CORE_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float")}
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


_RESOLVERS = (
    ("tag:yaml.org,2002:null", _NULL_RE, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", _BOOL_RE, list("tTfF")),
    ("tag:yaml.org,2002:int", _INT_RE, list("-+0123456789")),
    ("tag:yaml.org,2002:float", _FLOAT_RE, list("-+.0123456789")),
)


MAX_INT_DIGITS = 30  # far past any size a model or option can use; Python refuses past 4,300


class NumberTooLong(yaml.constructor.ConstructorError):
    """An integer literal longer than ``MAX_INT_DIGITS``: refused before it is converted."""


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    digits = len(text.lstrip("+-"))
    if digits > MAX_INT_DIGITS:
        raise NumberTooLong(None, None, f"the integer {shown(text)} is too long; numbers may "
                            f"have at most {MAX_INT_DIGITS} digits", node.start_mark)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # `010` is ten: YAML 1.2 has no leading-zero octal


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = loader.construct_scalar(node).lower()
    if text.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    if text == ".nan":
        return math.nan
    return float(text)


def use_core_schema(cls: type) -> type:
    """``cls`` (a PyYAML Loader or Dumper class) resolving plain scalars by the YAML 1.2 core
    schema; a dumper then quotes exactly the strings a YAML 1.2 reader would take for numbers.

    PyYAML's resolvers are YAML 1.1's: `1e-5` (no dot) is a string, `010` is octal 8 and
    `yes`/`on` are booleans. The 1.1 null, bool, int and float rules are replaced; merge keys
    and timestamps stay as they are.
    """
    cls.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in rules if tag not in _CORE_TAGS]
        for first, rules in cls.yaml_implicit_resolvers.items()
    }
    for tag, regexp, first in _RESOLVERS:
        cls.add_implicit_resolver(tag, regexp, first)
    return cls


def _core_loader(loader: type) -> type:
    """``loader`` reading the core schema's scalars: resolvers, and ints and floats built by
    1.2's rules (PyYAML's own constructors read `010` as octal)."""
    use_core_schema(loader)
    loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
    return loader


@_core_loader
class CoreSchemaLoader(yaml.SafeLoader):
    """PyYAML's safe loader (pure Python) with YAML 1.2 core-schema scalars."""


_CSafeLoader = getattr(yaml, "CSafeLoader", None)  # absent when PyYAML was built without libyaml
CCoreSchemaLoader: type | None = (
    _core_loader(type("CCoreSchemaLoader", (_CSafeLoader,), {})) if _CSafeLoader else None
)


def scalar(text: str) -> Any:
    """``text`` as a spec file reads a value: ``3`` -> 3, ``1e-3`` -> 0.001, ``'4'`` -> '4'.

    Text that YAML reads as a list or a mapping (or cannot read) stays the text itself; an empty
    text is null, as an empty value in the spec is.
    """
    try:
        value = yaml.load(text, Loader=CCoreSchemaLoader or CoreSchemaLoader)  # safe: SafeLoader
    except yaml.YAMLError:
        return text
    return text if isinstance(value, (list, dict)) else value


# -- checks ---------------------------------------------------------------------------------


def shown(value: Any, limit: int = 40) -> str:
    """``repr(value)``, or its start and its length when it is long (a 5000-digit integer).

    >>> shown(7), shown("9" * 5000)
    ('7', "'99999999999999999999999999999999999999...' (5,000 characters)")
    """
    if isinstance(value, int) and not isinstance(value, bool) \
            and abs(value).bit_length() > 4 * limit:
        return f"an integer of about {abs(value).bit_length() * 0.30103:,.0f} digits"
    text = repr(value)
    if len(text) <= limit:
        return text
    length = len(value) if isinstance(value, str) else len(text)
    return f"{text[:limit - 1]}...{text[0] if isinstance(value, str) else ''} ({length:,} characters)"


class ValueRefused(ValueError):
    """A value its rule refuses: ``must be EXPECTED[HINT]. Received: VALUE``."""

    def __init__(self, expected: str, value: Any, hint: str = ""):
        self.expected, self.value, self.hint = expected, value, hint
        super().__init__(f"must be {expected}{hint}. Received: {shown(value)}")


def number_text(x: float) -> str:
    """A number as a user writes it: 0.0 -> '0', 1e-05 -> '1e-05', 10 -> '10'."""
    return f"{x:g}" if isinstance(x, float) else str(x)


def range_text(kind: type, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> str:
    """The accepted numbers in words.

    >>> range_text(int, 1), range_text(float, 0, 1, low_open=True), range_text(float, 0.0)
    ('a positive integer', 'in (0, 1]', 'a number >= 0')
    """
    if kind is int and high is None and not low_open and low in (0, 1):
        return "a positive integer" if low == 1 else "a non-negative integer"
    noun = "an integer" if kind is int else "a number"
    if low is None and high is None:
        return noun
    if high is None:
        return f"{noun} {'>' if low_open else '>='} {number_text(low)}"
    if low is None:
        return f"{noun} {'<' if high_open else '<='} {number_text(high)}"
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"
    return f"in {lo}{number_text(low)}, {number_text(high)}{hi}"


def _in_range(value: float, low, high, low_open: bool, high_open: bool) -> bool:
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value < high if high_open else value <= high)
    return above and below


def integer(value: Any, low: int | None = None, high: int | None = None) -> int:
    """An int (not a bool) in [low, high].

    >>> integer(3, low=1)
    3
    >>> integer(0, low=1)
    Traceback (most recent call last):
    ...
    cnncompile.values.ValueRefused: must be a positive integer. Received: 0
    """
    if isinstance(value, bool) or not isinstance(value, int) \
            or not _in_range(value, low, high, False, False):
        raise ValueRefused(range_text(int, low, high), value)
    return value


def number(value: Any, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> float:
    """A finite int or float (not a bool) in the range, as a float.

    >>> number(1e-5, 0, 1, low_open=True)
    1e-05
    >>> number("1e-5", 0, 1)
    Traceback (most recent call last):
    ...
    cnncompile.values.ValueRefused: must be a number. Received: '1e-5'
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueRefused("a number", value)
    if not math.isfinite(value) or not _in_range(value, low, high, low_open, high_open):
        raise ValueRefused(range_text(float, low, high, low_open, high_open), value)
    return float(value)


BOOL_WORDS = {"on": True, "off": False}


def boolean(value: Any, expected: str = "true or false") -> bool:
    """YAML's true or false, or the words on and off in any case (the flags' spelling).

    ``expected`` words the rule in the caller's terms.
    """
    if isinstance(value, str) and value.lower() in BOOL_WORDS:
        return BOOL_WORDS[value.lower()]
    if not isinstance(value, bool):
        raise ValueRefused(expected, value)
    return value


def choice(value: Any, names: Sequence[str]) -> str:
    """One of ``names``; a near miss is named in the refusal.

    >>> choice("cosin", ("constant", "cosine"))
    Traceback (most recent call last):
    ...
    cnncompile.values.ValueRefused: must be one of constant, cosine (did you mean 'cosine'?). Received: 'cosin'
    """
    if not isinstance(value, str) or value not in names:
        raise ValueRefused("one of " + ", ".join(names), value, closest(value, names))
    return value

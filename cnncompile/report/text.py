"""Values from files written for people: plain words, units and rounding, never Python's repr.

Every function returns plain text; the page escapes it where it lands.
"""

from __future__ import annotations

import json
import math
import re
from numbers import Real

# keys whose numbers are fractions of one, shown as percentages
_FRACTION_KEYS = ("accuracy", "acc", "precision", "recall", "f1")
_SECONDS_KEYS = ("elapsed", "seconds")


def key_text(key) -> str:
    """A record's key as words: ``batch_size`` -> 'batch size'."""
    return str(key).replace("_", " ")


def number_text(v: Real) -> str:
    """A number rounded for reading: 1,234, 0.001, 5.02, 1.2e+308; NaN and infinity as words."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if math.isnan(v):
        return "not a number"
    if math.isinf(v):
        return "infinite" if v > 0 else "minus infinite"
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:.4g}"


def percent_text(v) -> str:
    """A fraction of one as a percentage: 0.9333 -> '93.33%'."""
    if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v):
        return value_text(v)
    return f"{100 * v:.2f}%"


def seconds_text(v) -> str:
    """A duration: '5.02 s', '3 min 20 s', '2 h 05 min'."""
    if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v):
        return value_text(v)
    if v < 60:
        return f"{v:.3g} s"
    if v < 3600:
        return f"{int(v // 60)} min {int(v % 60):02d} s"
    return f"{int(v // 3600)} h {int(v % 3600 // 60):02d} min"


def value_text(v, key: str = "") -> str:
    """Any recorded value as words; ``key`` (the record's name for it) chooses the unit.

    >>> value_text(True), value_text(None), value_text({"output": 0.93333}, "accuracy")
    ('yes', 'none', 'output 93.33%')
    >>> value_text(5.02313, "elapsed"), value_text([32, 32, 3])
    ('5.02 s', '32, 32, 3')
    """
    if v is None:
        return "none"
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return "; ".join(f"{key_text(k)} {value_text(x, key if _unit_of(key) else k)}"
                         for k, x in v.items()) or "none"
    if isinstance(v, (list, tuple)):
        return ", ".join(value_text(x, key) for x in v) or "none"
    if isinstance(v, Real):
        unit = "" if isinstance(v, bool) else _unit_of(key)
        if unit == "percent":
            return percent_text(v)
        if unit == "seconds":
            return seconds_text(v)
        return number_text(v)
    return str(v)


def _unit_of(key) -> str:
    """'percent' or 'seconds' when a word of ``key`` says so ('val_acc', 'accuracy output')."""
    words = set(re.split(r"[\W_]+", str(key).lower()))
    if words & set(_FRACTION_KEYS):
        return "percent"
    if words & set(_SECONDS_KEYS):
        return "seconds"
    return ""


def metadata_value_text(v: str, key: str = "") -> str:
    """An ONNX metadata value (a string, structured ones JSON) as words."""
    try:
        parsed = json.loads(v)
    except (TypeError, ValueError):
        return str(v)
    return value_text(parsed, key) if isinstance(parsed, (dict, list)) else str(v)

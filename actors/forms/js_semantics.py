"""JavaScript value semantics that Form.io's rules lean on, for JSON values decoded by Python.

Form.io decides truthiness, string conversion and equality the JavaScript way (and through lodash); a Python
`bool()` or `==` disagrees on `[]`, `{}`, `True == 1` and `1.0` printed as `"1.0"`. `MISSING` stands for
JavaScript's `undefined` (a key absent from the submission), which Form.io tells apart from `null` in a few places.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

_LEADING_INT = re.compile(r"\s*([+-]?\d+)")
_LEADING_FLOAT = re.compile(r"\s*([+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Infinity))")


def is_number(value: Any) -> bool:
    """lodash `isNumber`: a JSON number, never a boolean (Python's bool is an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def truthy(value: Any) -> bool:
    """JavaScript `!!value`: empty arrays and objects are true, NaN is false."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return not (math.isnan(value) or value == 0)
    if isinstance(value, int | str):
        return bool(value)
    return True


def number_to_string(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def to_string(value: Any) -> str:
    """JavaScript `String(value)`."""
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number_to_string(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join("" if item is None or item is MISSING else to_string(item) for item in value)
    return "[object Object]"


def lodash_to_string(value: Any) -> str:
    """lodash `toString`: like `String()`, except that null and undefined become the empty string."""
    return "" if value is None or value is MISSING else to_string(value)


def to_number(value: Any) -> float:
    """JavaScript `Number(value)`, as the relational operators coerce their operands."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if value is None:
        return 0.0
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            return float(text) if text.lower() not in {"inf", "-inf", "+inf", "infinity", "nan"} else math.nan
        except ValueError:
            return math.nan
    if isinstance(value, list):
        return to_number(to_string(value))
    return math.nan


def parse_int(value: Any) -> float:
    """JavaScript `parseInt(value, 10)` for a setting; NaN when it does not start with digits."""
    if is_number(value):
        return float(math.trunc(value)) if math.isfinite(value) else math.nan
    match = _LEADING_INT.match(lodash_to_string(value))
    return float(match.group(1)) if match else math.nan


def parse_float(value: Any) -> float:
    """JavaScript `parseFloat(value)`; NaN when it does not start with a number."""
    if is_number(value):
        return float(value)
    match = _LEADING_FLOAT.match(lodash_to_string(value))
    if not match:
        return math.nan
    text = match.group(1)
    return math.copysign(math.inf, -1 if text.startswith("-") else 1) if text.endswith("Infinity") else float(text)


def typeof(value: Any) -> str:
    if value is MISSING:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def deep_equal(a: Any, b: Any) -> bool:
    """lodash `isEqual`: structural, NaN equals NaN, but `true` is not `1`."""
    if is_number(a) and is_number(b):
        return bool(a == b or (math.isnan(a) and math.isnan(b)))
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(deep_equal(a[key], b[key]) for key in a)
    if a is MISSING or b is MISSING:
        return a is b
    return type(a) is type(b) and bool(a == b)


def utf16_length(text: str) -> int:
    """JavaScript `string.length` counts UTF-16 code units: an emoji is two, a Greek letter one."""
    return len(text.encode("utf-16-le")) // 2

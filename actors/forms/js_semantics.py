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

# JavaScript's WhiteSpace and LineTerminator: what `trim`, `\s` and the number conversions skip. Python's `str.strip`
# and `str.split` differ: they also take \x1c-\x1f and \x85, and keep U+FEFF
JS_WHITESPACE: Final = (
    "\t\n\v\f\r \xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_SPACE_RUN = re.compile(f"[{JS_WHITESPACE}]+")
_LEADING_INT = re.compile(r"([+-]?[0-9]+)")
_LEADING_FLOAT = re.compile(r"([+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?))")
# StringToNumber: the whole (trimmed) string must be one of these
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_NON_DECIMAL = re.compile(r"0(?:[xX]([0-9a-fA-F]+)|[oO]([0-7]+)|[bB]([01]+))")


def js_trim(text: str) -> str:
    """`String.prototype.trim`."""
    return text.strip(JS_WHITESPACE)


def js_words(text: str) -> list[str]:
    r"""`text.trim().split(/\s+/)`: a blank text is one empty word."""
    return _JS_SPACE_RUN.split(js_trim(text))


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
    """lodash `toString`: null and undefined become the empty string, anything else `base_to_string`."""
    return "" if value is None or value is MISSING else base_to_string(value)


def base_to_string(value: Any) -> str:
    """lodash `baseToString`, what `startsWith` makes of its target: `value + ''`, except that an array's items are
    converted one by one (so null in an array is "null", not "") and -0 is "-0"."""
    if isinstance(value, list):
        return ",".join(base_to_string(item) for item in value)
    if is_number(value) and value == 0 and math.copysign(1, value) < 0:
        return "-0"
    return to_string(value)


def to_number(value: Any) -> float:
    """JavaScript `Number(value)`, as the relational operators coerce their operands."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if value is None:
        return 0.0
    if isinstance(value, str):
        return _string_to_number(value)
    if isinstance(value, list):
        return to_number(to_string(value))
    return math.nan


def _string_to_number(value: str) -> float:
    text = js_trim(value)
    if not text:
        return 0.0
    if _DECIMAL.fullmatch(text):
        return _decimal(text)
    radix = _NON_DECIMAL.fullmatch(text)
    if radix is None:
        return math.nan
    hexadecimal, octal, binary = radix.groups()
    digits, base = (hexadecimal, 16) if hexadecimal else (octal, 8) if octal else (binary, 2)
    return float(int(digits, base))


def _decimal(text: str) -> float:
    if text.endswith("Infinity"):
        return -math.inf if text.startswith("-") else math.inf
    return float(text)


def parse_int(value: Any) -> float:
    """JavaScript `parseInt(value, 10)` for a setting; NaN when it does not start with digits."""
    if is_number(value):
        return float(math.trunc(value)) if math.isfinite(value) else math.nan
    match = _LEADING_INT.match(lodash_to_string(value).lstrip(JS_WHITESPACE))
    return float(match.group(1)) if match else math.nan


def parse_float(value: Any) -> float:
    """JavaScript `parseFloat(value)`; NaN when it does not start with a number."""
    if is_number(value):
        return float(value)
    match = _LEADING_FLOAT.match(lodash_to_string(value).lstrip(JS_WHITESPACE))
    return _decimal(match.group(1)) if match else math.nan


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
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def to_primitive(value: Any) -> Any:
    """ToPrimitive for a JSON value: an array or object becomes its string (JSON values have no `valueOf`)."""
    return to_string(value) if isinstance(value, list | dict) else value


def strict_equal(a: Any, b: Any) -> bool:
    """JavaScript `===`: arrays and objects are equal only to themselves; NaN to nothing."""
    if typeof(a) != typeof(b) or (a is None) != (b is None):
        return False
    if isinstance(a, list | dict):
        return a is b
    return bool(a == b)


def loose_equal(a: Any, b: Any) -> bool:
    """JavaScript `==` (IsLooselyEqual), for JSON values and `MISSING`."""
    nullish_a, nullish_b = a is None or a is MISSING, b is None or b is MISSING
    if nullish_a or nullish_b:
        return nullish_a and nullish_b
    if typeof(a) == typeof(b):
        return strict_equal(a, b)
    if isinstance(a, bool):
        return loose_equal(1 if a else 0, b)
    if isinstance(b, bool):
        return loose_equal(a, 1 if b else 0)
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return loose_equal(to_primitive(a), to_primitive(b))
    return to_number(a) == to_number(b)  # a number and a string


def compare(a: Any, b: Any) -> int | None:
    """JavaScript's relational comparison (`<` and friends): -1, 0 or 1, or None where JavaScript says false to
    every comparison (NaN). Two strings compare by UTF-16 code units, anything else as numbers."""
    a, b = to_primitive(a), to_primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        units_a, units_b = a.encode("utf-16-be", "surrogatepass"), b.encode("utf-16-be", "surrogatepass")
        return (units_a > units_b) - (units_a < units_b)
    x, y = to_number(a), to_number(b)
    if math.isnan(x) or math.isnan(y):
        return None
    return (x > y) - (x < y)


def add(a: Any, b: Any) -> Any:
    """JavaScript `a + b`: strings concatenate, anything else adds as numbers."""
    a, b = to_primitive(a), to_primitive(b)
    if isinstance(a, str) or isinstance(b, str):
        return to_string(a) + to_string(b)
    return to_number(a) + to_number(b)


def to_integer(value: Any) -> float:
    """ToIntegerOrInfinity."""
    number = to_number(value)
    if math.isnan(number):
        return 0.0
    return number if math.isinf(number) else float(math.trunc(number))

"""JSON logic as Form.io evaluates it: json-logic-js 2.0.5, its evaluation and its operators over JavaScript's values.

Written to json-logic-js's source rather than taken from a Python port: every port tried (panzi-json-logic,
json-logic-qubit, jsonlogic-rs, datalogic-py) disagrees with JavaScript where JSON values are coerced (`null == false`
and `0 === false` true, `"" == 0` false, `cat(null, "")`, what an empty `and` gives), and Form.io's conditions turn
on exactly those. tests/actors/forms/test_jsonlogic_reference.py runs json-logic-js itself on generated rules to keep
the two equal. Form.io adds operators of its own (lodash helpers as `_name`, `getDate`, `relativeMinDate`,
`relativeMaxDate`); they are refused when a form is saved (`unsupported_operators`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from actors.forms.errors import pointer_join
from actors.forms.js_semantics import (
    MISSING,
    add,
    compare,
    loose_equal,
    parse_float,
    strict_equal,
    to_integer,
    to_number,
    to_string,
    truthy,
    utf16_length,
)


def _args(args: tuple[Any, ...], count: int) -> tuple[Any, ...]:
    """The first `count` arguments, `undefined` for those not given (as a JavaScript function sees them)."""
    return (*args[:count], *(MISSING,) * (count - len(args)))


def logic_truthy(value: Any) -> bool:
    """json-logic-js `truthy`: JavaScript's, except that an empty array is false."""
    return value != [] and truthy(value)


def _less(data: Any, *args: Any) -> bool:
    a, b, c = _args(args, 3)
    if c is MISSING:
        return compare(a, b) == -1
    return compare(a, b) == -1 and compare(b, c) == -1


def _less_or_equal(data: Any, *args: Any) -> bool:
    a, b, c = _args(args, 3)
    if c is MISSING:
        return compare(a, b) in (-1, 0)
    return compare(a, b) in (-1, 0) and compare(b, c) in (-1, 0)


def _divide(x: float, y: float) -> float:
    if y == 0:
        if x == 0 or math.isnan(x):
            return math.nan
        return math.copysign(math.inf, math.copysign(1, x) * math.copysign(1, y))
    return x / y


def _remainder(x: float, y: float) -> float:
    if y == 0 or math.isnan(x) or math.isnan(y) or math.isinf(x):
        return math.nan
    return x if math.isinf(y) else math.fmod(x, y)


def _times(data: Any, *args: Any) -> Any:
    if not args:
        raise TypeError("reduce of empty array with no initial value")
    product = args[0]
    for arg in args[1:]:
        product = parse_float(product) * parse_float(arg)
    return product


def _plus(data: Any, *args: Any) -> float:
    total: float = 0.0
    for arg in args:
        total = parse_float(total) + parse_float(arg)
    return total


def _minus(data: Any, *args: Any) -> float:
    a, b = _args(args, 2)
    return -to_number(a) if b is MISSING else to_number(a) - to_number(b)


def _extreme(pick: Callable[..., float], empty: float) -> Callable[..., float]:
    def run(data: Any, *args: Any) -> float:
        numbers = [to_number(arg) for arg in args]
        return math.nan if any(math.isnan(n) for n in numbers) else pick(numbers, default=empty)

    return run


def _in(data: Any, *args: Any) -> bool:
    needle, haystack = _args(args, 2)
    if isinstance(haystack, str):
        return haystack != "" and to_string(needle) in haystack
    if isinstance(haystack, list):
        return any(strict_equal(needle, item) for item in haystack)
    return False


def _substring(text: str, start: Any, length: Any) -> str:
    """`String.prototype.substr`, on UTF-16 code units."""
    units = text.encode("utf-16-le", "surrogatepass")
    size = len(units) // 2
    begin = to_integer(start)
    begin = max(size + begin, 0) if begin < 0 else min(begin, size)
    count = size if length is MISSING else to_integer(length)
    end = int(min(max(begin + count, begin), size))
    return units[int(begin) * 2 : end * 2].decode("utf-16-le", "surrogatepass")


def _substr(data: Any, *args: Any) -> str:
    source, start, end = _args(args, 3)
    if compare(end, 0) == -1:
        rest = _substring(to_string(source), start, MISSING)
        return _substring(rest, 0, add(utf16_length(rest), end))
    return _substring(to_string(source), start, end)


def _merge(data: Any, *args: Any) -> list[Any]:
    merged: list[Any] = []
    for arg in args:
        merged.extend(arg) if isinstance(arg, list) else merged.append(arg)
    return merged


def _member(value: Any, name: str) -> Any:
    """`value[name]` for a JSON value: object keys, array and string indices and `length`."""
    if isinstance(value, dict):
        return value.get(name, MISSING)
    if isinstance(value, list | str):
        size = len(value) if isinstance(value, list) else utf16_length(value)
        if name == "length":
            return size
        if name.isascii() and name.isdigit() and str(int(name)) == name and int(name) < size:
            if isinstance(value, list):
                return value[int(name)]
            return value.encode("utf-16-le", "surrogatepass")[int(name) * 2 : int(name) * 2 + 2].decode(
                "utf-16-le", "surrogatepass"
            )
    return MISSING


def _var(data: Any, *args: Any) -> Any:
    name, default = _args(args, 2)
    not_found = None if default is MISSING else default
    if name is MISSING or name is None or name == "":
        return data
    value = data
    for part in to_string(name).split("."):
        if value is None or value is MISSING:
            return not_found
        value = _member(value, part)
        if value is MISSING:
            return not_found
    return value


def _missing(data: Any, *args: Any) -> list[Any]:
    keys = args[0] if args and isinstance(args[0], list) else list(args)
    return [key for key in keys if _evaluate({"var": key}, data) in (None, "")]


def _missing_some(data: Any, *args: Any) -> list[Any]:
    need, options = _args(args, 2)
    if options is None or options is MISSING:
        raise TypeError("Cannot read properties of undefined (reading 'length')")
    absent = _evaluate({"missing": options}, data)
    size = len(options) if isinstance(options, list) else utf16_length(options) if isinstance(options, str) else MISSING
    return [] if compare(to_number(size) - len(absent), need) in (0, 1) else absent


def _log(data: Any = None, value: Any = MISSING, *_ignored: Any) -> Any:
    # json-logic-js logs to the browser console; a server must not print submission data
    return value


OPERATIONS: Mapping[str, Callable[..., Any]] = {
    "==": lambda data, *args: loose_equal(*_args(args, 2)),
    "===": lambda data, *args: strict_equal(*_args(args, 2)),
    "!=": lambda data, *args: not loose_equal(*_args(args, 2)),
    "!==": lambda data, *args: not strict_equal(*_args(args, 2)),
    "<": _less,
    "<=": _less_or_equal,
    ">": lambda data, *args: compare(*_args(args, 2)) == 1,
    ">=": lambda data, *args: compare(*_args(args, 2)) in (0, 1),
    "!!": lambda data, *args: logic_truthy(_args(args, 1)[0]),
    "!": lambda data, *args: not logic_truthy(_args(args, 1)[0]),
    "%": lambda data, *args: _remainder(*map(to_number, _args(args, 2))),
    "/": lambda data, *args: _divide(*map(to_number, _args(args, 2))),
    "*": _times,
    "+": _plus,
    "-": _minus,
    "min": _extreme(min, math.inf),
    "max": _extreme(max, -math.inf),
    "in": _in,
    "cat": lambda data, *args: "".join("" if arg is None or arg is MISSING else to_string(arg) for arg in args),
    "substr": _substr,
    "merge": _merge,
    "var": _var,
    "missing": _missing,
    "missing_some": _missing_some,
    "log": _log,
}
_CONTROL = frozenset({"if", "?:", "and", "or", "filter", "map", "reduce", "all", "some", "none"})
SUPPORTED_OPERATORS = frozenset(OPERATIONS) | _CONTROL


def unsupported_operators(logic: Any, pointer: str) -> Iterator[tuple[str, str]]:
    """(pointer, operator) for each operator in `logic` that `apply` cannot evaluate.

    json-logic-js reads an object with exactly one key as an operation and anything else as a literal.
    """
    if isinstance(logic, list):
        for index, item in enumerate(logic):
            yield from unsupported_operators(item, pointer_join(pointer, index))
    elif isinstance(logic, dict) and len(logic) == 1:
        operator, args = next(iter(logic.items()))
        here = pointer_join(pointer, operator)
        if operator not in SUPPORTED_OPERATORS:
            yield here, operator
        yield from unsupported_operators(args, here)


def apply(logic: Any, context: Mapping[str, Any]) -> Any:
    """The value of `logic` over `context`, or None where json-logic-js would throw.

    Form.io's Evaluator catches a throwing rule and takes null ("An error occured within JSON Logic").
    """
    try:
        return _evaluate(logic, dict(context))
    except (TypeError, ValueError, KeyError, RecursionError):
        return None


def _is_logic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1


def _evaluate(logic: Any, data: Any) -> Any:
    """json-logic-js `apply`."""
    if isinstance(logic, list):
        return [_evaluate(item, data) for item in logic]
    if not _is_logic(logic):
        return logic
    operator, values = next(iter(logic.items()))
    if not isinstance(values, list):
        values = [values]
    if operator in _CONTROL:
        return _control(operator, values, data)
    function = OPERATIONS.get(operator)
    if function is None:
        raise KeyError(f"Unrecognized operation {operator}")
    return function(data, *(_evaluate(value, data) for value in values))


def _control(operator: str, values: list[Any], data: Any) -> Any:
    """The operators that decide what to evaluate, as json-logic-js does before it evaluates any argument."""
    if operator in ("if", "?:"):
        index = 0
        while index < len(values) - 1:
            if logic_truthy(_evaluate(values[index], data)):
                return _evaluate(values[index + 1], data)
            index += 2
        return _evaluate(values[index], data) if len(values) == index + 1 else None
    if operator in ("and", "or"):
        current: Any = MISSING
        for value in values:
            current = _evaluate(value, data)
            if logic_truthy(current) is (operator == "or"):
                return current
        return current
    items = _evaluate(values[0], data) if values else MISSING
    sublogic = values[1] if len(values) > 1 else None
    if operator == "reduce":
        initial = _evaluate(values[2], data) if len(values) > 2 else None
        if not isinstance(items, list):
            return initial
        accumulator = initial
        for item in items:
            accumulator = _evaluate(sublogic, {"current": item, "accumulator": accumulator})
        return accumulator
    if not isinstance(items, list):
        return operator == "none" if operator in ("all", "some", "none") else []
    if operator == "map":
        return [_evaluate(sublogic, item) for item in items]
    if operator == "filter":
        return [item for item in items if logic_truthy(_evaluate(sublogic, item))]
    if operator == "all":
        return bool(items) and all(logic_truthy(_evaluate(sublogic, item)) for item in items)
    found = any(logic_truthy(_evaluate(sublogic, item)) for item in items)
    return found if operator == "some" else not found

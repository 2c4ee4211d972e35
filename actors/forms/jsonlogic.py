"""JSON logic as Form.io evaluates it, on panzi-json-logic.

panzi-json-logic is chosen because it copies json-logic-js's JavaScript coercions (`==`, truthiness of `[]`,
`"1" < 2`), which Form.io's client runs; other Python ports use Python's `==` and `bool`. Form.io adds operators of
its own to json-logic-js (lodash helpers as `_name`, `getDate`, `relativeMinDate`, `relativeMaxDate`); the library
has none of them, so `unsupported_operators` lets a form that uses them be refused when it is saved.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from json_logic import jsonLogic
from json_logic.builtins import BUILTINS

from actors.forms.errors import pointer_join


def _log(_data: Any = None, value: Any = None, *_ignored: Any) -> Any:
    # json-logic-js logs to the browser console; a server must not print submission data
    return value


OPERATIONS: Mapping[str, Any] = {**BUILTINS, "log": _log}
# operators the library's apply() handles itself, before looking in OPERATIONS
_CONTROL = frozenset({"if", "?:", "and", "or", "filter", "reduce", "map", "all", "some", "none"})
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
        return jsonLogic(logic, dict(context), OPERATIONS)
    except Exception:
        return None

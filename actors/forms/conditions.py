"""Whether a component is conditionally hidden, after @formio/core `src/utils/conditions.ts` and
`src/process/conditions/index.ts`.

A component's `conditional` may carry JSON logic (`json`), the legacy `when`/`eq`/`show`, or the newer
`conjunction`/`conditions`/`show`. Form.io evaluates them in that order and the last one present decides
(`isSimpleConditionallyHidden`); a result of null (nothing to evaluate, or JSON logic that threw) shows the component.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from actors.forms import jsonlogic
from actors.forms.definition import Form, Node
from actors.forms.js_semantics import (
    MISSING,
    base_to_string,
    deep_equal,
    is_number,
    lodash_to_string,
    to_number,
    to_string,
    truthy,
    typeof,
)
from actors.forms.rules import is_data_empty


class Scope:
    """Where a component is evaluated: the whole (working) submission, the data object holding the component, and
    the current row of each enclosing grid, by the grid's path."""

    def __init__(self, form: Form, data: dict[str, Any], row: dict[str, Any], rows: Mapping[str, int]) -> None:
        self.form = form
        self.data = data
        self.row = row
        self.rows = rows

    def logic_context(self, node: Node, value: Any) -> dict[str, Any]:
        # normalizeContext: what JSON logic reads with {"var": "data.x"}, {"var": "row.y"}, {"var": "component.key"}
        plain = None if value is MISSING else value
        return {"data": self.data, "row": self.row, "component": node.component, "value": plain, "input": plain}


def is_conditionally_hidden(node: Node, scope: Scope, value: Any) -> bool:
    conditional = node.component.get("conditional")
    if not isinstance(conditional, dict):
        return False
    show: Any = None
    if isinstance(conditional.get("json"), dict):
        show = jsonlogic.apply(conditional["json"], scope.logic_context(node, value))
    if truthy(conditional.get("when")):
        show = _legacy(conditional, scope)
    if truthy(conditional.get("conjunction")) and truthy(conditional.get("conditions")):
        show = _simple(conditional, scope)
    return show is not None and not truthy(show)


def _legacy(conditional: Mapping[str, Any], scope: Scope) -> bool:
    """checkLegacyConditional: compares `String(value)` with `String(eq)`; `show` is compared as a string too."""
    _, value = scope.form.resolve(str(conditional["when"]), scope.data, scope.rows)
    eq, show = to_string(conditional.get("eq", MISSING)), to_string(conditional.get("show", MISSING))
    if isinstance(value, dict) and eq in value:
        return to_string(value[eq]) == show
    if isinstance(value, list) and eq.isdigit() and str(int(eq)) == eq and int(eq) < len(value):
        return to_string(value[int(eq)]) == show  # lodash has() on an array reads an index
    if isinstance(value, list) and eq in [to_string(item) for item in value]:
        return show == "true"
    return (to_string(value) == eq) == (show == "true")


def _show_to_bool(show: Any) -> bool:
    """convertShowToBoolean: a string is JSON-parsed ("false" hides), an unparsable one kept as it is."""
    if isinstance(show, str):
        with contextlib.suppress(ValueError):
            show = json.loads(show)
    return truthy(show)


def _simple(conditional: Mapping[str, Any], scope: Scope) -> bool | None:
    conditions = conditional.get("conditions")
    if not isinstance(conditions, list) or not conditions:
        return None
    results: list[bool] = []
    for condition in conditions:
        if not isinstance(condition, dict) or not condition.get("component"):
            continue  # "Ignore conditions if there is no component path."
        path = str(condition["component"])
        node, value = scope.form.resolve(path, scope.data, scope.rows)
        if node is None:
            value = None  # checkSimpleConditional reads no value for a component it cannot find
        operator = OPERATORS.get(str(condition.get("operator")))
        compared = condition.get("value", MISSING)
        results.append(True if operator is None else operator(value, compared, node.component if node else None))
    result = any(results) if conditional.get("conjunction") == "any" else all(results)
    return result if _show_to_bool(conditional.get("show", True)) else not result


# --- operators, after src/utils/operators/*.js ------------------------------------------------------------------

Operator = Callable[[Any, Any, Mapping[str, Any] | None], bool]


def _each(test: Callable[[Any, Any, Mapping[str, Any] | None], bool]) -> Operator:
    """ConditionOperator.getResult: an array value satisfies the operator when one of its items does."""

    def operator(value: Any, compared: Any, component: Mapping[str, Any] | None) -> bool:
        if isinstance(value, list):
            return any(test(item, compared, component) for item in value)
        return test(value, compared, component)

    return operator


def _is_equal(value: Any, compared: Any, component: Mapping[str, Any] | None) -> bool:
    if component is not None and component.get("type") == "selectboxes" and isinstance(value, dict):
        return truthy(value.get(to_string(compared), False))
    if (truthy(value) or value is False) and isinstance(compared, str) and compared and typeof(value) != "string":
        with contextlib.suppress(ValueError):
            compared = json.loads(compared)
    return deep_equal(value, compared)


def _compare(check: Callable[[float, float], bool], or_equal: bool) -> Operator:
    # GreaterThan.js: `isNumber(value) && value > comparedValue`, JavaScript coercing the compared value;
    # the OrEqual variants add lodash isEqual, so 5 >= "5" is false
    def test(value: Any, compared: Any, _component: Mapping[str, Any] | None) -> bool:
        if not is_number(value):
            return False
        return check(float(value), to_number(compared)) or (or_equal and deep_equal(value, compared))

    return _each(test)


def _includes(value: Any, compared: Any, _component: Mapping[str, Any] | None) -> bool:
    """lodash includes: a substring of a string, a member of an array, a value of an object."""
    if isinstance(value, str):
        return to_string(compared) in value
    items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []
    return any(deep_equal(item, compared) for item in items)


_LAST_MS = 8.64e15  # the range of JavaScript's Date, either side of 1970
_MONTH_DAY_YEAR = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")


def _moment(value: Any) -> datetime | None:
    """moment(value) on what date fields store: ISO 8601 (a datetime component; a time without offset is taken as
    UTC, the server's zone), and a day component's MM/DD/YYYY, which moment hands to JavaScript's Date, where a day
    past the month's end runs into the next month (02/30/2021 is 2 March). Other text, which only Date's
    engine-specific fallback would read, is no date. A number is milliseconds since 1970, as moment reads it."""
    if is_number(value) and math.isfinite(value) and abs(value) <= _LAST_MS:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=math.trunc(value))
    if not isinstance(value, str) or not value:
        return None
    month_day_year = _MONTH_DAY_YEAR.fullmatch(value)
    if month_day_year:
        month, day, year = map(int, month_day_year.groups())
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None
        return datetime(year, month, 1, tzinfo=UTC) + timedelta(days=day - 1)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date(check: Callable[[datetime, datetime], bool]) -> Operator:
    # DateGreaterThan.js: false for an empty value, and moment's comparisons are false for an invalid date
    def test(value: Any, compared: Any, _component: Mapping[str, Any] | None) -> bool:
        date, other = _moment(value), _moment(compared)
        return truthy(value) and date is not None and other is not None and check(date, other)

    return _each(test)


def _not(operator: Operator) -> Operator:
    return lambda value, compared, component: not operator(value, compared, component)


_equal = _each(_is_equal)
_contains = _each(_includes)
_date_equal = _date(lambda a, b: a == b)


def _empty(value: Any, _compared: Any, component: Mapping[str, Any] | None) -> bool:
    return is_data_empty(component, value)


OPERATORS: Mapping[str, Operator] = {
    "isEqual": _equal,
    "isNotEqual": _each(_not(_is_equal)),
    "isEmpty": _empty,  # IsEmptyValue overrides getResult: the array is judged whole
    "isNotEmpty": _not(_empty),
    "greaterThan": _compare(lambda a, b: a > b, False),
    "greaterThanOrEqual": _compare(lambda a, b: a > b, True),
    "lessThan": _compare(lambda a, b: a < b, False),
    "lessThanOrEqual": _compare(lambda a, b: a < b, True),
    "includes": _contains,
    "notIncludes": _each(_not(_includes)),
    # lodash startsWith(toString(value), baseToString(target)): a null target is "null"
    "startsWith": _each(lambda value, compared, _c: lodash_to_string(value).startswith(base_to_string(compared))),
    "endsWith": _each(lambda value, compared, _c: lodash_to_string(value).endswith(base_to_string(compared))),
    "dateGreaterThan": _date(lambda a, b: a > b),
    "dateGreaterThanOrEqual": _date(lambda a, b: a >= b),
    "dateLessThan": _date(lambda a, b: a < b),
    "dateLessThanOrEqual": _date(lambda a, b: a <= b),
    "isDateEqual": _date_equal,
    "isNotDateEqual": _each(_not(lambda value, compared, component: _date_equal(value, compared, component))),
}

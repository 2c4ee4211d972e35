"""What Form.io's server makes of a submitted value before it judges it: @formio/core `process/normalize`.

Radio and select values that read as numbers or booleans become them ("2" → 2, "false" → false), e-mail addresses
are trimmed and lower-cased, selectboxes given as a string or a list become an object, numbers given as text become
numbers, text fields with `truncateMultipleSpaces` lose their extra spaces, and a `multiple` component given one
value holds a list. Conditions and rules then see the normalized value, and it is what is stored. A value that
normalizes to nothing (null, or text in a number field) is left out of the stored data; an item of a list that
does becomes JavaScript's undefined (MISSING here), which conditions read as such and JSON stores as null.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from actors.forms.js_semantics import (
    JS_WHITESPACE,
    MISSING,
    js_trim,
    lodash_to_string,
    number_to_string,
    parse_float,
    to_number,
    to_string,
    truthy,
)

_SPACES = re.compile(f"[{JS_WHITESPACE}]{{2,}}")
_DAY = re.compile(r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$")


def truncate_spaces(text: str) -> str:
    """`value.trim().replace(/\\s{2,}/g, ' ')`."""
    return _SPACES.sub(" ", js_trim(text))


def normalize(component: Mapping[str, Any], value: Any) -> Any:
    """The value Form.io keeps for `value` (MISSING for an absent one)."""
    kind = component.get("type")
    new = value
    if kind == "day":
        new = _day(component, value)
    elif kind == "email":
        new = js_trim(value).lower() if isinstance(value, str) and value else value
    elif kind == "radio":
        new = _radio(value, component.get("dataType"))
    elif kind == "select":
        if truthy(component.get("multiple")) and isinstance(value, list):
            new = [_select(component, item) for item in value]
        else:
            new = _select(component, value)
    elif kind == "selectboxes":
        new = _selectboxes(value)
    elif kind in ("textfield", "phoneNumber"):
        if truthy(component.get("truncateMultipleSpaces")) and isinstance(value, str):
            new = truncate_spaces(value)
    elif kind == "number":
        if truthy(component.get("multiple")) and isinstance(value, list):
            new = [_number(item) for item in value]
        else:
            new = _number(value)
    validate = component.get("validate")
    required = truthy(validate.get("required")) if isinstance(validate, dict) else False
    if truthy(component.get("multiple")) and not required and not isinstance(value, list):
        new = [value] if truthy(value) else []
    return new


def _number(value: Any) -> Any:
    # `!isNaN(parseFloat(value)) && isFinite(value) ? +value : undefined`
    number = to_number(value)
    return number_value(number) if not math.isnan(parse_float(value)) and math.isfinite(number) else MISSING


def number_value(number: float) -> int | float:
    """A JavaScript number as JSON carries it: 2, not 2.0."""
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _radio(value: Any, data_type: Any) -> Any:
    if data_type == "number":
        return number_value(to_number(value)) if math.isfinite(to_number(value)) else to_number(value)
    if data_type == "string":
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False) if _is_object(value) else to_string(value)
    if data_type == "boolean":
        return not (not truthy(value) or to_string(value) == "false")
    number = to_number(value)
    if (
        lodash_to_string(value) == number_to_string(number)
        and not math.isnan(parse_float(value))
        and math.isfinite(number)
    ):
        return number_value(number)
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


def _is_object(value: Any) -> bool:
    return isinstance(value, dict | list)


def _select(component: Mapping[str, Any], value: Any) -> Any:
    if value is None or value is MISSING:
        return MISSING
    if _is_object(value) and not value:
        return value
    data_type = component.get("dataType") or "auto"
    if data_type == "object" or (data_type == "auto" and _is_object(value)):
        return value
    converted: Any = value
    if data_type in ("string", "auto"):
        converted = to_string(value)
    if data_type in ("number", "auto"):
        number = to_number(converted)
        if (
            not math.isnan(number)
            and math.isfinite(number)
            and value != ""
            and to_string(value) == number_to_string(number)
        ):
            converted = number_value(number)
    if data_type in ("boolean", "auto") and isinstance(converted, str) and converted.lower() in ("true", "false"):
        converted = converted.lower() == "true"
    return converted


def _selectboxes(value: Any) -> Any:
    if not truthy(value):
        return {}
    if isinstance(value, str):
        return {value: True}
    if isinstance(value, list):
        return {to_string(item): True for item in value}
    return value if isinstance(value, dict) else {}


def _day(component: Mapping[str, Any], value: Any) -> Any:
    """normalizeDayComponentValue: the parts that are shown, in the component's order, empty ones left out; a hidden
    part takes the default value's. Anything but a string is left to the validator (Form.io throws on it)."""
    if not truthy(value) or not isinstance(value, str) or _DAY.match(value):
        return value
    given = component.get("fields")
    fields: Mapping[str, Any] = given if isinstance(given, dict) else {}
    shown = {
        part: not (isinstance(fields.get(part), dict) and truthy(fields[part].get("hide")))
        for part in ("day", "month", "year")
    }
    day_first = truthy(component.get("dayFirst"))
    default = component.get("defaultValue")
    defaults = _default_parts(default.split("/"), shown, day_first) if isinstance(default, str) and default else {}
    parts = value.split("/")
    taken: list[str] = []

    def take(part: str) -> None:
        # JavaScript pushes an undefined part (nothing left to take), which `join` writes as ""
        piece = (parts.pop(0) if parts else None) if shown[part] else defaults.get(part, "")
        if piece != "":
            taken.append(piece or "")

    order = ("day", "month", "year") if day_first else ("month", "day", "year")
    for part in order:
        take(part)
    return "/".join(taken)


def _default_parts(parts: list[str], shown: Mapping[str, bool], day_first: bool) -> dict[str, str | None]:
    day_at, month_at, year_at = (0, 1, 2) if day_first else (1, 0, 2)
    if len(parts) == 3:
        return {"day": parts[day_at], "month": parts[month_at], "year": parts[year_at]}
    at: dict[str, int | None] = {"day": day_at, "month": month_at, "year": year_at}
    if not shown["day"]:
        at["month"] = 0 if month_at == 0 else month_at - 1
        at["year"] = year_at - 1
        at["day"] = None
    if not shown["month"]:
        if at["day"] is not None:
            at["day"] = 0 if at["day"] == 0 else at["day"] - 1
        at["year"] = (at["year"] or 0) - 1
        at["month"] = None
    if not shown["year"]:
        at["year"] = None

    def part(index: int | None) -> str | None:
        if index is None:
            return ""
        return parts[index] if 0 <= index < len(parts) else None

    return {name: part(index) for name, index in at.items()}

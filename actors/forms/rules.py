"""Form.io's validation rules for one value of one component, after @formio/core `src/process/validation/rules/`.

Each `check_*` takes the component's JSON, the label to name it by and the value, and returns `(type, message)` or
None. Like Form.io's rules, most skip empty values and values of the wrong JSON type: `required` and `check_type`
speak for those. Messages are Form.io's English ones (`validation/i18n/en.ts`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import re2

from actors.forms.js_semantics import (
    MISSING,
    deep_equal,
    is_number,
    js_trim,
    js_words,
    number_to_string,
    parse_float,
    parse_int,
    to_number,
    to_string,
    truthy,
    utf16_length,
)

Problem = tuple[str, str]

STRING_TYPES = frozenset({"textfield", "textarea", "email", "phoneNumber", "datetime", "day"})
_SCALAR = str | int | float | bool

_DIGITS = re.compile(r"^[0-9]+$")
# ISO 8601's extended form, date and optional time: what both JavaScript's Date and Python's fromisoformat read
_ISO_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?\Z"
)
# JavaScript's identity escapes (`\e` is "e") differ from Python's (`\A`, `\Z` are anchors): only these are shared
_JS_LETTER_ESCAPES = frozenset("dDwWsSbBnrtvfxu")
_TEXTFIELD_MASK = re.compile(r"^[0-9\-/.: ()+]+$")


def validate_settings(component: Mapping[str, Any]) -> Mapping[str, Any]:
    validate = component.get("validate")
    return validate if isinstance(validate, dict) else {}


def _count(setting: float) -> str:
    return number_to_string(setting)


# --- regular expressions -------------------------------------------------------------------------------------------


# JavaScript's \s: its WhiteSpace and LineTerminator characters; RE2's \s is ASCII only
_JS_SPACE = r"\t\n\v\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}"
_JS_DOT = r"[^\n\r\x{2028}\x{2029}]"  # JavaScript's `.` stops at every line terminator, RE2's at \n only
PATTERN_INPUT_MAX = 10_000  # characters a pattern is run on; past it the value is refused unread
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is our answer, not an error line on stderr


def _translate_js_regex(source: str) -> str:
    """A JavaScript RegExp source (no flags) in RE2's syntax, or re.error where the two would disagree."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(source):
        char = source[i]
        if char == "\\":
            escaped = source[i + 1 : i + 2]
            if escaped == "k" or (escaped.isdigit() and escaped != "0"):
                raise re.error("backreferences cannot be run in linear time")
            if escaped.isalpha() and escaped not in _JS_LETTER_ESCAPES:
                raise re.error(f"\\{escaped} means different things in JavaScript and RE2")
            if escaped == "s":
                out.append(_JS_SPACE if in_class else f"[{_JS_SPACE}]")
            elif escaped == "S":
                if in_class:
                    raise re.error("\\S inside a character class is not supported")
                out.append(f"[^{_JS_SPACE}]")
            elif escaped == "u":
                hex4 = source[i + 2 : i + 6]
                if len(hex4) != 4 or not all(c in "0123456789abcdefABCDEF" for c in hex4):
                    raise re.error("\\u needs four hexadecimal digits")
                out.append(f"\\x{{{hex4}}}")
                i += 6
                continue
            elif escaped == "b" and in_class:
                raise re.error("[\\b] (a backspace in JavaScript) is not supported")
            else:
                out.append(source[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
            out.append(char)
        elif char == "[":
            if source[i + 1 : i + 2] == "]" or source[i + 1 : i + 3] == "^]":
                raise re.error("[] and [^] mean different things in JavaScript and RE2")
            in_class = True
            out.append(char)
        elif char == ".":
            out.append(_JS_DOT)
        elif source.startswith("(?", i):
            follower = source[i + 2 : i + 3]
            if follower in ("=", "!") or source[i + 2 : i + 4] in ("<=", "<!"):
                raise re.error("lookahead and lookbehind cannot be run in linear time")
            if follower not in (":", "<"):
                raise re.error(f"(?{follower} is not JavaScript syntax")
            out.append(char)
        else:
            out.append(char)
        i += 1
    return "".join(out)


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    """`validate.pattern` as validateRegexPattern.ts builds it: `new RegExp(`^${pattern}$`)`, no group around it,
    run by RE2 in time linear in the input (Python's `re` backtracks: `(a|aa)+` on thirty `a`s and a `!` took a
    fifth of a second, growing 1.6× a character). What RE2 cannot run (backreferences, lookaround) or would read
    otherwise than JavaScript raises re.error, so that a save refuses it. `\\d`, `\\w` and `\\b` are ASCII in both;
    `$` ends the text in both (never before a final newline)."""
    if not isinstance(pattern, str):
        raise TypeError("a pattern must be a string")
    try:
        return re2.compile(_translate_js_regex(f"^{pattern}$"), _RE2_OPTIONS)
    except re2.error as exc:
        raise re.error(str(exc)) from None


# validateEmail.ts's regular expression ("From http://stackoverflow.com/questions/46155/..."), in JavaScript's
# syntax (its \s, its `.`), run like a pattern
_EMAIL = compile_pattern(
    r"""(([^<>()[\]\\.,;:\s@"]+(\.[^<>()[\]\\.,;:\s@"]+)*)|(".+"))@"""
    r"""((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}])|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))"""
)


# --- input masks (validateMask.ts) ---------------------------------------------------------------------------------


def mask_is_supported(component_type: str, mask: Any) -> bool:
    """phoneNumber masks go through Form.io's own matcher, which is reproduced here; textfield masks go through
    the inputmask library, whose syntax (optional parts, groups, alternatives) agrees with it only for digits and
    separators, a leading `+` and balanced parentheses (a phone number's `+30 (999) 999-9999`; inputmask throws on
    an unbalanced one), all literal but the 9s, as tests/actors/forms/test_formio_reference.py checks."""
    if not isinstance(mask, str):
        return False
    return component_type == "phoneNumber" or (bool(_TEXTFIELD_MASK.match(mask)) and _balanced(mask))


def _balanced(mask: str) -> bool:
    depth = 0
    for char in mask:
        depth += (char == "(") - (char == ")")
        if depth < 0:
            return False
    return depth == 0


_MASK_CLASSES = {"9": re.compile(r"\d", re.ASCII), "A": re.compile("[a-zA-Z]"), "a": re.compile("[a-z]")}
_MASK_CLASSES["*"] = re.compile("[a-zA-Z0-9]")


def _matches_mask(value: str, mask: str) -> bool:
    if len(value) > len(mask):
        return False
    for i, part in enumerate(mask):
        # JavaScript reads past the end of the value as undefined, and /[a-z]/.test(undefined) tests "undefined"
        char = value[i] if i < len(value) else "undefined"
        pattern = _MASK_CLASSES.get(part)
        if pattern is not None:
            if not pattern.search(char):
                return False
        elif i >= len(value) or char != part:
            return False
    return True


# --- emptiness -----------------------------------------------------------------------------------------------------


def _lodash_has_value(value: Any) -> bool:
    if isinstance(value, dict | list):
        return bool(value)
    if is_number(value):
        return not math.isnan(value)
    return truthy(value)


def _present(value: Any, false_is_value: bool, skip_objects: bool) -> bool:
    """utils.ts valueIsPresent."""
    if value is None or value is MISSING or (isinstance(value, str) and not js_trim(value)):
        return False
    if value is False and not false_is_value:
        return False
    if isinstance(value, dict | list) and not value:
        return False
    if isinstance(value, dict | list) and not skip_objects:
        items = value.values() if isinstance(value, dict) else value
        return any(_present(item, false_is_value, skip_objects) for item in items)
    if isinstance(value, list):
        # doesArrayDataHaveValue: a grid has a value when some cell of some row has one
        if all(isinstance(row, dict) for row in value):
            return any(_lodash_has_value(cell) for row in value for cell in row.values())
        return any(_lodash_has_value(item) for item in value)
    return True


def has_value(component: Mapping[str, Any], value: Any) -> bool:
    """utils.ts componentHasValue, which `required` uses.

    "Checkboxes and selectboxes consider false to be falsy, whereas other components with settable values (e.g.
    radio, select, datamap, container, etc.) consider it truthy"; a grid is non-empty when a row holds a value.
    """
    kind = component.get("type")
    if kind == "day" and value == "00/00/0000":
        return False
    if kind in ("checkbox", "selectboxes"):
        return _present(value, False, False)
    return _present(value, True, kind in ("datagrid", "editgrid"))


def _empty_value(kind: Any) -> Any:
    if kind in ("textarea", "textfield", "time", "datetime", "day"):
        return ""
    return [] if kind in ("datagrid", "editgrid") else None


def _value_empty(kind: Any, value: Any) -> bool:
    if value is None or value is MISSING or value == "" or value == []:
        return True
    return isinstance(value, list) and len(value) == 1 and deep_equal(value[0], _empty_value(kind))


def is_data_empty(component: Mapping[str, Any] | None, value: Any) -> bool:
    """formUtil isComponentDataEmpty, which the `isEmpty` condition operator uses."""
    kind = component.get("type") if component else None
    if kind == "checkbox":
        return _value_empty(kind, value) or value is False
    if kind in ("datagrid", "editgrid", "container"):
        # "children empty": no row holds a non-empty cell, a false checkbox counting as empty
        return _value_empty(kind, value) or not _present(value, False, False)
    if kind == "datetime":
        return _value_empty(kind, value) or to_string(value) == "Invalid date"
    if kind == "selectboxes":
        return _value_empty(kind, value) or not (isinstance(value, dict) and any(truthy(v) for v in value.values()))
    if kind == "textarea" and isinstance(value, str):
        return _value_empty(kind, js_trim(value))
    if kind in ("textfield", "phoneNumber"):
        return _value_empty(kind, None if value is None or value is MISSING else js_trim(to_string(value)))
    return _value_empty(kind, value)


# --- the rules -----------------------------------------------------------------------------------------------------


def check_required(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    if truthy(validate_settings(component).get("required")) and not has_value(component, value):
        return "required", f"{label} is required"
    return None


def check_type(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    """The JSON type each component stores; null or absent is every component's empty value.

    Form.io itself only rejects a non-number in a number field (validateNumber.ts, which lets falsy values such as
    "" through) and a non-string day; it normalises the rest before validating. The server keeps the data typed.
    """
    if value is None or value is MISSING:
        return None
    kind = component.get("type")
    if kind in STRING_TYPES:
        ok, expected = isinstance(value, str), "a string"
    elif kind in ("number", "currency"):
        ok, expected = is_number(value) or value == "", "a number"
    elif kind == "checkbox":
        ok, expected = isinstance(value, bool), "true or false"
    elif kind in ("select", "radio"):
        ok, expected = isinstance(value, _SCALAR), "a single option value"
    elif kind == "selectboxes":
        ok = isinstance(value, dict) and all(isinstance(item, bool) for item in value.values())
        expected = "an object of true/false options"
    elif kind == "container":
        ok, expected = isinstance(value, dict), "an object"
    elif kind in ("datagrid", "editgrid", "file"):
        ok, expected = isinstance(value, list), "a list"
    else:
        return None
    return None if ok else ("type", f"{label} must be {expected}.")


def check_min_length(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    validate = validate_settings(component)
    if "minLength" not in validate or not isinstance(value, str) or not value:
        return None
    setting = parse_int(validate["minLength"])
    if truthy(setting) and utf16_length(value) < setting:
        return "minLength", f"{label} must have at least {_count(setting)} characters."
    return None


def check_max_length(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    validate = validate_settings(component)
    if "maxLength" not in validate or not isinstance(value, str) or not value:
        return None
    setting = parse_int(validate["maxLength"])
    if truthy(setting) and utf16_length(value) > setting:
        return "maxLength", f"{label} must have no more than {_count(setting)} characters."
    return None


def _words(text: str) -> int:
    # `value.trim().split(/\s+/).length`: a blank string is one (empty) word in JavaScript
    return len(js_words(text))


def check_min_words(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    validate = validate_settings(component)
    if "minWords" not in validate or not isinstance(value, str) or not value:
        return None
    setting = parse_int(validate["minWords"])
    if truthy(setting) and _words(value) < setting:
        return "minWords", f"{label} must have at least {_count(setting)} words."
    return None


def check_max_words(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    validate = validate_settings(component)
    if "maxWords" not in validate or not isinstance(value, str):
        return None
    setting = parse_int(validate["maxWords"])
    if truthy(setting) and _words(value) > setting:
        return "maxWords", f"{label} must have no more than {_count(setting)} words."
    return None


def check_pattern(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    validate = validate_settings(component)
    pattern = validate.get("pattern")
    if not pattern or not isinstance(pattern, str) or not isinstance(value, str) or not value:
        return None
    if len(value) > PATTERN_INPUT_MAX:
        return "pattern", f"{label} is too long to be checked against its pattern"
    if compile_pattern(pattern).search(value):
        return None
    message = validate.get("patternMessage")
    return "pattern", message if isinstance(
        message, str
    ) and message else f"{label} does not match the pattern {pattern}"


def _limit(component: Mapping[str, Any], name: str) -> float:
    setting: Any = validate_settings(component).get(name)
    if isinstance(setting, str):
        return parse_float(setting)
    return float(setting) if is_number(setting) else math.nan


def check_min(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    limit, number = _limit(component, "min"), parse_float(value) if is_number(value) else math.nan
    if not math.isnan(limit) and not math.isnan(number) and number < limit:
        return "min", f"{label} cannot be less than {number_to_string(limit)}."
    return None


def check_max(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    limit, number = _limit(component, "max"), parse_float(value) if is_number(value) else math.nan
    if not math.isnan(limit) and not math.isnan(number) and number > limit:
        return "max", f"{label} cannot be greater than {number_to_string(limit)}."
    return None


def _selected(component: Mapping[str, Any], name: str, value: Any) -> tuple[float, int] | None:
    """(the limit, how many options are ticked) for a selectboxes rule that applies: validate[name] set and
    truthy (a string read by parseFloat), a value, and at least one option ticked."""
    validate = validate_settings(component)
    if name not in validate or not isinstance(value, dict) or not value:
        return None
    setting = validate[name]
    limit = parse_float(setting) if isinstance(setting, str) else setting
    if not truthy(limit) or not is_number(limit):
        return None
    count = sum(1 for ticked in value.values() if truthy(ticked))
    return (float(limit), count) if count > 0 else None


def check_min_selected(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    found = _selected(component, "minSelectedCount", value)
    if found is not None and found[1] < found[0]:
        return "minSelectedCount", f"{label}: choose at least {number_to_string(found[0])}."
    return None


def check_max_selected(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    found = _selected(component, "maxSelectedCount", value)
    if found is not None and found[1] > found[0]:
        return "maxSelectedCount", f"{label}: choose at most {number_to_string(found[0])}."
    return None


_YEAR = re.compile(r"[0-9]{4}\Z")


def _year_limit(component: Mapping[str, Any], name: str, value: Any) -> tuple[float, int] | None:
    """(the limit, the value's year) for a day's minYear/maxYear (the component's own: Form.io's server reads no
    other), the year being the value's last four digits."""
    if component.get("type") != "day" or not truthy(component.get(name)) or not isinstance(value, str):
        return None
    year = _YEAR.search(value)
    return (to_number(component[name]), int(year.group())) if year else None


def check_min_year(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    found = _year_limit(component, "minYear", value)
    if found is not None and not found[1] >= found[0]:
        return "minYear", f"{label} cannot be before {number_to_string(found[0])}."
    return None


def check_max_year(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    found = _year_limit(component, "maxYear", value)
    if found is not None and not found[1] <= found[0]:
        return "maxYear", f"{label} cannot be after {number_to_string(found[0])}."
    return None


def instant(value: Any) -> datetime | None:
    """A date or date-time in ISO 8601's extended form as an aware datetime (no offset: UTC, the server's zone)."""
    if not isinstance(value, str) or not _ISO_DATETIME.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def date_limit(component: Mapping[str, Any], name: str) -> datetime | None:
    """A datetime's widget.minDate/maxDate: a fixed date (`check_definition` refuses moment() expressions), the
    whole day unless the widget takes a time (validateMinimumDate.ts: startOf/endOf('day'))."""
    widget = component.get("widget")
    if not isinstance(widget, dict):
        return None
    setting = instant(widget.get(name))
    if setting is None or truthy(widget.get("enableTime")):
        return setting
    start = setting.replace(hour=0, minute=0, second=0, microsecond=0)
    return start if name == "minDate" else start + timedelta(days=1, microseconds=-1000)


def check_min_date(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    limit = date_limit(component, "minDate") if component.get("type") == "datetime" else None
    if limit is None or not isinstance(value, str) or not value:
        return None
    date = instant(value)  # a value that is no date is before every limit and after it too, as dayjs says
    return None if date is not None and date >= limit else ("minDate", f"{label} cannot be before {limit.date()}.")


def check_max_date(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    limit = date_limit(component, "maxDate") if component.get("type") == "datetime" else None
    if limit is None or not isinstance(value, str) or not value:
        return None
    date = instant(value)
    return None if date is not None and date <= limit else ("maxDate", f"{label} cannot be after {limit.date()}.")


def check_email(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    # normalize trims a single address before the rules see it; the items of a `multiple` one are judged as sent
    if component.get("type") != "email" or not isinstance(value, str) or not value:
        return None
    return None if _EMAIL.search(value) else ("email", f"{label} must be a valid email.")


def check_mask(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    mask = component.get("inputMask")
    if not isinstance(mask, str) or not mask or truthy(validate_settings(component).get("skipMaskValidation")):
        return None
    if not isinstance(value, str) or not value:
        return None
    return None if _matches_mask(value, mask) else ("mask", f"{label} does not match the mask.")


def json_options(component: Mapping[str, Any]) -> list[Any] | None:
    """The option values of a select with `dataSrc: "json"`: `data.json` (a list, or its JSON text) of values, or
    of objects whose `valueProperty` is the value; None when it is neither."""
    data = component.get("data")
    items: Any = data.get("json") if isinstance(data, dict) else None
    if isinstance(items, str):
        try:
            items = json.loads(items)
        except ValueError:
            return None
    if not isinstance(items, list):
        return None
    key = component.get("valueProperty")
    if all(isinstance(item, dict) for item in items) and isinstance(key, str) and key:
        return [item.get(key) for item in items]
    if all(not isinstance(item, dict | list) for item in items):
        return items
    return None


def _options(component: Mapping[str, Any]) -> list[Any]:
    if component.get("type") == "select" and component.get("dataSrc") == "json":
        return json_options(component) or []
    source = component.get("data", {}).get("values") if component.get("type") == "select" else component.get("values")
    if not isinstance(source, list):
        return []
    return [option.get("value") for option in source if isinstance(option, dict)]


def _same_option(value: Any, option: Any) -> bool:
    # Form.io's normalize turns "1" into 1 and "true" into true for select and radio (dataType auto), while the
    # builder stores option values as strings: compare the JavaScript string forms
    return to_string(value) == to_string(option)


def check_choice(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    """Static options: select `data.values`, radio `values`, selectboxes `values` as the keys of its object.

    Form.io checks them only with `validate.onlyAvailableItems` (validateAvailableItems.ts), since its own widgets
    cannot produce anything else; a server receiving JSON from anywhere always checks them.
    """
    kind = component.get("type")
    if kind == "selectboxes" and isinstance(value, dict):
        unknown = sorted(set(value) - {to_string(option) for option in _options(component)})
        if unknown:
            return "invalid_choice", f"{label} has no option {', '.join(map(repr, unknown))}."
        return None
    if kind not in ("select", "radio") or not isinstance(value, _SCALAR) or value == "":
        return None
    if any(_same_option(value, option) for option in _options(component)):
        return None
    return "invalid_choice", f"{label} is an invalid value."


def _days_in_month(month: int, year: int) -> int:
    if month == 2:
        return 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _day_parts(component: Mapping[str, Any], value: str) -> tuple[int | None, int | None, int | None]:
    """(day, month, year) as validateDay.ts reads them: 0 where a part is not given, None where unreadable."""
    fields = component.get("fields")
    fields = fields if isinstance(fields, dict) else {}

    def hidden(part: str) -> bool:
        setting = fields.get(part)
        return isinstance(setting, dict) and truthy(setting.get("hide"))

    parts = value.split("/")
    values = [int(part) if _DIGITS.match(part) else None for part in parts]

    def at(index: int) -> int | None:
        return values[index] if 0 <= index < len(values) else None

    day_at, month_at, year_at = (0, 1, 2) if truthy(component.get("dayFirst")) else (1, 0, 2)
    day, month, year = at(day_at), at(month_at), at(year_at)
    if len(values) != 3:
        if hidden("day"):
            month_at = 0 if month_at == 0 else month_at - 1
            year_at -= 1
            day, month, year = 0, at(month_at), at(year_at)
        if hidden("month"):
            day_at = 0 if day_at == 0 else day_at - 1
            year_at -= 1
            day = 0 if hidden("day") and day == 0 else at(day_at)
            month, year = 0, at(year_at)
        if hidden("year"):
            day = 0 if hidden("day") and day == 0 else at(day_at)
            month = 0 if hidden("month") and month == 0 else at(month_at)
            year = 0
    return day, month, year


def check_day(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    """validateDay.ts: MM/DD/YYYY, or DD/MM/YYYY with `dayFirst`; a part hidden in `fields` may be left out and
    a part not filled in is 00. Parts must be digits (Form.io's parseInt would also read "12abc" as 12)."""
    if component.get("type") != "day" or not isinstance(value, str) or not value:
        return None
    day, month, year = _day_parts(component, value)
    if month is None or not 0 <= month <= 12 or year is None or not 0 <= year <= 9999:
        return "invalid_date", f"{label} is not a valid day."
    if day is None or not 0 <= day <= _days_in_month(month, year):
        return "invalid_date", f"{label} is not a valid day."
    return None


def check_day_fields_required(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    """validateRequiredDay.ts: `fields.day.required` (and month, year) need that part, whatever `validate` says."""
    fields = component.get("fields")
    if component.get("type") != "day" or not isinstance(fields, dict):
        return None
    required = [
        part for part in ("day", "month", "year") if isinstance(fields.get(part), dict) and fields[part].get("required")
    ]
    if not required:
        return None
    if not truthy(value):
        return "required", f"{label} is required"
    if not isinstance(value, str):
        return None
    parts = dict(zip(("day", "month", "year"), _day_parts(component, value), strict=True))
    for part in required:
        if not parts[part]:
            return "required", f"{label}: the {part} is required"
    return None


def check_datetime(component: Mapping[str, Any], label: str, value: Any) -> Problem | None:
    """validateDate.ts accepts whatever JavaScript's Date parses; the server asks for a real date in ISO 8601's
    extended form, which Form.io's datetime component submits. Not the forms only Python reads (`20240115`,
    `2024-W03-1`, `2024-01-15T10`, a decimal comma), which JavaScript's Date refuses."""
    if component.get("type") != "datetime" or not isinstance(value, str) or not value:
        return None
    return None if instant(value) is not None else ("invalid_date", f"{label} is not a valid date")


_FILE_KEYS: Mapping[str, type | tuple[type, ...]] = {"storage": str, "name": str, "size": (int, float)}


def check_file_item(label: str, item: Any) -> Problem | None:
    """A file descriptor as Form.io's file component writes it: {storage, name, size, url, type, originalName}."""
    if isinstance(item, dict) and all(
        isinstance(item.get(key), kind) and not isinstance(item.get(key), bool) for key, kind in _FILE_KEYS.items()
    ):
        return None if item["name"] else ("type", f"{label}: a file needs a name.")
    return "type", f"{label}: each file must be an object with storage, name and size."


# Form.io's order (validation/rules/clientRules.ts, then evaluationRules.ts), around the JSON-logic rule, which needs
# the submission: the order decides which one error a field keeps when a `customMessage` makes them all alike
RULES_BEFORE_JSON = (check_datetime, check_day, check_email)
RULES_AFTER_JSON = (
    check_mask,
    check_max_date,
    check_max_length,
    check_max_selected,
    check_max,
    check_max_words,
    check_max_year,
    check_min_date,
    check_min_length,
    check_min_selected,
    check_min,
    check_min_words,
    check_min_year,
    check_pattern,
    check_required,
    check_day_fields_required,
    check_choice,
)

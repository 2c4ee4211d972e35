"""Engine variables, both ways, without an engine."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pytest

from bpmn_bridge.variables import JsonValue, Long, RawValue, decode, parse_date, typed

ATHENS = timezone(timedelta(hours=2))


class Status(StrEnum):
    OPEN = "open"


@pytest.mark.parametrize(
    ("value", "type_", "wire"),
    [
        ("Ελένη", "String", "Ελένη"),
        (Status.OPEN, "String", "open"),
        (True, "Boolean", True),
        (False, "Boolean", False),
        (0, "Integer", 0),
        (2**31 - 1, "Integer", 2**31 - 1),
        (-(2**31), "Integer", -(2**31)),
        (2**31, "Long", 2**31),
        (-(2**31) - 1, "Long", -(2**31) - 1),
        (2**63 - 1, "Long", 2**63 - 1),
        (Long(5), "Long", 5),
        (1.5, "Double", 1.5),
        (None, "Null", None),
        (datetime(2015, 10, 6, 16, 34, 42, 7999, tzinfo=ATHENS), "Date", "2015-10-06T14:34:42.007+0000"),
        (date(2026, 3, 1), "Date", "2026-03-01T00:00:00.000+0000"),
        ({"name": "Ελένη", "n": [1, 2]}, "Json", '{"name": "Ελένη", "n": [1, 2]}'),
        ([1, "δύο"], "Json", '[1, "δύο"]'),
        ((1, 2), "Json", "[1, 2]"),
        (JsonValue('{"k": 1}'), "Json", '{"k": 1}'),
        (RawValue("Xml", "<a/>", {"x": 1}), "Xml", "<a/>"),
    ],
)
def test_a_value_is_sent_with_its_engine_type(value: Any, type_: str, wire: Any) -> None:
    dto = typed(value)
    assert dto["type"] == type_
    assert dto["value"] == wire
    assert type(dto["value"]) is type(wire)  # a str enum goes as a plain str, a bool stays a bool


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (datetime(2026, 1, 1, 12, 0), ValueError),  # naive: which 12:00?
        (2**63, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        ({"x": math.nan}, ValueError),
        (Decimal("1.5"), TypeError),
        (b"pdf", TypeError),
        ({1, 2}, TypeError),
    ],
)
def test_values_the_engine_cannot_hold_are_refused_before_sending(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        typed(value)


def test_wrappers_check_their_content() -> None:
    with pytest.raises(ValueError, match="64-bit"):
        Long(2**63)
    with pytest.raises(TypeError):
        Long(True)
    with pytest.raises(ValueError, match="Expecting"):
        JsonValue("{not json")


@pytest.mark.parametrize(
    ("dto", "value"),
    [
        ({"type": "String", "value": "α"}, "α"),
        ({"type": "Integer", "value": 7}, 7),
        ({"type": "Long", "value": 2**40}, 2**40),
        ({"type": "Double", "value": 2}, 2.0),
        ({"type": "Boolean", "value": False}, False),
        ({"type": "Null", "value": None}, None),
        ({"type": "String", "value": None}, None),
        ({"type": "Json", "value": '{"a": [1, null]}'}, {"a": [1, None]}),
        ({"type": "Date", "value": "2015-10-06T16:34:42.000+0200"}, datetime(2015, 10, 6, 14, 34, 42, tzinfo=UTC)),
        ({"type": "Bytes", "value": "cGRm", "valueInfo": {}}, RawValue("Bytes", "cGRm", {})),
    ],
)
def test_an_engine_variable_is_read_as_python(dto: dict[str, Any], value: Any) -> None:
    decoded = decode(dto)
    assert decoded == value
    assert type(decoded) is type(value)


def test_a_date_keeps_its_milliseconds_and_offset() -> None:
    parsed = parse_date("2026-11-25T11:03:00.415+0200")
    assert parsed.microsecond == 415000
    assert parsed.utcoffset() == timedelta(hours=2)
    assert decode(typed(parsed)) == parsed

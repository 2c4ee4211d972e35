"""Engine variables: Python values to the engine's typed form `{"type", "value", "valueInfo"}` and back.

Never send an untyped value: the engine would guess, and turns a dict into a Java object it cannot serialize.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class Long:
    """An integer the process expects as a Java long even where it would fit an Integer."""

    value: int

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise TypeError(f"Long needs an int, not {type(self.value).__name__}")
        if not LONG_MIN <= self.value <= LONG_MAX:
            raise ValueError(f"{self.value} does not fit a 64-bit Long")


@dataclass(frozen=True, slots=True)
class JsonValue:
    """A string that already holds JSON, sent as the engine's `Json` type instead of a `String`."""

    text: str

    def __post_init__(self) -> None:
        json.loads(self.text)  # refuse broken JSON here, not in the engine's Spin parser


@dataclass(frozen=True, slots=True)
class RawValue:
    """A variable of a type we do not translate (Bytes, File, Xml, Object), passed through as the engine gave it."""

    type: str
    value: Any
    value_info: Mapping[str, Any] = field(default_factory=dict)


def format_date(value: datetime) -> str:
    """The engine's date format `yyyy-MM-dd'T'HH:mm:ss.SSSZ`, in UTC; milliseconds are all it keeps."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: the engine needs a time zone")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def parse_date(text: str) -> datetime:
    """Read the engine's date format (`2015-10-06T16:34:42.000+0200`) into an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def parse_optional_date(text: str | None) -> datetime | None:
    return None if text is None else parse_date(text)


def typed(value: Any) -> dict[str, Any]:
    """One Python value as an engine variable."""
    match value:
        case RawValue(type=type_, value=raw, value_info=info):
            return {"type": type_, "value": raw, "valueInfo": dict(info)}
        case None:
            return _dto("Null", None)
        case bool():  # before int: True is an int in Python
            return _dto("Boolean", value)
        case Long(value=number):
            return _dto("Long", number)
        case int():
            if INT_MIN <= value <= INT_MAX:
                return _dto("Integer", value)
            if LONG_MIN <= value <= LONG_MAX:
                return _dto("Long", value)
            raise ValueError(f"{value} does not fit a 64-bit Long; send it as a string")
        case float():
            if not math.isfinite(value):
                raise ValueError(f"{value} cannot travel as JSON")
            return _dto("Double", value)
        case str():
            return _dto("String", str.__str__(value))  # a str enum travels as its value
        case JsonValue(text=text):
            return _dto("Json", text)
        case datetime():  # before date: a datetime is a date too
            return _dto("Date", format_date(value))
        case date():
            return _dto("Date", format_date(datetime.combine(value, time(), UTC)))
        case Mapping() | list() | tuple():
            return _dto("Json", json.dumps(value, ensure_ascii=False, allow_nan=False))
        case _:
            raise TypeError(f"no engine variable type for {type(value).__name__}")


def typed_map(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: typed(value) for name, value in values.items()}


def decode(dto: Mapping[str, Any]) -> Any:
    """One engine variable (fetched with deserializeValues=false) as a Python value."""
    type_, value = dto.get("type"), dto.get("value")
    if value is None or type_ == "Null":
        return None
    match type_:
        case "String" | "Boolean":
            return value
        case "Integer" | "Long" | "Short":
            return int(value)
        case "Double":
            return float(value)
        case "Date":
            return parse_date(value)
        case "Json":
            return json.loads(value) if isinstance(value, str) else value
        case _:
            return RawValue(str(type_), value, dict(dto.get("valueInfo") or {}))


def decode_map(dtos: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    return {name: decode(dto) for name, dto in (dtos or {}).items()}


def _dto(type_: str, value: Any) -> dict[str, Any]:
    return {"type": type_, "value": value, "valueInfo": {}}

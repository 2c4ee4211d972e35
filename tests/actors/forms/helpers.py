"""Small builders for form definitions in the validator's tests."""

from __future__ import annotations

from typing import Any

from actors.forms import validate_submission


def form(*components: dict[str, Any]) -> dict[str, Any]:
    return {"display": "form", "components": list(components)}


def field(kind: str, key: str, **settings: Any) -> dict[str, Any]:
    return {"type": kind, "key": key, "label": key, "input": True, **settings}


def errors(definition: dict[str, Any], data: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, type) of each error, the part of a FieldError the tests pin down."""
    return [(error.path, error.type) for error in validate_submission(definition, data)]

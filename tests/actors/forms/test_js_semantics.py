"""The JavaScript behaviours the validator reproduces: regular expressions, coercions, JSON-logic operators."""

from __future__ import annotations

import re
from typing import Any

import pytest

from actors.forms import jsonlogic
from actors.forms.js_semantics import MISSING, deep_equal, parse_float, parse_int, to_string, truthy
from actors.forms.rules import compile_pattern


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        (r"(?<area>\d{3})-\k<area>", "210-210", True),  # JavaScript named groups and backreferences
        (r"(?<area>\d{3})-\k<area>", "210-211", False),
        ("[$]", "$", True),  # `$` in a class is a dollar sign
        (r"(?<=a)b|ab", "ab", True),  # lookbehind stays a lookbehind
        (r"\w+", "λέξη", False),  # \w is ASCII in JavaScript
        (r"\/\d", "/1", True),  # builders escape slashes
    ],
)
def test_patterns_behave_as_javascript(pattern: str, value: str, matches: bool) -> None:
    assert bool(compile_pattern(pattern).search(value)) is matches


@pytest.mark.parametrize("pattern", ["[^]", "[]", r"\cJ", r"a\Z", "(?P<x>a)", "(?i)a", "(unclosed"])
def test_patterns_that_disagree_between_javascript_and_python_are_refused(pattern: str) -> None:
    with pytest.raises(re.error):
        compile_pattern(pattern)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (MISSING, "undefined"),
        (None, "null"),
        (True, "true"),
        (1.0, "1"),
        (1.5, "1.5"),
        ([1, None, "a"], "1,,a"),
        ({}, "[object Object]"),
    ],
)
def test_to_string(value: Any, expected: str) -> None:
    assert to_string(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [([], True), ({}, True), ("", False), (0.0, False), (float("nan"), False), (MISSING, False)]
)
def test_truthy(value: Any, expected: bool) -> None:
    assert truthy(value) is expected


def test_equality_and_parsing() -> None:
    assert deep_equal(1, 1.0)
    assert not deep_equal(True, 1)
    assert deep_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert parse_int("12px") == 12
    assert parse_float(" 3.5e1abc") == 35.0
    assert parse_int("") != parse_int("")  # NaN


def test_unsupported_operators_are_found_anywhere() -> None:
    logic = {"if": [{"_get": [{"var": "data"}, "a"]}, [{"relativeMinDate": 3}], {"a": 1, "b": {"nope": 1}}]}
    assert list(jsonlogic.unsupported_operators(logic, "/json")) == [
        ("/json/if/0/_get", "_get"),
        ("/json/if/1/0/relativeMinDate", "relativeMinDate"),
    ]  # an object with two keys is a literal, whatever it holds


def test_json_logic_follows_javascript_coercion() -> None:
    context = {"data": {"n": "10", "list": []}}
    assert jsonlogic.apply({"==": [{"var": "data.n"}, 10]}, context) is True
    assert jsonlogic.apply({"<": [{"var": "data.n"}, 9]}, context) is False
    assert jsonlogic.apply({"!": {"var": "data.list"}}, context) is True  # json-logic-js: [] is falsy
    assert jsonlogic.apply({"log": "quiet"}, context) == "quiet"

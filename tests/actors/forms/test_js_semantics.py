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
        (r"(?<area>\d{3})-(?<line>\d{7})", "210-1234567", True),  # JavaScript named groups
        ("[$]", "$", True),  # `$` in a class is a dollar sign
        ("a", "a\n", False),  # `$` never matches before a final newline in JavaScript
        (r"\w+", "λέξη", False),  # \w is ASCII in JavaScript
        (r"\d", "٣", False),  # so is \d
        (r"\/\d", "/1", True),  # builders escape slashes
        ("a.b", "a\u2028b", False),  # `.` stops at every line terminator
        ("a.b", "a\u00e9b", True),
        (r"a\sb", "a\u00a0b", True),  # \s is Unicode whitespace
        (r"a[\s-]b", "a\u3000b", True),
        (r"a\Sb", "a\u00a0b", False),
        (r"\u0391\u03b8", "Αθ", True),
        ("(a|aa)+", "a" * 64 + "!", False),  # linear time: a backtracking engine would not come back
    ],
)
def test_patterns_behave_as_javascript(pattern: str, value: str, matches: bool) -> None:
    assert bool(compile_pattern(pattern).search(value)) is matches


@pytest.mark.parametrize(
    "pattern",
    ["[^]", "[]", r"\cJ", r"a\Z", "(?P<x>a)", "(?i)a", "(unclosed", r"[\S]", r"[\b]", r"\u12",
     # what cannot be run in linear time: backreferences, lookaround
     r"(?<area>\d{3})-\k<area>", r"(a)\1", r"(?<=a)b", r"(?<!a)b", r"a(?=b)", r"a(?!b)"],
)  # fmt: skip
def test_patterns_that_disagree_between_javascript_and_re2_are_refused(pattern: str) -> None:
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

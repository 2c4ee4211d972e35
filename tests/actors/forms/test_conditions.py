"""Conditional visibility in its three syntaxes, what hiding skips and clears, and conditions per grid row."""

from __future__ import annotations

from typing import Any

import pytest

from tests.actors.forms.helpers import errors, field, form

CHOICES = [{"label": "Ναι", "value": "yes"}, {"label": "Όχι", "value": "no"}]


def required_when(conditional: dict[str, Any], *others: dict[str, Any]) -> dict[str, Any]:
    """A form whose `target` is required and shown or hidden by `conditional`."""
    return form(*others, field("textfield", "target", validate={"required": True}, conditional=conditional))


def is_shown(definition: dict[str, Any], data: dict[str, Any]) -> bool:
    # a shown, required, empty target reports itself
    return ("/target", "required") in errors(definition, data)


LEGACY: list[tuple[str, dict[str, Any], Any, bool]] = [
    ("show when equal", {"show": True, "when": "a", "eq": "yes"}, "yes", True),
    ("hidden when different", {"show": True, "when": "a", "eq": "yes"}, "no", False),
    ("show as string", {"show": "true", "when": "a", "eq": "yes"}, "yes", True),
    ("hide when equal", {"show": False, "when": "a", "eq": "yes"}, "yes", False),
    ("hide as string", {"show": "false", "when": "a", "eq": "yes"}, "no", True),
    ("number compared as string", {"show": True, "when": "a", "eq": "3"}, 3, True),
    ("boolean compared as string", {"show": True, "when": "a", "eq": "true"}, True, True),
    ("array member", {"show": True, "when": "a", "eq": "yes"}, ["no", "yes"], True),
    ("absent value", {"show": True, "when": "a", "eq": ""}, None, False),
]


@pytest.mark.parametrize(("conditional", "value", "shown"), [c[1:] for c in LEGACY], ids=[c[0] for c in LEGACY])
def test_legacy_conditional(conditional: dict[str, Any], value: Any, shown: bool) -> None:
    definition = required_when(conditional, field("hidden", "a"))
    assert is_shown(definition, {"a": value}) is shown


def test_legacy_conditional_on_a_selectboxes_option() -> None:
    definition = required_when(
        {"show": True, "when": "docs", "eq": "yes"}, field("selectboxes", "docs", values=CHOICES)
    )
    assert is_shown(definition, {"docs": {"yes": True, "no": False}})
    assert not is_shown(definition, {"docs": {"yes": False, "no": True}})


def simple(operator: str, value: Any = None, conjunction: str = "all", show: Any = True) -> dict[str, Any]:
    return {
        "show": show,
        "conjunction": conjunction,
        "conditions": [{"component": "a", "operator": operator, "value": value}],
    }


SIMPLE: list[tuple[str, dict[str, Any], dict[str, Any], Any, bool]] = [
    ("isEqual", simple("isEqual", "yes"), field("textfield", "a"), "yes", True),
    ("isEqual other", simple("isEqual", "yes"), field("textfield", "a"), "no", False),
    ("isEqual parses the compared string", simple("isEqual", "5"), field("number", "a"), 5, True),
    ("isEqual boolean", simple("isEqual", "false"), field("radio", "a", values=CHOICES), False, True),
    (
        "isEqual array item",
        simple("isEqual", "yes"),
        field("select", "a", multiple=True, data={"values": CHOICES}),
        ["no", "yes"],
        True,
    ),
    (
        "isEqual selectboxes option",
        simple("isEqual", "yes"),
        field("selectboxes", "a", values=CHOICES),
        {"yes": True},
        True,
    ),
    (
        "isEqual selectboxes unticked",
        simple("isEqual", "yes"),
        field("selectboxes", "a", values=CHOICES),
        {"yes": False},
        False,
    ),
    ("isNotEqual", simple("isNotEqual", "yes"), field("textfield", "a"), "no", True),
    ("isEmpty", simple("isEmpty"), field("textfield", "a"), "  ", True),
    ("isEmpty checkbox false", simple("isEmpty"), field("checkbox", "a"), False, True),
    (
        "isEmpty grid of empty rows",
        simple("isEmpty"),
        field("datagrid", "a", components=[field("textfield", "x")]),
        [{"x": ""}],
        True,
    ),
    ("isNotEmpty", simple("isNotEmpty"), field("textfield", "a"), "x", True),
    ("isNotEmpty absent", simple("isNotEmpty"), field("textfield", "a"), None, False),
    ("greaterThan", simple("greaterThan", 17), field("number", "a"), 18, True),
    ("greaterThan equal", simple("greaterThan", 18), field("number", "a"), 18, False),
    ("greaterThan on a string", simple("greaterThan", 1), field("textfield", "a"), "5", False),
    ("greaterThanOrEqual", simple("greaterThanOrEqual", 18), field("number", "a"), 18, True),
    ("lessThan", simple("lessThan", 3), field("number", "a"), 2, True),
    ("lessThanOrEqual", simple("lessThanOrEqual", 3), field("number", "a"), 4, False),
    ("includes substring", simple("includes", "ΚΕΠ"), field("textfield", "a"), "ΚΕΠ Αθηνών", True),
    ("notIncludes", simple("notIncludes", "ΚΕΠ"), field("textfield", "a"), "Δήμος", True),
    ("startsWith", simple("startsWith", "210"), field("phoneNumber", "a"), "2101234567", True),
    ("endsWith", simple("endsWith", ".gr"), field("email", "a"), "a@b.com", False),
    (
        "dateGreaterThan",
        simple("dateGreaterThan", "2024-01-01T00:00:00Z"),
        field("datetime", "a"),
        "2024-06-01T00:00:00+03:00",
        True,
    ),
    ("dateLessThan empty", simple("dateLessThan", "2024-01-01T00:00:00Z"), field("datetime", "a"), "", False),
    (
        "isDateEqual",
        simple("isDateEqual", "2024-01-01T02:00:00+02:00"),
        field("datetime", "a"),
        "2024-01-01T00:00:00Z",
        True,
    ),
    ("show false inverts", simple("isEqual", "yes", show=False), field("textfield", "a"), "yes", False),
    ("show false as string", simple("isEqual", "yes", show="false"), field("textfield", "a"), "no", True),
]


@pytest.mark.parametrize(
    ("conditional", "trigger", "value", "shown"), [c[1:] for c in SIMPLE], ids=[c[0] for c in SIMPLE]
)
def test_simple_conditional(conditional: dict[str, Any], trigger: dict[str, Any], value: Any, shown: bool) -> None:
    assert is_shown(required_when(conditional, trigger), {"a": value}) is shown


@pytest.mark.parametrize(
    ("conjunction", "a", "b", "shown"),
    [("all", "yes", "yes", True), ("all", "yes", "no", False), ("any", "no", "yes", True), ("any", "no", "no", False)],
)
def test_conjunction(conjunction: str, a: str, b: str, shown: bool) -> None:
    conditional = {
        "show": True,
        "conjunction": conjunction,
        "conditions": [
            {"component": "a", "operator": "isEqual", "value": "yes"},
            {"component": "b", "operator": "isEqual", "value": "yes"},
        ],
    }
    definition = required_when(conditional, field("textfield", "a"), field("textfield", "b"))
    assert is_shown(definition, {"a": a, "b": b}) is shown


JSON: list[tuple[str, Any, dict[str, Any], bool]] = [
    ("data var", {"==": [{"var": "data.a"}, "yes"]}, {"a": "yes"}, True),
    ("data var false", {"==": [{"var": "data.a"}, "yes"]}, {"a": "no"}, False),
    ("javascript equality", {"==": [{"var": "data.a"}, 1]}, {"a": "1"}, True),
    ("row is the data object at top level", {"==": [{"var": "row.a"}, "yes"]}, {"a": "yes"}, True),
    ("component", {"==": [{"var": "component.key"}, "target"]}, {}, True),
    ("missing", {"!": {"missing": ["a"]}}, {}, False),
    ("null result shows", {"var": "data.nothing"}, {}, True),
    ("empty array shows", {"var": "data.list"}, {"list": []}, True),  # JavaScript: [] is truthy
    ("error shows", {"/": [1, 0]}, {}, True),  # json-logic-js gives Infinity; a throwing rule counts as null
]


@pytest.mark.parametrize(("logic", "data", "shown"), [c[1:] for c in JSON], ids=[c[0] for c in JSON])
def test_json_logic_conditional(logic: Any, data: dict[str, Any], shown: bool) -> None:
    definition = required_when({"json": logic}, field("textfield", "a"), field("hidden", "list"))
    assert is_shown(definition, data) is shown


def test_last_syntax_present_decides() -> None:
    # isSimpleConditionallyHidden evaluates json, then legacy, then simple; each overrides the one before
    conditional = {"json": {"==": [1, 2]}, "show": True, "when": "a", "eq": "yes"}
    assert is_shown(required_when(conditional, field("textfield", "a")), {"a": "yes"})


def test_required_field_inside_a_hidden_panel_is_not_validated() -> None:
    definition = form(
        field("radio", "married", values=CHOICES),
        {
            "type": "panel",
            "key": "spousePanel",
            "conditional": {"show": True, "when": "married", "eq": "yes"},
            "components": [
                field("textfield", "spouseName", validate={"required": True}),
                {
                    "type": "columns",
                    "key": "cols",
                    "columns": [{"components": [field("textfield", "spouseAfm", validate={"pattern": r"\d{9}"})]}],
                },
            ],
        },
    )
    assert errors(definition, {"married": "no", "spouseAfm": "bad"}) == []
    assert errors(definition, {"married": "yes", "spouseAfm": "bad"}) == [
        ("/spouseName", "required"),
        ("/spouseAfm", "pattern"),
    ]


def test_hidden_true_is_not_validated_but_keeps_its_value() -> None:
    definition = form(
        field("textfield", "internal", hidden=True, validate={"required": True}),
        {"type": "panel", "key": "p", "hidden": True, "components": [field("number", "n", validate={"max": 1})]},
        field(
            "textfield", "shown", validate={"required": True}, conditional={"show": True, "when": "internal", "eq": "x"}
        ),
    )
    assert errors(definition, {"n": 5}) == []
    # the value of a `hidden: true` component is kept and still drives conditions
    assert errors(definition, {"internal": "x"}) == [("/shown", "required")]


def test_validate_when_hidden() -> None:
    definition = form(field("textfield", "a", hidden=True, validateWhenHidden=True, validate={"required": True}))
    assert errors(definition, {}) == [("/a", "required")]


def test_hidden_value_is_cleared_before_later_conditions() -> None:
    definition = form(
        field("radio", "kind", values=CHOICES),
        field("textfield", "detail", conditional={"show": True, "when": "kind", "eq": "yes"}),
        field(
            "textfield", "more", validate={"required": True}, conditional={"show": True, "when": "detail", "eq": "x"}
        ),
    )
    # `detail` is hidden, so its stale "x" is cleared and no longer shows `more`
    assert errors(definition, {"kind": "no", "detail": "x"}) == []
    assert errors(definition, {"kind": "yes", "detail": "x"}) == [("/more", "required")]


def test_clear_on_hide_false_keeps_the_value_for_later_conditions() -> None:
    definition = form(
        field("radio", "kind", values=CHOICES),
        field("textfield", "detail", clearOnHide=False, conditional={"show": True, "when": "kind", "eq": "yes"}),
        field(
            "textfield", "more", validate={"required": True}, conditional={"show": True, "when": "detail", "eq": "x"}
        ),
    )
    assert errors(definition, {"kind": "no", "detail": "x"}) == [("/more", "required")]


def test_per_row_conditions_in_a_datagrid() -> None:
    definition = form(
        field(
            "datagrid",
            "children",
            components=[
                field("radio", "student", values=CHOICES),
                field(
                    "textfield",
                    "school",
                    validate={"required": True},
                    conditional={"json": {"==": [{"var": "row.student"}, "yes"]}},
                ),
                field(
                    "number",
                    "age",
                    validate={"required": True},
                    conditional={
                        "show": True,
                        "conjunction": "all",
                        "conditions": [{"component": "children.student", "operator": "isEqual", "value": "no"}],
                    },
                ),
                field(
                    "textfield",
                    "note",
                    validate={"required": True},
                    conditional={"show": True, "when": "student", "eq": "yes"},
                ),
            ],
        )
    )
    data = {
        "children": [{"student": "yes"}, {"student": "no"}, {"student": "yes", "school": "1ο Γυμνάσιο", "note": "x"}]
    }
    assert errors(definition, data) == [
        ("/children/0/school", "required"),
        ("/children/0/note", "required"),
        ("/children/1/age", "required"),
    ]


def test_condition_outside_a_grid_reads_its_first_row() -> None:
    # getComponentValue, with no row to match, keeps the first match
    definition = form(
        field("datagrid", "g", components=[field("textfield", "x")]),
        field("textfield", "target", validate={"required": True}, conditional={"show": True, "when": "g.x", "eq": "a"}),
    )
    assert errors(definition, {"g": [{"x": "a"}, {"x": "b"}]}) == [("/target", "required")]
    assert errors(definition, {"g": [{"x": "b"}, {"x": "a"}]}) == []
    assert errors(definition, {"g": []}) == []


def test_explicit_row_index_in_a_condition() -> None:
    definition = form(
        field("datagrid", "g", components=[field("textfield", "x")]),
        field(
            "textfield", "target", validate={"required": True}, conditional={"show": True, "when": "g[1].x", "eq": "a"}
        ),
    )
    assert errors(definition, {"g": [{"x": "b"}, {"x": "a"}]}) == [("/target", "required")]


def test_nested_error_paths() -> None:
    definition = form(
        {
            "type": "panel",
            "key": "page",
            "components": [
                field(
                    "datagrid",
                    "household",
                    components=[
                        {
                            "type": "fieldset",
                            "key": "fs",
                            "components": [field("textfield", "name", validate={"required": True})],
                        },
                        field(
                            "container",
                            "address",
                            components=[field("textfield", "postcode", validate={"pattern": r"\d{5}"})],
                        ),
                        field(
                            "editgrid", "phones", components=[field("phoneNumber", "number", inputMask="9999999999")]
                        ),
                    ],
                )
            ],
        }
    )
    data = {
        "household": [
            {"name": "Μαρία", "address": {"postcode": "10431"}},
            {"address": {"postcode": "1043"}, "phones": [{"number": "2101234567"}, {"number": "210"}]},
        ]
    }
    assert errors(definition, data) == [
        ("/household/1/name", "required"),
        ("/household/1/address/postcode", "pattern"),
        ("/household/1/phones/1/number", "mask"),
    ]


def test_absent_container_still_requires_its_fields() -> None:
    definition = form(
        field("container", "applicant", components=[field("textfield", "afm", validate={"required": True})])
    )
    assert errors(definition, {}) == [("/applicant/afm", "required")]
    assert errors(definition, {"applicant": "x"}) == [("/applicant", "type")]


def test_grid_rows_must_be_objects_and_required_grid_needs_a_value() -> None:
    definition = form(field("datagrid", "g", validate={"required": True}, components=[field("textfield", "x")]))
    assert errors(definition, {"g": [{"x": "a"}, "row"]}) == [("/g/1", "type")]
    assert errors(definition, {"g": [{"x": ""}]}) == [("/g", "required")]
    assert errors(definition, {"g": {"x": "a"}}) == [("/g", "type")]

"""What is stored and sent on is the submission as the form keeps it, never the raw request: Form.io's processed
submission (defaults filled, conditionally hidden values cleared, only the form's own components)."""

from __future__ import annotations

from actors.forms import check_submission
from tests.actors.forms.helpers import field, form

DEFINITION = form(
    field("textfield", "name", validate={"required": True}),
    field("checkbox", "more"),
    field("textfield", "why", conditional={"show": True, "when": "more", "eq": "true"}),
    field("textfield", "country", defaultValue="GR"),
    {"type": "panel", "key": "where", "input": False, "components": [field("textfield", "city")]},
    {"type": "container", "key": "address", "input": True, "components": [field("textfield", "street")]},
    {"type": "datagrid", "key": "children", "input": True, "components": [field("textfield", "child")]},
)


def test_only_what_the_form_keeps_is_kept() -> None:
    raw = {
        "name": "Ελένη",
        "more": False,
        "why": "hidden by its condition",  # cleared: `more` is false
        "city": "Αθήνα",  # a panel's field lives in its parent's data object
        "address": {"street": "Πανεπιστημίου 1", "floor": 3},
        "children": [{"child": "Νίκος", "age": 7}, {"child": "Μαρία"}],
        "office": "elsewhere",  # not a component: dropped
        "where": {"city": "nowhere"},  # a layout holds no data of its own
    }

    checked = check_submission(DEFINITION, raw)

    assert checked.errors == []
    assert checked.data == {
        "name": "Ελένη",
        "more": False,
        "country": "GR",
        "city": "Αθήνα",
        "address": {"street": "Πανεπιστημίου 1"},
        "children": [{"child": "Νίκος"}, {"child": "Μαρία"}],
    }
    assert raw["why"] == "hidden by its condition"  # the caller's data is not touched


def test_a_shown_field_keeps_its_value() -> None:
    checked = check_submission(DEFINITION, {"name": "Ελένη", "more": True, "why": "γιατί"})
    assert checked.data["why"] == "γιατί"

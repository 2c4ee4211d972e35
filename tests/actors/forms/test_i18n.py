"""A form's translations (Form.io's `i18n` shape): which texts they may name, what is refused with a pointer, and a
translated definition that validates exactly what the original does, its messages in the other language."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.forms import check_definition, check_submission
from actors.forms.i18n import check_translations, texts, translate, untranslated
from kepctl.seed import CONTACT_FORM, CONTACT_FORM_TRANSLATIONS

FORM: dict[str, Any] = {
    "display": "form",
    "components": [
        {"type": "textfield", "key": "name", "label": "Ονοματεπώνυμο", "placeholder": "όπως στο διαβατήριο",
         "validate": {"required": True, "maxLength": 20}},
        {"type": "select", "key": "country", "label": "Χώρα", "validate": {"required": True},
         "data": {"values": [{"label": "Ισπανία", "value": "ES"}, {"label": "Ιταλία", "value": "IT"}]}},
        {"type": "panel", "key": "more", "title": "Στοιχεία επικοινωνίας", "components": [
            {"type": "email", "key": "email", "label": "Ηλεκτρονικό ταχυδρομείο",
             "description": "για τις ειδοποιήσεις"},
            {"type": "number", "key": "copies", "label": "Αντίγραφα", "validate": {"min": 1, "max": 3}},
        ]},
        {"type": "textarea", "key": "note", "label": "Σημείωση",
         "conditional": {"show": True, "when": "country", "eq": "IT"}},
    ],
}  # fmt: skip
EN = {
    "Ονοματεπώνυμο": "Full name",
    "όπως στο διαβατήριο": "as in your passport",
    "Χώρα": "Country",
    "Ισπανία": "Spain",
    "Ιταλία": "Italy",
    "Στοιχεία επικοινωνίας": "Contact details",
    "Ηλεκτρονικό ταχυδρομείο": "E-mail",
    "για τις ειδοποιήσεις": "for the notifications",
    "Αντίγραφα": "Copies",
}


def test_the_texts_are_what_people_read_and_nothing_else() -> None:
    found = texts(FORM, "Αίτηση")
    assert set(found) == set(EN) | {"Σημείωση", "Αίτηση"}
    assert found["Ισπανία"] == "/definition/components/1/data/values/0/label"
    assert found["Αντίγραφα"] == "/definition/components/2/components/1/label"
    # keys, option values and conditions are not texts: a translation cannot change what is validated
    assert not {"name", "ES", "IT", "country"} & set(found)


def test_translations_that_fit_are_accepted_and_what_is_missing_is_listed() -> None:
    assert check_definition(FORM) == []
    assert check_translations(FORM, {"en": EN}, "Αίτηση") == []
    assert untranslated(FORM, {"en": EN}, "Αίτηση") == {"en": ["Αίτηση", "Σημείωση"]}


def test_what_does_not_fit_is_refused_with_a_pointer() -> None:
    errors = check_translations(
        FORM, {"en": {"Χώρα": "Country", "Πόλη": "City", "Αντίγραφα": " "}, "EN": {}, "el": {}, "e/n": {}}
    )
    assert {(e.path, e.type) for e in errors} == {
        ("/translations/en/Πόλη", "unknown"),
        ("/translations/en/Αντίγραφα", "length"),
        ("/translations/EN", "language"),
        ("/translations/el", "language"),
        ("/translations/e~1n", "language"),
    }


def test_a_translated_form_speaks_english_and_keeps_everything_else() -> None:
    english = translate(FORM, {"en": EN}, "en")
    assert english["components"][0]["label"] == "Full name"
    assert english["components"][0]["placeholder"] == "as in your passport"
    assert english["components"][1]["data"]["values"] == [
        {"label": "Spain", "value": "ES"},
        {"label": "Italy", "value": "IT"},
    ]
    assert english["components"][2]["title"] == "Contact details"
    assert english["components"][3]["label"] == "Σημείωση"  # not translated: stays as written
    assert FORM["components"][0]["label"] == "Ονοματεπώνυμο"  # the original is untouched
    assert translate(FORM, {"en": EN}, "el") == FORM
    assert translate(FORM, {}, "en") == FORM

    checked = check_submission(english, {"copies": 5})
    messages = {e.path: e.message for e in checked.errors}
    assert "Full name" in messages["/name"]
    assert "Country" in messages["/country"]
    assert "Copies" in messages["/copies"]


def test_the_demo_form_translations_fit_it() -> None:
    assert check_translations(CONTACT_FORM, CONTACT_FORM_TRANSLATIONS, "Γενική αίτηση") == []
    assert untranslated(CONTACT_FORM, CONTACT_FORM_TRANSLATIONS, "Γενική αίτηση") == {"en": []}


VALUES = st.one_of(st.none(), st.integers(-5, 30), st.text(max_size=25), st.sampled_from(["ES", "IT", "FR"]))


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={"name": VALUES, "country": VALUES, "email": VALUES, "copies": VALUES, "note": VALUES},
    )
)
def test_a_translated_form_validates_exactly_what_the_original_does(data: dict[str, Any]) -> None:
    original = check_submission(FORM, data)
    english = check_submission(translate(FORM, {"en": EN}, "en"), data)
    assert english.data == original.data
    assert [(e.path, e.type) for e in english.errors] == [(e.path, e.type) for e in original.errors]

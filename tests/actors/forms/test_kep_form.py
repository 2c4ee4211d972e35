"""A realistic KEP form: an application for a family status certificate (πιστοποιητικό οικογενειακής κατάστασης)."""

from __future__ import annotations

from typing import Any

import pytest

from actors.forms import check_definition
from tests.actors.forms.helpers import errors

AFM = r"\d{9}"

APPLICATION: dict[str, Any] = {
    "display": "form",
    "title": "Αίτηση για πιστοποιητικό οικογενειακής κατάστασης",
    "components": [
        {
            "type": "panel",
            "key": "applicantPanel",
            "title": "Στοιχεία αιτούντος",
            "input": False,
            "components": [
                {
                    "type": "container",
                    "key": "applicant",
                    "input": True,
                    "components": [
                        {
                            "type": "columns",
                            "key": "nameColumns",
                            "input": False,
                            "columns": [
                                {
                                    "width": 6,
                                    "components": [
                                        {
                                            "type": "textfield",
                                            "key": "surname",
                                            "label": "Επώνυμο",
                                            "input": True,
                                            "validate": {"required": True, "maxLength": 60},
                                        }
                                    ],
                                },
                                {
                                    "width": 6,
                                    "components": [
                                        {
                                            "type": "textfield",
                                            "key": "name",
                                            "label": "Όνομα",
                                            "input": True,
                                            "validate": {"required": True, "maxLength": 60},
                                        }
                                    ],
                                },
                            ],
                        },
                        {
                            "type": "textfield",
                            "key": "afm",
                            "label": "ΑΦΜ",
                            "input": True,
                            "validate": {"required": True, "pattern": AFM, "patternMessage": "Ο ΑΦΜ έχει 9 ψηφία"},
                        },
                        {
                            "type": "day",
                            "key": "birthDate",
                            "label": "Ημερομηνία γέννησης",
                            "input": True,
                            "dayFirst": True,
                            "validate": {"required": True},
                        },
                        {"type": "email", "key": "email", "label": "Email", "input": True},
                        {
                            "type": "phoneNumber",
                            "key": "mobile",
                            "label": "Κινητό",
                            "input": True,
                            "inputMask": "6999999999",
                            "validate": {"required": True},
                        },
                    ],
                },
            ],
        },
        {
            "type": "select",
            "key": "municipality",
            "label": "Δήμος εγγραφής",
            "input": True,
            "dataSrc": "values",
            "data": {
                "values": [{"label": "Αθηναίων", "value": "athens"}, {"label": "Θεσσαλονίκης", "value": "thessaloniki"}]
            },
            "validate": {"required": True},
        },
        {
            "type": "radio",
            "key": "maritalStatus",
            "label": "Οικογενειακή κατάσταση",
            "input": True,
            "values": [
                {"label": "Άγαμος/η", "value": "single"},
                {"label": "Έγγαμος/η", "value": "married"},
                {"label": "Διαζευγμένος/η", "value": "divorced"},
            ],
            "validate": {"required": True},
        },
        {
            "type": "fieldset",
            "key": "spouseSection",
            "legend": "Στοιχεία συζύγου",
            "input": False,
            "conditional": {
                "show": True,
                "conjunction": "all",
                "conditions": [{"component": "maritalStatus", "operator": "isEqual", "value": "married"}],
            },
            "components": [
                {
                    "type": "container",
                    "key": "spouse",
                    "input": True,
                    "components": [
                        {
                            "type": "textfield",
                            "key": "fullName",
                            "label": "Ονοματεπώνυμο συζύγου",
                            "input": True,
                            "validate": {"required": True},
                        },
                        {
                            "type": "textfield",
                            "key": "afm",
                            "label": "ΑΦΜ συζύγου",
                            "input": True,
                            "validate": {"required": True, "pattern": AFM},
                        },
                    ],
                }
            ],
        },
        {
            "type": "datagrid",
            "key": "children",
            "label": "Τέκνα",
            "input": True,
            "components": [
                {
                    "type": "textfield",
                    "key": "fullName",
                    "label": "Ονοματεπώνυμο",
                    "input": True,
                    "validate": {"required": True},
                },
                {
                    "type": "number",
                    "key": "age",
                    "label": "Ηλικία",
                    "input": True,
                    "validate": {"required": True, "min": 0, "max": 120},
                },
                {
                    "type": "textfield",
                    "key": "amka",
                    "label": "ΑΜΚΑ",
                    "input": True,
                    "validate": {"required": True, "pattern": r"\d{11}"},
                    "conditional": {"json": {">=": [{"var": "row.age"}, 15]}},
                },
            ],
        },
        {
            "type": "selectboxes",
            "key": "purpose",
            "label": "Σκοπός",
            "input": True,
            "values": [
                {"label": "Για ΑΑΔΕ", "value": "aade"},
                {"label": "Για στράτευση", "value": "army"},
                {"label": "Άλλο", "value": "other"},
            ],
            "validate": {"required": True},
        },
        {
            "type": "textarea",
            "key": "otherPurpose",
            "label": "Άλλος σκοπός",
            "input": True,
            "validate": {"required": True, "maxWords": 30},
            "conditional": {"show": True, "when": "purpose", "eq": "other"},
        },
        {
            "type": "file",
            "key": "idCard",
            "label": "Αστυνομική ταυτότητα",
            "input": True,
            "storage": "base64",
            "validate": {"required": True},
        },
        {
            "type": "checkbox",
            "key": "consent",
            "label": "Συναινώ στην επεξεργασία των δεδομένων μου",
            "input": True,
            "validate": {"required": True},
        },
        {"type": "button", "key": "submit", "label": "Υποβολή", "action": "submit", "input": True},
    ],
}

VALID: dict[str, Any] = {
    "applicant": {
        "surname": "Παπαδοπούλου",
        "name": "Ελένη",
        "afm": "123456789",
        "birthDate": "21/03/1985",
        "email": "eleni@example.gr",
        "mobile": "6912345678",
    },
    "municipality": "athens",
    "maritalStatus": "married",
    "spouse": {"fullName": "Γιώργος Παπαδόπουλος", "afm": "987654321"},
    "children": [
        {"fullName": "Νίκος Παπαδόπουλος", "age": 16, "amka": "01010812345"},
        {"fullName": "Άννα Παπαδοπούλου", "age": 9},
    ],
    "purpose": {"aade": True, "army": False, "other": False},
    "idCard": [
        {
            "storage": "base64",
            "name": "taftotita-3f2a.pdf",
            "originalName": "ταυτότητα.pdf",
            "size": 183001,
            "type": "application/pdf",
            "url": "data:application/pdf;base64,JVBERi0=",
        }
    ],
    "consent": True,
    "submit": True,
}


def with_changes(**changes: Any) -> dict[str, Any]:
    data = {**VALID, **changes}
    return {key: value for key, value in data.items() if value is not None}


def test_the_definition_is_accepted() -> None:
    assert check_definition(APPLICATION) == []


def test_a_complete_application_is_valid() -> None:
    assert errors(APPLICATION, VALID) == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            with_changes(
                applicant={**VALID["applicant"], "afm": "12345678", "birthDate": "31/02/1985", "mobile": "2101234567"}
            ),
            [("/applicant/afm", "pattern"), ("/applicant/birthDate", "invalid_date"), ("/applicant/mobile", "mask")],
            id="applicant details",
        ),
        pytest.param(
            with_changes(applicant={}, municipality="patra", maritalStatus=None),
            [
                ("/applicant/surname", "required"),
                ("/applicant/name", "required"),
                ("/applicant/afm", "required"),
                ("/applicant/birthDate", "required"),
                ("/applicant/mobile", "required"),
                ("/municipality", "invalid_choice"),
                ("/maritalStatus", "required"),
            ],
            id="missing applicant",
        ),
        pytest.param(
            with_changes(spouse={"fullName": "", "afm": "ABC"}),
            [("/spouse/fullName", "required"), ("/spouse/afm", "pattern")],
            id="spouse checked when married",
        ),
        pytest.param(with_changes(maritalStatus="single", spouse={"afm": "ABC"}), [], id="spouse skipped when single"),
        pytest.param(
            with_changes(
                children=[
                    {"fullName": "Νίκος", "age": 16},
                    {"fullName": "", "age": 121},
                    {"fullName": "Άννα", "age": "nine"},
                ]
            ),
            [
                ("/children/0/amka", "required"),
                ("/children/1/fullName", "required"),
                ("/children/1/age", "max"),
                ("/children/1/amka", "required"),
                ("/children/2/age", "type"),
            ],
            id="children per row",
        ),
        pytest.param(
            with_changes(purpose={"aade": False, "army": False, "other": False}),
            [("/purpose", "required")],
            id="no purpose",
        ),
        pytest.param(
            with_changes(purpose={"aade": False, "other": True}),
            [("/otherPurpose", "required")],
            id="other purpose shows its text",
        ),
        pytest.param(
            with_changes(idCard=[], consent=False),
            [("/idCard", "required"), ("/consent", "required")],
            id="attachments",
        ),
    ],
)
def test_invalid_applications(data: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert errors(APPLICATION, data) == expected

"""Document templates: the shipped ones render, and what an administrator saves is checked with pointers."""

from __future__ import annotations

import pytest

from actors.documents import templates
from messages.documents import Lang, TemplateKind
from messages.errors import InvalidInput

PAGE = "<!doctype html><html><body>{}</body></html>"


@pytest.mark.parametrize("kind", list(TemplateKind))
@pytest.mark.parametrize("lang", list(Lang))
def test_the_shipped_templates_pass_their_own_check(kind: TemplateKind, lang: Lang) -> None:
    body = templates.shipped_body(kind, lang)
    templates.check(body, kind, lang)
    html = templates.render(body, templates.sample_context(kind, lang))
    assert 'id="page-header"' in html
    assert 'class="pageNumber"' in html
    assert f'lang="{lang.value}"' in html
    assert "ABCD-EFGH-IJKL-MNOP" in html  # the verification code is printed


@pytest.mark.parametrize(
    ("body", "kind_of_error", "says"),
    [
        (PAGE.format("{{ case.number"), "template_syntax", "line 1"),
        (PAGE.format("{{ password }}"), "unknown_field", "password"),
        (PAGE.format("{{ citizen.email }}"), "unknown_field", "email"),
        (PAGE.format("{{ case.__class__.__mro__ }}"), "template_security", "unsafe"),
        (PAGE.format("{{ case.number | nosuchfilter }}"), "template_syntax", "nosuchfilter"),
        ("<p>{{ case.number }}</p>", "template_page", "<body>"),
    ],
)
def test_a_template_that_cannot_make_a_document_is_refused_with_a_pointer(
    body: str, kind_of_error: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        templates.check(body, TemplateKind.RECEIPT, Lang.EL)
    [error] = refused.value.errors
    assert (error.path, error.type) == ("/body", kind_of_error)
    assert says in error.message


def test_what_a_citizen_typed_is_text_not_markup() -> None:
    context = templates.sample_context(TemplateKind.RECEIPT, Lang.EL)
    context["citizen"] = {**context["citizen"], "last_name": '<img src=x onerror="alert(1)">'}
    html = templates.render(PAGE.format("{{ citizen.last_name }}"), context)
    assert "<img" not in html
    assert "&lt;img" in html


def test_any_field_of_the_procedures_form_may_be_named() -> None:
    templates.check(PAGE.format("{{ form.purpose }} {{ form['αριθμός'] }}"), TemplateKind.CERTIFICATE, Lang.EN)
    context = templates.sample_context(TemplateKind.RECEIPT, Lang.EL) | {"form": templates.AnyForm({"a": "x"})}
    assert templates.render(PAGE.format("[{{ form.a }}|{{ form.b }}]"), context).count("[x|]") == 1


@pytest.mark.parametrize("kind", list(TemplateKind))
def test_a_citizen_of_another_member_state_is_named_by_their_eidas_identity(kind: TemplateKind) -> None:
    for lang in Lang:
        context = templates.sample_context(kind, lang)
        context["citizen"] = {**context["citizen"], "afm": None, "eidas": "ES/12345678Z"}
        html = templates.render(templates.shipped_body(kind, lang), context)
        assert "ES/12345678Z" in html
        assert "ΑΦΜ" not in html

"""Document templates: Jinja2 in a sandbox with autoescaping (administrators write them; a template must not reach
Python objects or inject markup through a citizen's name), the shipped defaults, and the checks a new version
passes before it is saved (it parses, it names only fields a document has, it renders).

A template is one HTML page printed by Chromium on A4 with its own `@media print` CSS (the shipped stylesheet is
`print_css`). Its running header and footer are `<template id="page-header">` and `<template id="page-footer">`
elements, which Chromium repeats on every page (classes `pageNumber`, `totalPages`, `date`, `title` inside them
are filled in by Chromium).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from messages.documents import Lang, TemplateKind
from messages.errors import FieldError, InvalidInput

ATHENS = ZoneInfo("Europe/Athens")
# what a template may name at its top level (`inputs.gather` and what the render adds)
FIELDS = frozenset(
    {"lang", "case", "citizen", "office", "procedure", "form", "issued_at", "verification", "print_css", "title"}
)
_SHIPPED = resources.files("actors.documents") / "shipped"


def _date(value: str | datetime | None, with_time: bool = False) -> str:
    """An ISO instant as Greek civil time, dd/mm/yyyy (and HH:MM)."""
    if value is None:
        return ""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(ATHENS).strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
    env.filters["date"] = _date
    return env


ENV = _environment()


def shipped_body(kind: TemplateKind, lang: Lang) -> str:
    return (_SHIPPED / f"{kind.value}.{lang.value}.html").read_text(encoding="utf-8")


@lru_cache(maxsize=64)
def _compiled(body: str) -> Template:
    # a version's body never changes: compiled once per process, not per document
    return ENV.from_string(body)


@lru_cache(maxsize=1)
def print_css() -> Markup:
    return Markup((_SHIPPED / "print.css").read_text(encoding="utf-8"))  # noqa: S704 - our own file


def render(body: str, context: dict[str, Any]) -> str:
    """The page Chromium prints. Raises jinja2's errors for a bad template (checked before it is saved)."""
    return _compiled(body).render({**context, "print_css": print_css()})


def sample_context(kind: TemplateKind, lang: Lang) -> dict[str, Any]:
    """Inputs of the shape `inputs.gather` makes, for checking a template without a case."""
    now = datetime.now(ATHENS).isoformat()
    return {
        "lang": lang.value,
        "title": kind.value,
        "case": {"id": "00000000-0000-0000-0000-000000000000", "number": "KEP-0001/2026/000001",
                 "status": "completed", "channel": "counter", "opened_at": now, "completed_at": now, "due_at": now},
        "citizen": {"first_name": "Ελένη", "last_name": "Παπαδάκη", "father_name": "Νικόλαος", "afm": "090000045"},
        "office": {"code": "KEP-0001", "name": "ΚΕΠ Δοκιμής", "municipality": "Αθηναίων"},
        "procedure": {"mitos_id": "000001", "title": "Έκδοση πιστοποιητικού"},
        "form": AnyForm(),
        "issued_at": now,
        "verification": {"code": "ABCD-EFGH-IJKL-MNOP", "url": "https://kep.example/verify/ABCD-EFGH-IJKL-MNOP"},
    }  # fmt: skip


class AnyForm(dict[str, Any]):
    """A procedure's form fields are its own: a template may name any of them (empty when a case lacks it)."""

    def __missing__(self, key: str) -> str:
        return ""


def check(body: str, kind: TemplateKind, lang: Lang) -> None:
    """A template administrators may save: it parses, names no unknown field, renders with sample inputs and has
    a page to print. InvalidInput with the pointer `/body` (and the line, where jinja2 knows it) otherwise."""
    try:
        parsed = ENV.parse(body)
        ENV.from_string(body)  # compiling finds what parsing does not (an unknown filter)
    except TemplateSyntaxError as exc:
        raise InvalidInput.at("/body", f"line {exc.lineno}: {exc.message}", "template_syntax") from None
    unknown = sorted(meta.find_undeclared_variables(parsed) - FIELDS)
    if unknown:
        allowed = ", ".join(sorted(FIELDS))
        raise InvalidInput.at("/body", f"unknown field(s) {', '.join(unknown)}; a document has {allowed}",
                              "unknown_field")  # fmt: skip
    try:
        html = render(body, sample_context(kind, lang))
    except UndefinedError as exc:
        raise InvalidInput.at("/body", f"unknown field: {exc.message}", "unknown_field") from None
    except SecurityError as exc:
        raise InvalidInput.at("/body", f"not allowed in a template: {exc}", "template_security") from None
    except Exception as exc:  # anything else a template can make jinja2 raise while rendering
        raise InvalidInput(
            "the template does not render", [FieldError("/body", f"{type(exc).__name__}: {exc}", "template_render")]
        ) from None
    if "<body" not in html.lower():
        raise InvalidInput.at("/body", "a document template is a whole HTML page with a <body>", "template_page")

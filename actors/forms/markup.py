"""What a saved form may show. Form.io renders a component's label, description, tooltip and messages as HTML, writes
`attrs` onto its elements, and evaluates `{{…}}` and `{%…%}` as JavaScript templates, in every browser that renders
the form: one administrator's definition must not run code or markup in every employee's browser. So, when a form
is saved: templates are refused everywhere (but in patterns and masks, which are not rendered), `attrs` too, text
shown to people is plain text, and the HTML of `content` and `htmlelement` components is a safe subset (what
Ammonia, through `nh3`, keeps unchanged)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import nh3

from actors.forms.errors import FieldError, pointer_join

_TEMPLATE = re.compile(r"\{\{|\{%")
_MARKUP = re.compile(r"<[A-Za-z!/?]")
# keys whose text Form.io puts into the page as HTML
_SHOWN = frozenset({"label", "description", "tooltip", "placeholder", "prefix", "suffix", "legend", "title",
                    "customMessage", "errorLabel", "addAnother", "removeRow", "saveRow"})  # fmt: skip
_NOT_RENDERED = frozenset({"pattern", "inputMask", "key"})
SAFE_TAGS = frozenset({"p", "br", "strong", "b", "em", "i", "u", "span", "div", "ul", "ol", "li", "h1", "h2",
                       "h3", "h4", "h5", "h6", "hr", "blockquote", "table", "thead", "tbody", "tr", "th", "td",
                       "a"})  # fmt: skip
_SAFE_ATTRIBUTES = {"a": {"href", "title"}}
_SCHEMES = frozenset({"http", "https", "mailto"})


def check_markup(component: Mapping[str, Any], pointer: str, children: frozenset[str]) -> Iterator[FieldError]:
    """Errors of one component (its `children` keys, lists of other components, are checked as themselves)."""
    if component.get("attrs"):
        yield FieldError(pointer_join(pointer, "attrs"), "Raw element attributes are not accepted.", "raw_attributes")
    html_component = component.get("type") in ("content", "htmlelement")
    if component.get("type") == "htmlelement" and str(component.get("tag") or "p").lower() not in SAFE_TAGS:
        yield FieldError(pointer_join(pointer, "tag"), f"The element must be one of {', '.join(sorted(SAFE_TAGS))}.",
                         "unsafe_html")  # fmt: skip
    for key, value in component.items():
        if key in children or key == "attrs":
            continue
        at = pointer_join(pointer, key)
        if html_component and key in ("content", "html") and isinstance(value, str):
            yield from _check_html(value, at)
        else:
            yield from _check_value(key, value, at, shown=key in _SHOWN)


def _check_value(key: str | int, value: Any, at: str, *, shown: bool) -> Iterator[FieldError]:
    if isinstance(value, str):
        if key in _NOT_RENDERED:
            return
        if _TEMPLATE.search(value):
            yield FieldError(at, "Templates ({{…}}, {%…%}) run as JavaScript in the browser; not accepted.", "template")
        elif shown and _MARKUP.search(value):
            yield FieldError(at, "This text is shown as HTML to everyone who opens the form: plain text only.",
                             "markup")  # fmt: skip
    elif isinstance(value, Mapping):
        for k, v in value.items():  # messages (`errors`, `validate.customMessage`), option lists' labels
            yield from _check_value(k, v, pointer_join(at, k), shown=shown or k in _SHOWN or key == "errors")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _check_value(key if isinstance(v, str) else i, v, pointer_join(at, i), shown=shown)


def _check_html(html: str, at: str) -> Iterator[FieldError]:
    if _TEMPLATE.search(html):
        yield FieldError(at, "Templates ({{…}}, {%…%}) run as JavaScript in the browser; not accepted.", "template")
        return
    safe = nh3.clean(html, tags=set(SAFE_TAGS), attributes=_SAFE_ATTRIBUTES, url_schemes=set(_SCHEMES), link_rel=None)
    if safe != html:
        yield FieldError(at, "Only simple, closed HTML is accepted here (no scripts, styles, event handlers or other "
                             f"elements than {', '.join(sorted(SAFE_TAGS))}); the safe form is: {safe[:200]}",
                         "unsafe_html")  # fmt: skip

"""An announcement's body as HTML a browser may show: plain text escaped into paragraphs, or CommonMark (with
tables and strikethrough, without raw HTML) rendered by markdown-it and then kept to a safe subset by Ammonia
(`nh3`): no scripts, styles, images or event handlers, links only to http(s) and mailto and opened without the
referrer. Pure; run once when an announcement is saved."""

from __future__ import annotations

import html
import re

import nh3
from markdown_it import MarkdownIt

from messages.news import NewsFormat

SAFE_TAGS = frozenset({"p", "br", "strong", "em", "s", "del", "code", "pre", "blockquote", "ul", "ol", "li",
                       "h1", "h2", "h3", "h4", "h5", "h6", "hr", "a", "table", "thead", "tbody", "tr", "th",
                       "td"})  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}}
_SCHEMES = frozenset({"http", "https", "mailto"})
# markdown-it aligns table cells with `style="text-align: …"`; nothing else of a style attribute is kept
_STYLE = re.compile(r"text-align:\s*(left|right|center)")
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)
_PARAGRAPHS = re.compile(r"\n[ \t]*\n+")


def _attribute(tag: str, name: str, value: str) -> str | None:
    if name == "style":
        found = _STYLE.fullmatch(value.strip().rstrip(";"))
        return f"text-align:{found.group(1)}" if found else None
    return value


def _clean(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=set(SAFE_TAGS),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        attribute_filter=_attribute,
        url_schemes=set(_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def to_html(body: str, fmt: NewsFormat) -> str:
    """The body as sanitised HTML."""
    if fmt is NewsFormat.MARKDOWN:
        return _clean(_MD.render(body))
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    paragraphs = (html.escape(p).replace("\n", "<br>") for p in _PARAGRAPHS.split(text) if p.strip())
    return _clean("".join(f"<p>{p}</p>" for p in paragraphs))

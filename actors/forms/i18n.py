"""A form's translations: the texts people read (labels, placeholders, option labels...) in other languages.

The shape is Form.io's own `i18n` option, `{"en": {"Σκοπός": "Purpose"}}`: a text of the definition, exactly as it
is written there, and what to show instead. Form.io's renderer applies it while rendering; here `translate` applies
it to a copy of the definition, so that a client without the option, and the server's own messages (which name a
field by its label), speak the language too. Keys, values, conditions and validation stay as they are: a translated
definition validates exactly what the original does.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

from actors.forms.errors import pointer_join
from messages.errors import FieldError

SOURCE_LANGUAGE = "el"  # what the definitions are written in
LANGUAGE = re.compile(r"^[a-z]{2}$")  # ISO 639-1
MAX_LANGUAGES = 24  # the EU's official languages
MAX_TEXTS = 2000  # per language
MAX_CHARS = 5000  # per text and per translation

# what Form.io's renderer passes through `t()`: the texts of a component (and of a tab, a column, an option)
TEXT_FIELDS = frozenset(
    {"label", "placeholder", "description", "tooltip", "errorLabel", "prefix", "suffix", "title", "legend",
     "content", "html", "addAnother", "removeRow", "saveRow", "customMessage"}
)  # fmt: skip
# parts of a component that hold no text to read: conditions, logic, computed values
_NOT_TEXT = frozenset(
    {"conditional", "customConditional", "logic", "calculateValue", "customDefaultValue", "defaultValue", "json",
     "properties", "attributes", "widget"}
)  # fmt: skip

Translations = Mapping[str, Mapping[str, str]]


def _slots(node: Any, pointer: str) -> Iterator[tuple[dict[str, Any], str, str]]:
    """Where the texts are: (the object holding one, its field, the pointer to it)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _slots(item, pointer_join(pointer, i))
    elif isinstance(node, dict):
        for name, value in node.items():
            if name in TEXT_FIELDS and isinstance(value, str) and value.strip():
                yield node, name, pointer_join(pointer, name)
            elif name not in _NOT_TEXT and isinstance(value, dict | list):
                yield from _slots(value, pointer_join(pointer, name))


def texts(definition: Mapping[str, Any], title: str | None = None) -> dict[str, str]:
    """Every text of the definition (and the form's `title`) that a translation may name → where it first occurs
    (a JSON pointer into the definition; `/title` for the form's title)."""
    found: dict[str, str] = {}
    if title and title.strip():
        found[title] = "/title"
    for holder, name, pointer in _slots(definition.get("components", []), "/definition/components"):
        found.setdefault(holder[name], pointer)
    return found


def check_translations(
    definition: Mapping[str, Any], translations: Translations, title: str | None = None
) -> list[FieldError]:
    """What is wrong with `translations` for this definition, with pointers under /translations."""
    errors: list[FieldError] = []
    if len(translations) > MAX_LANGUAGES:
        errors.append(FieldError("/translations", f"at most {MAX_LANGUAGES} languages", "too_many"))
    known = texts(definition, title)
    for lang, entries in translations.items():
        at = pointer_join("/translations", lang)
        if not LANGUAGE.match(lang) or lang == SOURCE_LANGUAGE:
            errors.append(FieldError(at, "a language is a two-letter ISO 639-1 code other than el", "language"))
            continue
        if len(entries) > MAX_TEXTS:
            errors.append(FieldError(at, f"at most {MAX_TEXTS} texts per language", "too_many"))
            continue
        for text, translated in entries.items():
            here = pointer_join(at, text)
            if text not in known:
                errors.append(FieldError(here, "the form has no such text (label, placeholder, option...)", "unknown"))
            elif not translated.strip() or len(translated) > MAX_CHARS:
                errors.append(FieldError(here, f"a translation has 1 to {MAX_CHARS} characters", "length"))
    return errors


def untranslated(
    definition: Mapping[str, Any], translations: Translations, title: str | None = None
) -> dict[str, list[str]]:
    """Per language, the texts of the definition (and the title) that it does not translate yet."""
    known = texts(definition, title)
    return {lang: [t for t in known if t not in entries] for lang, entries in sorted(translations.items())}


def translate(definition: Mapping[str, Any], translations: Translations, lang: str) -> dict[str, Any]:
    """A copy of the definition in `lang`, as Form.io's renderer shows it with `i18n`: a text without a translation
    stays as it is written (Greek)."""
    translated = copy.deepcopy(dict(definition))
    words = translations.get(lang, {})
    if lang != SOURCE_LANGUAGE and words:
        for holder, name, _ in list(_slots(translated.get("components", []), "")):
            holder[name] = words.get(holder[name], holder[name])
    return translated

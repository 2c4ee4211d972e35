"""Which language a search query is in, Greek written in Latin letters (Greeklish) back in Greek, and a spelling-
blind key of Greek words, so that a query spelt by ear meets the title spelt by the book.

No library in the registries we reach goes this way (those there, e.g. greek-to-greeklish, turn Greek into Latin),
so the table is ours: ELOT 743 and the variants people type (x or h for χ, 8 for θ, w for ω, 3 for ξ, u for υ).
Where Greeklish is ambiguous (i may be ι, η, υ, ει, οι) the key, not the transliteration, settles it: every spelling
of the sound /i/ becomes ι, of /o/ ο, of /e/ ε, and doubled consonants are single.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from actors.catalog.lexical import fold


class Script(StrEnum):
    GREEK = "greek"
    LATIN = "latin"
    NONE = "none"  # digits, punctuation: nothing to tell


def _is_greek(c: str) -> bool:
    return "\u0370" <= c <= "\u03ff" or "\u1f00" <= c <= "\u1fff"


def detect_script(text: str) -> Script:
    """The script most of the query's letters are in; a Greek letter counts double (acronyms like «ΑΦΜ» are short)."""
    greek = latin = 0
    for c in unicodedata.normalize("NFC", text):
        if not c.isalpha():
            continue
        if _is_greek(c):
            greek += 2
        elif c.isascii() or unicodedata.name(c, "").startswith("LATIN"):
            latin += 1
    if not greek and not latin:
        return Script.NONE
    return Script.GREEK if greek >= latin else Script.LATIN


# longest first; each Latin spelling once, mapped to the Greek letters it most often stands for
_GREEKLISH: list[tuple[str, str]] = sorted(
    {
        "ps": "ψ", "ks": "ξ", "cs": "ξ", "th": "θ", "ch": "χ", "dh": "δ", "ou": "ου", "oy": "ου",
        "mp": "μπ", "nt": "ντ", "gk": "γκ", "gg": "γγ", "ng": "γγ", "ai": "αι", "ei": "ει", "oi": "οι",
        "au": "αυ", "av": "αυ", "af": "αυ", "eu": "ευ", "ev": "ευ", "ef": "ευ",
        "a": "α", "b": "μπ", "c": "κ", "d": "δ", "e": "ε", "f": "φ", "g": "γ", "h": "η", "i": "ι", "j": "τζ",
        "k": "κ", "l": "λ", "m": "μ", "n": "ν", "o": "ο", "p": "π", "q": "κ", "r": "ρ", "s": "σ", "t": "τ",
        "u": "υ", "v": "β", "w": "ω", "x": "χ", "y": "υ", "z": "ζ", "8": "θ", "3": "ξ", "9": "θ", "4": "δ",
    }.items(),
    key=lambda item: -len(item[0]),
)  # fmt: skip
_VOWELS = set("aeiouyw")
_TOKEN = re.compile(r"[a-z0-9]+|[^a-z0-9]+")


def _word_to_greek(word: str) -> str:
    if word.isdigit():
        return word
    out, i = [], 0
    while i < len(word):
        # h before a vowel at the start of a syllable is χ (hartia, xronia are both common); elsewhere η
        if word[i] == "h" and i + 1 < len(word) and word[i + 1] in _VOWELS and (i == 0 or word[i - 1] not in _VOWELS):
            out.append("χ")
            i += 1
            continue
        for latin, greek in _GREEKLISH:
            if word.startswith(latin, i):
                out.append(greek)
                i += len(latin)
                break
        else:
            out.append(word[i])
            i += 1
    return "".join(out)


def greeklish_to_greek(text: str) -> str:
    """`epidoma gennisis` → `επιδομα γεννισισ`: letters, not spelling (the key takes care of that)."""
    return "".join(
        _word_to_greek(t) if t[0].isalnum() else t
        for t in _TOKEN.findall(unicodedata.normalize("NFKD", text.casefold()).encode("ascii", "ignore").decode())
    )


_KEY_STEPS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), r)
    for p, r in [
        (r"(?<=[αε])[υφ]", "β"),  # αυ/ευ are αβ/εβ or αφ/εφ by the next letter; people write either
        (r"ου", "U"),  # kept apart from ο and υ below
        (r"ει|οι|υι|η|υ", "ι"),
        (r"αι", "ε"),
        (r"ω", "ο"),
        (r"γγ|γκ|νγ|νκ", "γκ"),
        (r"ντ", "ντ"),
        (r"μπ", "μπ"),
        (r"ξ|κσ", "χ"),  # x is ξ in ELOT, χ in most Greeklish: one sound for the key
        (r"ψ", "πσ"),
        (r"(.)\1", r"\1"),  # doubled letters: γεννηση, γενηση
        (r"U", "ου"),
    ]
]


def sound_key(text: str) -> str:
    """Folded Greek with every spelling of one sound as one: γέννησης, γενησις and γεννισεις share `γενισισ`."""
    key = fold(text)
    for pattern, replacement in _KEY_STEPS:
        key = pattern.sub(replacement, key)
    return key

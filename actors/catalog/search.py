"""One search over the catalogue's indexes in any mode; pure and blocking (the actor runs it in a thread).

The query decides which indexes take part (`plan`): Greek letters search the Greek fields; Latin letters search
the English fields and, transliterated, the Greek titles by sound (Greeklish); `lang` forces one language. The
semantic side always searches the Greek titles (every procedure has one, and the multilingual model puts an English
query next to its Greek title), and the English titles too when the query may be English.

Hybrid ranking (`fuse`) is weighted reciprocal rank fusion, weighted by how sure the lexical side is; the reasons
and the measurements are in the README's search section.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.catalog.embedding import Matrix
from actors.catalog.language import Script, detect_script, greeklish_to_greek, sound_key
from actors.catalog.lexical import Hit, LexicalIndex, SearchDoc
from actors.catalog.semantic import SemanticIndex, reciprocal_rank_fusion
from messages.catalog import SearchMode

FUSION_DEPTH = 50  # how far down each list hybrid ranking looks


@dataclass(frozen=True)
class Indexes:
    el: LexicalIndex
    en: LexicalIndex
    sound: LexicalIndex  # Greek titles by sound_key: what Greeklish queries are matched against
    semantic_el: SemanticIndex | None = None
    semantic_en: SemanticIndex | None = None


@dataclass(frozen=True)
class Plan:
    greek: bool = False
    english: bool = False
    greeklish: bool = False

    @property
    def lang(self) -> str:
        return "el" if self.greek else "en"


def build_lexical(el: list[SearchDoc], en: list[SearchDoc]) -> tuple[LexicalIndex, LexicalIndex, LexicalIndex]:
    """The three lexical indexes: Greek fields, English fields, Greek titles by sound (descriptions left out there:
    a Greeklish query spelt loosely would match their boilerplate as readily as a title)."""
    sound = [
        SearchDoc(d.procedure_id, sound_key(d.title), tuple(sound_key(a) for a in d.alternative_titles)) for d in el
    ]
    return LexicalIndex(el, "el"), LexicalIndex(en, "en"), LexicalIndex(sound, "el")


def plan(query: str, lang: str | None = None) -> Plan:
    if lang == "el":
        return Plan(greek=True)
    if lang == "en":
        return Plan(english=True)
    script = detect_script(query)
    if script is Script.GREEK:
        return Plan(greek=True)
    if script is Script.LATIN:
        return Plan(english=True, greeklish=True)
    return Plan(greek=True, english=True)  # digits only: ask everywhere


@dataclass(frozen=True)
class Found:
    hits: list[Hit]
    lang: str  # the language of the titles to show: the query's, as far as it can be told


def lexical_hits(query: str, p: Plan, ix: Indexes, limit: int) -> Found:
    lists = []
    if p.greek:
        lists.append(("el", ix.el.search(query, limit)))
    if p.english:
        lists.append(("en", ix.en.search(query, limit)))
    if p.greeklish:
        lists.append(("el", ix.sound.search(sound_key(greeklish_to_greek(query)), limit)))
    elif p.greek:  # misspelt by ear (ι for η, ο for ω): the sound index forgives what the spelling one does not
        lists.append(("el", ix.sound.search(sound_key(query), limit)))
    found = [(lang, hits) for lang, hits in lists if hits]
    if not found:
        return Found([], p.lang)
    if len(found) == 1:
        return Found(found[0][1], found[0][0])
    return Found(reciprocal_rank_fusion([hits for _, hits in found], limit), p.lang)


def semantic_hits(vector: Matrix, p: Plan, ix: Indexes, limit: int) -> list[Hit]:
    if ix.semantic_el is None or ix.semantic_en is None:
        raise ValueError("semantic search needs the semantic indexes")
    best: dict[str, float] = {}
    for index in (ix.semantic_el, ix.semantic_en) if p.english else (ix.semantic_el,):
        for hit in index.search(vector, limit):
            best[hit.procedure_id] = max(best.get(hit.procedure_id, -1.0), hit.score)
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [Hit(pid, score) for pid, score in ranked]


def fuse(lexical: list[Hit], semantic: list[Hit], limit: int) -> list[Hit]:
    if not lexical:
        return semantic[:limit]
    return reciprocal_rank_fusion([lexical, semantic], limit, weights=[2.0, 1.0])


def search_indexes(
    query: str,
    limit: int,
    mode: SearchMode,
    ix: Indexes,
    query_vector: Matrix | None = None,
    lang: str | None = None,
) -> Found:
    p = plan(query, lang)
    if mode is SearchMode.LEXICAL:
        return lexical_hits(query, p, ix, limit)
    if query_vector is None:
        raise ValueError(f"{mode} search needs the query's vector")
    if mode is SearchMode.SEMANTIC:
        return Found(semantic_hits(query_vector, p, ix, limit), p.lang)
    lexical = lexical_hits(query, p, ix, FUSION_DEPTH)
    return Found(fuse(lexical.hits, semantic_hits(query_vector, p, ix, FUSION_DEPTH), limit), lexical.lang)

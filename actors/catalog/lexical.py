"""Lexical procedure search: a tantivy index in memory, rebuilt whole after each sync.

Greek is folded before tantivy sees it (case, tonos and dialytika, final sigma), in documents and queries alike,
so ΠΙΣΤΟΠΟΙΗΤΙΚΟ, πιστοποιητικο and πιστοποιητικό are one term. Each query word matches exactly, by its stem
(Snowball, so that the nominative people type finds the genitive titles use: επίδομα → «Χορήγηση επιδόματος»), by
prefix (the word being typed) or within an edit distance that grows with its length (typos); fields are boosted
official title > alternative titles > description.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import tantivy

FIELDS: dict[str, float] = {"title": 4.0, "alt": 2.0, "description": 1.0}
STEMMERS = {"el": "greek", "en": "english"}
_STEMMED = "_stem"  # suffix of the stemmed copy of each field
_WORD = re.compile(r"\w+", re.UNICODE)


def fold(text: str) -> str:
    """Lower case, no accents or dialytika, final sigma as σ: how Greek users type into a search box."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.replace("ς", "σ")


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


@dataclass(frozen=True)
class SearchDoc:
    procedure_id: str
    title: str
    alternative_titles: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Hit:
    procedure_id: str
    score: float


def _typo_distance(word: str) -> int:
    # short words would match half the dictionary with a typo allowed
    return 0 if len(word) < 4 else 1 if len(word) < 8 else 2


class LexicalIndex:
    """One index per language; build once, search from many coroutines (searching does not mutate)."""

    def __init__(self, docs: Iterable[SearchDoc], lang: str = "el") -> None:
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("id", stored=True, tokenizer_name="raw")
        for name in FIELDS:
            builder.add_text_field(name, stored=False, tokenizer_name="default")
            builder.add_text_field(name + _STEMMED, stored=False, tokenizer_name=_STEMMED)
        self.schema = builder.build()
        self.index = tantivy.Index(self.schema)  # no path: held in memory
        self.stemmer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.stemmer(STEMMERS[lang]))
            .build()
        )
        self.index.register_tokenizer(_STEMMED, self.stemmer)
        writer = self.index.writer(heap_size=50_000_000, num_threads=1)
        count = 0
        for d in docs:
            fields = {
                "title": fold(d.title),
                "alt": fold(" ".join(d.alternative_titles)),
                "description": fold(d.description),
            }
            writer.add_document(
                tantivy.Document(id=d.procedure_id, **fields, **{k + _STEMMED: v for k, v in fields.items()})
            )
            count += 1
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.size = count

    def _word_query(self, word: str, last: bool) -> tantivy.Query:
        per_field = []
        for name, boost in FIELDS.items():
            options = [tantivy.Query.term_query(self.schema, name, word)]
            options += [
                tantivy.Query.boost_query(tantivy.Query.term_query(self.schema, name + _STEMMED, stem), 0.8)
                for stem in self.stemmer.analyze(word)
            ]
            if last:  # type-ahead: the word being typed may be unfinished
                options.append(tantivy.Query.fuzzy_term_query(self.schema, name, word, 0, True, True))
            if distance := _typo_distance(word):
                options.append(
                    tantivy.Query.boost_query(
                        tantivy.Query.fuzzy_term_query(self.schema, name, word, distance, True, last), 0.5
                    )
                )
            per_field.append(tantivy.Query.boost_query(tantivy.Query.disjunction_max_query(options), boost))
        return tantivy.Query.disjunction_max_query(per_field, 0.1)

    def search(self, query: str, limit: int = 10) -> list[Hit]:
        terms = words(query)
        if not terms:
            return []
        # every word must match somewhere (exactly, as a prefix or with a typo)
        must = [(tantivy.Occur.Must, self._word_query(w, i == len(terms) - 1)) for i, w in enumerate(terms)]
        searcher = self.index.searcher()
        result = searcher.search(tantivy.Query.boolean_query(must), limit)
        hits = []
        for score, address in result.hits:
            doc = searcher.doc(address)
            hits.append(Hit(str(doc["id"][0]), float(score)))
        return hits

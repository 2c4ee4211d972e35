"""Lexical search: Greek folding, prefixes, typos, field boosts, English; table-driven."""

from __future__ import annotations

import pytest

from actors.catalog.lexical import LexicalIndex, SearchDoc, fold
from doubles.mitos.generator import generate

DOCS = [
    SearchDoc(
        "family",
        "Έκδοση πιστοποιητικού οικογενειακής κατάστασης",
        ("Πιστοποιητικό οικογενειακής κατάστασης",),
        "Το πιστοποιητικό εκδίδεται από τον δήμο εγγραφής.",
    ),
    SearchDoc("residence", "Βεβαίωση μόνιμης κατοικίας", (), "Χρειάζεται για την έκδοση πιστοποιητικού."),
    SearchDoc("passport", "Έκδοση διαβατηρίου", ("Διαβατήριο",), "Issue of passport for Greek citizens"),
    SearchDoc("passport-en", "Issue of passport", (), "Passport issue at a police station"),
    SearchDoc("allowance", "Επίδομα θέρμανσης", ("Επιδότηση πετρελαίου θέρμανσης",), "Αίτηση για το επίδομα."),
    SearchDoc("child", "Χορήγηση επιδόματος παιδιού", (), "Αίτηση στον ΟΠΕΚΑ."),
]


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex(DOCS)


def test_english_words_meet_by_their_english_stem() -> None:
    index = LexicalIndex([SearchDoc("renewal", "Renewal of driving licence"), SearchDoc("taxes", "Tax return")], "en")
    assert [h.procedure_id for h in index.search("renew driving")] == ["renewal"]
    assert [h.procedure_id for h in index.search("taxes return")] == ["taxes"]


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ΠΙΣΤΟΠΟΙΗΤΙΚΌ", "πιστοποιητικο"),
        ("Ελλάς", "ελλασ"),
        ("προϋπόθεση", "προυποθεση"),
        ("Αΐδιος", "αιδιοσ"),
        ("Café", "cafe"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("ΠΙΣΤΟΠΟΙΗΤΙΚΟ", "family"),
        ("πιστοποιητικο", "family"),
        ("πιστοποιητικό", "family"),
        ("πιστοποιητ", "family"),  # type-ahead
        ("πιστοποιητκό οικογενειακης", "family"),  # a typo, no accents
        ("διαβατηριο", "passport"),
        ("διαβ", "passport"),
        ("κατοικια", "residence"),
        ("επιδομα θερμανσης", "allowance"),
        ("πετρελαιο", "allowance"),  # only in an alternative title
        # the nominative people type finds the genitive of the title (Greek stemming), with or without accents
        ("επίδομα παιδιού", "child"),
        ("επιδομα παιδιου", "child"),
        ("ΕΠΙΔΟΜΑ ΠΑΙΔΙΟΥ", "child"),
        ("pasport", "passport-en"),
        ("Passport police", "passport-en"),
    ],
)
def test_queries_find_the_expected_procedure_first(index: LexicalIndex, query: str, first: str) -> None:
    hits = index.search(query)
    assert hits, query
    assert hits[0].procedure_id == first


def test_title_outranks_description(index: LexicalIndex) -> None:
    # both mention the certificate; only one has it in the title
    ranked = [h.procedure_id for h in index.search("πιστοποιητικό")]
    assert ranked.index("family") < ranked.index("residence")


@pytest.mark.parametrize("query", ["", "   ", "ζζζζζζζζ", "!!!"])
def test_queries_without_a_match_return_nothing(index: LexicalIndex, query: str) -> None:
    assert index.search(query) == []


def test_every_word_must_match(index: LexicalIndex) -> None:
    assert index.search("διαβατηρίου θέρμανσης") == []


def test_an_index_of_the_synthetic_catalogue_finds_titles_by_their_words() -> None:
    ds = generate(seed=3, count=800)
    docs = [SearchDoc(str(p.id), p.record["title"]["el"]) for p in ds.procedures.values()]
    index = LexicalIndex(docs)
    assert index.size == 800
    for doc in docs[:50]:
        hits = [h.procedure_id for h in index.search(doc.title, limit=20)]
        assert doc.procedure_id in hits, doc.title

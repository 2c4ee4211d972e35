"""Semantic procedure search: sentence embeddings in a FAISS index, and hybrid ranking by reciprocal rank fusion.

What is embedded is what a procedure is called: its title and alternative titles (in Greek, the alternative
titles carry the colloquial names people search with). Descriptions are left to the lexical index: in Mitos they
are mostly boilerplate about the owner and the channels, which pulls every vector towards the same point.

Vectors are kept in PostgreSQL under the encoder's name (model and version) and the text's hash, so that a
restart, or a sync that changed ten procedures, encodes ten texts and not the catalogue.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import faiss
import numpy as np

from actors.catalog.embedding import Matrix
from actors.catalog.encoders import Encoder
from actors.catalog.lexical import Hit, fold

RRF_K = 60  # the constant of Cormack et al.; it damps the weight of the first ranks


@dataclass(frozen=True)
class EmbeddingDoc:
    procedure_id: str
    text: str


def embedding_text(title: str, alternative_titles: Sequence[str] = ()) -> str:
    seen = {fold(title)}
    names = [title]
    for alt in alternative_titles:  # Mitos often repeats the title in lower case as an "alternative"
        if fold(alt) not in seen:
            seen.add(fold(alt))
            names.append(alt)
    return ". ".join(names)


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class SemanticIndex:
    """Exact inner-product search (cosine on unit vectors). At a few thousand procedures a flat index answers in
    well under a millisecond, so an approximate one would only cost recall."""

    def __init__(self, ids: list[str], vectors: Matrix) -> None:
        self.ids = ids
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        if len(ids):
            self.index.add(vectors)
        self.size = len(ids)

    def search(self, query: Matrix, limit: int) -> list[Hit]:
        if not self.size:
            return []
        scores, rows = self.index.search(query.reshape(1, -1), min(limit, self.size))
        return [Hit(self.ids[r], float(s)) for s, r in zip(scores[0], rows[0], strict=True) if r >= 0]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hit]], limit: int, k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[Hit]:
    """Each list votes weight / (k + rank) for its hits; scores of different kinds (BM25, cosine) never meet."""
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for rank, hit in enumerate(ranking, start=1):
            fused[hit.procedure_id] = fused.get(hit.procedure_id, 0.0) + weight / (k + rank)
    best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [Hit(pid, score) for pid, score in best]


async def embed(
    pool: asyncpg.Pool[asyncpg.Record],
    encoder: Encoder,
    lang: str,
    docs: Sequence[EmbeddingDoc],
) -> SemanticIndex:
    """Vectors for `docs`: reused from PostgreSQL where the text and the model are unchanged, encoded (as passages)
    and stored otherwise."""
    model = encoder.name
    cached = {
        r["procedure_id"]: (r["text_sha256"], r["vector"])
        for r in await pool.fetch(
            "SELECT procedure_id::text, text_sha256, vector FROM procedure_embeddings WHERE lang = $1 AND model = $2",
            lang,
            model,
        )
    }
    vectors = np.zeros((len(docs), encoder.dim), dtype=np.float32)
    missing: list[int] = []
    for i, d in enumerate(docs):
        hit = cached.get(d.procedure_id)
        if hit and hit[0] == _text_hash(d.text):
            vectors[i] = np.frombuffer(hit[1], dtype="<f4")
        else:
            missing.append(i)
    if missing:
        fresh = await asyncio.to_thread(encoder.passages, [docs[i].text for i in missing])
        vectors[missing] = fresh
        await pool.executemany(
            """INSERT INTO procedure_embeddings (procedure_id, lang, model, text_sha256, vector)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (procedure_id, lang, model)
               DO UPDATE SET text_sha256 = EXCLUDED.text_sha256, vector = EXCLUDED.vector""",
            [
                (docs[i].procedure_id, lang, model, _text_hash(docs[i].text), fresh[j].astype("<f4").tobytes())
                for j, i in enumerate(missing)
            ],
        )
    return SemanticIndex([d.procedure_id for d in docs], vectors)

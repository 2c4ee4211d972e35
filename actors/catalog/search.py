"""One search over the catalogue's indexes in any mode; pure and blocking (the actor runs it in a thread)."""

from __future__ import annotations

from actors.catalog.embedding import Matrix
from actors.catalog.lexical import Hit, LexicalIndex
from actors.catalog.semantic import SemanticIndex, reciprocal_rank_fusion
from messages.catalog import SearchMode

FUSION_DEPTH = 50  # how far down each list hybrid ranking looks


def search_indexes(
    query: str,
    limit: int,
    mode: SearchMode,
    lexical: LexicalIndex,
    semantic: SemanticIndex | None = None,
    query_vector: Matrix | None = None,
) -> list[Hit]:
    if mode is SearchMode.LEXICAL:
        return lexical.search(query, limit)
    if semantic is None or query_vector is None:
        raise ValueError(f"{mode} search needs the semantic index and the query's vector")
    nearest = semantic.search(query_vector, limit if mode is SearchMode.SEMANTIC else FUSION_DEPTH)
    if mode is SearchMode.SEMANTIC:
        return nearest
    return reciprocal_rank_fusion([lexical.search(query, FUSION_DEPTH), nearest], limit)

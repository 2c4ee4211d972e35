"""Procedure search for employees (and EUGO later): answered from the catalogue actor's in-memory indexes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from messages.catalog import ProcedureHit, SearchMode
from serve.deps import AnyRole, Ctx
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/procedures", tags=["procedures"])


@router.get("/search", response_model=list[ProcedureHit], responses=PROBLEMS)
async def search(
    caller: AnyRole,
    ctx: Ctx,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    lang: Literal["el", "en"] | None = None,
    mode: SearchMode | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[ProcedureHit]:
    """Without `lang` the query's script decides: Greek letters search the Greek fields, Latin letters the English
    ones and, read as Greeklish ("epidoma thermansis"), the Greek titles too; `lang` forces one language.
    `lexical`: accent- and case-insensitive, prefix and typo tolerant, titles weigh more than descriptions.
    `semantic`: nearest procedure names by a multilingual sentence embedding (finds what is meant when other words,
    or another language, are used). `hybrid`: both fused by rank, weighted towards a lexical match. Without `mode`:
    hybrid, or lexical while the semantic index is being built after a start or a sync (a named semantic mode
    answers 503 with Retry-After then)."""
    hits: list[ProcedureHit] = await ctx.catalog.call("search", q, lang, limit, mode)
    return hits

"""Procedure search for employees (and EUGO later): answered from the catalogue actor's in-memory indexes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from messages.catalog import ProcedureHit, SearchMode
from messages.roles import Role
from serve.deps import Caller, Ctx
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/procedures", tags=["procedures"])


@router.get("/search", response_model=list[ProcedureHit], responses=PROBLEMS)
async def search(
    caller: Caller,
    ctx: Ctx,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    lang: Literal["el", "en"] = "el",
    mode: SearchMode = SearchMode.LEXICAL,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[ProcedureHit]:
    """`lexical`: accent- and case-insensitive, prefix and typo tolerant, titles weigh more than descriptions.
    `semantic`: nearest procedure names by sentence embedding (finds what is meant when other words are used).
    `hybrid`: both lists fused by reciprocal rank. Semantic modes answer 503 with Retry-After while their index is
    being built after a start or a sync."""
    caller.require(Role.EMPLOYEE, Role.SUPERVISOR, Role.ADMINISTRATOR)
    hits: list[ProcedureHit] = await ctx.catalog.call("search", q, lang, limit, mode)
    return hits

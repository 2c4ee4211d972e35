"""The public EUGO catalogue: the procedures offered to citizens and businesses of other member states, in CPSV-AP
terms, in English or Greek, and as JSON-LD for machines. No token: under `/api/public/`, an anonymous caller's rate
is its address's (serve/throttle.py).

Answers come from the replica's copy of the catalogue (actors/eugo/catalogue.py), carry a strong ETag (a hash of
the body, so `If-None-Match` gets 304) and may be cached by anyone for a few minutes: the catalogue changes when
Mitos is synced.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response

from actors.eugo import applications, jsonld, render
from actors.eugo.catalogue import Answer, Catalogue, Snapshot
from messages import eugo as m
from messages.errors import NotFound
from messages.forms import LocalizedForm
from serve.deps import Ctx
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/public/eugo", tags=["eugo"])
PATH = "/api/public/eugo/procedures"
CACHE_CONTROL = "public, max-age=300"
JSONLD = "application/ld+json"
NOT_MODIFIED: dict[int | str, dict[str, object]] = {304: {"description": "the copy the caller holds is current"}}
catalogue = Catalogue()

Lang = Annotated[m.Lang, Query(description="language of the texts; a text Mitos has only in Greek stays Greek")]


def _url(ctx: Ctx, procedure_id: uuid.UUID) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}{PATH}/{procedure_id}"


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _send(request: Request, answer: Answer, kept: bool, media_type: str, lang: str | None = None) -> Response:
    headers = {
        "ETag": answer.etag,
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept",
        "Cache-Status": "kep-eugo; hit" if kept else "kep-eugo; fwd=miss",  # RFC 9211
    }
    if lang is not None:
        headers["Content-Language"] = lang
    if _matches(request.headers.get("if-none-match"), answer.etag):
        return Response(status_code=304, headers=headers)
    return Response(answer.body, media_type=media_type, headers=headers)


def _dump(model: m.EugoProcedure | m.EugoProcedurePage) -> bytes:
    return model.model_dump_json().encode()


def _found(snap: Snapshot, procedure_id: uuid.UUID) -> None:
    if procedure_id not in snap.services:
        raise NotFound(f"no procedure {procedure_id} is offered through EUGO")


def _wants_jsonld(accept: str | None) -> bool:
    """Whether `Accept` prefers JSON-LD to plain JSON (the default)."""
    quality: dict[str, float] = {}
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            quality.setdefault(media.lower(), float(q))
        except ValueError:
            continue
    return quality.get(JSONLD, 0) > 0 and quality.get(JSONLD, 0) >= quality.get("application/json", 0)


@router.get("/procedures", response_model=m.EugoProcedurePage, responses=NOT_MODIFIED)
async def list_procedures(
    request: Request,
    ctx: Ctx,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=m.MAX_QUERY_CHARS,
            description="words of the title or description, in English or Greek; accents and case do not matter",
        ),
    ] = None,
    lang: Lang = "en",
    page: Annotated[int, Query(ge=1, le=m.MAX_PAGE)] = 1,
    size: Annotated[int, Query(ge=1, le=m.MAX_PAGE_SIZE)] = 20,
) -> Response:
    """The active procedures offered through EUGO, by title, or best match first when `q` is given."""
    query = " ".join(q.split()) if q else None

    def make(snap: Snapshot) -> bytes:
        ids = snap.search(query, lang) if query else list(snap.by_title[lang])
        shown = ids[(page - 1) * size : page * size]
        items = [render.summary(snap.services[i], lang, _url(ctx, i)) for i in shown]
        return _dump(m.EugoProcedurePage(items=items, total=len(ids), page=page, size=size, lang=lang))

    answer, kept = await catalogue.answer(ctx.pool, ("list", lang, query, page, size), make)
    return _send(request, answer, kept, "application/json", lang)


@router.get(
    "/procedures/{procedure_id}.jsonld",
    response_model=dict[str, object],
    responses={**PROBLEMS, **NOT_MODIFIED, 200: {"content": {JSONLD: {}}}},
)
async def get_procedure_jsonld(request: Request, ctx: Ctx, procedure_id: uuid.UUID) -> Response:
    """The procedure as JSON-LD (CPSV-AP: cpsv:PublicService with its requirements, evidence, costs, output,
    channels, legal basis and competent authority), both languages tagged."""

    def make(snap: Snapshot) -> bytes:
        _found(snap, procedure_id)
        return orjson.dumps(jsonld.document(snap.services[procedure_id], _url(ctx, procedure_id)))

    answer, kept = await catalogue.answer(ctx.pool, ("jsonld", procedure_id), make)
    return _send(request, answer, kept, JSONLD)


@router.get(
    "/procedures/{procedure_id}",
    response_model=m.EugoProcedure,
    responses={**PROBLEMS, **NOT_MODIFIED, 200: {"content": {JSONLD: {}}}},
)
async def get_procedure(request: Request, ctx: Ctx, procedure_id: uuid.UUID, lang: Lang = "en") -> Response:
    """One procedure offered through EUGO; JSON-LD instead when `Accept` prefers `application/ld+json`. 404 for a
    procedure that is not offered through EUGO or not active."""
    if _wants_jsonld(request.headers.get("accept")):
        return await get_procedure_jsonld(request, ctx, procedure_id)

    def make(snap: Snapshot) -> bytes:
        _found(snap, procedure_id)
        return _dump(render.procedure(snap.services[procedure_id], lang, _url(ctx, procedure_id)))

    answer, kept = await catalogue.answer(ctx.pool, ("procedure", lang, procedure_id), make)
    return _send(request, answer, kept, "application/json", lang)


@router.get(
    "/procedures/{procedure_id}/form",
    response_model=LocalizedForm,
    responses={**PROBLEMS, **NOT_MODIFIED},
)
async def get_procedure_form(request: Request, ctx: Ctx, procedure_id: uuid.UUID, lang: Lang = "en") -> Response:
    """The Form.io form to fill when applying online, its texts in `lang` (a text without a translation stays
    Greek), with the translations themselves as Form.io's `i18n`. 404 when the procedure is not offered through
    EUGO or asks for no form. Not kept by the replica (a new form version shows at once); the ETag still saves the
    body."""
    snap = await catalogue.snapshot(ctx.pool)
    _found(snap, procedure_id)
    async with ctx.pool.acquire() as conn:
        form = await applications.procedure_form(conn=conn, procedure_id=procedure_id, lang=lang)
    if form is None:
        raise NotFound(f"procedure {procedure_id} asks for no form")
    return _send(request, Answer.of(form.model_dump_json().encode()), False, "application/json", lang)

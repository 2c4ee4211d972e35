"""Every error answer as RFC 9457 problem+json; validation errors name the fields by JSON pointer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from infra import faults
from messages.errors import InvalidInput, KepError, RetryableError, TooLarge, Unauthorized
from messages.problems import FieldError, Problem

MEDIA_TYPE = "application/problem+json"
# character_not_in_repertoire, untranslatable_character (`\u0000` in jsonb)
_TEXT_POSTGRES_REFUSES = frozenset({"22021", "22P05"})
RETRY_AFTER_S = "5"  # what an outage answer asks clients to wait: most restarts are over by then
log = structlog.get_logger("http")


def _pointer(loc: Sequence[int | str]) -> str:
    parts = list(loc[1:] if loc and loc[0] in {"body", "query", "path", "header"} else loc)
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def field_errors(errors: Sequence[Any]) -> list[FieldError]:
    return [FieldError(path=_pointer(e["loc"]), message=e["msg"], type=e["type"]) for e in errors]


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem.body(), status_code=problem.status, media_type=MEDIA_TYPE, headers=headers)


def error_response(exc: KepError, path: str) -> JSONResponse:
    """The answer to one of our errors, wherever it is raised (a route, or the guard before any route)."""
    errors = list(exc.errors) if isinstance(exc, InvalidInput | TooLarge) else None
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    if exc.retryable and exc.status in (429, 503):  # clients and proxies back off instead of hammering
        headers["Retry-After"] = str(exc.data.get("retry_after_s", RETRY_AFTER_S))
    if exc.status >= 500:
        log.error("request_failed", error=exc.detail, error_type=type(exc).__name__)
    return problem_response(
        Problem(
            type=f"urn:kep:problem:{type(exc).__name__}",
            title=exc.title,
            status=exc.status,
            detail=exc.detail,
            instance=path,
            errors=errors,
        ),
        headers,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(
            Problem(
                title="Invalid input",
                status=422,
                detail="the request does not match the schema",
                instance=request.url.path,
                errors=field_errors(exc.errors()),
            )
        )

    @app.exception_handler(KepError)
    async def _domain(request: Request, exc: KepError) -> JSONResponse:
        return error_response(exc, request.url.path)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return problem_response(
            Problem(title=str(exc.detail), status=exc.status_code, instance=request.url.path), exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        refused = faults.cause(exc)
        if isinstance(refused, asyncpg.PostgresError) and refused.sqlstate in _TEXT_POSTGRES_REFUSES:
            # PostgreSQL stores no NUL character (U+0000) in text or JSON; what it refused was not written
            return error_response(InvalidInput("text may not contain the NUL character (U+0000)"), request.url.path)
        if faults.is_transient(exc):  # a dependency away (a database restarting, a broker gone): not our bug
            log.warning("request_dependency_unavailable", path=request.url.path, error=repr(faults.cause(exc)))
            return problem_response(
                Problem(
                    type="urn:kep:problem:DependencyUnavailable",
                    title=RetryableError.title,
                    status=503,
                    detail="a service this request needs is unavailable for the moment; try again shortly",
                    instance=request.url.path,
                ),
                {"Retry-After": RETRY_AFTER_S},
            )
        log.exception("request_crashed", path=request.url.path)
        return problem_response(Problem(title="Internal error", status=500, instance=request.url.path))

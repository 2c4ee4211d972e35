"""The hand-overs of cases between offices, as each of the two offices sees them: those that came in, those that
went out. Staff read their own office's only (the office comes from the token); the office a case left reads the
record of the hand-over (number, procedure, where to, by whom, why), not the case any more."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter

from actors.cases import transfers
from messages.cases import CaseTransfer, TransferDirection
from serve import paging
from serve.deps import Ctx, Staff
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/case-transfers", tags=["cases"], responses=PROBLEMS)
_LIST: TypeAdapter[list[CaseTransfer]] = TypeAdapter(list[CaseTransfer])


@router.get("", response_model=list[CaseTransfer])
async def office_transfers(
    request: Request,
    caller: Staff,
    ctx: Ctx,
    direction: Annotated[TransferDirection, Query(description="`in`: cases handed to this office; `out`: by it")],
    limit: paging.Limit = paging.DEFAULT_LIMIT,
    after: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="the id of the last hand-over seen")] = None,
) -> Response:
    """This office's hand-overs in one direction, newest first; the next page's address is in `Link`."""
    async with ctx.pool.acquire() as conn:
        found = await transfers.office_transfers(
            conn=conn, office_id=caller.require_office(), direction=direction, after=after, limit=limit
        )
    shown, headers = paging.page(request, found, limit, lambda t: str(t.id))
    return Response(_LIST.dump_json(shown), headers=headers, media_type="application/json")

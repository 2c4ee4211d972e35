"""Who changes what an office keeps for itself (its positions, its service points): administrators any office's,
supervisors their own office's, employees nothing."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from messages.errors import Forbidden
from messages.roles import Role
from serve.deps import Caller
from serve.security import Principal


async def writer(caller: Caller) -> Principal:
    caller.require(Role.SUPERVISOR, Role.ADMINISTRATOR)
    return caller


def may_write(caller: Principal, office_id: uuid.UUID, things: str) -> None:
    """Administrators write any office's `things`, supervisors their own office's."""
    if Role.ADMINISTRATOR not in caller.roles and caller.office_id != office_id:
        raise Forbidden(f"a supervisor changes only their own office's {things}")


Writer = Annotated[Principal, Depends(writer)]

"""Who changes what an office keeps for itself (its positions, its service points): administrators any office's,
supervisors their own office's, employees nothing."""

from __future__ import annotations

import uuid

from messages.errors import Forbidden
from messages.roles import Role
from serve.deps import SupervisorOrAdmin
from serve.security import Principal


def may_write(caller: Principal, office_id: uuid.UUID, things: str) -> None:
    """Administrators write any office's `things`, supervisors their own office's."""
    if Role.ADMINISTRATOR not in caller.roles and caller.office_id != office_id:
        raise Forbidden(f"a supervisor changes only their own office's {things}")


Writer = SupervisorOrAdmin

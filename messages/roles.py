"""Who may do what: the roles a token carries (Keycloak realm roles) and the process's own."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    EMPLOYEE = "employee"
    SUPERVISOR = "supervisor"
    ADMINISTRATOR = "administrator"
    # the BPMN process acting on a case; never in a token (Keycloak's realm has no such role)
    SYSTEM = "system"


STAFF = (Role.EMPLOYEE, Role.SUPERVISOR)

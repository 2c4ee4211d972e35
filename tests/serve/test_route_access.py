"""Access control over the whole API, as a property no route escapes (issue 17, point 9).

Every (method, path) the application publishes is classified here (`ACCESS`), and a route that is not fails
`test_every_route_is_classified` until someone decides who may call it:

- PUBLIC: no token needed (probes, the public verification of an issued document, the EUGO catalogue);
- ADMIN: administrators (central) only;
- STAFF: staff of an office, answered from the caller's token office; no other office's id in the path;
- OFFICE_PATH: the path names a resource that belongs to an office (case, office, position, service point,
  user, news item, task, incident, ΚΣΗΔΕ inbox document): each one names the test that proves another office's
  staff do not reach it (`CROSS_OFFICE_TESTS`), written here where no other test did;
- CITIZEN: a citizen's own, with a token of the citizens' realm (EUGO), which no staff token opens.

Then: no route but the public ones answers without a valid token (401), nor a staff route a token without one of
our roles (403); no administrators' route answers staff (403) or changes anything for them; no staff list shows
anything of another office, except what is shared on purpose (each exception says why); staff writes bring nothing
of another office into their own.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeAlias

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from bpmn_bridge.engine import EngineClient
from infra.settings import Settings
from serve.app import api
from tests.conftest import OfficeFactory
from tests.helpers import bearer, eventually
from tests.serve.test_case_lifecycle_http import SUPERVISOR, Desk
from tests.serve.test_cases_http import body as case_body

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"


class Access(StrEnum):
    PUBLIC = "public"
    ADMIN = "admin"
    STAFF = "staff"
    OFFICE_PATH = "office_path"
    CITIZEN = "citizen"


PUBLIC, ADMIN, STAFF, OFFICE_PATH = Access.PUBLIC, Access.ADMIN, Access.STAFF, Access.OFFICE_PATH
CITIZEN = Access.CITIZEN

ACCESS: dict[tuple[str, str], Access] = {
    # probes: anyone (/readyz says what is wrong only to an administrator's token, serve/routers/health.py)
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/livez"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    # the public verification of an issued document: a code or the PDF itself, nothing about the citizen
    ("GET", "/api/public/documents/{code}"): PUBLIC,
    ("POST", "/api/public/documents"): PUBLIC,
    # the EUGO catalogue: the active EUGO procedures, public information (issue 18, point 5)
    ("GET", "/api/public/eugo/procedures"): PUBLIC,
    ("GET", "/api/public/eugo/procedures/{procedure_id}"): PUBLIC,
    ("GET", "/api/public/eugo/procedures/{procedure_id}.jsonld"): PUBLIC,
    ("GET", "/api/public/eugo/procedures/{procedure_id}/form"): PUBLIC,
    # a citizen's own: a token of the citizens' realm (serve/citizens.py); a staff token is no credential there (401)
    ("GET", "/api/eugo/me"): CITIZEN,
    # a citizen's own EUGO applications (serve/routers/eugo_applications.py): found by the citizen's token
    ("POST", "/api/eugo/applications"): CITIZEN,
    ("GET", "/api/eugo/applications"): CITIZEN,
    ("GET", "/api/eugo/applications/{application_id}"): CITIZEN,
    ("POST", "/api/eugo/applications/{application_id}/messages"): CITIZEN,
    ("POST", "/api/eugo/applications/{application_id}/documents"): CITIZEN,
    # cases and their documents
    ("POST", "/api/cases"): STAFF,  # opened in the caller's token office
    ("GET", "/api/cases"): STAFF,
    ("POST", "/api/cases/bulk/reassign"): STAFF,  # another office's case ids fail as not found (lifecycle tests)
    ("GET", "/api/cases/{case_id}"): OFFICE_PATH,
    ("POST", "/api/cases/{case_id}/extend"): OFFICE_PATH,
    ("POST", "/api/cases/{case_id}/assign"): OFFICE_PATH,
    ("PUT", "/api/cases/{case_id}/form"): OFFICE_PATH,
    ("POST", "/api/cases/{case_id}/notes"): OFFICE_PATH,
    ("POST", "/api/cases/{case_id}/transfer"): OFFICE_PATH,
    ("POST", "/api/cases/{case_id}/{action}"): OFFICE_PATH,
    ("GET", "/api/cases/{case_id}/timeline"): OFFICE_PATH,
    ("GET", "/api/cases/{case_id}/timeline.csv"): OFFICE_PATH,
    ("POST", "/api/cases/{case_id}/documents/render"): OFFICE_PATH,
    ("POST", "/api/cases/{case_id}/documents"): OFFICE_PATH,
    ("GET", "/api/cases/{case_id}/documents"): OFFICE_PATH,
    ("GET", "/api/cases/{case_id}/documents/{document_id}"): OFFICE_PATH,
    ("POST", "/api/cases/{case_id}/messages"): OFFICE_PATH,  # the office writes to the case's EUGO citizen
    ("GET", "/api/case-transfers"): STAFF,
    ("GET", "/api/live/cases"): STAFF,
    # the catalogue: the same for every office
    ("GET", "/api/procedures/search"): STAFF,
    ("GET", "/api/forms/{key}"): STAFF,  # a form definition is no office's
    # user tasks, incidents, the ΚΣΗΔΕ inbox
    ("GET", "/api/tasks"): STAFF,
    ("POST", "/api/tasks/{task_id}/claim"): OFFICE_PATH,
    ("POST", "/api/tasks/{task_id}/unclaim"): OFFICE_PATH,
    ("POST", "/api/tasks/{task_id}/complete"): OFFICE_PATH,
    ("GET", "/api/incidents"): STAFF,
    ("POST", "/api/incidents/{incident_id}/retry"): OFFICE_PATH,
    ("GET", "/api/kshde/inbox"): STAFF,
    ("POST", "/api/kshde/inbox/{protocol_no}/attach"): OFFICE_PATH,
    # offices and their applications
    ("GET", "/api/offices"): STAFF,
    ("GET", "/api/offices.csv"): STAFF,
    ("GET", "/api/offices/tree"): STAFF,
    ("GET", "/api/offices/{office_id}"): OFFICE_PATH,
    ("PATCH", "/api/offices/{office_id}"): OFFICE_PATH,
    ("GET", "/api/offices/{office_id}/children"): OFFICE_PATH,
    ("GET", "/api/offices/{office_id}/apps"): OFFICE_PATH,
    ("GET", "/api/me/apps"): STAFF,
    # news
    ("GET", "/api/news"): STAFF,
    ("POST", "/api/news"): STAFF,  # a supervisor's only for their own office (news tests)
    ("GET", "/api/news/written"): STAFF,
    ("GET", "/api/news/{news_id}"): OFFICE_PATH,
    ("PATCH", "/api/news/{news_id}"): OFFICE_PATH,
    ("POST", "/api/news/{news_id}/withdraw"): OFFICE_PATH,
    ("POST", "/api/news/{news_id}/read"): OFFICE_PATH,
    ("GET", "/api/news/{news_id}/receipts"): OFFICE_PATH,
    ("GET", "/api/news/{news_id}/history"): OFFICE_PATH,
    # statistics: the caller's office (another office's `office_id`: 403)
    ("GET", "/api/statistics/volumes"): STAFF,
    ("GET", "/api/statistics/volumes.csv"): STAFF,
    ("GET", "/api/statistics/volumes.svg"): STAFF,
    ("GET", "/api/statistics/status-time"): STAFF,
    ("GET", "/api/statistics/status-time.csv"): STAFF,
    ("GET", "/api/statistics/compliance"): STAFF,
    ("GET", "/api/statistics/compliance.csv"): STAFF,
    ("GET", "/api/statistics/backlog"): STAFF,
    ("GET", "/api/statistics/backlog.csv"): STAFF,
    ("GET", "/api/statistics/backlog.svg"): STAFF,
    ("GET", "/api/statistics/workload"): STAFF,
    ("GET", "/api/statistics/workload.csv"): STAFF,
    # service points
    ("GET", "/api/service-points"): STAFF,
    ("POST", "/api/service-points"): STAFF,  # a supervisor's only for their own office (service point tests)
    ("GET", "/api/service-points/nearest"): STAFF,
    ("GET", "/api/service-points/{point_id}"): OFFICE_PATH,
    ("PATCH", "/api/service-points/{point_id}"): OFFICE_PATH,
    ("POST", "/api/service-points/{point_id}/activate"): OFFICE_PATH,
    ("POST", "/api/service-points/{point_id}/deactivate"): OFFICE_PATH,
    ("GET", "/api/service-points/{point_id}/history"): OFFICE_PATH,
    # positions
    ("GET", "/api/positions"): STAFF,
    ("POST", "/api/positions"): STAFF,  # a supervisor's only for their own office (position tests)
    ("GET", "/api/positions/workload"): STAFF,
    ("GET", "/api/positions/{position_id}"): OFFICE_PATH,
    ("PATCH", "/api/positions/{position_id}"): OFFICE_PATH,
    ("GET", "/api/positions/{position_id}/occupancy"): OFFICE_PATH,
    ("POST", "/api/positions/{position_id}/fill"): OFFICE_PATH,
    ("POST", "/api/positions/{position_id}/vacate"): OFFICE_PATH,
    ("GET", "/api/positions/{position_id}/history"): OFFICE_PATH,
    # routings: staff ask the explanation only
    ("GET", "/api/routings/explain"): STAFF,
    # people
    ("GET", "/api/users"): STAFF,
    ("GET", "/api/users/{user_id}"): OFFICE_PATH,
    ("GET", "/api/users/{user_id}/history"): OFFICE_PATH,
    # administrators
    ("GET", "/api/admin/templates/preview/{template_id}"): ADMIN,
    ("GET", "/api/admin/templates/{kind}/{lang}"): ADMIN,
    ("POST", "/api/admin/templates/{kind}/{lang}"): ADMIN,
    ("GET", "/api/admin/adapters/check"): ADMIN,
    ("GET", "/api/admin/adapters"): ADMIN,
    ("PUT", "/api/admin/adapters/{adapter}"): ADMIN,
    ("DELETE", "/api/admin/adapters/{adapter}"): ADMIN,
    ("GET", "/api/admin/kshde/units"): ADMIN,
    ("GET", "/api/admin/kshde/units/{code}"): ADMIN,
    ("POST", "/api/admin/kshde/sync"): ADMIN,
    ("GET", "/api/admin/procedures"): ADMIN,
    ("GET", "/api/admin/procedures.csv"): ADMIN,
    ("GET", "/api/admin/procedures/{procedure_id}"): ADMIN,
    ("PATCH", "/api/admin/procedures/{procedure_id}"): ADMIN,
    ("POST", "/api/admin/procedures/{procedure_id}/activate"): ADMIN,
    ("POST", "/api/admin/procedures/{procedure_id}/deactivate"): ADMIN,
    ("GET", "/api/admin/procedures/{procedure_id}/history"): ADMIN,
    ("GET", "/api/admin/catalog/sync-runs"): ADMIN,
    ("POST", "/api/admin/catalog/sync"): ADMIN,
    ("POST", "/api/admin/forms"): ADMIN,
    ("GET", "/api/admin/forms/{key}"): ADMIN,
    ("GET", "/api/admin/autoscaler"): ADMIN,
    ("POST", "/api/admin/autoscaler/reload"): ADMIN,
    ("PUT", "/api/admin/autoscaler/dry-run"): ADMIN,
    ("GET", "/api/admin/reconciler"): ADMIN,
    ("POST", "/api/admin/reconciler/run"): ADMIN,
    ("POST", "/api/admin/delivery/read"): ADMIN,
    ("GET", "/api/admin/delivery/replies"): ADMIN,
    ("POST", "/api/admin/offices"): ADMIN,
    ("PATCH", "/api/admin/offices/{office_id}"): ADMIN,
    ("POST", "/api/admin/offices/{office_id}/activate"): ADMIN,
    ("POST", "/api/admin/offices/{office_id}/deactivate"): ADMIN,
    ("GET", "/api/admin/offices/{office_id}/history"): ADMIN,
    ("GET", "/api/admin/apps"): ADMIN,
    ("POST", "/api/admin/apps"): ADMIN,
    ("GET", "/api/admin/apps/{app_id}"): ADMIN,
    ("PATCH", "/api/admin/apps/{app_id}"): ADMIN,
    ("GET", "/api/admin/apps/{app_id}/audit"): ADMIN,
    ("GET", "/api/admin/routings"): ADMIN,
    ("POST", "/api/admin/routings"): ADMIN,
    ("GET", "/api/admin/routings/gaps"): ADMIN,
    ("GET", "/api/admin/routings/{routing_id}"): ADMIN,
    ("PATCH", "/api/admin/routings/{routing_id}"): ADMIN,
    ("DELETE", "/api/admin/routings/{routing_id}"): ADMIN,
    ("GET", "/api/admin/routings/{routing_id}/history"): ADMIN,
    ("GET", "/api/admin/users"): ADMIN,
    ("POST", "/api/admin/users"): ADMIN,
    ("GET", "/api/admin/users/{user_id}"): ADMIN,
    ("PATCH", "/api/admin/users/{user_id}"): ADMIN,
    ("GET", "/api/admin/users/{user_id}/history"): ADMIN,
    ("POST", "/api/admin/users/{user_id}/move"): ADMIN,
    ("POST", "/api/admin/users/{user_id}/deactivate"): ADMIN,
    ("POST", "/api/admin/users/{user_id}/reactivate"): ADMIN,
    ("GET", "/api/admin/eugo/applications"): ADMIN,
    ("POST", "/api/admin/eugo/applications/{application_id}/route"): ADMIN,
}

# Routes the application serves but does not publish, each with the reason it may stay out of the registry.
UNPUBLISHED: dict[str, str] = {
    # Chromium's page for one render job: opened by a one-time token of the job, never by a person
    # (tests/serve/test_issued_documents_http.py::test_the_render_page_opens_only_for_its_own_valid_token)
    "/internal/render/{token}": "render job token",
    "/openapi.json": "FastAPI's schema",
    "/docs": "FastAPI's documentation page",
    "/docs/oauth2-redirect": "FastAPI's documentation page",
    "/redoc": "FastAPI's documentation page",
}

# For every OFFICE_PATH route, the test that proves staff of another office neither read nor change the resource.
_CASES = "tests/serve/test_case_lifecycle_http.py::test_no_case_endpoint_serves_another_office"
_OFFICES = "tests/serve/test_offices_http.py::test_staff_of_another_office_change_nothing"
_NEWS = "tests/serve/test_news_http.py::test_no_news_route_serves_another_office"
_HERE = "tests/serve/test_route_access.py::test_no_office_resource_route_reaches_another_office"
_TASKS = "tests/serve/test_route_access.py::test_no_task_route_reaches_another_offices_task"
CROSS_OFFICE_TESTS: dict[tuple[str, str], str] = {
    **{route: _CASES for route, kind in ACCESS.items() if kind == OFFICE_PATH and "{case_id}" in route[1]},
    ("GET", "/api/offices/{office_id}"): _OFFICES,
    ("PATCH", "/api/offices/{office_id}"): _OFFICES,
    ("GET", "/api/offices/{office_id}/children"): _OFFICES,
    ("GET", "/api/offices/{office_id}/apps"): _OFFICES,
    **{route: _NEWS for route, kind in ACCESS.items() if kind == OFFICE_PATH and "{news_id}" in route[1]},
    **{route: _HERE for route, kind in ACCESS.items() if kind == OFFICE_PATH and "{point_id}" in route[1]},
    **{route: _HERE for route, kind in ACCESS.items() if kind == OFFICE_PATH and "{position_id}" in route[1]},
    **{route: _HERE for route, kind in ACCESS.items() if kind == OFFICE_PATH and "{user_id}" in route[1]},
    **{route: _TASKS for route, kind in ACCESS.items() if kind == OFFICE_PATH and "{task_id}" in route[1]},
    ("POST", "/api/incidents/{incident_id}/retry"): "tests/bpmn_bridge/test_delivery_process.py::"
    "test_a_procedure_for_an_authority_sends_through_kshde_once_and_a_refusal_is_an_incident_to_retry",
    ("POST", "/api/kshde/inbox/{protocol_no}/attach"): "tests/actors/delivery/test_reader.py::"
    "test_a_document_that_matches_no_case_waits_for_a_supervisor_who_attaches_it_to_a_case_of_their_office",
}


def _published() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, operations in api.openapi()["paths"].items()
        for method, operation in operations.items()
    }


def _api_routes() -> list[APIRoute]:
    """Every FastAPI route of the application, through the routers it includes."""
    found: list[APIRoute] = []
    pending: list[Any] = list(api.routes)
    while pending:
        route = pending.pop()
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            pending.extend(route.original_router.routes)
        elif hasattr(route, "routes"):
            pending.extend(route.routes)
    return found


# ---------------------------------------------------------------------------------------------------------------
# 1. the registry


def test_every_route_is_classified() -> None:
    published = set(_published())
    assert sorted(published - set(ACCESS)) == [], "classify these new routes in ACCESS"
    assert sorted(set(ACCESS) - published) == [], "these routes are gone: remove them from ACCESS"


def _plain(path: str) -> str:
    """A route's path as OpenAPI writes it: `{protocol_no:path}` is `{protocol_no}`."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def test_no_route_is_served_unpublished_but_the_known_ones() -> None:
    published = {path for _, path in _published()}
    hidden = {_plain(route.path) for route in _api_routes()} - published
    hidden |= {getattr(r, "path", "") for r in api.routes if not isinstance(r, APIRoute)} - published - {""}
    assert hidden <= set(UNPUBLISHED), sorted(hidden - set(UNPUBLISHED))


def test_every_office_path_route_names_its_cross_office_test() -> None:
    office_paths = {route for route, kind in ACCESS.items() if kind == OFFICE_PATH}
    assert set(CROSS_OFFICE_TESTS) == office_paths
    for route, ref in CROSS_OFFICE_TESTS.items():
        file, name = ref.split("::")
        module = importlib.import_module(file.removesuffix(".py").replace("/", "."))
        assert callable(getattr(module, name, None)), (route, ref)


# staff routes whose path names something that is no office's
NO_OFFICES: dict[tuple[str, str], str] = {
    ("GET", "/api/forms/{key}"): "a form definition is the same for every office",
}


def test_a_staff_path_that_names_something_names_an_office_resource() -> None:
    """A path parameter on a route for staff names an office's resource (OFFICE_PATH, with its cross-office test)
    unless it is listed as no office's: a route classified STAFF by mistake would escape the cross-office tests."""
    for (method, path), kind in ACCESS.items():
        if kind == STAFF and "{" in path:
            assert (method, path) in NO_OFFICES, (method, path)
    assert all(ACCESS[route] == STAFF for route in NO_OFFICES)


def test_admin_paths_are_administrators_only_and_only_admin_routes_are_there() -> None:
    """`/api/admin/…` is the administrators' by its name: a route there that staff may call, or an administrators'
    route elsewhere, is a classification to look at twice."""
    for (method, path), kind in ACCESS.items():
        assert (kind == ADMIN) == path.startswith("/api/admin/"), (method, path, kind)


# ---------------------------------------------------------------------------------------------------------------
# requests for any route

# a plausible value for each path parameter; a new parameter fails here (KeyError) until it has one
PATH_VALUES: dict[str, Callable[[], str]] = {
    "action": lambda: "start",
    "kind": lambda: "receipt",
    "lang": lambda: "el",
    "adapter": lambda: "kshde",
    "code": lambda: "ABCD-EFGH-JKLM-NPQR",
    "key": lambda: "review",
    "protocol_no": lambda: "2026/000001",
    "task_id": lambda: str(uuid.uuid4()),
    "incident_id": lambda: str(uuid.uuid4()),
}

# the required query parameters of each route (every other parameter is optional)
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/api/admin/templates/preview/{template_id}"): {"case_id": str(uuid.uuid4())},
    ("GET", "/api/case-transfers"): {"direction": "in"},
    ("GET", "/api/procedures/search"): {"q": "πιστοποιητικό"},
    ("GET", "/api/service-points/nearest"): {"lat": "37.9755", "lon": "23.7348"},
    ("GET", "/api/routings/explain"): {"procedure_id": str(uuid.uuid4())},
}

# a body that validates for every route that takes one (checked: test_bodies_validate): a refusal is then the
# caller's, not the body's (several routes judge the body before they look at the caller's roles)
_REASON = {"reason": "δοκιμή πρόσβασης"}
_POINT = {"lat": 37.9755, "lon": 23.7348}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/cases"): {**case_body(uuid.UUID(int=0)), "procedure_id": "{procedure_id}"},
    ("POST", "/api/cases/bulk/reassign"): {"case_ids": ["{case_id}"], "assignee": None},
    ("POST", "/api/cases/{case_id}/extend"): {"version": 1, "reason": "λόγος παράτασης", "days": 5},
    ("POST", "/api/cases/{case_id}/assign"): {"version": 1, "assignee": None},
    ("PUT", "/api/cases/{case_id}/form"): {"version": 1, "data": {}},
    ("POST", "/api/cases/{case_id}/notes"): {"text": "σημείωση"},
    ("POST", "/api/cases/{case_id}/transfer"): {"version": 1, "reason": "λόγος μεταφοράς"},
    ("POST", "/api/cases/{case_id}/{action}"): {"version": 1},
    ("POST", "/api/cases/{case_id}/documents/render"): {"kind": "receipt"},
    ("POST", "/api/cases/{case_id}/messages"): {"text": "Μήνυμα προς τον πολίτη."},
    ("POST", "/api/eugo/applications/{application_id}/messages"): {"text": "Μήνυμα προς το γραφείο."},
    ("POST", "/api/tasks/{task_id}/complete"): {"data": {}},
    ("POST", "/api/kshde/inbox/{protocol_no}/attach"): {"case_id": "{case_id}"},
    ("PATCH", "/api/offices/{office_id}"): {"phone": "2101234567"},
    ("POST", "/api/news"): {"title_el": "Ανακοίνωση", "body_el": "Κείμενο.", "offices": ["{office_id}"]},
    ("PATCH", "/api/news/{news_id}"): {"title_el": "Άλλος τίτλος"},
    ("POST", "/api/news/{news_id}/withdraw"): _REASON,
    ("POST", "/api/service-points"): {
        "office_id": "{office_id}",
        "name_el": "Σημείο",
        "address": "Αθήνα",
        "location": _POINT,
    },
    ("PATCH", "/api/service-points/{point_id}"): {"name_el": "Αλλαγή"},
    ("POST", "/api/service-points/{point_id}/activate"): _REASON,
    ("POST", "/api/service-points/{point_id}/deactivate"): _REASON,
    ("POST", "/api/positions"): {"office_id": "{office_id}", "title": "Θέση", "category": "ΠΕ"},
    ("PATCH", "/api/positions/{position_id}"): {"title": "Αλλαγή"},
    ("POST", "/api/positions/{position_id}/fill"): {"subject": "{subject}"},
    ("POST", "/api/positions/{position_id}/vacate"): _REASON,
    ("POST", "/api/admin/templates/{kind}/{lang}"): {"body": "<p>{{ case.number }}</p>"},
    ("PUT", "/api/admin/adapters/{adapter}"): {"values": {}, "reason": "δοκιμή πρόσβασης", "check": False},
    ("PATCH", "/api/admin/procedures/{procedure_id}"): {"active": False, "reason": "δοκιμή πρόσβασης"},
    ("POST", "/api/admin/forms"): {"key": "access-check", "title": "Δοκιμή", "definition": {"components": []}},
    ("PUT", "/api/admin/autoscaler/dry-run"): {"dry_run": True},
    ("POST", "/api/admin/offices"): {"code": "ACCESS-CHECK", "kind": "kep", "name_el": "Γραφείο δοκιμής"},
    ("PATCH", "/api/admin/offices/{office_id}"): {"name_el": "Άλλο όνομα", "active": False},
    ("POST", "/api/admin/offices/{office_id}/activate"): {"reason": "δοκιμή πρόσβασης"},
    ("POST", "/api/admin/offices/{office_id}/deactivate"): {"reason": "δοκιμή πρόσβασης"},
    ("POST", "/api/admin/apps"): {"client_id": "access-check", "name": "Δοκιμή", "url": "https://x.example.gr"},
    ("PATCH", "/api/admin/apps/{app_id}"): {"active": False},
    ("POST", "/api/admin/routings"): {"procedure_id": "{procedure_id}", "office_id": "{office_id}"},
    ("PATCH", "/api/admin/routings/{routing_id}"): {"active": False},
    ("DELETE", "/api/admin/routings/{routing_id}"): {"reason": "δοκιμή πρόσβασης"},
    ("POST", "/api/admin/users"): {
        "username": "access-check",
        "given_name": "Μαρία",
        "family_name": "Παππά",
        "office_id": "{office_id}",
        "roles": ["administrator"],
    },
    ("PATCH", "/api/admin/users/{user_id}"): {"given_name": "Νίκος", "roles": ["administrator"]},
    ("POST", "/api/admin/users/{user_id}/move"): {"office_id": "{other_office_id}"},
    ("POST", "/api/admin/users/{user_id}/deactivate"): {"reason": "δοκιμή πρόσβασης"},
    ("POST", "/api/admin/users/{user_id}/reactivate"): {"reason": "δοκιμή πρόσβασης"},
}


def _fill(path: str, values: dict[str, str] | None = None) -> str:
    """The path with each parameter given a value: `values` first, a fresh uuid for an `…_id`, else PATH_VALUES."""
    given = values or {}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in given:
            return given[name]
        if name in PATH_VALUES:
            return PATH_VALUES[name]()
        if name.endswith("_id"):
            return str(uuid.uuid4())
        raise KeyError(f"no value for the path parameter {{{name}}}: add one to PATH_VALUES")

    return re.sub(r"\{([a-z_]+)\}", value, path)


def _substituted(data: Any, values: dict[str, str]) -> Any:
    if isinstance(data, dict):
        return {k: _substituted(v, values) for k, v in data.items()}
    if isinstance(data, list):
        return [_substituted(v, values) for v in data]
    if isinstance(data, str) and data.startswith("{") and data.endswith("}"):
        name = data[1:-1]
        return values[name] if name in values else str(uuid.uuid4()) if name.endswith("_id") else "someone"
    return data


def test_every_required_query_parameter_has_a_value() -> None:
    for route, operation in _published().items():
        required = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query" and p.get("required")}
        assert required == set(QUERIES.get(route, {})), route


def test_bodies_validate() -> None:
    """Each route with a JSON body (but the public ones) gets one here that its model accepts, so that a 403 is
    the role check's and not a 422 in disguise."""
    values = {"subject": "someone"}
    with_body = set()
    for route in _api_routes():
        for method in route.methods or ():
            key = (method, _plain(route.path))
            if ACCESS.get(key, PUBLIC) == PUBLIC or not route.dependant.body_params:
                continue
            [param] = route.dependant.body_params
            with_body.add(key)
            assert key in BODIES, f"give {key} a valid body in BODIES"
            model: Any = param.field_info.annotation
            TypeAdapter(model).validate_python(_substituted(BODIES[key], values))
    assert set(BODIES) == with_body


# ---------------------------------------------------------------------------------------------------------------
# 2. no token, no answer


def _is_problem(resp: httpx.Response) -> bool:
    return str(resp.headers.get("content-type", "")).startswith("application/problem+json")


async def _send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    json_body: Any = None,
) -> httpx.Response:
    """One request; a stream (SSE) is read no further than its status line. An anonymous caller over its rate
    (429) waits as long as it is told, at most twice: the test is about 401, not about the rate. A connection
    dropped without an answer is tried once more."""
    dropped = 0
    for _ in range(4):
        try:
            async with http.stream(method, url, headers=headers, params=params, json=json_body) as resp:
                if resp.headers.get("content-type", "").startswith("text/event-stream"):
                    return resp  # the stream stays unread: closed when this block ends
                await resp.aread()
        except httpx.RemoteProtocolError:
            # the session's HAProxy restarts once while Serve settles after the deployment: once, not twice
            dropped += 1
            if dropped > 1:
                raise
            continue
        if resp.status_code != 429:
            return resp
        await asyncio.sleep(min(float(resp.headers.get("retry-after", "1")), 60.0))
    return resp


async def test_no_route_but_the_public_ones_answers_without_a_token(http: httpx.AsyncClient) -> None:
    wrong: list[str] = []
    for (method, path), kind in sorted(ACCESS.items()):
        if kind == PUBLIC:
            continue
        url = _fill(path)
        json_body: dict[str, Any] | None = None
        if method != "GET":
            json_body = _substituted(BODIES.get((method, path), {}), {})
        for who, headers in (
            ("no token", {}),
            ("garbage token", {"Authorization": "Bearer not.a.token"}),
            ("not a bearer", {"Authorization": "Basic YWRtaW46YWRtaW4="}),
        ):
            resp = await asyncio.wait_for(
                _send(http, method, url, headers, QUERIES.get((method, path)), json_body), timeout=60
            )
            if resp.status_code != 401 or not _is_problem(resp):
                wrong.append(f"{method} {path} with {who}: {resp.status_code} {resp.text[:200]}")
    assert not wrong, "\n".join(wrong)


async def test_a_token_without_a_role_of_ours_is_refused_everywhere(
    http: httpx.AsyncClient, token_for: Callable[..., str], make_office: OfficeFactory
) -> None:
    """An active user of an office whose token carries none of our roles (only Keycloak's own) is authenticated,
    and refused (403) by every staff route: no route forgets to ask for a role (a citizen's route does not take
    a staff token at all: 401)."""
    office = await make_office()
    nobody = bearer(token_for(office, roles=()))
    values = {"office_id": str(office)}
    wrong: list[str] = []
    for (method, path), kind in sorted(ACCESS.items()):
        if kind == PUBLIC:
            continue
        sent = _substituted(BODIES.get((method, path), {}), values) if method != "GET" else None
        resp = await asyncio.wait_for(
            _send(http, method, _fill(path, values), nobody, QUERIES.get((method, path)), sent), timeout=60
        )
        expected = 401 if kind == CITIZEN else 403  # a staff token is no citizen's credential
        if resp.status_code != expected or not _is_problem(resp):
            wrong.append(f"{method} {path}: {resp.status_code} {resp.text[:200]}")
    assert not wrong, "\n".join(wrong)


async def test_the_role_is_refused_before_the_request_is_validated(
    http: httpx.AsyncClient, token_for: Callable[..., str], make_office: OfficeFactory
) -> None:
    """A caller without the route's role gets 403 for a body and a query that are wrong too, not a 422 that would
    tell them which fields the route takes: the role is checked by a dependency (`serve.deps.holding`), which
    FastAPI solves before it validates the request. A staff route for a token without a role of ours, an
    administrators' route for an employee."""
    office = await make_office()
    nobody, employee = bearer(token_for(office, roles=())), bearer(token_for(office))
    wrong: list[str] = []
    for (method, path), kind in sorted(ACCESS.items()):
        if kind in (PUBLIC, CITIZEN):
            continue
        headers = employee if kind == ADMIN else nobody
        bad_query = {"limit": "-1", "page": "0", "size": "0", "after": "not-a-cursor", "office_id": "no"}
        bad_body = ["not", "an", "object"] if method != "GET" else None
        resp = await asyncio.wait_for(_send(http, method, _fill(path), headers, bad_query, bad_body), timeout=60)
        if resp.status_code != 403 or not _is_problem(resp):
            wrong.append(f"{method} {path} ({kind}): {resp.status_code} {resp.text[:200]}")
    assert not wrong, "\n".join(wrong)


async def test_the_public_routes_answer_without_a_token(http: httpx.AsyncClient) -> None:
    """The other side of the classification: what is PUBLIC does answer an anonymous caller (not 401/403)."""
    for (method, path), kind in sorted(ACCESS.items()):
        if kind != PUBLIC:
            continue
        content = b"%PDF-1.7 nothing issued" if method == "POST" else None
        resp = await http.request(method, _fill(path), content=content, headers={"Content-Type": "application/pdf"})
        assert resp.status_code not in (401, 403), (method, path, resp.text)


# ---------------------------------------------------------------------------------------------------------------
# 3. administrators' routes refuse staff and change nothing

# tables an administrators' route writes, hashed whole (small) or counted (case rows)
HASHED = (
    "adapter_settings",
    "admin_audit",
    "document_templates",
    "external_apps",
    "forms",
    "kshde_sync",
    "kshde_units",
    "mailbox_replies",
    "offices",
    "procedure_offices",
    "procedure_sync_runs",
    "procedures",
    "routings",
    "users",
)
# (not case_events nor outbox: the processes of earlier tests in a session may still append to them meanwhile)
COUNTED = ("cases", "case_transfers")


async def _state(pool: Pool) -> dict[str, Any]:
    tables = {r["tablename"] for r in await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    state: dict[str, Any] = {}
    for table in HASHED:
        if table in tables:
            query = f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"  # noqa: S608
            state[table] = await pool.fetchval(query)
    for table in COUNTED:
        if table in tables:
            state[table] = await pool.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608  (names above)
    return state


async def test_admin_routes_refuse_staff(
    http: httpx.AsyncClient,
    token_for: Callable[..., str],
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    pool: Pool,
) -> None:
    office, other = await make_office(), await make_office()
    procedure = await make_procedure()
    supervisor_subject = f"sup-{uuid.uuid4().hex[:8]}"
    callers = {
        "supervisor": bearer(token_for(office, roles=SUPERVISOR, subject=supervisor_subject)),
        "employee": bearer(token_for(office)),
    }
    admin = bearer(token_for(other, roles=("administrator",)))
    # real things of the callers' own office to aim at, where a route names one: a leak would change them
    rule = await http.post(
        "/api/admin/routings", json={"procedure_id": str(procedure), "office_id": str(office)}, headers=admin
    )
    assert rule.status_code == 201, rule.text
    user_id = await pool.fetchval("SELECT id FROM users WHERE subject = $1", supervisor_subject)
    values = {
        "office_id": str(office),
        "other_office_id": str(other),
        "procedure_id": str(procedure),
        "routing_id": rule.json()["id"],
        "user_id": str(user_id),
    }
    before = await _state(pool)
    wrong: list[str] = []
    for (method, path), kind in sorted(ACCESS.items()):
        if kind != ADMIN:
            continue
        url = _fill(path, values)
        sent = _substituted(BODIES[(method, path)], values) if (method, path) in BODIES else None
        for who, headers in callers.items():
            resp = await _send(http, method, url, headers, QUERIES.get((method, path)), sent)
            if resp.status_code != 403 or not _is_problem(resp):
                wrong.append(f"{method} {url} as {who}: {resp.status_code} {resp.text[:200]}")
    assert not wrong, "\n".join(wrong)
    assert await _state(pool) == before
    # and the administrator's token is served on the same routes (the refusal is the role's, not the request's)
    assert (await http.get(f"/api/admin/users/{user_id}", headers=admin)).status_code == 200
    assert (await http.get(f"/api/admin/offices/{office}/history", headers=admin)).status_code == 200


# ---------------------------------------------------------------------------------------------------------------
# 4. staff lists show nothing of another office

# what a staff list shows of another office on purpose
SHARED: dict[tuple[str, str], tuple[str, ...]] = {
    # the directory of active offices is published anyway (addresses, contacts, hours, the chart): offices.py
    ("GET", "/api/offices"): ("office",),
    ("GET", "/api/offices.csv"): ("office",),
    ("GET", "/api/offices/tree"): ("office",),
    # every member of staff sees every office's active service points (where, when, what): service_points.py
    ("GET", "/api/service-points"): ("office", "service_point"),
    ("GET", "/api/service-points/nearest"): ("office", "service_point"),
    # the routing rules are the central administration's, not an office's: the explanation names the competent
    # office (routings.py), whoever asks
    ("GET", "/api/routings/explain"): ("office",),
}

# staff list routes that are not asked here, and why
NOT_LISTED: dict[tuple[str, str], str] = {
    ("GET", "/api/live/cases"): "a stream: tests/serve/test_live_http.py::test_another_office_never_receives_them",
}


def _staff_lists() -> list[tuple[str, str]]:
    return sorted(
        (method, path)
        for (method, path), kind in ACCESS.items()
        if kind == STAFF and method == "GET" and "{" not in path and (method, path) not in NOT_LISTED
    )


def _takes_office_id(method: str, path: str) -> bool:
    operation = _published()[(method, path)]
    return any(p["name"] == "office_id" and p["in"] == "query" for p in operation.get("parameters", []))


async def test_staff_lists_show_nothing_of_another_office(
    http: httpx.AsyncClient,
    token_for: Callable[..., str],
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    pool: Pool,
) -> None:
    a, elsewhere = Desk(http, token_for, await make_office()), Desk(http, token_for, await make_office())
    procedure = await make_procedure()
    tag = uuid.uuid4().hex[:10]
    admin = bearer(token_for(await make_office(), roles=("administrator",)))
    # the procedure's default office is A: the explanation has an office to name
    rule = await http.post(
        "/api/admin/routings", json={"procedure_id": str(procedure), "office_id": str(a.office)}, headers=admin
    )
    assert rule.status_code == 201, rule.text
    # office A's things: a case that stays, one handed over to a third office, a position held by A's employee,
    # a service point, an announcement for A only, its people
    case = await a.open(procedure)
    gone = await a.open(procedure)
    moved = await http.post(
        f"/api/cases/{gone['id']}/transfer",
        headers=a.as_supervisor,
        json={"version": gone["version"], "reason": "αρμόδιο άλλο ΚΕΠ", "office_id": str(elsewhere.office)},
    )
    assert moved.status_code == 200, moved.text
    position = await http.post(
        "/api/positions",
        headers=a.as_supervisor,
        json={"office_id": str(a.office), "title": f"Θέση {tag}", "category": "ΠΕ"},
    )
    assert position.status_code == 201, position.text
    filled = await http.post(
        f"/api/positions/{position.json()['id']}/fill", json={"subject": a.employee}, headers=a.as_supervisor
    )
    assert filled.status_code == 200, filled.text
    point = await http.post(
        "/api/service-points",
        headers=a.as_supervisor,
        json={
            "office_id": str(a.office),
            "name_el": f"Σημείο {tag}",
            "address": "Αθήνα",
            "location": {"lat": 37.9755, "lon": 23.7348},
        },
    )
    assert point.status_code == 201, point.text
    news = await http.post(
        "/api/news",
        headers=a.as_supervisor,
        json={"title_el": f"Ανακοίνωση {tag}", "body_el": "Μόνο για το Α.", "offices": [str(a.office)]},
    )
    assert news.status_code == 201, news.text
    code = await pool.fetchval("SELECT code FROM offices WHERE id = $1", a.office)
    people = await pool.fetch("SELECT id, subject FROM users WHERE office_id = $1", a.office)
    private: dict[str, list[str]] = {
        "office": [str(a.office), code],
        "case": [case["id"], case["number"], gone["id"], gone["number"]],
        "position": [position.json()["id"], f"Θέση {tag}"],
        "service_point": [point.json()["id"], f"Σημείο {tag}"],
        "news": [news.json()["id"], f"Ανακοίνωση {tag}"],
        "people": [str(p["id"]) for p in people] + [p["subject"] for p in people],
    }
    assert len(private["people"]) == 4
    # the statistics consumer has counted A's cases (else their absence below would prove nothing)

    async def counted() -> bool:
        resp = await http.get("/api/statistics/backlog", params={"office_id": str(a.office)}, headers=admin)
        return str(a.office) in resp.text

    await eventually(counted)

    b = bearer(token_for(await make_office(), roles=SUPERVISOR))
    b_employee = bearer(token_for(await make_office()))
    seen_by_a: set[tuple[str, str]] = set()
    wrong: list[str] = []
    for method, path in _staff_lists():
        queries = [QUERIES.get((method, path), {})]
        if path == "/api/case-transfers":
            queries = [{"direction": "in"}, {"direction": "out"}]
        if path == "/api/kshde/inbox":
            queries = [{}, {"state": "attached"}]
        if path == "/api/routings/explain":  # a procedure the catalogue has
            queries = [{"procedure_id": str(procedure)}]
        # asking for A's things by name finds nothing either
        if path == "/api/cases":
            queries += [{"q": case["number"]}, {"q": "Παπαδάκη"}]
        if path in ("/api/tasks", "/api/incidents"):
            queries += [{"case_id": case["id"]}]
        if path == "/api/users":
            queries += [{"q": a.employee}]
        shared = SHARED.get((method, path), ())
        needles = [n for kind, ns in private.items() if kind not in shared for n in ns]
        for query in queries:
            attempts = [(b, query)]
            if _takes_office_id(method, path):  # naming A's office: refused, or still nothing of A's
                attempts.append((b, query | {"office_id": str(a.office)}))
            attempts.append((b_employee, query))
            for headers, params in attempts:
                resp = await http.get(path, params=params, headers=headers)
                if resp.status_code == 200:
                    leaked = [n for n in needles if n in resp.text]
                    if leaked:
                        wrong.append(f"GET {path} {params}: shows {leaked}")
                elif resp.status_code != 403:
                    wrong.append(f"GET {path} {params}: {resp.status_code} {resp.text[:200]}")
            own = await http.get(path, params=query, headers=a.as_supervisor)
            assert own.status_code == 200, (path, query, own.text)
            if any(n in own.text for ns in private.values() for n in ns):
                seen_by_a.add((method, path))
    assert not wrong, "\n".join(wrong)
    # the needles are there to be found: A's own staff see them on these lists
    for route in [
        ("GET", "/api/cases"),
        ("GET", "/api/case-transfers"),
        ("GET", "/api/positions"),
        ("GET", "/api/positions/workload"),
        ("GET", "/api/news"),
        ("GET", "/api/users"),
        ("GET", "/api/service-points"),
        ("GET", "/api/statistics/backlog"),
        ("GET", "/api/statistics/volumes.csv"),
    ]:
        assert route in seen_by_a, route


# ---------------------------------------------------------------------------------------------------------------
# 5. routes naming an office's resource: those no other test covers


def _resource_routes() -> list[tuple[str, str]]:
    prefixes = ("/api/positions/{position_id}", "/api/service-points/{point_id}", "/api/users/{user_id}")
    return sorted(route for route in _published() if route[1].startswith(prefixes))


# what a supervisor of another office gets: positions and people of another office are not there for them (404);
# an active service point is public to staff (read 200), but not theirs to change or audit (403)
FOREIGN: dict[str, int] = {"/api/positions/": 404, "/api/users/": 404}
FOREIGN_POINT: dict[str, int] = {"GET": 200}
RESOURCE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("/api/positions/", "PATCH"): {"title": "Αλλαγή"},
    ("/api/positions/", "fill"): {"subject": "{subject}"},
    ("/api/positions/", "vacate"): {"reason": "δοκιμή πρόσβασης"},
    ("/api/service-points/", "PATCH"): {"name_el": "Αλλαγή"},
    ("/api/service-points/", "activate"): {"reason": "δοκιμή πρόσβασης"},
    ("/api/service-points/", "deactivate"): {"reason": "δοκιμή πρόσβασης"},
}


def _resource_body(method: str, path: str, subject: str) -> dict[str, Any] | None:
    last = path.rsplit("/", 1)[-1]
    action = method if last.startswith("{") else last
    for (prefix, name), sent in RESOURCE_BODIES.items():
        if path.startswith(prefix) and name == action:
            substituted: dict[str, Any] = _substituted(sent, {"subject": subject})
            return substituted
    return None


@pytest.mark.parametrize(("method", "path"), _resource_routes())
async def test_no_office_resource_route_reaches_another_office(
    http: httpx.AsyncClient,
    token_for: Callable[..., str],
    make_office: OfficeFactory,
    pool: Pool,
    method: str,
    path: str,
) -> None:
    a = Desk(http, token_for, await make_office())
    position = await http.post(
        "/api/positions", headers=a.as_supervisor, json={"office_id": str(a.office), "title": "Θέση", "category": "ΔΕ"}
    )
    assert position.status_code == 201, position.text
    point = await http.post(
        "/api/service-points",
        headers=a.as_supervisor,
        json={
            "office_id": str(a.office),
            "name_el": "Σημείο",
            "address": "Αθήνα",
            "location": {"lat": 37.9841, "lon": 23.7280},
        },
    )
    assert point.status_code == 201, point.text
    user_id = await pool.fetchval("SELECT id FROM users WHERE subject = $1", a.employee)
    ids = {"position_id": position.json()["id"], "point_id": point.json()["id"], "user_id": str(user_id)}

    async def state() -> tuple[Any, ...]:
        return (
            await pool.fetchrow("SELECT * FROM positions WHERE id = $1", uuid.UUID(ids["position_id"])),
            await pool.fetch(
                "SELECT * FROM position_assignments WHERE position_id = $1", uuid.UUID(ids["position_id"])
            ),
            await pool.fetchrow("SELECT * FROM service_points WHERE id = $1", uuid.UUID(ids["point_id"])),
            await pool.fetchrow("SELECT * FROM users WHERE id = $1", user_id),
            await pool.fetchval(
                "SELECT count(*) FROM admin_audit WHERE entity_id = ANY($1::text[])", list(ids.values())
            ),
        )

    before = await state()
    url = _fill(path, ids)
    last = path.rsplit("/", 1)[-1]
    intruder = bearer(token_for(await make_office(), roles=SUPERVISOR))
    if path.startswith("/api/service-points/"):
        expected = FOREIGN_POINT.get(method if last.startswith("{") else "", 403)
    else:
        expected = next(code for prefix, code in FOREIGN.items() if path.startswith(prefix))
    sent = _resource_body(method, path, a.employee)
    resp = await http.request(method, url, json=sent, headers=intruder)
    assert resp.status_code == expected, resp.text
    if expected == 200:  # what is shared is the public part: nothing of the office's people
        assert a.employee not in resp.text
        assert a.supervisor not in resp.text
    if method != "GET":  # employees read their office's, and change none of it
        by_employee = await http.request(method, url, json=sent, headers=a.as_employee)
        assert by_employee.status_code == 403, by_employee.text
    assert await state() == before
    # from A's own office the same request reaches the resource (the refusal above is the office's): served, or
    # refused by the resource's own rules, never as out of reach
    own = await http.request(method, url, json=sent, headers=a.as_supervisor)
    assert own.status_code not in (403, 404), own.text


# ---------------------------------------------------------------------------------------------------------------
# staff writes whose body could name another office or its people

# every staff route that writes, and how a body naming another office is answered (test below)
STAFF_WRITES: dict[tuple[str, str], str] = {
    ("POST", "/api/cases"): "opened in the caller's token office: the body names no office",
    ("POST", "/api/cases/bulk/reassign"): "another office's case: failed, untouched",
    ("POST", "/api/news"): "for another office: 422 at /offices",
    ("POST", "/api/positions"): "for another office: 403",
    ("POST", "/api/service-points"): "for another office: 403",
}


def test_every_staff_write_is_listed() -> None:
    writes = {route for route, kind in ACCESS.items() if kind == STAFF and route[0] != "GET"}
    assert writes == set(STAFF_WRITES)


async def test_staff_writes_reach_no_other_office_nor_its_people(
    http: httpx.AsyncClient,
    token_for: Callable[..., str],
    make_office: OfficeFactory,
    make_procedure: Callable[..., Any],
    pool: Pool,
) -> None:
    a, b = Desk(http, token_for, await make_office()), Desk(http, token_for, await make_office())
    case = await a.open(await make_procedure())
    own_position = await http.post(
        "/api/positions", headers=b.as_supervisor, json={"office_id": str(b.office), "title": "Θέση", "category": "ΥΕ"}
    )
    assert own_position.status_code == 201, own_position.text
    own_case = await b.open(await make_procedure())

    async def state() -> tuple[Any, ...]:
        return (
            await pool.fetchrow("SELECT * FROM cases WHERE id = $1", uuid.UUID(case["id"])),
            await pool.fetchrow("SELECT * FROM cases WHERE id = $1", uuid.UUID(own_case["id"])),
            await pool.fetchval("SELECT count(*) FROM positions WHERE office_id = $1", a.office),
            await pool.fetchval(
                "SELECT count(*) FROM position_assignments WHERE position_id = $1", uuid.UUID(own_position.json()["id"])
            ),
            await pool.fetchval("SELECT count(*) FROM service_points WHERE office_id = $1", a.office),
            await pool.fetchval("SELECT count(*) FROM news_offices WHERE office_id = $1", a.office),
        )

    before = await state()
    # B's supervisor makes nothing for A
    made = {
        "/api/positions": {"office_id": str(a.office), "title": "Ξένη θέση", "category": "ΠΕ"},
        "/api/service-points": {
            "office_id": str(a.office),
            "name_el": "Ξένο σημείο",
            "address": "Αθήνα",
            "location": {"lat": 37.9755, "lon": 23.7348},
        },
        "/api/news": {"title_el": "Ξένη ανακοίνωση", "body_el": "Κείμενο.", "offices": [str(a.office)]},
    }
    for path, sent in made.items():
        resp = await http.post(path, json=sent, headers=b.as_supervisor)
        assert resp.status_code in (403, 422), (path, resp.text)
    # nor reassigns A's case, nor brings A's people into B's position or case
    bulk = await http.post(
        "/api/cases/bulk/reassign", json={"case_ids": [case["id"]], "assignee": b.employee}, headers=b.as_supervisor
    )
    assert bulk.status_code == 200, bulk.text
    assert list(bulk.json()["failed"]) == [case["id"]]
    fill = await http.post(
        f"/api/positions/{own_position.json()['id']}/fill", json={"subject": a.employee}, headers=b.as_supervisor
    )
    assert fill.status_code == 422, fill.text
    assign = await http.post(
        f"/api/cases/{own_case['id']}/assign",
        headers=b.as_supervisor,
        json={"version": own_case["version"], "assignee": a.employee},
    )
    assert assign.status_code == 422, assign.text
    assert await state() == before


# ---------------------------------------------------------------------------------------------------------------
# user tasks of another office


async def test_no_task_route_reaches_another_offices_task(
    http: httpx.AsyncClient, token_for: Callable[..., str], make_office: OfficeFactory, settings: Settings
) -> None:
    """A task of office A (offered to A's group, claimed by A's employee): B's supervisor neither claims, gives back
    nor completes it (404, as a task that does not exist), and it stays A's employee's."""
    key = f"access_{uuid.uuid4().hex[:8]}"
    bpmn = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_{key}" targetNamespace="urn:kep:tests">
  <bpmn:process id="{key}" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start"/>
    <bpmn:userTask id="check" name="Έλεγχος" camunda:candidateGroups="${{office}}"/>
    <bpmn:endEvent id="done"/>
    <bpmn:sequenceFlow id="to_check" sourceRef="start" targetRef="check"/>
    <bpmn:sequenceFlow id="to_done" sourceRef="check" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()
    office = await make_office()
    case = str(uuid.uuid4())
    employee = f"emp-{uuid.uuid4().hex[:8]}"
    mine = bearer(token_for(office, subject=employee))
    intruder = bearer(token_for(await make_office(), roles=SUPERVISOR))
    async with EngineClient(settings.engine_url, tenant_id=settings.engine_tenant) as engine:
        deployed = await engine.deploy(f"access-{key}", {f"{key}.bpmn": bpmn})
        try:
            path = f"/process-definition/key/{key}/tenant-id/{settings.engine_tenant}/start"
            async with httpx.AsyncClient(base_url=settings.engine_url, timeout=60) as raw:
                variables = {"office": {"type": "String", "value": str(office)}}
                started = await raw.post(path, json={"businessKey": case, "variables": variables})
                assert started.status_code == 200, started.text
            [task] = (await http.get("/api/tasks", params={"case_id": case}, headers=mine)).json()["items"]
            assert (await http.post(f"/api/tasks/{task['id']}/claim", headers=mine)).status_code == 204
            routes = [p for (m, p), kind in ACCESS.items() if kind == OFFICE_PATH and p.startswith("/api/tasks/")]
            for route in sorted(routes):
                sent: dict[str, Any] | None = {"data": {}} if route.endswith("/complete") else None
                resp = await http.post(_fill(route, {"task_id": task["id"]}), json=sent, headers=intruder)
                assert resp.status_code == 404, (route, resp.text)
            [still] = await engine.user_tasks(task_id=task["id"], candidate_group=str(office), include_assigned=True)
            assert still.assignee == employee
        finally:
            async with httpx.AsyncClient(base_url=settings.engine_url, timeout=600) as raw:
                await raw.delete(
                    f"/deployment/{deployed.id}", params={"cascade": "true", "skipCustomListeners": "true"}
                )

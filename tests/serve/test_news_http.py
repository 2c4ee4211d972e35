"""News for staff over HTTP, against real PostgreSQL and Keycloak tokens: targeting by office and role, the publish
window, who may write for which office, read marks and receipts, edits and withdrawal with their audit, bad input."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from serve.app import api
from tests.conftest import OfficeFactory
from tests.helpers import bearer

Headers = dict[str, str]


@pytest.fixture
def who(token_for: Callable[..., str]) -> Callable[..., Headers]:
    """Headers of a new member of staff of `office` with `roles`; the subject is in `X-Test-Subject`."""

    def make(office: uuid.UUID | None, *roles: str) -> Headers:
        subject = f"news-{'-'.join(roles) or 'none'}-{uuid.uuid4().hex[:8]}"
        return bearer(token_for(office, roles=roles or ("employee",), subject=subject)) | {"X-Test-Subject": subject}

    return make


def _at(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def _draft(**fields: Any) -> dict[str, Any]:
    return {"title_el": f"Ανακοίνωση {uuid.uuid4().hex[:8]}", "body_el": "Κείμενο της ανακοίνωσης."} | fields


async def _publish(http: httpx.AsyncClient, headers: Headers, **fields: Any) -> dict[str, Any]:
    answer = await http.post("/api/news", json=_draft(**fields), headers=headers)
    assert answer.status_code == 201, answer.text
    item: dict[str, Any] = answer.json()
    return item


async def _feed_ids(http: httpx.AsyncClient, headers: Headers, **params: Any) -> list[str]:
    """Every id of the caller's feed, page after page."""
    ids: list[str] = []
    url: str | None = "/api/news"
    query: dict[str, Any] | None = {"limit": 50} | params
    while url:
        answer = await http.get(url, params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        ids += [item["id"] for item in answer.json()]
        url, query = answer.links.get("next", {}).get("url"), None
    return ids


async def test_news_reach_the_offices_and_roles_they_target(
    http: httpx.AsyncClient, make_office: OfficeFactory, who: Callable[..., Headers]
) -> None:
    here, there = await make_office(), await make_office()
    admin = who(uuid.uuid4(), "administrator")
    office_wide = await _publish(http, admin, offices=[str(here)])
    supervisors = await _publish(http, admin, offices=[str(here)], roles=["supervisor"])
    everyone = await _publish(http, admin)
    both = await _publish(http, admin, offices=[str(here), str(there)], roles=["employee"])

    employee, supervisor, elsewhere = who(here, "employee"), who(here, "supervisor"), who(there, "employee")
    mine = {n["id"] for n in (office_wide, supervisors, everyone, both)}
    assert mine & set(await _feed_ids(http, employee)) == {office_wide["id"], everyone["id"], both["id"]}
    assert mine & set(await _feed_ids(http, supervisor)) == {office_wide["id"], supervisors["id"], everyone["id"]}
    assert mine & set(await _feed_ids(http, elsewhere)) == {everyone["id"], both["id"]}
    assert everyone["offices"] == []
    assert everyone["roles"] == []
    assert everyone["state"] == "published"
    assert sorted(both["offices"]) == sorted([str(here), str(there)])

    # another office's news is not there for them: not to read, not to mark read
    for path in (f"/api/news/{office_wide['id']}", f"/api/news/{supervisors['id']}"):
        assert (await http.get(path, headers=elsewhere)).status_code == 404
    assert (await http.post(f"/api/news/{office_wide['id']}/read", headers=elsewhere)).status_code == 404
    assert (await http.post(f"/api/news/{supervisors['id']}/read", headers=employee)).status_code == 404
    assert (await http.get(f"/api/news/{office_wide['id']}", headers=employee)).json()["read"] is False


async def test_only_news_inside_their_window_are_shown(
    http: httpx.AsyncClient, make_office: OfficeFactory, who: Callable[..., Headers]
) -> None:
    office = await make_office()
    admin = who(uuid.uuid4(), "administrator")
    scope = {"offices": [str(office)]}
    now = await _publish(http, admin, **scope, expire_at=_at(hours=1))
    future = await _publish(http, admin, **scope, publish_at=_at(hours=1))
    expired = await _publish(http, admin, **scope, publish_at=_at(hours=-2), expire_at=_at(hours=-1))
    assert (future["state"], expired["state"], now["state"]) == ("scheduled", "expired", "published")

    employee = who(office, "employee")
    assert set(await _feed_ids(http, employee)) & {now["id"], future["id"], expired["id"]} == {now["id"]}
    for hidden in (future, expired):
        assert (await http.get(f"/api/news/{hidden['id']}", headers=employee)).status_code == 404
        assert (await http.post(f"/api/news/{hidden['id']}/read", headers=employee)).status_code == 404
        # their author (an administrator) still sees them, in their state
        assert (await http.get(f"/api/news/{hidden['id']}", headers=admin)).json()["state"] == hidden["state"]

    # the window opened now: there it is
    moved = await http.patch(f"/api/news/{future['id']}", json={"publish_at": _at(minutes=-1)}, headers=admin)
    assert moved.status_code == 200
    assert moved.json()["state"] == "published"
    assert future["id"] in await _feed_ids(http, employee)
    scheduled = await http.get("/api/news/written", params={"state": "scheduled"}, headers=admin)
    assert future["id"] not in {n["id"] for n in scheduled.json()}


async def test_supervisors_write_for_their_own_office_only(
    http: httpx.AsyncClient, make_office: OfficeFactory, who: Callable[..., Headers], pool: asyncpg.Pool
) -> None:
    mine, other = await make_office(), await make_office()
    supervisor = who(mine, "supervisor")
    refused = [
        ({"offices": [str(other)]}, "/offices/0"),
        ({"offices": [str(mine), str(other)]}, "/offices/1"),
        ({}, "/offices"),  # every office
    ]
    for fields, pointer in refused:
        title = f"Όχι {uuid.uuid4().hex}"
        answer = await http.post("/api/news", json=_draft(title_el=title, **fields), headers=supervisor)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert [e["path"] for e in answer.json()["errors"]] == [pointer]
        assert await pool.fetchval("SELECT count(*) FROM news WHERE title_el = $1", title) == 0

    employee = who(mine, "employee")
    assert (await http.post("/api/news", json=_draft(offices=[str(mine)]), headers=employee)).status_code == 403

    own = await _publish(http, supervisor, offices=[str(mine)], pinned=True)
    assert own["author"] == supervisor["X-Test-Subject"]
    assert own["pinned"] is True
    # nor may an edit move it to another office
    moved = await http.patch(f"/api/news/{own['id']}", json={"offices": [str(other)]}, headers=supervisor)
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["path"] == "/offices/0"
    assert (await http.get(f"/api/news/{own['id']}", headers=supervisor)).json()["offices"] == [str(mine)]


async def test_authors_and_administrators_change_and_withdraw_with_an_audit(
    http: httpx.AsyncClient, make_office: OfficeFactory, who: Callable[..., Headers]
) -> None:
    office, other = await make_office(), await make_office()
    author, colleague, stranger = who(office, "supervisor"), who(office, "supervisor"), who(other, "supervisor")
    admin = who(uuid.uuid4(), "administrator")
    item = await _publish(http, author, offices=[str(office)])
    path = f"/api/news/{item['id']}"

    # a supervisor of the office who did not write it sees it but may not change it; another office's: 404
    assert (await http.patch(path, json={"pinned": True}, headers=colleague)).status_code == 403
    assert (await http.patch(path, json={"pinned": True}, headers=stranger)).status_code == 404
    assert (await http.get(f"{path}/receipts", headers=colleague)).status_code == 403
    assert (await http.post(f"{path}/withdraw", headers=stranger)).status_code == 404

    changed = await http.patch(path, json={"title_el": "Νέος τίτλος", "reason": "τυπογραφικό"}, headers=author)
    assert changed.status_code == 200
    assert changed.json()["title_el"] == "Νέος τίτλος"
    again = await http.patch(path, json={"title_el": "Νέος τίτλος"}, headers=author)  # the same: nothing written
    assert again.status_code == 200
    pinned = await http.patch(path, json={"pinned": True, "title_en": "New title"}, headers=admin)
    assert pinned.json()["pinned"] is True
    assert pinned.json()["title_en"] == "New title"

    withdrawn = await http.post(f"{path}/withdraw", json={"reason": "λάθος γραφείο"}, headers=admin)
    assert withdrawn.status_code == 200
    assert withdrawn.json()["state"] == "withdrawn"
    assert (await http.post(f"{path}/withdraw", headers=author)).json()["withdrawn_at"] == withdrawn.json()[
        "withdrawn_at"
    ]
    assert (await http.patch(path, json={"pinned": False}, headers=author)).status_code == 409
    employee = who(office, "employee")
    assert item["id"] not in await _feed_ids(http, employee)
    assert (await http.get(path, headers=employee)).status_code == 404

    history = (await http.get(f"{path}/history", headers=author)).json()
    assert [(h["action"], h["actor"]) for h in history] == [
        ("created", author["X-Test-Subject"]),
        ("changed", author["X-Test-Subject"]),
        ("changed", admin["X-Test-Subject"]),
        ("withdrawn", admin["X-Test-Subject"]),
    ]
    assert history[1]["old"] == {"title_el": item["title_el"]}
    assert history[1]["new"] == {"title_el": "Νέος τίτλος"}
    assert history[1]["reason"] == "τυπογραφικό"
    assert history[3]["reason"] == "λάθος γραφείο"
    written = await http.get("/api/news/written", headers=author)
    assert [n["id"] for n in written.json()] == [item["id"]]


async def test_receipts_say_who_read_and_who_did_not(
    http: httpx.AsyncClient, make_office: OfficeFactory, who: Callable[..., Headers], pool: asyncpg.Pool
) -> None:
    office, other = await make_office(), await make_office()
    reader, slow, supervisor = who(office, "employee"), who(office, "employee"), who(office, "supervisor")
    who(other, "employee")  # staff of another office: not targeted
    gone = f"news-gone-{uuid.uuid4().hex[:8]}"
    await pool.execute(
        """INSERT INTO users (id, subject, office_id, display_name, roles, active)
           VALUES ($1, $2, $3, $2, '{employee}', false)""",
        uuid.uuid4(),
        gone,
        office,
    )
    admin = who(uuid.uuid4(), "administrator")
    item = await _publish(http, admin, offices=[str(office)], roles=["employee"])
    path = f"/api/news/{item['id']}"

    first = await http.post(f"{path}/read", headers=reader)
    second = await http.post(f"{path}/read", headers=reader)
    assert first.status_code == second.status_code == 200
    assert first.json()["read_at"] == second.json()["read_at"]
    assert (await http.get(path, headers=reader)).json()["read"] is True
    assert (await http.post(f"{path}/read", headers=supervisor)).status_code == 404  # not targeted: a supervisor

    receipts = await http.get(f"{path}/receipts", headers=admin)
    assert receipts.status_code == 200, receipts.text
    body = receipts.json()
    assert body["read_count"] == 1
    assert body["targeted"] == 2
    assert [(r["subject"], r["read_at"]) for r in body["read"]] == [(reader["X-Test-Subject"], first.json()["read_at"])]
    assert body["read"][0]["office_id"] == str(office)
    assert [m["subject"] for m in body["not_read"]] == [slow["X-Test-Subject"]]  # not the inactive one
    assert (await http.get(f"{path}/receipts", headers=reader)).status_code == 403  # employees write nothing

    # the unread filter and each item's read flag
    unread = await _feed_ids(http, slow, unread="true")
    assert item["id"] in unread
    assert item["id"] not in await _feed_ids(http, reader, unread="true")
    read_only = (await http.get("/api/news", params={"unread": "false"}, headers=reader)).json()
    assert [(n["id"], n["read"]) for n in read_only] == [(item["id"], True)]


async def test_the_feed_is_paged_pinned_first_then_newest_first(
    http: httpx.AsyncClient, make_office: OfficeFactory, who: Callable[..., Headers]
) -> None:
    office = await make_office()
    admin = who(uuid.uuid4(), "administrator")
    scope = {"offices": [str(office)]}
    old = await _publish(http, admin, **scope, publish_at=_at(hours=-3))
    middle = await _publish(http, admin, **scope, publish_at=_at(hours=-2))
    new = await _publish(http, admin, **scope, publish_at=_at(hours=-1))
    pinned = await _publish(http, admin, **scope, publish_at=_at(hours=-4), pinned=True)
    mine = [pinned["id"], new["id"], middle["id"], old["id"]]

    employee = who(office, "employee")
    page = await http.get("/api/news", params={"limit": 1}, headers=employee)
    assert len(page.json()) == 1
    assert "next" in page.links
    ids = [i for i in await _feed_ids(http, employee, limit=1) if i in mine]
    assert ids == mine


async def test_markdown_bodies_are_rendered_safe(
    http: httpx.AsyncClient, make_office: OfficeFactory, who: Callable[..., Headers]
) -> None:
    office = await make_office()
    supervisor = who(office, "supervisor")
    body = "**Σημαντικό**: <script>alert(1)</script> [οδηγίες](https://example.gr) [x](javascript:alert(1))"
    item = await _publish(http, supervisor, offices=[str(office)], format="markdown", body_el=body,
                          body_en="*plain* <b>text</b>")  # fmt: skip
    assert item["body_el"] == body
    assert "<strong>Σημαντικό</strong>" in item["html_el"]
    assert "<script" not in item["html_el"]
    assert 'href="javascript' not in item["html_el"]
    assert '<a href="https://example.gr" rel="noopener noreferrer nofollow">οδηγίες</a>' in item["html_el"]
    assert item["html_en"] == "<p><em>plain</em> &lt;b&gt;text&lt;/b&gt;</p>\n"
    plain = await _publish(http, supervisor, offices=[str(office)], body_el="α <i>β</i>\nγ\n\nδ")
    assert plain["html_el"] == "<p>α &lt;i&gt;β&lt;/i&gt;<br>γ</p><p>δ</p>"


async def test_bad_input_is_refused_with_pointers_and_nothing_is_stored(
    http: httpx.AsyncClient, make_office: OfficeFactory, who: Callable[..., Headers], pool: asyncpg.Pool
) -> None:
    office = await make_office()
    admin = who(uuid.uuid4(), "administrator")
    start = _at(hours=1)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"title_el": "α" * 201}, "/title_el"),
        ({"title_el": "   "}, "/title_el"),
        ({"body_el": "β" * 20_001}, "/body_el"),
        ({"body_en": "b" * 20_001}, "/body_en"),
        ({"offices": [str(uuid.uuid4()) for _ in range(501)]}, "/offices"),
        ({"offices": [str(office), str(uuid.uuid4())]}, "/offices/1"),
        ({"roles": ["citizen"]}, "/roles/0"),
        ({"format": "html"}, "/format"),
        ({"publish_at": "2026-01-01T10:00:00"}, "/publish_at"),  # no time zone
        ({"publish_at": _at(hours=1), "expire_at": _at(minutes=30)}, "/expire_at"),
        ({"publish_at": start, "expire_at": start}, "/expire_at"),  # an empty window
        ({"expire_at": "9999-12-31T23:59:59+00:00"}, "/expire_at"),
        ({"surprise": 1}, "/surprise"),
    ]
    marker = f"Λάθος {uuid.uuid4().hex}"
    for fields, pointer in cases:
        sent = {"title_el": marker} | fields if "title_el" not in fields else _draft(**fields)
        sent.setdefault("body_el", "Κείμενο")
        answer = await http.post("/api/news", json=sent, headers=admin)
        assert answer.status_code == 422, (fields, answer.text)
        assert pointer in [e["path"] for e in answer.json()["errors"]], (fields, answer.json())
    assert await pool.fetchval("SELECT count(*) FROM news WHERE title_el = $1", marker) == 0

    item = await _publish(http, admin, offices=[str(office)], expire_at=_at(days=1))
    path = f"/api/news/{item['id']}"
    audited = await pool.fetchval(
        "SELECT count(*) FROM admin_audit WHERE entity = 'news' AND entity_id = $1", item["id"]
    )
    for change, pointer in [
        ({"publish_at": _at(days=2)}, "/expire_at"),  # after its end
        ({"title_el": None}, "/title_el"),
        ({"offices": None}, "/offices"),
        ({"title_el": "Άλλος", "offices": [str(uuid.uuid4())]}, "/offices/0"),
        ({"body_el": "x" * 20_001}, "/body_el"),
    ]:
        answer = await http.patch(path, json=change, headers=admin)
        assert answer.status_code == 422, (change, answer.text)
        assert [e["path"] for e in answer.json()["errors"]] == [pointer]
    after = (await http.get(path, headers=admin)).json()
    assert {k: after[k] for k in ("title_el", "offices", "publish_at", "updated_at")} == {
        k: item[k] for k in ("title_el", "offices", "publish_at", "updated_at")
    }
    assert audited == await pool.fetchval(
        "SELECT count(*) FROM admin_audit WHERE entity = 'news' AND entity_id = $1", item["id"]
    )
    assert (await http.get(f"/api/news/{uuid.uuid4()}", headers=admin)).status_code == 404
    assert (await http.get("/api/news/not-an-id", headers=admin)).status_code == 422


# what each route of one announcement is sent, as its author would send it
BODIES: dict[str, dict[str, Any] | None] = {
    "{news_id}": {"pinned": True},
    "read": None,
    "withdraw": {"reason": "δοκιμή"},
    "receipts": None,
    "history": None,
}


def _news_routes() -> list[tuple[str, str]]:
    """Every route of one announcement as the API publishes it (OpenAPI)."""
    routes = [
        (method.upper(), path)
        for path, operations in api.openapi()["paths"].items()
        if path.startswith("/api/news/{news_id}")
        for method in operations
    ]
    assert routes, "no news routes found"
    return sorted(routes)


def test_every_news_route_is_covered() -> None:
    assert {path.rsplit("/", 1)[-1] for _, path in _news_routes()} == set(BODIES)


@pytest.mark.parametrize(("method", "path"), _news_routes())
async def test_no_news_route_serves_another_office(
    http: httpx.AsyncClient,
    make_office: OfficeFactory,
    who: Callable[..., Headers],
    pool: asyncpg.Pool,
    method: str,
    path: str,
) -> None:
    office = await make_office()
    author = who(office, "supervisor")
    item = await _publish(http, author, offices=[str(office)])
    news_id = uuid.UUID(item["id"])

    async def state() -> tuple[Any, ...]:
        return (
            await pool.fetchrow("SELECT * FROM news WHERE id = $1", news_id),
            await pool.fetchval("SELECT count(*) FROM news_reads WHERE news_id = $1", news_id),
            await pool.fetchval(
                "SELECT count(*) FROM admin_audit WHERE entity = 'news' AND entity_id = $1", item["id"]
            ),
        )

    before = await state()
    url = path.replace("{news_id}", item["id"])
    sent = BODIES[path.rsplit("/", 1)[-1]]
    for intruder in (who(await make_office(), "supervisor"), who(await make_office(), "employee", "supervisor")):
        answer = await http.request(method, url, json=sent, headers=intruder)
        assert answer.status_code == 404, answer.text
    assert await state() == before
    # from its own office, its author reaches it (a reader, marking it read, is the employee's)
    reader = author if not url.endswith("/read") else who(office, "employee")
    own = await http.request(method, url, json=sent, headers=reader)
    assert own.status_code == 200, own.text

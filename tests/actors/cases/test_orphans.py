"""The sweep of objects no row names (actors/cases/orphans.py), against the real PostgreSQL and each object store
backend (MinIO and Azurite the real servers; each test its own bucket, container or folder): an object a row names
stays, whichever table names it; a young orphan stays; an old one goes. "Old" is the cut-off passed in, never a
wait. And the crash it is for, end to end: an EU citizen's evidence stored as the application handler stores it,
the process gone before the application's row."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from starlette.datastructures import FormData, UploadFile
from typer.testing import CliRunner

from actors.cases import orphans
from actors.cases.lockstep import DOCUMENTS_ACTOR
from actors.cases.store import apply_command, document_key, open_case
from actors.cases.topics import PROCESS_ROLES
from actors.delivery.reader import READER_ACTOR, SWEEP
from actors.eugo import applications
from infra.settings import Settings
from infra.storage import LocalDirStore, ObjectStore
from kepctl.main import app as kep
from kepctl.stack import StackSettings
from messages.cases import CaseAction, CaseCommand, DocumentView, OpenCase, OpenCaseRequest
from messages.citizen import Citizen
from messages.eugo_applications import ApplicationRequest
from serve.routers import eugo_applications
from tests.conftest import OfficeFactory

PDF = b"%PDF-1.7\n" + "Διαβατήριο".encode() + b"\n%%EOF\n"
LATER = timedelta(minutes=1)  # a cut-off after everything a test stored: all of it is past the grace


def old() -> datetime:
    return datetime.now(UTC) + LATER


def young() -> datetime:
    """A cut-off before anything a test stores (an hour's grace): all of it is young."""
    return datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture
async def case(pool: asyncpg.Pool, make_office: OfficeFactory, make_procedure: Callable[..., Any]) -> OpenCase:
    cmd = OpenCase(
        case_id=uuid.uuid4(),
        office_id=await make_office(),
        actor="tester",
        request=OpenCaseRequest(
            procedure_id=await make_procedure(),
            citizen=Citizen(afm="090000045", first_name="Νίκος", last_name="Ιωάννου"),
        ),
    )
    async with pool.acquire() as conn:
        await open_case(conn=conn, cmd=cmd)
    return cmd


async def attach(pool: asyncpg.Pool, case: OpenCase, store: ObjectStore) -> str:
    """A generated PDF as the renderer makes one: stored, then recorded by its ATTACH command."""
    doc_id = uuid.uuid4()
    key = document_key(case.case_id, doc_id)
    await store.put(key, PDF, "application/pdf")
    document = DocumentView(id=doc_id, case_id=case.case_id, kind="generated", filename="receipt.pdf",
                            content_type="application/pdf", size_bytes=len(PDF), sha256=hashlib.sha256(PDF).hexdigest(),
                            created_by=DOCUMENTS_ACTOR, created_at=datetime.now(UTC))  # fmt: skip
    command = CaseCommand(command_id=uuid.uuid4(), case_id=case.case_id, office_id=case.office_id,
                          actor=DOCUMENTS_ACTOR, roles=PROCESS_ROLES, action=CaseAction.ATTACH,
                          document=document)  # fmt: skip
    async with pool.acquire() as conn:
        await apply_command(conn=conn, cmd=command)
    return key


async def kshde_file(pool: asyncpg.Pool, store: ObjectStore, key_of: Callable[[uuid.UUID], str]) -> str:
    """A ΚΣΗΔΕ file as the inbox reader keeps one: stored, then its `kshde_incoming_files` row."""
    number, doc_id = f"T-{uuid.uuid4().hex[:12]}", uuid.uuid4()
    key = key_of(doc_id)
    await store.put(key, PDF, "application/pdf")
    receipt = await pool.fetchval("SELECT nextval('kshde_receipt_seq')")
    await pool.execute(
        """INSERT INTO kshde_incoming (protocol_no, version, sender, record, local_receipt_no, local_receipt_id)
           VALUES ($1, 1, 'TEST', '{}', $2, $3)""",
        number,
        receipt,
        f"test-{receipt}",
    )
    await pool.execute(
        """INSERT INTO kshde_incoming_files (protocol_no, version, ordinal, document_id, file_name, content_type,
                                             size_bytes, sha256, storage_key)
           VALUES ($1, 1, 0, $2, 'a.pdf', 'application/pdf', $3, $4, $5)""",
        number,
        doc_id,
        len(PDF),
        hashlib.sha256(PDF).hexdigest(),
        key,
    )
    return key


async def evidence(store: ObjectStore, procedure: uuid.UUID, case_id: uuid.UUID) -> list[applications.File]:
    """What `POST /api/eugo/applications` does before it records the application: the handler's own `_files`,
    which checks the parts and stores them under the keys of the case the application will open."""
    upload = UploadFile(io.BytesIO(PDF), filename="passport.pdf")
    form = FormData([("evidence-1", upload)])
    p = applications.Procedure(procedure, "Licence", None, {"evidence-1": "Passport"}, 10, ("application/pdf",))
    ctx: Any = SimpleNamespace(store=store)
    return await eugo_applications._files(ctx, await eugo_applications._scan(form), p, case_id, "eugo:GR/GR/12345")


async def record(pool: asyncpg.Pool, procedure: uuid.UUID, case_id: uuid.UUID, files: list[applications.File]) -> None:
    """The rest of it: the applicant and the application with its files' rows, as the handler records them."""
    async with pool.acquire() as conn:
        applicant = await applications.applicant(
            conn=conn, country="DE", person_id=f"DE/GR/{uuid.uuid4().hex[:10]}", given_name="Erika",
            family_name="Mustermann", birthdate="1964-08-12", email="erika@example.eu",
        )  # fmt: skip
        await applications.create(
            conn=conn, application_id=uuid.uuid4(), case_id=case_id, applicant=applicant,
            request=ApplicationRequest(procedure_id=procedure, email="erika@example.eu"), form_data={}, files=files,
            key=None, fingerprint="0" * 64,
        )  # fmt: skip


async def test_keeps_what_a_row_names_and_young_orphans_and_removes_old_orphans(
    pool: asyncpg.Pool, store: ObjectStore, case: OpenCase
) -> None:
    # given an object of each table that names one, and objects nobody names
    attached = await attach(pool, case, store)
    files = await evidence(store, case.request.procedure_id, planned := uuid.uuid4())
    await record(pool, case.request.procedure_id, planned, files)
    unrouted = document_key(planned, files[0].document_id)  # an application no rule routed yet
    waiting = await kshde_file(pool, store, lambda doc: document_key(case.case_id, doc))
    inbox = await kshde_file(pool, store, lambda doc: f"kshde/inbox/{doc}")
    orphan = document_key(case.case_id, uuid.uuid4())  # an upload whose ATTACH never committed
    await store.put(orphan, PDF, "application/pdf")
    orphan_of_no_case = document_key(uuid.uuid4(), uuid.uuid4())  # evidence of an application never recorded
    await store.put(orphan_of_no_case, PDF, "application/pdf")
    left_in_inbox = f"kshde/inbox/{uuid.uuid4()}"  # the copy left after a ΚΣΗΔΕ file became the case's
    await store.put(left_in_inbox, PDF, "application/pdf")
    strange = f"cases/{case.case_id}/notes.txt"  # no writer makes such a key: never ours to judge
    await store.put(strange, b"x", "text/plain")
    named = {attached, unrouted, waiting, inbox}
    orphaned = {orphan, orphan_of_no_case, left_in_inbox}

    # when swept with the grace not passed yet: everything is young, nothing goes
    report = await orphans.sweep(pool=pool, store=store, before=young())
    assert (report.scanned, report.removed) == (0, 0)
    for key in named | orphaned | {strange}:
        assert await store.exists(key), key

    # when swept past the grace
    gone: list[orphans.Orphan] = []
    report = await orphans.sweep(pool=pool, store=store, before=old(), on_orphan=gone.append)

    # then exactly the orphans went, each told with its age, and what a row names stays
    assert {o.key for o in gone} == orphaned
    assert all(0 <= o.age_s(datetime.now(UTC)) < 600 for o in gone)
    for key in orphaned:
        assert not await store.exists(key), key
    for key in named | {strange}:
        assert await store.exists(key), key
    assert (report.scanned, report.referenced, report.unrecognised, report.removed) == (8, 4, 1, 3)
    assert not report.skipped
    # and a sweep again finds nothing more to remove
    again = await orphans.sweep(pool=pool, store=store, before=old())
    assert (again.scanned, again.removed) == (5, 0)


async def test_a_dry_run_names_the_orphans_and_deletes_nothing(
    pool: asyncpg.Pool, store: ObjectStore, case: OpenCase
) -> None:
    attached = await attach(pool, case, store)
    orphan = document_key(case.case_id, uuid.uuid4())
    await store.put(orphan, PDF, "application/pdf")
    named: list[orphans.Orphan] = []
    report = await orphans.sweep(pool=pool, store=store, before=old(), dry_run=True, on_orphan=named.append)
    assert [o.key for o in named] == [orphan]
    assert report.removed == 1
    assert await store.exists(orphan)
    assert await store.exists(attached)


async def test_a_crash_between_storing_evidence_and_recording_the_application(
    pool: asyncpg.Pool, store: ObjectStore, make_procedure: Callable[..., Any]
) -> None:
    procedure = await make_procedure()
    # given a citizen's evidence stored as the handler stores it, and the process killed before the application's
    # row: nothing names the objects
    crashed = await evidence(store, procedure, lost_case := uuid.uuid4())
    lost = document_key(lost_case, crashed[0].document_id)
    # and another application that got as far as its row
    kept = await evidence(store, procedure, planned := uuid.uuid4())
    await record(pool, procedure, planned, kept)
    recorded = document_key(planned, kept[0].document_id)
    assert await store.exists(lost)
    # when swept past the grace (0 s: a cut-off after both were stored)
    await orphans.sweep(pool=pool, store=store, before=orphans.cut_off(0) + LATER)
    # then the personal data without a record is gone, the recorded application's stays
    assert not await store.exists(lost)
    assert await store.get(recorded) == PDF


async def test_one_sweep_at_a_time(pool: asyncpg.Pool, tmp_path: Path, case: OpenCase) -> None:
    store = LocalDirStore(tmp_path / "objects")
    orphan = document_key(case.case_id, uuid.uuid4())
    await store.put(orphan, PDF, "application/pdf")
    async with pool.acquire() as other, other.transaction():  # another replica's sweep holds the lock
        await other.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", orphans.LOCK)
        report = await orphans.sweep(pool=pool, store=store, before=old())
    assert report.skipped
    assert await store.exists(orphan)
    assert (await orphans.sweep(pool=pool, store=store, before=old())).removed == 1
    assert not await store.exists(orphan)


def test_kep_documents_sweep(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pool: asyncpg.Pool, case: OpenCase
) -> None:
    # the operator's command on the local folder, whose files' times a test may set: two hours old is past the
    # hour's grace, a minute old is not
    objects = tmp_path / "objects"
    for name, value in StackSettings().app_env().items():  # what `kep` sets for itself, put back after the test
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KEP_DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("KEP_STORAGE_BACKEND", "local")
    monkeypatch.setenv("KEP_STORAGE_DIR", str(objects))
    monkeypatch.setenv("KEP_DOCUMENTS_SWEEP_GRACE_S", "3600")
    old_orphan, young_orphan = (document_key(case.case_id, uuid.uuid4()) for _ in range(2))
    for key, age in ((old_orphan, timedelta(hours=2)), (young_orphan, timedelta(minutes=1))):
        path = objects / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(PDF)
        then = (datetime.now(UTC) - age).timestamp()
        os.utime(path, (then, then))
    runner = CliRunner()
    dry = runner.invoke(kep, ["documents", "sweep", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert old_orphan in dry.output
    assert young_orphan not in dry.output
    assert "would remove 1 of 1" in dry.output
    assert (objects / old_orphan).exists()
    done = runner.invoke(kep, ["documents", "sweep"])
    assert done.exit_code == 0, done.output
    assert "removed 1 of 1" in done.output
    assert not (objects / old_orphan).exists()
    assert (objects / young_orphan).exists()


async def test_the_delivery_readers_actor_sweeps_hourly_and_on_request(
    ray_app: dict[str, Any], settings: Settings
) -> None:
    # with an interval the loop runs (its first pass at the actor's start, an hour's grace: nothing of a test session
    # is old enough); with none there is no loop, and a sweep only on request
    reader = ray_app[READER_ACTOR]
    loops = {loop.name: loop for loop in await reader.loops.remote()}
    if settings.documents_sweep_interval_s > 0:
        assert loops[SWEEP].running
    else:
        assert SWEEP not in loops
    report = await reader.sweep_documents.remote(dry_run=True)
    assert isinstance(report, orphans.SweepReport)
    assert not report.skipped

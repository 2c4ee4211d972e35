"""Session fixtures: the real services are up, a fresh database per session, Ray and Serve started once."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
import ray
from cryptography.fernet import Fernet
from pydantic import SecretStr
from ray import serve

from doubles.mitos.generator import generate
from doubles.mitos.server import MitosApp, create_app, serve_in_thread
from infra import amqp
from infra.db import create_pool
from infra.migrate import migrate
from infra.settings import Settings
from infra.storage import AzureBlobStore, LocalDirStore, ObjectStore, create_store
from kepctl import devtokens, services
from kepctl.seed import REVIEW_FORM
from kepctl.stack import StackSettings
from serve.bootstrap import deploy_http, init_ray, start_actors
from tests.helpers import bearer
from tests.keycloak import KeycloakUsers, RealmUser


def _free_http_port(span: int = 50) -> int:
    """A base port with `span` free ports after it (Serve's replica, stats and fallback ports are derived from it),
    below Linux's ephemeral range (32768+): there, outgoing connections take ports at random and HAProxy's
    listeners would now and then find theirs in use."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 32_000 - span)
        try:
            for port in range(base, base + span):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range for the test HTTP server")


@pytest.fixture(scope="session")
def stack() -> StackSettings:
    st = StackSettings()
    services.start_all(st, progress=lambda m: print(m, flush=True))
    return st


@pytest.fixture(scope="session")
def k8s() -> services.Kubernetes:
    """The local Kubernetes control plane (a real kube-apiserver with RBAC, kube-controller-manager, kube-scheduler
    and kwok's fake node), started once and left running like the other services; built first if it never was
    (`./dev test` builds it before pytest)."""
    kube = services.Kubernetes("k8s", StackSettings(), progress=lambda m: print(m, flush=True))
    kube.start()
    return kube


@pytest.fixture(scope="session")
def database_url(stack: StackSettings) -> Iterator[str]:
    pg = services.Postgres("postgres", stack)
    name = f"kep_test_{uuid.uuid4().hex[:10]}"
    pg.psql(f'CREATE DATABASE "{name}"')
    url = stack.database_url(name)
    migrate(url)
    yield url
    if not os.environ.get("KEP_TEST_KEEP_DB"):
        pg.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def amqp_vhost(stack: StackSettings) -> Iterator[str]:
    """A RabbitMQ vhost of this session's own: its queues (tasks.*, the bridge's, the outbox's) are not shared with
    a `kep up` on the same broker or with another test session, whose consumers would take its messages."""
    name = f"kep-test-{uuid.uuid4().hex[:10]}"
    url = httpx.URL(stack.rabbit_mgmt_url)
    with httpx.Client(
        base_url=str(url.copy_with(username=None, password=None)), auth=(url.username, url.password)
    ) as mgmt:
        mgmt.put(f"/api/vhosts/{name}").raise_for_status()
        mgmt.put(
            f"/api/permissions/{name}/{url.username}", json={"configure": ".*", "write": ".*", "read": ".*"}
        ).raise_for_status()
        yield name
        mgmt.delete(f"/api/vhosts/{name}")


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("dev-keys")
    devtokens.ensure_keys(d)
    return d


@pytest.fixture(scope="session")
def settings(stack: StackSettings, database_url: str, amqp_vhost: str) -> Settings:
    env = stack.app_env()
    return Settings(
        env="test",
        database_url=database_url,  # type: ignore[arg-type]
        redis_url=env["KEP_REDIS_URL"],  # type: ignore[arg-type]
        amqp_url=env["KEP_AMQP_URL"].rstrip("/") + "/" + amqp_vhost,  # type: ignore[arg-type]
        rabbit_mgmt_url=env["KEP_RABBIT_MGMT_URL"],  # type: ignore[arg-type]
        engine_url=env["KEP_ENGINE_URL"],
        storage_backend="minio",
        storage_bucket=f"kep-test-{uuid.uuid4().hex[:8]}",
        minio_endpoint=env["KEP_MINIO_ENDPOINT"],
        minio_access_key=env["KEP_MINIO_ACCESS_KEY"],
        minio_secret_key=env["KEP_MINIO_SECRET_KEY"],  # type: ignore[arg-type]
        ray_namespace=f"kep-test-{uuid.uuid4().hex[:8]}",
        case_shards=2,
        http_port=_free_http_port(),
        oidc_issuer=stack.oidc_issuer,
        oidc_jwks_url=stack.oidc_jwks_url,
        outbox_poll_seconds=0.5,
        mitos_url=env["KEP_MITOS_URL"],
        mitos_sync_interval_s=0,
        # this session's processes, tasks and bridge are its own, even on an engine a `kep up` also uses
        engine_tenant=f"test-{uuid.uuid4().hex[:12]}",
        bridge_worker_id=f"kep-bridge-test-{uuid.uuid4().hex[:8]}",
        bridge_long_poll_ms=5_000,
        # passes on request only: a periodic one would repair what a test arranges on purpose
        reconcile_interval_s=0,
        # the delivery readers likewise: a test asks for a pass (POST /api/admin/delivery/read) when it is ready
        mailbox_status_interval_s=0,
        mailbox_replies_interval_s=0,
        kshde_inbox_interval_s=0,
        kshde_org_chart_interval_s=0,
        # certificates signed by the development CA of the local stack
        signing_key_file=env["KEP_SIGNING_KEY_FILE"],  # type: ignore[arg-type]
        signing_cert_file=env["KEP_SIGNING_CERT_FILE"],  # type: ignore[arg-type]
        signing_chain_files=tuple(json.loads(env["KEP_SIGNING_CHAIN_FILES"])),
        # the delivery adapters against the doubles the stack runs
        ked_url=env["KEP_KED_URL"],
        ked_username=env["KEP_KED_USERNAME"],
        ked_password=env["KEP_KED_PASSWORD"],  # type: ignore[arg-type]
        # ΚΕΔ refuses an audit transaction id not above the last of its audit unit, and this session's database
        # starts its sequence anew: a unit of the session's own, like its tenant and namespace
        ked_audit_unit=f"KEP-TEST-{uuid.uuid4().hex[:8]}",
        mailbox_enabled=True,
        mailbox_url=env["KEP_MAILBOX_URL"],
        mailbox_token=env["KEP_MAILBOX_TOKEN"],  # type: ignore[arg-type]
        kshde_url=env["KEP_KSHDE_URL"],
        kshde_sector_code=env["KEP_KSHDE_SECTOR_CODE"],
        kshde_client_id=env["KEP_KSHDE_CLIENT_ID"],
        kshde_client_secret=env["KEP_KSHDE_CLIENT_SECRET"],  # type: ignore[arg-type]
        config_key=Fernet.generate_key().decode(),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def ray_app(settings: Settings) -> Iterator[dict[str, Any]]:
    """Ray, the named actors and the HTTP application, once for the whole session."""
    # No load balancer drains these replicas: skip the 30 s that direct ingress waits for one at shutdown.
    os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "0")
    init_ray(settings, num_cpus=2)
    handles = start_actors(settings)
    deploy_http(settings)
    yield handles
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, 1, 5)
    yield p
    await p.close()


@pytest.fixture
async def http(settings: Settings, ray_app: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}", timeout=30) as client:
        yield client


OfficeFactory = Callable[..., Awaitable[uuid.UUID]]


@pytest.fixture
async def make_office(pool: asyncpg.Pool) -> OfficeFactory:
    """Each test gets offices of its own, so tests never see each other's cases."""

    async def create(kind: str = "kep") -> uuid.UUID:
        code = f"T-{uuid.uuid4().hex[:10].upper()}"
        office_id = uuid.uuid4()
        await pool.execute(
            "INSERT INTO offices (id, code, kind, name_el) VALUES ($1, $2, $3, $4)",
            office_id,
            code,
            kind,
            f"Γραφείο δοκιμής {code}",
        )
        return office_id

    return create


@pytest.fixture
async def make_procedure(pool: asyncpg.Pool) -> Callable[..., Awaitable[uuid.UUID]]:
    async def create(active: bool = True, duration_days: int | None = 10) -> uuid.UUID:
        pid = uuid.uuid4()
        mitos_id = str(uuid.uuid4().int % 10**9)
        await pool.execute(
            """INSERT INTO procedures (id, mitos_id, title_el, payload, active, duration_days)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            pid,
            mitos_id,
            f"Έκδοση πιστοποιητικού {mitos_id}",
            {"id": mitos_id},
            active,
            duration_days,
        )
        return pid

    return create


class SyncKeycloak:
    """The Keycloak test helper on an event loop of its own thread, so that `token_for` stays a plain function
    for sync and async tests alike. Tokens are reused while they have a minute left (they live five).

    The API serves only active users of the office their token names (serve/membership.py): each token handed
    out comes with its subject's `users` row, made or moved to that office and active (and the office's row, for
    tests that name a random office)."""

    def __init__(self, stack: StackSettings, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="keycloak-tests", daemon=True)
        self.thread.start()
        self.users = KeycloakUsers(stack)
        self.database_url = database_url
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._tokens: dict[tuple[Any, ...], tuple[str, float]] = {}
        self._registered: dict[str, tuple[uuid.UUID | None, tuple[str, ...]]] = {}

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def token(self, office_id: uuid.UUID | None, roles: tuple[str, ...], subject: str | None) -> str:
        key = (office_id, roles, subject)
        user: RealmUser = self._run(self.users.user(office_id, roles, subject))
        if self._registered.get(user.id) != (user.office_id, user.roles):  # once per change: not while faults run
            self._run(self._register(user))
            self._registered[user.id] = (user.office_id, user.roles)
        cached = self._tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        token: str = self._run(self.users.token(office_id, roles, subject))
        self._tokens[key] = (token, time.monotonic() + 240)
        return token

    async def _register(self, user: RealmUser) -> None:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.database_url, min_size=0, max_size=2)
        if user.office_id is not None:
            await self._pool.execute(
                """INSERT INTO offices (id, code, kind, name_el) VALUES ($1, $2, 'kep', 'Γραφείο δοκιμής')
                   ON CONFLICT (id) DO NOTHING""",
                user.office_id,
                f"T-{user.office_id.hex[:12].upper()}",
            )
        await self._pool.execute(
            """INSERT INTO users (id, subject, office_id, display_name, roles) VALUES ($1, $2, $3, $2, $4)
               ON CONFLICT (subject) DO UPDATE SET office_id = EXCLUDED.office_id, roles = EXCLUDED.roles,
                                                   active = true""",
            uuid.uuid4(),
            user.id,
            user.office_id,
            list(user.roles),
        )

    def close(self) -> None:
        self._run(self.users.aclose())
        if self._pool is not None:
            self._run(self._pool.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


@pytest.fixture(scope="session")
def keycloak(stack: StackSettings, database_url: str) -> Iterator[SyncKeycloak]:
    helper = SyncKeycloak(stack, database_url)
    yield helper
    helper.close()


@pytest.fixture
def token_for(keycloak: SyncKeycloak) -> Callable[..., str]:
    """A real access token from the local Keycloak for a user of that office with those roles (made on demand)."""

    def token(office_id: uuid.UUID | None, roles: tuple[str, ...] = ("employee",), subject: str | None = None) -> str:
        return keycloak.token(office_id, tuple(roles), subject or f"user-{uuid.uuid4().hex[:8]}")

    return token


@pytest.fixture(scope="module")
def mitos_app(request: pytest.FixtureRequest) -> MitosApp:
    """A Mitos double per test module (modules mutate its data set); `MITOS_SEED` / `MITOS_COUNT` tune it."""
    seed = getattr(request.module, "MITOS_SEED", 42)
    count = getattr(request.module, "MITOS_COUNT", 800)
    return create_app(generate(seed=seed, count=count))


@pytest.fixture(scope="module")
def mitos_url(mitos_app: MitosApp) -> Iterator[str]:
    with serve_in_thread(mitos_app) as url:
        yield url


@pytest.fixture
async def flood_queue(settings: Settings) -> AsyncIterator[str]:
    """A queue of the test's own (durable quorum, with its dead-letter queue), deleted afterwards."""
    name = f"flood-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        await amqp.declare_queue(await connection.channel(), name, [])
        yield name
        channel = await connection.channel()
        await channel.queue_delete(name)
        await channel.queue_delete(f"{name}.dlq")


@pytest.fixture
async def case_events(settings: Settings) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A private queue bound to every case event, as a consumer elsewhere would declare it."""
    conn = await amqp.connect(settings.amqp_url.get_secret_value(), "test-consumer")
    channel = await conn.channel()
    await amqp.declare_exchanges(channel)
    queue = await channel.declare_queue(f"test.events.{uuid.uuid4().hex}", exclusive=True)
    await queue.bind(amqp.EVENTS_EXCHANGE, routing_key="case.#")
    yield queue
    await conn.close()


@pytest.fixture
async def office_with_staff(
    make_office: OfficeFactory, pool: asyncpg.Pool[asyncpg.Record], token_for: Callable[..., str]
) -> dict[str, Any]:
    office = await make_office()
    employee = f"emp-{uuid.uuid4().hex[:8]}"
    await pool.execute(
        "INSERT INTO users (id, subject, office_id, display_name, roles) VALUES ($1, $2, $3, $2, '{employee}')",
        uuid.uuid4(),
        employee,
        office,
    )
    return {"office": office, "employee": employee, "headers": bearer(token_for(office, subject=employee))}


@pytest.fixture
async def review_form(http: httpx.AsyncClient, token_for: Callable[..., str]) -> None:
    """The review task's form (formKey kep:review), as the demo seed saves it."""
    admin = bearer(token_for(uuid.uuid4(), roles=("administrator",)))
    saved = await http.post("/api/admin/forms", json={"key": "review", "title": "Έλεγχος", "definition": REVIEW_FORM},
                            headers=admin)  # fmt: skip
    assert saved.status_code == 201


# the object store, each backend in turn (MinIO and Azurite are the stack's real servers), empty for each test
def azure_settings(settings: Settings, stack: StackSettings, container: str) -> Settings:
    """The session's settings pointed at the local Azurite."""
    env = stack.app_env()
    return settings.model_copy(
        update={
            "storage_backend": "azure",
            "storage_bucket": container,
            "azure_blob_endpoint": env["KEP_AZURE_BLOB_ENDPOINT"],
            "azure_account_name": env["KEP_AZURE_ACCOUNT_NAME"],
            "azure_account_key": SecretStr(env["KEP_AZURE_ACCOUNT_KEY"]),
        }
    )


def new_azure_store(settings: Settings, stack: StackSettings) -> AzureBlobStore:
    store = create_store(azure_settings(settings, stack, f"kep-t-{uuid.uuid4().hex[:12]}"))
    assert isinstance(store, AzureBlobStore)
    return store


@pytest.fixture(params=["local", "minio", "azure"])
async def store(
    request: pytest.FixtureRequest, settings: Settings, stack: StackSettings, tmp_path: Path
) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        yield LocalDirStore(tmp_path / "objects")
    elif request.param == "minio":
        yield create_store(settings.model_copy(update={"storage_bucket": f"kep-t-{uuid.uuid4().hex[:12]}"}))
    else:
        azure = new_azure_store(settings, stack)
        yield azure
        await azure.close()

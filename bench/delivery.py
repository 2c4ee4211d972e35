"""Deliveries per second through the whole case process, against the delivery doubles answering slowly and failing
now and then, with delivery workers killed meanwhile; and whether any certificate reached anyone twice.

    .venv/bin/kep services start     # PostgreSQL, Redis, RabbitMQ, MinIO, the engine (the stack's services)
    .venv/bin/python bench/delivery.py [--cases 1000 --latency-ms 50 --failure-rate 0.05 --kill-every 5]
    .venv/bin/python bench/delivery.py --runs kills --cases 200        # one run alone

Runs, one after the other on one system (in this order unless `--runs` says otherwise):

- `latency`: the three doubles (ΚΕΔ, gov.gr mailbox, ΚΣΗΔΕ) add `--latency-ms` to every answer;
- `failures`: the same, and `--failure-rate` of their answers (every operation: lookups, postings, tokens, sends,
  attachment lists) are 503 (`PUT /_admin/latency {latency_s, failure_rate}`, doubles/faults.py);
- `kills`: as `failures`, and every `--kill-every` seconds a random delivery worker (`kep-delivery-<i>`) is
  killed: either `ray.kill(no_restart=False)` at whatever point it is, or `arm_crash("after_remote")`, which makes
  it exit the next time a mailbox posting or a ΚΣΗΔΕ send answered and before the answer was recorded (the worst
  point for an effect). Ray restarts the worker; its unacknowledged tasks come back from RabbitMQ.

Per run, `--cases` cases are opened at the counter (so no intake step: straight to the review) on two procedures of
the bench's own: most for the ΕΜΕπ-registered citizen `doubles.ked.server.REGISTERED_AFM` (ΚΕΔ lookup → gov.gr
mailbox), `--kshde-share` of them on a procedure whose `delivery_recipient` is 'DHM-ATH' (→ ΚΣΗΔΕ, the case's
receipt as the attachment). Cases are opened through the case shards (`CaseShards.open`, what `POST /api/cases`
calls after authorising), not over HTTP: opening is not what is measured. The bench waits until every case's review
task is in the engine and its receipt is rendered, then **approves every review by completing the user task
through the engine's REST API** (`EngineClient.complete_user_task(id, {"decision": "approve"})`, what
`POST /api/tasks/{id}/complete` calls after checking the claim and the review form), `--approve-concurrency` at a
time (all at once: a burst; `--approve-rate` paces them instead). From there the process renders the signed
certificate (the renderer pool, Chromium), looks the citizen up in ΚΕΔ, posts to the mailbox or sends through
ΚΣΗΔΕ, records the delivery and completes the case.

Figures per run (one JSON line each, then a table of all runs):

- `delivered_per_s`: cases delivered ÷ (last `deliveries` row − first approval);
- `approve_to_delivered_ms` p50/p95: the case's `deliveries.created_at` − the moment its approval returned (one
  machine, one clock); in a burst this is mostly queueing behind the others; `approve_to_completed_ms`: to the
  case's `case.completed` event; `certificate_to_delivered_ms`: from the certificate's document row to the
  delivery, i.e. the delivery steps alone (lookup, posting or send, their records);
- `duplicates`: per case, mailbox postings beyond one in the mailbox double's own request log (by the posting's
  `reference`, the case number), ΚΣΗΔΕ documents made final beyond one per case number (the double's log: `send`
  keyed by the local protocol number, `attach`/`version` with `final`), ΚΣΗΔΕ attachments sent twice to one
  document, `deliveries` rows beyond one. Must be 0. `pending_orphans` (a ΚΣΗΔΕ document sent pending whose
  protocol number a killed worker never recorded; it never reaches the recipient) is reported apart, not a
  duplicate;
- `kills`: `ray.kill` calls, crashes armed, and of those the ones that fired (the worker's pid changed);
  `effect_reruns`: ledger effects (`external_effects`) run more than once; `incidents` open in the engine;
  `undelivered` after `--timeout-s`.

The system is the bench's own, as a test session's is, so a `./dev up` or a test run on the same machine is not
disturbed: a fresh database (migrated), a RabbitMQ vhost, an engine tenant, a private Ray node (`address="local"`,
its own namespace, 2 CPUs) with the named actors and the HTTP app (the renderer prints the internal render pages
from it) on a free port range, a MinIO bucket, a ΚΕΔ audit unit. The doubles are the bench's own too
(`--doubles private`, the default: three `python -m doubles.<name>.server` processes on free ports), because the
stack's doubles are shared with whoever runs tests: 5 % failures there would fail their tests.
`--doubles stack` uses the stack's (`kep services`) instead. Either way their latency and failure rate are set
back to 0 at the end, also on error or Ctrl-C; then Ray and the HTTP app stop, the bench tenant's deployments are
deleted with their instances and history, the database, vhost and bucket dropped (`--keep` keeps them all, and
prints their names).

The autoscaler runs as in `./dev up` (deployments/autoscaler/policies.yaml): delivery workers 1-6, renderers 1-4,
grown by their backlog; the pool sizes at the end of each run are printed. The reconciler and the catalogue sync
run on request only, as in the tests. Progress goes to stderr. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bpmn_bridge.engine import EngineClient
from doubles.ked.server import PATH as KED_PATH
from doubles.ked.server import REGISTERED_AFM
from infra.settings import Settings
from kepctl import services
from kepctl.stack import StackSettings

ROOT = Path(__file__).resolve().parent.parent
RUNS = ("latency", "failures", "kills")
DOUBLES = ("ked", "mailbox", "kshde")
KSHDE_RECIPIENT = "DHM-ATH"
DELIVERY_MEMBER = re.compile(r"kep-delivery-\d+")
EMPLOYEE = "bench-delivery-employee"


def log(msg: str) -> None:
    print(f"# {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def emit(**fields: Any) -> None:
    print(json.dumps({"bench": "delivery"} | fields, ensure_ascii=False), flush=True)


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_http_port(span: int = 50) -> int:
    """A base port with `span` free ports after it (Serve's replica, stats and fallback ports derive from it),
    below the ephemeral range, as the tests pick theirs."""
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
    raise RuntimeError("no free port range for the HTTP app")


# --------------------------------------------------------------------------------------------------------------
# the doubles


@dataclass
class Doubles:
    """The three delivery doubles: the bench's own processes, or the stack's."""

    stack: StackSettings
    private: bool
    ports: dict[str, int] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_dir: Path | None = None

    def start(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        if not self.private:
            self.ports = {"ked": self.stack.ked_port, "mailbox": self.stack.mailbox_port,
                          "kshde": self.stack.kshde_port}  # fmt: skip
        else:
            for name in DOUBLES:
                port = free_port()
                out = open(log_dir / f"{name}.log", "ab")
                self.procs.append(subprocess.Popen([sys.executable, "-m", f"doubles.{name}.server", "--port",
                                                    str(port)], cwd=ROOT, stdout=out, stderr=out,
                                                   start_new_session=True))  # fmt: skip
                out.close()
                self.ports[name] = port
        deadline = time.monotonic() + 60
        for name in DOUBLES:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{self.admin(name)}/calls", timeout=2).is_success:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {name} double does not answer on {self.ports[name]}")
                time.sleep(0.2)

    def admin(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}/_admin"

    def env(self) -> dict[str, str]:
        """The adapters' settings (credentials as the stack gives them) pointed at these doubles."""
        env = self.stack.delivery_env()
        env["KEP_KED_URL"] = f"http://127.0.0.1:{self.ports['ked']}{KED_PATH}"
        env["KEP_MAILBOX_URL"] = f"http://127.0.0.1:{self.ports['mailbox']}"
        env["KEP_KSHDE_URL"] = f"http://127.0.0.1:{self.ports['kshde']}/api/v1"
        return env

    def configure(self, latency_s: float, failure_rate: float) -> None:
        for name in DOUBLES:
            body = {"latency_s": latency_s, "failure_rate": failure_rate}
            httpx.put(f"{self.admin(name)}/latency", json=body, timeout=10).raise_for_status()

    async def calls(self, name: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=60) as http:
            resp = await http.get(f"{self.admin(name)}/calls")
            resp.raise_for_status()
            logged: list[dict[str, Any]] = resp.json()
            return logged

    def reset(self) -> None:
        """Latency and failures back to none (not `DELETE /_admin/faults`: that also empties the request log, which
        tests running against the stack's doubles count)."""
        for name in self.ports:
            try:
                body = {"latency_s": 0.0, "failure_rate": 0.0}
                httpx.put(f"{self.admin(name)}/latency", json=body, timeout=10).raise_for_status()
            except httpx.HTTPError as exc:
                log(f"could not reset the {name} double: {exc!r}")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


# --------------------------------------------------------------------------------------------------------------
# the system


@dataclass
class System:
    """The bench's own database, vhost, tenant, bucket, Ray node and HTTP app, on the stack's services."""

    stack: StackSettings
    doubles: Doubles
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    settings: Settings | None = None
    database: str | None = None
    vhost: str | None = None
    ray_started: bool = False
    handles: dict[str, Any] = field(default_factory=dict)  # held: an actor without a handle left is destroyed

    @property
    def mgmt(self) -> tuple[str, tuple[str, str]]:
        """RabbitMQ's management API without the credentials in its URL, and those credentials."""
        url = httpx.URL(self.stack.rabbit_mgmt_url)
        return str(url.copy_with(username=None, password=None)).rstrip("/"), (url.username, url.password)

    def wait_for_services(self, timeout_s: float = 180) -> None:
        """Until the engine and RabbitMQ answer: a test on this machine may be restarting them."""
        base, auth = self.mgmt
        amqp = httpx.URL(self.stack.amqp_url)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                httpx.get(f"{self.stack.engine_url}/version", timeout=5).raise_for_status()
                httpx.get(f"{base}/api/overview", auth=auth, timeout=5).raise_for_status()
                socket.create_connection((amqp.host, amqp.port or 5672), timeout=5).close()
                return
            except (httpx.HTTPError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise SystemExit(f"the engine or RabbitMQ does not answer ({exc!r}): `kep services start`") from exc
                time.sleep(3)

    def start(self) -> Settings:
        """The database, vhost and settings once; then Ray, the actors and the HTTP app, started again from scratch
        (twice at most) when a service went away during the start."""
        env = self.stack.app_env()
        base, auth = self.mgmt
        self.wait_for_services()
        from infra.migrate import migrate

        self.database = f"kep_bench_{self.tag}"
        services.Postgres("postgres", self.stack).psql(f'CREATE DATABASE "{self.database}"')
        database_url = self.stack.database_url(self.database)
        migrate(database_url)
        self.vhost = f"kep-bench-{self.tag}"
        httpx.put(f"{base}/api/vhosts/{self.vhost}", auth=auth).raise_for_status()
        grant = {"configure": ".*", "write": ".*", "read": ".*"}
        httpx.put(f"{base}/api/permissions/{self.vhost}/{auth[0]}", json=grant, auth=auth).raise_for_status()
        delivery = self.doubles.env()
        values: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": env["KEP_REDIS_URL"],
            "amqp_url": env["KEP_AMQP_URL"].rstrip("/") + "/" + self.vhost,
            "rabbit_mgmt_url": env["KEP_RABBIT_MGMT_URL"],
            "engine_url": env["KEP_ENGINE_URL"],
            "storage_backend": "minio",
            "storage_bucket": f"kep-bench-{self.tag}",
            "minio_endpoint": env["KEP_MINIO_ENDPOINT"],
            "minio_access_key": env["KEP_MINIO_ACCESS_KEY"],
            "minio_secret_key": env["KEP_MINIO_SECRET_KEY"],
            "ray_namespace": f"kep-bench-{self.tag}",
            "http_port": free_http_port(),
            "oidc_issuer": self.stack.oidc_issuer,
            "oidc_jwks_url": self.stack.oidc_jwks_url,
            "mitos_url": env["KEP_MITOS_URL"],
            "mitos_sync_interval_s": 0,
            "engine_tenant": f"bench-{self.tag}",
            "bridge_worker_id": f"kep-bridge-bench-{self.tag}",
            "bridge_long_poll_ms": 5_000,
            "reconcile_interval_s": 0,
            "signing_key_file": env["KEP_SIGNING_KEY_FILE"],
            "signing_cert_file": env["KEP_SIGNING_CERT_FILE"],
            "signing_chain_files": tuple(json.loads(env["KEP_SIGNING_CHAIN_FILES"])),
            "ked_url": delivery["KEP_KED_URL"],
            "ked_username": delivery["KEP_KED_USERNAME"],
            "ked_password": delivery["KEP_KED_PASSWORD"],
            # the double refuses an audit id not above its unit's last; this database's sequence starts anew
            "ked_audit_unit": f"KEP-BENCH-{self.tag[:8]}",
            "mailbox_enabled": True,
            "mailbox_url": delivery["KEP_MAILBOX_URL"],
            "mailbox_token": delivery["KEP_MAILBOX_TOKEN"],
            "kshde_url": delivery["KEP_KSHDE_URL"],
            "kshde_sector_code": delivery["KEP_KSHDE_SECTOR_CODE"],
            "kshde_client_id": delivery["KEP_KSHDE_CLIENT_ID"],
            "kshde_client_secret": delivery["KEP_KSHDE_CLIENT_SECRET"],
            "log_level": "WARNING",
        }
        self.settings = settings = Settings(**values)
        for attempt in (1, 2, 3):
            try:
                self.start_ray(settings)
                return settings
            except Exception as exc:
                if attempt == 3:
                    raise
                log(f"the start failed ({type(exc).__name__}: {str(exc)[:300]}); starting again")
                self.stop_ray()
                self.wait_for_services()
        raise AssertionError("unreachable")

    def start_ray(self, settings: Settings) -> None:
        from serve.bootstrap import deploy_http, init_ray, start_actors

        # no load balancer drains these replicas: skip the 30 s direct ingress waits for one at shutdown
        os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "0")
        init_ray(settings, num_cpus=2, log_to_driver=False)
        self.ray_started = True
        # Ray's core worker installs a SIGTERM handler that aborts the process: ours instead, so the clean-up runs
        signal.signal(signal.SIGTERM, _terminate)
        log(f"Ray node up (its logs: {_session_dir()}/logs)")
        self.handles = start_actors(settings)
        deploy_http(settings)

    def stop_ray(self) -> None:
        if self.ray_started:
            import ray
            from ray import serve

            with contextlib.suppress(Exception):
                serve.shutdown()  # type: ignore[no-untyped-call]
            with contextlib.suppress(Exception):
                ray.shutdown()
        self.handles = {}
        self.ray_started = False

    def stop(self, keep: bool) -> None:
        settings = self.settings
        self.stop_ray()
        if settings is not None:
            release_parked_poll(settings)
            shutil.rmtree(Path("/tmp") / f"kep-haproxy-{settings.http_port}", ignore_errors=True)  # noqa: S108
        if keep:
            log(f"kept: database {self.database}, vhost {self.vhost}, tenant bench-{self.tag}, "
                f"bucket kep-bench-{self.tag}")  # fmt: skip
            return
        if settings is not None:
            began = time.monotonic()
            try:
                deleted = delete_tenant(settings)
                log(f"deleted {deleted} deployment(s) of tenant {settings.engine_tenant} with their instances "
                    f"in {time.monotonic() - began:.0f} s")  # fmt: skip
            except httpx.HTTPError as exc:
                log(f"could not delete the tenant's deployments: {exc!r}")
            try:
                drop_bucket(settings)
            except Exception as exc:  # a leftover bucket is no reason to stop the clean-up
                log(f"could not drop bucket {settings.storage_bucket}: {exc!r}")
        if self.database:
            with contextlib.suppress(Exception):
                services.Postgres("postgres", self.stack).psql(
                    f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'
                )
        if self.vhost:
            base, auth = self.mgmt
            with contextlib.suppress(httpx.HTTPError):
                httpx.delete(f"{base}/api/vhosts/{self.vhost}", auth=auth)


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _session_dir() -> str:
    import ray

    node: Any = getattr(ray._private.worker, "_global_node", None)
    return str(node.get_session_dir_path()) if node is not None else "?"


def release_parked_poll(settings: Settings) -> None:
    """The bridge's last long poll stays parked in the engine until it times out; a poll with the same worker id
    replaces it and ends at once."""
    body = {"workerId": settings.bridge_worker_id, "maxTasks": 1, "asyncResponseTimeout": 1,
            "topics": [{"topicName": "bench-none", "lockDuration": 1000}]}  # fmt: skip
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"{settings.engine_url}/external-task/fetchAndLock", json=body, timeout=10)


def delete_tenant(settings: Settings) -> int:
    with httpx.Client(base_url=settings.engine_url, timeout=1800) as http:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # a test on this machine may be restarting it
            with contextlib.suppress(httpx.HTTPError):
                if http.get("/version", timeout=5).is_success:
                    break
            time.sleep(3)
        found = http.get("/deployment", params={"tenantIdIn": settings.engine_tenant or ""}).json()
        for dto in found:
            params = {"cascade": "true", "skipCustomListeners": "true"}
            resp = http.delete(f"/deployment/{dto['id']}", params=params)
            if resp.status_code != 404:
                resp.raise_for_status()
        return len(found)


def drop_bucket(settings: Settings) -> None:
    from minio import Minio
    from minio.deleteobjects import DeleteObject

    assert settings.minio_endpoint
    assert settings.minio_secret_key
    client = Minio(settings.minio_endpoint, settings.minio_access_key, settings.minio_secret_key.get_secret_value(),
                   secure=settings.minio_secure)  # fmt: skip
    if not client.bucket_exists(settings.storage_bucket):
        return
    names = [DeleteObject(o.object_name) for o in client.list_objects(settings.storage_bucket, recursive=True)]
    for error in client.remove_objects(settings.storage_bucket, names):
        log(f"MinIO: {error}")
    client.remove_bucket(settings.storage_bucket)


# --------------------------------------------------------------------------------------------------------------
# the kills


def _pid(worker: Any) -> int:
    return os.getpid()


def _disarm(worker: Any) -> None:
    if worker._bound.delivery is not None:
        worker._bound.delivery.crash = None


@dataclass
class Killer:
    """Every `every_s` seconds a random delivery worker dies: `ray.kill` (Ray restarts it) or `arm_crash`."""

    every_s: float
    rng: random.Random
    ray_kills: int = 0
    armed: int = 0
    fired: int = 0
    disarmed: int = 0
    pending: dict[str, int] = field(default_factory=dict)  # member armed -> its pid then
    events: list[str] = field(default_factory=list)

    async def members(self) -> dict[str, Any]:
        import ray

        names = await asyncio.to_thread(ray.util.list_named_actors)
        found = {}
        for name in sorted(n for n in names if isinstance(n, str) and DELIVERY_MEMBER.fullmatch(n)):
            with contextlib.suppress(ValueError):
                found[name] = await asyncio.to_thread(ray.get_actor, name)
        return found

    async def call(self, handle: Any, fn: Any) -> Any:
        return await asyncio.wait_for(handle.__ray_call__.remote(fn), 15)

    async def resolve(self, members: dict[str, Any]) -> None:
        """Armed crashes that happened: the member's pid changed (or it is down, being restarted)."""
        for name, pid in list(self.pending.items()):
            handle = members.get(name)
            try:
                now = await self.call(handle, _pid) if handle is not None else None
            except Exception:
                now = None
            if now != pid:
                self.fired += 1
                del self.pending[name]

    async def one(self) -> None:
        import ray

        members = await self.members()
        await self.resolve(members)
        choices = [n for n in members if n not in self.pending]
        if not choices:
            return
        name = self.rng.choice(choices)
        handle = members[name]
        if self.rng.random() < 0.5:
            await asyncio.to_thread(ray.kill, handle, no_restart=False)
            self.ray_kills += 1
            self.events.append(f"ray.kill {name}")
        else:
            try:
                pid = await self.call(handle, _pid)
                await asyncio.wait_for(handle.arm_crash.remote("after_remote"), 15)
            except Exception as exc:  # restarting after an earlier kill: another time
                log(f"could not arm {name}: {exc!r}")
                return
            self.pending[name] = pid
            self.armed += 1
            self.events.append(f"arm_crash {name}")

    async def loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_s)
            if stop.is_set():
                break
            try:
                await self.one()
            except Exception as exc:
                log(f"kill failed: {exc!r}")

    async def finish(self) -> None:
        """Count what fired; a crash still armed is disarmed, so it does not carry into the next run."""
        members = await self.members()
        await self.resolve(members)
        for name in list(self.pending):
            with contextlib.suppress(Exception):
                await self.call(members[name], _disarm)
                self.disarmed += 1
            del self.pending[name]

    def figures(self) -> dict[str, int]:
        return {"ray_kill": self.ray_kills, "crash_armed": self.armed, "crash_fired": self.fired,
                "crash_disarmed_unfired": self.disarmed, "total_deaths": self.ray_kills + self.fired}  # fmt: skip


# --------------------------------------------------------------------------------------------------------------
# one run


@dataclass
class Bench:
    args: argparse.Namespace
    settings: Settings
    doubles: Doubles
    db: asyncpg.Pool[asyncpg.Record]
    engine: EngineClient
    http: httpx.AsyncClient
    office: uuid.UUID
    mailbox_procedure: uuid.UUID
    kshde_procedure: uuid.UUID
    peak: Counter[str] = field(default_factory=Counter)  # the pools' largest sizes seen during a run

    async def open_cases(self, n: int) -> list[uuid.UUID]:
        from actors.cases.shards import CaseShards
        from messages.cases import Channel, OpenCase, OpenCaseRequest
        from messages.citizen import Citizen
        from messages.envelope import new_id

        shards = CaseShards(self.settings.case_shards, self.settings.ray_namespace)
        kshde_every = round(1 / self.args.kshde_share) if self.args.kshde_share > 0 else 0
        citizen = Citizen(afm=REGISTERED_AFM, first_name="Ελένη", last_name="Παπαδάκη")
        plan = [self.kshde_procedure if kshde_every and i % kshde_every == kshde_every - 1 else self.mailbox_procedure
                for i in range(n)]  # fmt: skip
        opened: list[uuid.UUID] = []
        todo = iter(plan)

        async def opener() -> None:
            for procedure in todo:
                request = OpenCaseRequest(procedure_id=procedure, citizen=citizen, channel=Channel.COUNTER)
                cmd = OpenCase(case_id=new_id(), office_id=self.office, actor=EMPLOYEE, request=request)
                result = await shards.open(cmd)
                opened.append(result.case.id)

        await asyncio.gather(*(opener() for _ in range(8)))
        return opened

    async def review_tasks(self, cases: set[str]) -> dict[str, str] | None:
        """case id -> its review task's id, for the cases whose review is offered (None: the engine is away)."""
        tenant = [self.settings.engine_tenant]
        params = {"maxResults": "100000"}
        try:
            found = await self.http.post("/process-instance", json={"tenantIdIn": tenant,
                                         "processDefinitionKey": "kep_case"}, params=params)  # fmt: skip
            instances = found.raise_for_status().json()
            found = await self.http.post("/task", json={"tenantIdIn": tenant, "taskDefinitionKey": "review"},
                                         params=params)  # fmt: skip
            tasks = found.raise_for_status().json()
        except httpx.HTTPError:
            return None
        by_instance = {i["id"]: i["businessKey"] for i in instances if i.get("businessKey") in cases}
        return {by_instance[t["processInstanceId"]]: t["id"] for t in tasks if t["processInstanceId"] in by_instance}

    async def receipts(self, ids: list[uuid.UUID]) -> int:
        count: int = await self.db.fetchval(
            """SELECT count(DISTINCT d.case_id) FROM documents d JOIN document_templates t ON t.id = d.template_id
               WHERE d.case_id = ANY($1) AND t.kind = 'receipt'""",
            ids,
        )
        return count

    async def wait_offered(self, ids: list[uuid.UUID]) -> dict[str, str]:
        wanted = {str(i) for i in ids}
        deadline = time.monotonic() + self.args.timeout_s
        last = 0.0
        tasks: dict[str, str] = {}
        while True:
            tasks = await self.review_tasks(wanted) or tasks
            receipts = await self.receipts(ids)
            if len(tasks) == len(wanted) and receipts == len(wanted):
                return tasks
            if time.monotonic() > deadline:
                raise RuntimeError(f"after {self.args.timeout_s} s: {len(tasks)} reviews offered and {receipts} "
                                   f"receipts of {len(wanted)} cases")  # fmt: skip
            if time.monotonic() - last > 15:
                log(f"  waiting: {len(tasks)}/{len(wanted)} reviews offered, {receipts} receipts")
                last = time.monotonic()
            await asyncio.sleep(1)

    async def approve(self, tasks: dict[str, str]) -> dict[str, float]:
        approved: dict[str, float] = {}
        todo = iter(list(tasks.items()))
        rate = self.args.approve_rate
        t0 = time.monotonic()
        sent = 0

        async def approver() -> None:
            nonlocal sent
            for case, task in todo:
                if rate:
                    await asyncio.sleep(max(0.0, t0 + sent / rate - time.monotonic()))
                sent += 1
                await self.complete(task)
                approved[case] = time.time()

        await asyncio.gather(*(approver() for _ in range(self.args.approve_concurrency)))
        return approved

    async def complete(self, task: str) -> None:
        """The review approved; tried again while the engine is away (a test on this machine may restart it)."""
        from bpmn_bridge.errors import EngineError, TaskGone

        deadline = time.monotonic() + self.args.timeout_s
        while True:
            try:
                await self.engine.complete_user_task(task, {"decision": "approve"})
                return
            except TaskGone:  # completed by a try whose answer was lost
                return
            except (EngineError, httpx.HTTPError) as exc:
                if time.monotonic() > deadline:
                    raise
                log(f"  approving {task}: {exc!r}; again in 2 s")
                await asyncio.sleep(2)

    async def progress(self, ids: list[uuid.UUID]) -> tuple[int, int]:
        row = await self.db.fetchrow(
            """SELECT (SELECT count(DISTINCT case_id) FROM deliveries WHERE case_id = ANY($1)) AS delivered,
                      (SELECT count(*) FROM cases WHERE id = ANY($1) AND status = 'completed') AS completed""",
            ids,
        )
        assert row is not None
        return int(row["delivered"]), int(row["completed"])

    async def incidents(self) -> int | None:
        """Open incidents of the bench's tenant (None: the engine is away)."""
        try:
            resp = await self.http.get("/incident/count", params={"tenantIdIn": self.settings.engine_tenant or ""})
            return int(resp.raise_for_status().json()["count"])
        except httpx.HTTPError:
            return None

    async def wait_delivered(self, ids: list[uuid.UUID], began: float) -> None:
        last_log = 0.0
        self.peak = Counter()
        while True:
            delivered, completed = await self.progress(ids)
            if completed == len(ids):
                return
            waited = time.monotonic() - began
            if waited > self.args.timeout_s:
                log(f"  gave up after {waited:.0f} s: {delivered} delivered, {completed} completed")
                return
            if time.monotonic() - last_log > 10:
                for pool, size in (await self.pools()).items():
                    self.peak[pool] = max(self.peak[pool], size)
                log(f"  {waited:5.0f} s: {delivered}/{len(ids)} delivered, {completed} completed, "
                    f"{await self.incidents()} incidents")  # fmt: skip
                last_log = time.monotonic()
            await asyncio.sleep(1)

    async def run(self, name: str) -> dict[str, Any]:
        args = self.args
        failure_rate = 0.0 if name == "latency" else args.failure_rate
        self.doubles.configure(args.latency_ms / 1000, failure_rate)
        log(f"run {name}: latency {args.latency_ms} ms, failure rate {failure_rate}; opening {args.cases} cases")
        began = time.monotonic()
        pids, load = service_pids(self.doubles.stack), os.getloadavg()[0]
        ids = await self.open_cases(args.cases)
        tasks = await self.wait_offered(ids)
        log(f"  {len(tasks)} reviews offered and receipts rendered in {time.monotonic() - began:.0f} s; approving")
        killer = Killer(args.kill_every, random.Random(f"{args.seed}-{name}")) if name == "kills" else None
        stop = asyncio.Event()
        kills = asyncio.create_task(killer.loop(stop)) if killer else None
        t_approve = time.monotonic()
        try:
            approved = await self.approve(tasks)
            log(f"  approved {len(approved)} in {time.monotonic() - t_approve:.1f} s")
            await self.wait_delivered(ids, t_approve)
        finally:
            stop.set()
            if kills is not None:
                await kills
        if killer is not None:
            await killer.finish()
        figures = await self.figures(ids, approved)
        figures["duplicates"] = await self.duplicates(ids)
        figures["kills"] = killer.figures() if killer else None
        figures["pools_at_end"] = await self.pools()
        figures["pools_peak"] = dict(self.peak)
        now = service_pids(self.doubles.stack)
        # a test on this machine may restart the shared services meanwhile: such a run's figures are not comparable
        figures["services_restarted"] = sorted(k for k, pid in pids.items() if now.get(k) != pid)
        figures["load_avg_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]
        return {"run": name, "latency_ms": args.latency_ms, "failure_rate": failure_rate} | figures

    async def figures(self, ids: list[uuid.UUID], approved: dict[str, float]) -> dict[str, Any]:
        rows = await self.db.fetch(
            """SELECT c.id::text AS id, c.status,
                      (SELECT min(extract(epoch FROM d.created_at)) FROM deliveries d WHERE d.case_id = c.id)
                          AS delivered_at,
                      (SELECT min(d.channel) FROM deliveries d WHERE d.case_id = c.id) AS channel,
                      (SELECT max(extract(epoch FROM e.at)) FROM case_events e
                        WHERE e.case_id = c.id AND e.type = 'case.completed') AS completed_at,
                      (SELECT min(extract(epoch FROM doc.created_at)) FROM documents doc
                         JOIN document_templates t ON t.id = doc.template_id
                        WHERE doc.case_id = c.id AND t.kind = 'certificate') AS certified_at,
                      (SELECT min(extract(epoch FROM e.at)) FROM case_events e
                        WHERE e.case_id = c.id AND e.type = 'case.noted' AND e.actor = 'bpmn:kep_case'
                          AND e.new->>'note' LIKE 'Τρόπος επίδοσης%') AS routed_at
               FROM cases c WHERE c.id = ANY($1)""",
            ids,
        )
        done = [r for r in rows if r["delivered_at"] is not None and r["id"] in approved]
        to_delivered = [1000 * (float(r["delivered_at"]) - approved[r["id"]]) for r in done]
        to_completed = [1000 * (float(r["completed_at"]) - approved[r["id"]]) for r in done if r["completed_at"]]
        delivery_only = [1000 * (float(r["delivered_at"]) - float(r["certified_at"])) for r in done
                         if r["certified_at"]]  # fmt: skip
        # the delivery's two steps: the way decided (ΚΕΔ lookup, its note), then the posting or send recorded
        routed = [r for r in done if r["certified_at"] and r["routed_at"]]
        to_routed = [1000 * (float(r["routed_at"]) - float(r["certified_at"])) for r in routed]
        routed_to_delivered = [1000 * (float(r["delivered_at"]) - float(r["routed_at"])) for r in routed]
        to_certified = [1000 * (float(r["certified_at"]) - approved[r["id"]]) for r in done if r["certified_at"]]
        span = max(float(r["delivered_at"]) for r in done) - min(approved.values()) if done else 0.0
        effects = await self.db.fetch(
            """SELECT effect, count(*) AS n, count(*) FILTER (WHERE attempts > 1) AS rerun,
                      count(*) FILTER (WHERE state <> 'done') AS open
               FROM external_effects WHERE case_id = ANY($1) GROUP BY effect ORDER BY effect""",
            ids,
        )
        numbers = [
            f"case:{r['number']}" for r in await self.db.fetch("SELECT number FROM cases WHERE id = ANY($1)", ids)
        ]
        ked = await self.db.fetchrow(
            """SELECT count(*) AS calls, count(*) FILTER (WHERE outcome = 'GEN_AUDIT_TRANSACTION_ID_REUSED') AS stale
               FROM ked_audit WHERE on_behalf_of = ANY($1)""",
            numbers,
        )
        assert ked is not None
        return {
            "cases": len(ids),
            "approved": len(approved),
            "delivered": len(done),
            "undelivered": len(ids) - len(done),
            "completed": sum(r["status"] == "completed" for r in rows),
            "channels": dict(Counter(r["channel"] for r in done)),
            "span_s": round(span, 1),
            "delivered_per_s": round(len(done) / span, 2) if span else 0.0,
            "approve_to_delivered_ms": {
                "p50": pct(to_delivered, 0.5),
                "p95": pct(to_delivered, 0.95),
                "max": pct(to_delivered, 1.0),
            },
            "approve_to_completed_ms": {"p50": pct(to_completed, 0.5), "p95": pct(to_completed, 0.95)},
            "certificate_to_delivered_ms": {"p50": pct(delivery_only, 0.5), "p95": pct(delivery_only, 0.95)},
            "steps_p50_ms": {
                "approve_to_certificate": pct(to_certified, 0.5),
                "certificate_to_routed": pct(to_routed, 0.5),
                "routed_to_delivered": pct(routed_to_delivered, 0.5),
            },
            "effect_reruns": {r["effect"]: int(r["rerun"]) for r in effects},
            "effects_not_done": sum(int(r["open"]) for r in effects),
            # ΚΕΔ calls, and those it refused because their audit transaction id was not above the last it saw
            "ked_calls": int(ked["calls"]),
            "ked_refused_stale_audit_id": int(ked["stale"]),
            "incidents": await self.incidents(),
        }

    async def duplicates(self, ids: list[uuid.UUID]) -> dict[str, Any]:
        numbers = {r["number"] for r in await self.db.fetch("SELECT number FROM cases WHERE id = ANY($1)", ids)}
        postings = Counter(c.get("reference") for c in await self.doubles.calls("mailbox")
                           if c["operation"] == "post" and c.get("reference") in numbers)  # fmt: skip
        kshde = await self.doubles.calls("kshde")
        sent: dict[str, list[str]] = defaultdict(list)  # case number -> protocol numbers of its sends
        for c in kshde:
            if c["operation"] == "send" and c.get("key") in numbers:
                sent[c["key"]].append(c["protocol_no"])
        # an attachment's key is `<protocol number>/<file name>`, and a protocol number is `<year>/<number>`
        final = {c["key"].rsplit("/", 1)[0] for c in kshde if c["operation"] == "attach" and c.get("final")}
        final |= {c["key"] for c in kshde if c["operation"] == "version" and c.get("final")}
        attached = Counter(c["key"] for c in kshde if c["operation"] == "attach")
        finals = {number: [p for p in protocols if p in final] for number, protocols in sent.items()}
        mine = {p for protocols in sent.values() for p in protocols}
        rows = await self.db.fetch(
            "SELECT c.number, count(*) AS n FROM deliveries d JOIN cases c ON c.id = d.case_id "
            "WHERE d.case_id = ANY($1) GROUP BY c.number HAVING count(*) > 1",
            ids,
        )
        found = {
            "mailbox_postings": sum(n - 1 for n in postings.values() if n > 1),
            "kshde_final_documents": sum(len(f) - 1 for f in finals.values() if len(f) > 1),
            "kshde_attachments": sum(n - 1 for key, n in attached.items() if n > 1 and key.rsplit("/", 1)[0] in mine),
            "delivery_rows": sum(int(r["n"]) - 1 for r in rows),
        }
        detail = {
            "mailbox": sorted(str(ref) for ref, n in postings.items() if n > 1)[:20],
            "kshde": {number: f for number, f in finals.items() if len(f) > 1},
            "attachments": sorted(k for k, n in attached.items() if n > 1 and k.rsplit("/", 1)[0] in mine)[:20],
            "rows": [r["number"] for r in rows][:20],
        }
        return {
            "total": sum(found.values()),
            **found,
            "kshde_pending_orphans": sum(len(p) - len(finals[n]) for n, p in sent.items()),
            "mailbox_postings_logged": sum(postings.values()),
            "kshde_documents_final": sum(len(f) for f in finals.values()),
            "detail": detail if sum(found.values()) else None,
        }

    async def pools(self) -> dict[str, int]:
        import ray

        names = await asyncio.to_thread(ray.util.list_named_actors)
        sizes: Counter[str] = Counter()
        for n in names:
            if isinstance(n, str) and (m := re.fullmatch(r"(kep-[a-z-]+)-\d+", n)):
                sizes[m.group(1)] += 1
        return {k: sizes[k] for k in ("kep-delivery", "kep-renderer", "kep-task-worker")}


async def prepare(settings: Settings, db: asyncpg.Pool[asyncpg.Record]) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    office = uuid.uuid4()
    await db.execute("INSERT INTO offices (id, code, kind, name_el) VALUES ($1, $2, 'kep', 'ΚΕΠ (bench)')", office,
                     f"B-{office.hex[:10].upper()}")  # fmt: skip
    await db.execute("INSERT INTO users (id, subject, office_id, display_name, roles) VALUES ($1, $2, $3, $2, "
                     "'{employee}')", uuid.uuid4(), EMPLOYEE, office)  # fmt: skip
    procedures = []
    for mitos_id, recipient in (("bench-delivery-mailbox", None), ("bench-delivery-kshde", KSHDE_RECIPIENT)):
        procedures.append(await db.fetchval(
            """INSERT INTO procedures (id, mitos_id, title_el, payload, active, duration_days, bpmn_process_key,
                                       delivery_recipient)
               VALUES (gen_random_uuid(), $1, 'Πιστοποιητικό μόνιμης κατοικίας (bench)', $2, true, 10, 'kep_case', $3)
               RETURNING id""",
            mitos_id, json.dumps({"metadata": {"process_evidences": []}}), recipient,
        ))  # fmt: skip
    return office, procedures[0], procedures[1]


def service_pids(stack: StackSettings) -> dict[str, int | None]:
    """The pid of each stack service the system uses, from its pid file."""
    pids: dict[str, int | None] = {}
    for name in ("postgres", "redis", "rabbitmq", "minio", "engine"):
        try:
            pids[name] = int((stack.run_dir / f"{name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pids[name] = None
    return pids


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| run | latency | failures | kills: ray.kill + crashes fired/armed (deaths) | cases | delivered | delivered/s "
        "| approve→delivered p50 / p95 s "
        "| certificate→delivered p50 / p95 ms | duplicates | ledger re-runs | incidents | services restarted |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | --- | --- | ---: | --- | ---: | --- |",
    ]
    for r in results:
        k = r["kills"]
        kills = "—"
        if k:
            kills = f"{k['ray_kill']} + {k['crash_fired']}/{k['crash_armed']} ({k['total_deaths']})"
        a, c = r["approve_to_delivered_ms"], r["certificate_to_delivered_ms"]
        a_s = f"{(a['p50'] or 0) / 1000:.1f} / {(a['p95'] or 0) / 1000:.1f}"
        reruns = ", ".join(f"{e} {n}" for e, n in r["effect_reruns"].items() if n) or "0"
        lines.append(f"| {r['run']} | {r['latency_ms']} ms | {100 * r['failure_rate']:.0f} % | {kills} | {r['cases']} "
                     f"| {r['delivered']} | {r['delivered_per_s']} | {a_s} | {c['p50']} / {c['p95']} "
                     f"| {r['duplicates']['total']} | {reruns} | {r['incidents']} "
                     f"| {', '.join(r['services_restarted']) or 'none'} |")  # fmt: skip
    return "\n".join(lines)


def rerun_lines(args: argparse.Namespace) -> list[str]:
    base = [".venv/bin/python", "bench/delivery.py", "--cases", str(args.cases), "--latency-ms", str(args.latency_ms),
            "--failure-rate", str(args.failure_rate), "--kill-every", str(args.kill_every), "--kshde-share",
            str(args.kshde_share), "--seed", str(args.seed)]  # fmt: skip
    if args.doubles != "private":
        base += ["--doubles", args.doubles]
    if args.approve_rate:
        base += ["--approve-rate", str(args.approve_rate)]
    lines = [shlex.join([*base, "--runs", ",".join(args.runs)])]
    lines += [shlex.join([*base, "--runs", name]) for name in args.runs] if len(args.runs) > 1 else []
    return lines


async def bench(args: argparse.Namespace, settings: Settings, doubles: Doubles) -> list[dict[str, Any]]:
    db = await asyncpg.create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=4)
    assert db is not None
    results: list[dict[str, Any]] = []
    try:
        office, mailbox_procedure, kshde_procedure = await prepare(settings, db)
        async with (
            EngineClient(settings.engine_url, tenant_id=settings.engine_tenant) as engine,
            httpx.AsyncClient(base_url=settings.engine_url, timeout=60) as http,
        ):
            b = Bench(args, settings, doubles, db, engine, http, office, mailbox_procedure, kshde_procedure)
            for name in args.runs:
                result = await b.run(name)
                results.append(result)
                emit(**result)
    finally:
        await db.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=1000, help="cases per run")
    ap.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of {', '.join(RUNS)}")
    ap.add_argument("--latency-ms", type=float, default=50, help="added by the doubles to every answer")
    ap.add_argument("--failure-rate", type=float, default=0.05, help="share of the doubles' answers that are 503")
    ap.add_argument("--kill-every", type=float, default=5, help="seconds between kills in the `kills` run")
    ap.add_argument("--kshde-share", type=float, default=0.2, help="share of cases delivered through ΚΣΗΔΕ")
    ap.add_argument("--approve-concurrency", type=int, default=8)
    ap.add_argument("--approve-rate", type=float, default=0, help="approvals a second (0: as fast as they go)")
    ap.add_argument("--timeout-s", type=float, default=1200, help="longest wait for a run's cases (each phase)")
    ap.add_argument("--doubles", choices=("private", "stack"), default="private")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--keep", action="store_true", help="keep the database, vhost, tenant and bucket")
    args = ap.parse_args()
    args.runs = [r for r in args.runs.split(",") if r]
    if unknown := [r for r in args.runs if r not in RUNS]:
        ap.error(f"unknown runs {unknown}: {', '.join(RUNS)}")
    os.chdir(ROOT)

    signal.signal(signal.SIGTERM, _terminate)
    began = time.monotonic()
    stack = StackSettings()
    doubles = Doubles(stack, private=args.doubles == "private")
    system = System(stack, doubles)
    results: list[dict[str, Any]] = []
    work = Path(f"/tmp/kep-bench-delivery-{system.tag}")  # noqa: S108 (the doubles' logs, removed at the end)
    work.mkdir(parents=True, exist_ok=True)
    emit(setup=True, cores=os.cpu_count(), args={k: v for k, v in vars(args).items()}, tag=system.tag)
    try:
        doubles.start(work)
        settings = system.start()
        log(f"system up in {time.monotonic() - began:.0f} s (tenant {settings.engine_tenant}, HTTP "
            f"{settings.http_port}, doubles {doubles.ports})")  # fmt: skip
        results = asyncio.run(bench(args, settings, doubles))
    finally:
        doubles.reset()
        system.stop(args.keep)
        doubles.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if results:
        emit(summary=[{k: r[k] for k in ("run", "delivered_per_s", "approve_to_delivered_ms", "duplicates")}
                      for r in results], wall_s=round(time.monotonic() - began, 1))  # fmt: skip
        print("\n" + table(results))
        print("\nrerun:\n" + "\n".join(f"  {line}" for line in rerun_lines(args)))


if __name__ == "__main__":
    main()

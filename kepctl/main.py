"""`kep`: the operator's command line for the local stack and the application on it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError

from actors.cases import orphans
from actors.routings import store as routings_store
from actors.statistics.store import rebuild_database
from autoscaler.cli import app as autoscaler_app
from infra.db import create_pool
from infra.migrate import migrate as run_migrations
from infra.migrate import pending
from infra.settings import Settings, load_settings
from infra.storage import create_store
from kepctl import ray_nodes, services
from kepctl.devca import ensure_dev_ca
from kepctl.devtokens import NoToken, keycloak_token
from kepctl.realm import DEMO_PASSWORD
from kepctl.seed import USERS, activate_demo_procedures, seed, seed_apps
from kepctl.stack import StackSettings
from messages.errors import ConfigurationError
from messages.routings import GapFilter, GapPage

TOKEN_REUSE_S = 240.0  # the local realm's access tokens live five minutes

app = typer.Typer(help="Operate KEP Backoffice on this machine.", no_args_is_help=True)
svc_app = typer.Typer(help="The local service processes.", no_args_is_help=True)
app.add_typer(svc_app, name="services")
app.add_typer(autoscaler_app, name="autoscaler")
statistics_app = typer.Typer(help="Statistics of cases.", no_args_is_help=True)
app.add_typer(statistics_app, name="statistics")
routings_app = typer.Typer(help="Routings: the competent office per procedure and place.", no_args_is_help=True)
app.add_typer(routings_app, name="routings")
documents_app = typer.Typer(help="Documents of cases in the object store.", no_args_is_help=True)
app.add_typer(documents_app, name="documents")
worker_app = typer.Typer(help="Queue workers as processes of their own (a Deployment's pods).", no_args_is_help=True)
app.add_typer(worker_app, name="worker")


SERVICE_NAMES = "postgres redis rabbitmq minio azurite engine keycloak mitos ked mailbox kshde k8s (only when named)"


def _stack() -> StackSettings:
    return StackSettings()


def _settings(stack: StackSettings) -> Settings:
    """Local defaults from the stack, overridden by any KEP_* variable already set."""
    for k, v in stack.app_env().items():
        os.environ.setdefault(k, v)
    try:
        return load_settings()
    except ConfigurationError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None


def _say(msg: str) -> None:
    typer.secho(msg, fg="cyan")


@svc_app.command("start")
def services_start(
    only: Annotated[list[str] | None, typer.Argument(help=SERVICE_NAMES)] = None,
) -> None:
    """Start the local services that are not running yet (idempotent)."""
    try:
        services.start_all(_stack(), _say, set(only) if only else None)
    except services.ServiceError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None


@svc_app.command("stop")
def services_stop(
    only: Annotated[list[str] | None, typer.Argument(help=SERVICE_NAMES)] = None,
) -> None:
    """Stop the local services (all, or the ones named)."""
    services.stop_all(_stack(), _say, set(only) if only else None)


@svc_app.command("status")
def services_status(
    only: Annotated[list[str] | None, typer.Argument(help=SERVICE_NAMES)] = None,
) -> None:
    """The services `up` starts, or the ones named (`kep services status k8s`)."""
    for svc in services.all_services(_stack()):
        if (only is None and svc.name in services.OPTIONAL) or (only is not None and svc.name not in only):
            continue
        state = "up" if svc.ready() else "down"
        roles = ""
        if isinstance(svc, services.Postgres):
            primary, standby = svc.roles()
            roles = f"  primary={primary.port} standby={standby.port}"
        typer.echo(f"{svc.name:10} {state:5} pid={svc.pid() or '-'}  log={svc.log_file}{roles}")


@svc_app.command("switchover")
def services_switchover() -> None:
    """PostgreSQL's standby becomes the primary and the primary its standby, in CloudNativePG's order; the stack
    follows, since its clients are given both hosts. Refused while no standby streams."""
    pg = services.Postgres("postgres", _stack(), _say)
    try:
        pg.switchover()
    except services.ServiceError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None
    primary, standby = pg.roles()
    typer.echo(f"primary={primary.port} standby={standby.port}")


@app.command()
def migrate() -> None:
    """Apply pending schema migrations."""
    settings = _settings(_stack())
    applied = run_migrations(settings.database_url.get_secret_value())
    typer.echo(f"applied: {', '.join(applied) or 'nothing, schema is current'}")


@app.command("seed")
def seed_cmd() -> None:
    """Insert demo offices, users and a form (idempotent)."""
    settings = _settings(_stack())
    counts = asyncio.run(seed(settings.database_url.get_secret_value()))
    counts["apps"] = asyncio.run(seed_apps(settings))
    typer.echo(f"seeded: {counts}")


def _ray_head(stack: StackSettings) -> str:
    address = f"127.0.0.1:{stack.ray_port}"
    # The head, this driver and `ray status` must agree on token authentication: say it explicitly, once.
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    if os.environ["RAY_AUTH_MODE"] == "token" and not (Path.home() / ".ray" / "auth_token").exists():
        subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "get-auth-token", "--generate"], check=True)
    probe = subprocess.run(
        [sys.executable, "-m", "ray.scripts.scripts", "status", "--address", address],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        services.reap_orphan_haproxy(stack.http_port, _say)
        _say("starting ray head")
        from serve.bootstrap import node_env

        subprocess.run(
            [
                sys.executable,
                "-m",
                "ray.scripts.scripts",
                "start",
                "--head",
                f"--port={stack.ray_port}",
                "--node-ip-address=127.0.0.1",
                "--num-cpus=2",
                # the HTTP replicas stay on the head when other nodes join on this machine (kepctl/ray_nodes.py)
                f"--resources={json.dumps({ray_nodes.HTTP_RESOURCE: 1})}",
                "--include-dashboard=false",
                # The log monitor only forwards workers' output to attached drivers, and the stack has none once
                # `kep up` returns; it polls the log folder ten times a second (~0.01 core at rest).
                "--include-log-monitor=false",
                "--disable-usage-stats",
                f"--object-store-memory={200 * 1024**2}",
            ],
            check=True,
            env={**node_env(_settings(stack)), **os.environ},
        )
    return address


def _start_worker_nodes(stack: StackSettings, address: str, nodes: int) -> None:
    """Worker nodes 1..nodes-1 joined before the actors start, so that they spread over them."""
    from serve.bootstrap import node_env

    env = {**node_env(_settings(stack)), **os.environ}
    pids = ray_nodes.start_nodes(stack, address, nodes - 1, env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = subprocess.run(
            [sys.executable, "-m", "ray.scripts.scripts", "status", "--address", address],
            capture_output=True,
            text=True,
            check=False,
        )
        if status.stdout.count(" node_") >= nodes:
            _say(f"ray: {nodes} nodes (worker node pids {pids})")
            return
        time.sleep(1)
    raise services.ServiceError(f"only some of {nodes} Ray nodes joined; see {stack.log_dir}/ray-node-*.log")


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="seed demo data")] = True,
    workers: Annotated[
        str,
        typer.Option(
            help="ray: the queue workers are Ray actors the autoscaler starts and stops; processes: they are "
            "Deployments on the local Kubernetes control plane, each Running pod a local `kep worker run` "
            "(kepctl/cluster_workers.py), scaled by the autoscaler through the API server"
        ),
    ] = "ray",
    nodes: Annotated[
        int,
        typer.Option(
            min=1,
            max=4,
            help="Ray nodes on this machine: the head and N-1 worker nodes, over which the case shards and the "
            "worker pools spread (kepctl/ray_nodes.py)",
        ),
    ] = 1,
) -> None:
    """Start everything: services, schema, demo data, Ray, the actors and the HTTP API."""
    if workers not in ("ray", "processes"):
        raise typer.BadParameter("ray or processes", param_hint="--workers")
    stack = _stack()
    services_start(None)
    if workers == "processes":
        services_start(["k8s"])
        from kepctl import cluster_workers

        os.environ["KEP_WORKER_POOLS"] = "processes"
        os.environ["KEP_AUTOSCALER_POLICIES"] = str(cluster_workers.CLUSTER_POLICIES)
        os.environ["KEP_KUBECONFIG"] = str(cluster_workers.install(stack))
    settings = _settings(stack)
    migrate()
    if demo:
        seed_cmd()
    os.environ["KEP_RAY_ADDRESS"] = _ray_head(stack)
    if nodes > 1:
        os.environ["KEP_SERVE_HTTP_RESOURCE"] = ray_nodes.HTTP_RESOURCE
        _start_worker_nodes(stack, os.environ["KEP_RAY_ADDRESS"], nodes)
    settings = _settings(stack)
    import ray

    from actors.catalog.catalog import CATALOG_ACTOR
    from messages.catalog import SyncKind, SyncRun
    from serve.bootstrap import bootstrap

    handles = bootstrap(settings, detached=True)
    if demo:
        catalog: Any = handles[CATALOG_ACTOR]
        run: SyncRun = ray.get(catalog.sync.remote(SyncKind.FULL, "startup"))
        _say(f"catalogue synced from {settings.mitos_url}: {run.status.value}, {run.added} added")
        activated = asyncio.run(activate_demo_procedures(settings.database_url.get_secret_value()))
        _say(f"demo: {activated} procedures activated")
    if workers == "processes":
        pid = cluster_workers.start_kubelet(stack, dict(os.environ))
        _say(f"queue workers: the Deployments in namespace kep, run here by the local kubelet (pid {pid})")
    _say(f"KEP Backoffice is up: http://127.0.0.1:{stack.http_port}/docs")
    _say("a token for the demo employee: ./dev kep token maria.papadopoulou")


@app.command()
def down() -> None:
    """Stop the HTTP API, Ray and the services."""
    stack = _stack()
    from kepctl import cluster_workers

    if cluster_workers.stop_kubelet(stack):  # its workers drain while Ray and the services are still there
        _say("stopped the local kubelet and its workers")
    subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"], check=False)
    ray_nodes.forget_nodes(stack)  # `ray stop` took every node of this machine
    services.reap_orphan_haproxy(stack.http_port, _say)
    services.stop_all(stack, _say)


@app.command()
def status() -> None:
    """Services, schema and HTTP readiness at a glance."""
    stack = _stack()
    services_status()
    settings = _settings(stack)
    try:
        todo = pending(settings.database_url.get_secret_value())
        typer.echo(f"schema     {'current' if not todo else 'pending: ' + ', '.join(todo)}")
    except Exception as exc:  # the database may be down; status reports, it does not fail
        typer.echo(f"schema     unknown ({type(exc).__name__})")
    try:
        r = httpx.get(f"http://127.0.0.1:{stack.http_port}/readyz", timeout=5)
        typer.echo(f"http       {r.status_code} {json.dumps(r.json())}")
    except httpx.HTTPError:
        typer.echo("http       down")


@app.command()
def token(subject: str) -> None:
    """Print an access token for a demo user (see kepctl/seed.py), issued by the local Keycloak (valid 5 min)."""
    user = next((u for u in USERS if u.subject == subject), None)
    if user is None:
        typer.secho(f"unknown demo user; one of: {', '.join(u.subject for u in USERS)}", fg="red", err=True)
        raise typer.Exit(2)
    try:
        typer.echo(keycloak_token(_stack(), user.subject, DEMO_PASSWORD))
    except NoToken as exc:
        typer.secho(f"Keycloak issued no token: {exc} (`kep services start keycloak`?)", fg="red", err=True)
        raise typer.Exit(1) from None


@statistics_app.command("rebuild")
def statistics_rebuild() -> None:
    """Rebuild every statistics aggregate from case_events in one pass (the consumer waits meanwhile)."""
    cases = asyncio.run(rebuild_database(_settings(_stack()).database_url.get_secret_value()))
    _say(f"statistics rebuilt from the events of {cases} cases")


@routings_app.command("gaps")
def routings_gaps(
    procedure: Annotated[str | None, typer.Option(help="one procedure, by id")] = None,
    region: Annotated[str | None, typer.Option(help="one region (Αττική, ΑΤΤΙΚΗΣ, Attica…)")] = None,
    channel: Annotated[str | None, typer.Option(help="counter, phone, online, eugo: its rules count too")] = None,
    eugo: Annotated[bool, typer.Option("--eugo", help="only the procedures offered through EUGO")] = False,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 200,
) -> None:
    """The (procedure, region) pairs of active procedures where a citizen would find no competent office."""
    try:
        f = GapFilter.model_validate(
            {"procedure_id": procedure, "region": region, "channel": channel, "eugo": eugo or None, "size": limit}
        )
    except ValidationError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    page = asyncio.run(_routing_gaps(_settings(_stack()).database_url.get_secret_value(), f))
    for gap in page.items:
        typer.echo(f"{gap.mitos_id}\t{gap.region}\t{gap.procedure_title}")
    _say(f"{page.total} (procedure, region) pairs without a competent office" + (
        f", the first {len(page.items)} listed" if page.total > len(page.items) else ""))  # fmt: skip


async def _routing_gaps(database_url: str, f: GapFilter) -> GapPage:
    pool = await create_pool(database_url, 1, 1)
    try:
        async with pool.acquire() as conn:
            return await routings_store.gaps(conn=conn, f=f)
    finally:
        await pool.close()


@documents_app.command("sweep")
def documents_sweep(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list what would be removed")] = False,
    grace_s: Annotated[
        float | None, typer.Option(min=300, help="how old an object must be (default KEP_DOCUMENTS_SWEEP_GRACE_S)")
    ] = None,
) -> None:
    """Remove the stored objects that no row names (what a crash between storing and recording leaves) once they
    are past the grace; each removed one is printed with its age. What the delivery reader's actor does hourly."""
    settings = _settings(_stack())
    report = asyncio.run(_documents_sweep(settings, dry_run, grace_s or settings.documents_sweep_grace_s))
    if report.skipped:
        _say("another sweep is running; nothing done")
        return
    _say(
        f"{'would remove' if dry_run else 'removed'} {report.removed} of {report.scanned} objects past the grace "
        f"({report.referenced} named by a row, {report.unrecognised} of an unknown key, {report.rewritten} written "
        "again meanwhile)"
    )


async def _documents_sweep(settings: Settings, dry_run: bool, grace_s: float) -> orphans.SweepReport:
    pool = await create_pool(settings.database_url.get_secret_value(), 1, 1)
    store = create_store(settings)
    now = orphans.cut_off(0)

    def say(orphan: orphans.Orphan) -> None:
        typer.echo(f"{orphan.key}\t{orphan.age_s(now)} s")

    try:
        before = orphans.cut_off(grace_s)
        return await orphans.sweep(pool=pool, store=store, before=before, dry_run=dry_run, on_orphan=say)
    finally:
        await pool.close()
        close = getattr(store, "close", None)
        if close is not None:
            await close()


@app.command()
def devca(
    directory: Annotated[
        Path | None, typer.Argument(help="where the files go; default: the stack's .state/dev-ca")
    ] = None,
) -> None:
    """Create, or reuse, the development CA and document signer (FOR DEVELOPMENT ONLY; `kep up` makes it too)."""
    try:
        ca = ensure_dev_ca(directory or _stack().state_dir / "dev-ca")
    except ConfigurationError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    for path in (ca.ca_cert, ca.ca_key, ca.signer_cert, ca.signer_key):
        typer.echo(path)


@app.command()
def chaos(
    profile: Annotated[str, typer.Option(help="short (about 3 min) or long (30 min and more)")] = "long",
    seed: Annotated[int, typer.Option(help="the same seed makes the same faults in the same order")] = 7,
    rate: Annotated[float, typer.Option(help="cases opened per second")] = 1.0,
    gap: Annotated[float | None, typer.Option(help="seconds of calm after each fault")] = None,
) -> None:
    """Drive the running stack (`kep up`) through restarts, pauses and kills while cases flow, then check from
    PostgreSQL and the engine that none was lost, stuck or worked twice (kepctl/chaos.py). Exit 1 if any was."""
    if profile not in ("short", "long"):
        raise typer.BadParameter("short or long", param_hint="--profile")
    stack = _stack()
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ["KEP_RAY_ADDRESS"] = f"127.0.0.1:{stack.ray_port}"
    settings = _settings(stack)
    from serve.bootstrap import init_ray

    init_ray(settings, _node_ip_address="127.0.0.1")
    report = asyncio.run(_chaos(stack, settings, profile, seed, rate, gap))
    typer.echo(report.table())
    raise typer.Exit(0 if report.ok else 1)


async def _chaos(
    stack: StackSettings, settings: Settings, profile: str, seed: int, rate: float, gap: float | None
) -> Any:
    from bpmn_bridge.engine import EngineClient
    from kepctl import chaos as chaos_run
    from kepctl.seed import chaos_procedure

    employee = USERS[0]
    database_url = settings.database_url.get_secret_value()
    office_id, procedure_id = await chaos_procedure(database_url, employee.office or "")
    token: tuple[float, str] | None = None

    async def headers() -> dict[str, str]:
        nonlocal token
        if token is None or time.monotonic() - token[0] > TOKEN_REUSE_S:
            token = (time.monotonic(), await asyncio.to_thread(keycloak_token, stack, employee.subject, DEMO_PASSWORD))
        return {"Authorization": f"Bearer {token[1]}"}

    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.http_port}") as http,
        EngineClient(settings.engine_url, tenant_id=settings.engine_tenant) as engine,
    ):
        target = chaos_run.Target(
            http=http,
            headers=headers,
            office_id=office_id,
            procedure_id=procedure_id,
            database_url=database_url,
            engine=engine,
            namespace=settings.ray_namespace,
            services={s.name: s for s in services.all_services(stack, progress=_say)},
            shards=settings.case_shards,
        )
        faults = chaos_run.plan(seed, "short" if profile == "short" else "long")
        calm = gap if gap is not None else (15.0 if profile == "short" else 60.0)
        return await chaos_run.run(target, faults, seed=seed, rate_per_s=rate, gap_s=calm, say=_say)


@worker_app.command("run")
def worker_run(
    pool: Annotated[str, typer.Argument(help="cases | delivery | renderer | sink")],
    prefetch: Annotated[int | None, typer.Option(min=1, help="messages held at once (default: the settings')")] = None,
    pages: Annotated[int | None, typer.Option(min=1, max=16, help="renderer: pages printed at once")] = None,
    queue: Annotated[str | None, typer.Option(help="sink: the queue it drains")] = None,
    service_time: Annotated[float, typer.Option(min=0.0, help="sink: seconds spent on each message")] = 0.1,
    report_queue: Annotated[str | None, typer.Option(help="sink: publish each message's wait here")] = None,
    drain_seconds: Annotated[float, typer.Option(min=0.0, help="on SIGTERM, how long to finish what is held")] = 60.0,
    health_port: Annotated[
        int | None,
        typer.Option(envvar="KEP_WORKER_HEALTH_PORT", help="serve /livez and /readyz on this port (0: any free one)"),
    ] = None,
) -> None:
    """Run one member of a worker pool until SIGTERM, then drain it (kepctl/worker.py)."""
    from kepctl import worker

    if pool not in worker.POOLS:
        raise typer.BadParameter(" | ".join(worker.POOLS), param_hint="POOL")
    settings = _settings(_stack())
    if pool in worker.NEEDS_RAY:
        if not settings.ray_address:
            typer.secho(f"the {pool} workers reach the case shards: set KEP_RAY_ADDRESS", fg="red", err=True)
            raise typer.Exit(2)
        from serve.bootstrap import init_ray

        init_ray(settings)
    options = worker.Options(
        prefetch=prefetch, pages=pages, queue=queue, service_time_s=service_time, report_queue=report_queue
    )
    try:
        done = asyncio.run(worker.serve(pool, settings, options, drain_s=drain_seconds, health_port=health_port))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(json.dumps(done))


@worker_app.command("follow")
def worker_follow(
    namespace: Annotated[str, typer.Option(help="the namespace whose worker pods to run")] = "kep",
    selector: Annotated[str, typer.Option(help="which pods")] = "app.kubernetes.io/component=queue-worker",
) -> None:
    """DEV ONLY: run each Running pod of the local control plane's kwok node as a local process
    (kepctl/local_kubelet.py), until SIGTERM; `kep up --workers processes` starts it."""
    from kubernetes import client, config

    from kepctl.local_kubelet import LocalKubelet

    stack = _stack()
    k8s = services.Kubernetes("k8s", stack)
    api = config.new_client_from_config(config_file=str(k8s.pki.admin_kubeconfig), persist_config=False)  # type: ignore[no-untyped-call]

    async def follow() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        kubelet = LocalKubelet(client.CoreV1Api(api), namespace, stack.log_dir / "pods", selector=selector)
        await kubelet.run(stop)

    asyncio.run(follow())


@app.command()
def env() -> None:
    """Print the KEP_* variables that point a process at the local stack (for `eval`)."""
    for k, v in _stack().app_env().items():
        typer.echo(f"export {k}={v!r}")


if __name__ == "__main__":
    app()

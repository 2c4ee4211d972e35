"""Start, stop and probe the local service processes (PostgreSQL, Redis, RabbitMQ, MinIO, Azurite, the BPMN
engine, Keycloak, the Mitos double; and, only when named, a local Kubernetes control plane).

Each service keeps its data under the state folder and a pid file under `run/`; starting is idempotent:
a service that already answers its probe is left alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import httpx
import psutil
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kepctl.stack import ROOT, StackSettings

ProgressFn = Callable[[str], None]


def _private_state(state_dir: Path) -> None:
    """The stack's state (databases, keys, logs) is the user's: others may only pass through it (PostgreSQL runs as
    its own user and must reach its data below), not list or read it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o711)


class ServiceError(RuntimeError):
    """A local service could not be installed, started or stopped."""


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def _listener_pid(port: int) -> int | None:
    """Who listens on a loopback port: finds a server whose pid file was lost or overwritten."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return int(conn.pid)
    return None


def _eventually(probe: Callable[[], bool], within_s: float, note: Callable[[], None] | None = None) -> bool:
    """Whether `probe` held within the time; `note` every 10 s of waiting."""
    deadline = time.monotonic() + within_s
    next_note = time.monotonic() + 10
    while not probe():
        if time.monotonic() > deadline:
            return False
        if note is not None and time.monotonic() > next_note:
            note()
            next_note += 10
        time.sleep(0.3)
    return True


def _wait(what: str, probe: Callable[[], bool], timeout: float, progress: ProgressFn) -> None:
    if not _eventually(probe, timeout, lambda: progress(f"  still waiting for {what} ...")):
        raise ServiceError(f"{what} did not become ready within {timeout:.0f}s; see its log")


@dataclass
class Service:
    """One local service: how to start it, how to know it is up, how to stop it."""

    name: str
    stack: StackSettings
    progress: ProgressFn = field(default=print)
    # how long `stop` waits after SIGTERM before SIGKILL
    stop_grace_s: ClassVar[float] = 30.0

    @property
    def pid_file(self) -> Path:
        return self.stack.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.stack.log_dir / f"{self.name}.log"

    def ready(self) -> bool:
        raise NotImplementedError

    @property
    def port(self) -> int:
        raise NotImplementedError

    def pid(self) -> int | None:
        return _read_pid(self.pid_file) or _listener_pid(self.port)

    def _launch(self) -> None:
        raise NotImplementedError

    def start(self, timeout: float = 120) -> None:
        if self.ready():
            return
        _private_state(self.stack.state_dir)
        self.stack.run_dir.mkdir(parents=True, exist_ok=True)
        self.stack.log_dir.mkdir(parents=True, exist_ok=True)
        if _port_open(self.port):
            raise ServiceError(
                f"{self.name}: port {self.port} is held by pid {_listener_pid(self.port)}, which does not answer as "
                f"{self.name}; stop it (`kep services stop {self.name}`) or set another port"
            )
        self.progress(f"starting {self.name}")
        self._launch()
        _wait(self.name, self.ready, timeout, self.progress)

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        self.progress(f"stopping {self.name}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace_s
        while psutil.pid_exists(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if psutil.pid_exists(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        """Run a foreground server detached from us, its output in its log, its pid in the pid file."""
        log = self.log_file.open("ab")
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
        self.pid_file.write_text(str(proc.pid))


def _pg_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        raise ServiceError("PostgreSQL is not installed (expected /usr/lib/postgresql/<v>/bin)")
    return versions[-1]


@dataclass(frozen=True)
class PgNode:
    """One server of the stack's PostgreSQL pair: its data folder and its port."""

    data_dir: Path
    port: int

    @property
    def exists(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    @property
    def is_standby(self) -> bool:
        """What it starts as: a standby holds `standby.signal` until it is promoted (which removes the file)."""
        return (self.data_dir / "standby.signal").exists()

    @property
    def application_name(self) -> str:
        """How it names itself to its primary (pg_stat_replication)."""
        return f"kep-pg-{self.port}"


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


class Postgres(Service):
    """The stack's PostgreSQL: a primary and a streaming standby, as production's CloudNativePG cluster, on
    `pg_port` and `pg_standby_port`. Which is which changes with a switchover (`switchover`), so clients are given
    both hosts and `target_session_attrs=read-write` (`StackSettings.database_url`); a node's role is its
    `standby.signal`. Streaming is asynchronous: a switchover loses nothing (the primary stops first, cleanly, and
    the standby replays all it sent before it is promoted); a crash of the primary could lose the last commits."""

    # WAL the primary keeps for a standby that was away (stopped, paused); past it the standby is cloned again
    WAL_KEEP = "256MB"

    @property
    def nodes(self) -> tuple[PgNode, PgNode]:
        base = self.stack.state_dir / "postgres"
        return PgNode(base / "data", self.stack.pg_port), PgNode(base / "data2", self.stack.pg_standby_port)

    @property
    def port(self) -> int:
        return self.roles()[0].port

    @property
    def socket_dir(self) -> Path:
        return self.stack.state_dir / "postgres" / "sock"

    @property
    def log_file(self) -> Path:
        return self._log(self.roles()[0])

    def _log(self, node: PgNode) -> Path:
        return self.stack.log_dir / f"postgres-{node.port}.log"

    @property
    def passfile(self) -> Path:
        """The standby's password to its primary (replication connections are authenticated like any other)."""
        return self.stack.state_dir / "postgres" / "pgpass"

    def _as_owner(self, argv: list[str]) -> list[str]:
        # PostgreSQL refuses to run as root; on a root-only machine it runs as Debian's `postgres` user.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def _run(self, *argv: str, timeout: float = 300, check: bool = True) -> None:
        cmd = self._as_owner([str(_pg_bin() / argv[0]), *argv[1:]])
        subprocess.run(cmd, check=check, stdout=subprocess.DEVNULL, timeout=timeout)

    def _own(self, *paths: Path) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for p in paths:
                os.chown(p, owner.pw_uid, owner.pw_gid)

    def _let_postgres_through(self, base: Path) -> None:
        """The `postgres` user must traverse the folders above its data (a CI checkout may sit in a 0700 dir)."""
        for parent in base.resolve().parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                self.progress(f"  allowing other users to traverse {parent} (PostgreSQL runs as 'postgres')")
                parent.chmod(mode | stat.S_IXOTH)

    def roles(self) -> tuple[PgNode, PgNode]:
        """(primary, standby). Both primaries (a switchover stopped between the promotion and the old primary's
        demotion) or both standbys: the one further along (its timeline, then its last checkpoint) leads."""
        a, b = self.nodes
        if not b.exists or not a.exists:
            return (a, b) if a.exists or not b.exists else (b, a)
        if a.is_standby != b.is_standby:
            return (b, a) if a.is_standby else (a, b)
        first, second = sorted((a, b), key=self._position, reverse=True)
        return first, second

    def _position(self, node: PgNode) -> tuple[int, int]:
        """Its timeline (a promotion writes the new one's history file at once; the control file learns it only at
        the next checkpoint), then its last checkpoint."""
        histories = [int(p.name[:8], 16) for p in (node.data_dir / "pg_wal").glob("*.history")]
        checkpoint = _lsn(self._controldata(node)["Latest checkpoint location"])
        return max(histories, default=1), checkpoint

    def _controldata(self, node: PgNode) -> dict[str, str]:
        cmd = self._as_owner([str(_pg_bin() / "pg_controldata"), "-D", str(node.data_dir)])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
        pairs = (line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)
        return {k.strip(): v.strip() for k, v in pairs}

    def answers(self, node: PgNode) -> bool:
        if not _port_open(node.port):
            return False
        argv = [str(_pg_bin() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(node.port)]
        return subprocess.run(argv, check=False).returncode == 0

    def ready(self) -> bool:
        return all(self.answers(n) for n in self.nodes)

    def pid(self) -> int | None:
        """The primary's postmaster (a pause or a kill of "postgres" is of the server that takes the writes)."""
        return _read_pid(self.roles()[0].data_dir / "postmaster.pid")

    def _init(self, node: PgNode) -> None:
        self.progress("initialising the PostgreSQL cluster")
        base = node.data_dir.parent
        for d in (base, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
        pwfile = base / "pwfile"
        pwfile.write_text(self.stack.pg_password.get_secret_value() + "\n")
        if os.geteuid() == 0:
            self._let_postgres_through(base)
        self._own(base, self.socket_dir, pwfile)
        try:
            self._run(
                "initdb",
                "-D",
                str(node.data_dir),
                "-U",
                self.stack.pg_user,
                "--pwfile",
                str(pwfile),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",  # initdb's pg_hba also admits replication from loopback this way
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            pwfile.unlink()

    def _write_passfile(self) -> None:
        if self.passfile.exists():
            return
        self.passfile.touch(mode=0o600)
        self.passfile.write_text(f"127.0.0.1:*:*:{self.stack.pg_user}:{self.stack.pg_password.get_secret_value()}\n")
        self._own(self.passfile)

    def _conninfo(self, node: PgNode) -> str:
        return f"host=127.0.0.1 port={node.port} user={self.stack.pg_user} passfile={self.passfile}"

    def _start_node(self, node: PgNode, following: PgNode | None, timeout: float) -> None:
        """Start one server: a standby streams from `following` (given on the command line, so a demoted primary
        needs no settings file rewritten)."""
        if self.answers(node):
            return
        if _port_open(node.port):
            raise ServiceError(
                f"postgres: port {node.port} is held by pid {_listener_pid(node.port)}, which does not answer as "
                "postgres; stop it or set another port"
            )
        self.progress(f"starting postgres on {node.port}" + (f" (standby of {following.port})" if following else ""))
        log = self._log(node)
        log.touch()
        self._own(log)
        # local connections are trusted (the stack's own tools connect without a password), so the socket is for
        # the server's own OS user only (and root): another user of the machine cannot reach it
        opts = (
            f"-p {node.port} -k {self.socket_dir} -c unix_socket_permissions=0700 "
            "-c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=128MB -c fsync=on "
            f"-c wal_keep_size={self.WAL_KEEP} -c cluster_name={node.application_name}"
        )
        if following is not None:
            opts += f" -c primary_conninfo='{self._conninfo(following)} application_name={node.application_name}'"
        argv = ["pg_ctl", "-D", str(node.data_dir), "-l", str(log), "-o", opts, "-w", "-t", f"{timeout:.0f}", "start"]
        self._run(*argv, timeout=timeout + 10)

    def stop_node(self, node: PgNode) -> None:
        if _read_pid(node.data_dir / "postmaster.pid") is None:
            return
        self.progress(f"stopping postgres on {node.port}")
        # fast: sessions end, open transactions roll back, and the WAL up to the shutdown checkpoint reaches the
        # standby before the primary exits
        self._run("pg_ctl", "-D", str(node.data_dir), "-m", "fast", "-w", "stop", check=False)

    def _clone(self, primary: PgNode, standby: PgNode) -> None:
        """A fresh standby: a base backup of the primary, WAL streamed alongside, `standby.signal` written (-R)."""
        self.progress(f"cloning the standby on {standby.port} from the primary on {primary.port}")
        shutil.rmtree(standby.data_dir, ignore_errors=True)
        self._run("pg_basebackup", "-d", self._conninfo(primary), "-D", str(standby.data_dir), "-R", "-c", "fast")

    def streaming(self, primary: PgNode, standby: PgNode) -> bool:
        """The standby streams from the primary now."""
        return (
            self.psql(
                "SELECT count(*) FROM pg_stat_replication "  # noqa: S608 (our own port-derived name)
                f"WHERE application_name = '{standby.application_name}' AND state = 'streaming'",
                port=primary.port,
            )
            == "1"
        )

    def _follow(self, primary: PgNode, standby: PgNode, timeout: float) -> None:
        """The standby up and streaming; one that cannot follow (WAL it needs recycled, another timeline's
        history) is cloned again."""
        if not standby.exists:
            self._clone(primary, standby)
        elif not standby.is_standby:
            (standby.data_dir / "standby.signal").touch()
            self._own(standby.data_dir / "standby.signal")
        self._start_node(standby, primary, timeout)
        if _eventually(lambda: self.streaming(primary, standby), 30):
            return
        self.progress(f"  the standby on {standby.port} does not follow the primary on {primary.port}")
        self.stop_node(standby)
        self._clone(primary, standby)
        self._start_node(standby, primary, timeout)
        if not _eventually(lambda: self.streaming(primary, standby), 60):
            raise ServiceError(f"the standby on {standby.port} does not stream from {primary.port}; see its log")

    def start(self, timeout: float = 120) -> None:
        _private_state(self.stack.state_dir)
        for d in (self.stack.run_dir, self.stack.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        first, _ = self.nodes
        if not any(n.exists for n in self.nodes):
            self._init(first)
        self._write_passfile()
        primary, standby = self.roles()
        (primary.data_dir / "standby.signal").unlink(missing_ok=True)  # both were standbys: the further one leads
        self._start_node(primary, None, timeout)
        for db in (self.stack.pg_database, "engine"):
            self.ensure_database(db)
        self._follow(primary, standby, timeout)

    def switchover(self, timeout: float = 60) -> None:
        """The standby becomes the primary and the primary its standby, in CloudNativePG's order: the primary
        stops (cleanly: its last WAL reaches the standby), the standby replays up to that end and is promoted,
        then the old primary starts as the new one's standby. Between the stop and the promotion nobody takes
        writes: clients wait or retry. The other order is two primaries for a while, and whatever the first took
        then would be lost."""
        primary, standby = self.roles()
        if not self.streaming(primary, standby):
            raise ServiceError(f"no standby streams from the primary on {primary.port}: a switchover could lose data")
        self.progress(f"switchover: the primary on {primary.port} steps down for {standby.port}")
        self.stop_node(primary)
        end = self._controldata(primary)["Latest checkpoint location"]
        replayed = f"SELECT pg_last_wal_replay_lsn() > '{end}'::pg_lsn"  # past the shutdown checkpoint's record
        if not _eventually(lambda: self.psql(replayed, port=standby.port) == "t", timeout):
            self._start_node(primary, None, timeout)  # the old primary again, rather than no primary
            raise ServiceError(f"the standby on {standby.port} did not replay up to {end} within {timeout:.0f}s")
        self.promote(standby, timeout)
        self._follow(standby, primary, timeout)

    def promote(self, node: PgNode, timeout: float = 60) -> None:
        """The standby takes writes, on a new timeline (its `standby.signal` goes)."""
        self._run("pg_ctl", "-D", str(node.data_dir), "-w", "-t", f"{timeout:.0f}", "promote")

    def psql(self, sql: str, database: str = "postgres", port: int | None = None) -> str:
        """As the stack's user over the local socket; by default on the primary."""
        argv = [
            str(_pg_bin() / "psql"),
            "-h",
            str(self.socket_dir),
            "-p",
            str(port or self.port),
            "-U",
            self.stack.pg_user,
            "-d",
            database,
            "-tAc",
            sql,
        ]
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()

    def ensure_database(self, name: str) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ServiceError(f"invalid database name {name!r}")
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":  # noqa: S608 (checked above)
            self.psql(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        """The primary first: it hands its last WAL to the standby on the way out."""
        for node in self.roles():
            self.stop_node(node)


class Redis(Service):
    @property
    def port(self) -> int:
        return self.stack.redis_port

    def ready(self) -> bool:
        if not _port_open(self.stack.redis_port):
            return False
        out = subprocess.run(
            ["redis-cli", "-p", str(self.stack.redis_port), "ping"], capture_output=True, text=True, check=False
        )
        return out.stdout.strip() == "PONG"

    def _launch(self) -> None:
        data = self.stack.state_dir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        argv = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.stack.redis_port),
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--save",
            "",
        ]
        self._spawn(argv)


class RabbitMQ(Service):
    BIN = Path("/usr/lib/rabbitmq/bin")

    @property
    def port(self) -> int:
        return self.stack.amqp_port

    @property
    def node(self) -> str:
        return "kep@localhost"

    def _env(self) -> dict[str, str]:
        base = self.stack.state_dir / "rabbitmq"
        return {
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.stack.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.stack.rabbit_dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.stack.log_dir / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            # an Erlang VM that dies (the server, or a rabbitmqctl call) writes its dump here, not into the checkout
            "ERL_CRASH_DUMP": str(self.stack.log_dir / "rabbitmq" / "erl_crash.dump"),
        }

    def ready(self) -> bool:
        url = f"http://127.0.0.1:{self.stack.rabbit_mgmt_port}/api/overview"
        if not _port_open(self.stack.amqp_port) or not _port_open(self.stack.rabbit_mgmt_port):
            return False
        try:
            return httpx.get(url, auth=("guest", "guest"), timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _launch(self) -> None:
        if not (self.BIN / "rabbitmq-server").exists():
            raise ServiceError("RabbitMQ is not installed (Debian package rabbitmq-server)")
        base = self.stack.state_dir / "rabbitmq"
        base.mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (base / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    f"management.tcp.port = {self.stack.rabbit_mgmt_port}",
                    "management.tcp.ip = 127.0.0.1",
                    # Queue statistics fresh enough for the autoscaler to read depth every few seconds.
                    "collect_statistics_interval = 1000",
                    "vm_memory_high_watermark.relative = 0.2",
                    "disk_free_limit.absolute = 500MB",
                    "",
                ]
            )
        )
        self._spawn([str(self.BIN / "rabbitmq-server")], env=self._env())

    def start(self, timeout: float = 180) -> None:
        super().start(timeout)

    def stop(self) -> None:
        if self.pid() is None and not _port_open(self.stack.amqp_port):
            return
        self.progress("stopping rabbitmq")
        subprocess.run(
            [str(self.BIN / "rabbitmqctl"), "-n", self.node, "stop"],
            env={**os.environ, **self._env()},
            check=False,
            capture_output=True,
        )
        super().stop()


def minio_binary() -> Path:
    gopath = subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True, check=False).stdout.strip()
    candidates = [Path(gopath or Path.home() / "go") / "bin" / "minio", Path(shutil.which("minio") or "/nonexistent")]
    for c in candidates:
        if c.exists():
            return c
    raise ServiceError("MinIO is not built; run ./dev install")


class MinIO(Service):
    @property
    def port(self) -> int:
        return self.stack.minio_port

    def ready(self) -> bool:
        return _http_ok(f"http://127.0.0.1:{self.stack.minio_port}/minio/health/ready")

    def _launch(self) -> None:
        data = self.stack.state_dir / "minio"
        data.mkdir(parents=True, exist_ok=True)
        argv = [
            str(minio_binary()),
            "server",
            str(data),
            "--address",
            f"127.0.0.1:{self.stack.minio_port}",
            "--console-address",
            f"127.0.0.1:{self.stack.minio_console_port}",
            "--quiet",
        ]
        env = {
            "MINIO_ROOT_USER": self.stack.minio_user,
            "MINIO_ROOT_PASSWORD": self.stack.minio_password.get_secret_value(),
            "MINIO_BROWSER": "off",
        }
        self._spawn(argv, env=env)


class Azurite(Service):
    """Azurite's blob service: the Azure Blob backend of the object store, from deployments/azurite (npm)."""

    BIN = ROOT / "deployments" / "azurite" / "node_modules" / ".bin" / "azurite-blob"

    @property
    def port(self) -> int:
        return self.stack.azurite_port

    def ready(self) -> bool:
        # Every unsigned request is refused (403), so "up" is any answer from Azurite itself.
        try:
            resp = httpx.get(self.stack.azure_blob_endpoint, timeout=2.0)
        except httpx.HTTPError:
            return False
        return str(resp.headers.get("server", "")).startswith("Azurite-Blob")

    def _launch(self) -> None:
        if not self.BIN.exists():
            raise ServiceError(f"Azurite is not installed ({self.BIN}); run ./dev install")
        data = self.stack.state_dir / "azurite"
        data.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.BIN),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.stack.azurite_port),
            "--location",
            str(data),
            # the SDK may speak a newer API version than this Azurite knows, and send headers it does not implement
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--silent",
        ]
        key = self.stack.azurite_key.get_secret_value()
        self._spawn(argv, env={"AZURITE_ACCOUNTS": f"{self.stack.azurite_account}:{key}"})


class Engine(Service):
    """The BPMN engine: our Operaton Spring Boot app from deployments/camunda."""

    JAR = ROOT / "deployments" / "camunda" / "target" / "kep-engine.jar"

    @property
    def port(self) -> int:
        return self.stack.engine_port

    def ready(self) -> bool:
        return _http_ok(f"{self.stack.engine_url}/version")

    def _launch(self) -> None:
        if not self.JAR.exists():
            raise ServiceError(f"the engine is not built ({self.JAR}); run ./dev install")
        env = {
            "KEP_ENGINE_PORT": str(self.stack.engine_port),
            "KEP_ENGINE_DB_URL": self.stack.engine_jdbc_url(),
            "KEP_ENGINE_DB_USER": self.stack.pg_user,
            "KEP_ENGINE_DB_PASSWORD": self.stack.pg_password.get_secret_value(),
            "KEP_BPMN_DIR": str(ROOT / "bpmn_bridge" / "processes"),
        }
        argv = [
            "java",
            f"-Xmx{self.stack.engine_heap}",
            "-XX:+UseSerialGC",
            # as in the image: C2 as well as C1; the engine does every case's process work and runs for days,
            # while C1 alone roughly doubles its CPU per request once warm (bench/README.md)
            "-Xss512k",
            "-jar",
            str(self.JAR),
        ]
        self._spawn(argv, env=env)

    def start(self, timeout: float = 240) -> None:
        super().start(timeout)


class Keycloak(Service):
    """Keycloak in development mode (`start-dev`), realm `kep` imported from deployments/keycloak/realm-kep.json.

    The distribution comes from `./dev install`; this stack's state (an H2 database) is under the state folder.
    """

    HOME = ROOT / "deployments" / "keycloak" / "target" / "keycloak"
    REALM_FILE = ROOT / "deployments" / "keycloak" / "realm-kep.json"
    # our providers (`./dev install` builds deployments/keycloak/eidas-loa into it); `start-dev` re-augments the
    # server with them at every start, so a Keycloak started before they changed is restarted
    PROVIDERS = HOME / "providers"

    @property
    def port(self) -> int:
        return self.stack.keycloak_port

    @property
    def data_dir(self) -> Path:
        return self.stack.state_dir / "keycloak"

    def ready(self) -> bool:
        # Health alone says the server runs; the realm's discovery document says our realm is there too.
        return _http_ok(f"http://127.0.0.1:{self.stack.keycloak_mgmt_port}/health/ready") and _http_ok(
            f"{self.stack.oidc_issuer}/.well-known/openid-configuration"
        )

    def _import_current_realm(self) -> None:
        """`--import-realm` skips a realm that exists: after the realm file changed, start from an empty database.

        Only development data is lost (users made in the admin console or by tests); the demo users are in the file.
        """
        digest = hashlib.sha256(self.REALM_FILE.read_bytes()).hexdigest()
        stamp = self.data_dir / "realm-kep.sha256"
        db = self.data_dir / "h2"
        if db.exists() and (not stamp.exists() or stamp.read_text().strip() != digest):
            self.progress("  realm-kep.json changed: resetting Keycloak's development database to import it")
            shutil.rmtree(db)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest + "\n")
        # Keycloak reads imports only from its own data/import folder.
        import_dir = self.HOME / "data" / "import"
        import_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.REALM_FILE, import_dir / self.REALM_FILE.name)

    @property
    def _providers_file(self) -> Path:
        return self.stack.run_dir / "keycloak.providers"

    def _providers(self) -> str:
        """The provider jars as they are now: the running Keycloak must have loaded these."""
        digest = hashlib.sha256()
        for path in sorted(self.PROVIDERS.glob("*.jar")):
            digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()

    def _launch(self) -> None:
        kc = self.HOME / "bin" / "kc.sh"
        if not kc.exists():
            raise ServiceError(f"Keycloak is not installed ({kc}); run ./dev install")
        self._import_current_realm()
        env = {
            "KC_BOOTSTRAP_ADMIN_USERNAME": self.stack.keycloak_admin_user,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self.stack.keycloak_admin_password.get_secret_value(),
            # Replaces kc.sh's defaults (G1, heap as a share of RAM): the serial collector, a capped heap and C1
            # only start faster on two cores and take ~200 MiB less RSS (measured: ~350 MiB idle against ~560).
            "JAVA_OPTS": " ".join(
                [
                    "-XX:+UseSerialGC",
                    "-Xms64m",
                    f"-Xmx{self.stack.keycloak_heap}",
                    "-XX:MaxMetaspaceSize=256m",
                    "-XX:TieredStopAtLevel=1",
                    "-XX:ReservedCodeCacheSize=64m",
                    "-XX:+ExitOnOutOfMemoryError",
                    "-Dfile.encoding=UTF-8",
                    "-Dstdout.encoding=UTF-8",
                    "-Dstderr.encoding=UTF-8",
                    "-Djava.security.egd=file:/dev/urandom",
                    # Keep this stack's state in its state folder rather than in the shared distribution.
                    f"-Dquarkus.transaction-manager.object-store.directory={self.data_dir / 'transaction-logs'}",
                ]
            ),
        }
        argv = [
            str(kc),
            "start-dev",
            "--import-realm",
            "--http-host=127.0.0.1",
            f"--http-port={self.port}",
            # A fixed hostname makes every token's `iss` the configured issuer, whichever Host a client used.
            f"--hostname={self.stack.keycloak_url}",
            "--http-management-host=127.0.0.1",
            f"--http-management-port={self.stack.keycloak_mgmt_port}",
            "--health-enabled=true",
            f"--db-url=jdbc:h2:file:{self.data_dir / 'h2' / 'keycloakdb'};NON_KEYWORDS=VALUE",
            "--log-console-color=false",
        ]
        self._spawn(argv, env=env, cwd=self.data_dir)
        self._providers_file.write_text(self._providers())

    def start(self, timeout: float = 300) -> None:
        if self.ready() and (
            not self._providers_file.exists() or self._providers_file.read_text() != self._providers()
        ):
            self.progress(f"restarting {self.name}: its providers changed ({self.PROVIDERS})")
            self.stop()
        # The first start re-packages the server for these options and creates the database: a minute or more.
        super().start(timeout)
        # A Keycloak that was running before the realm file gained the API's service account gets it now.
        from kepctl.keycloak_apps import ensure_apps_admin_client

        ensure_apps_admin_client(self.stack)
        # the citizens' realm (eIDAS sign-in) and the eIDAS node double are not in the imported file
        from kepctl.eidas_keycloak import ensure_eidas_realms

        ensure_eidas_realms(self.stack)


def reap_orphan_haproxy(http_port: int, progress: ProgressFn = print) -> None:
    """`ray stop` leaves Serve's HAProxy running, holding the HTTP port; stop the one on our ports."""
    for port in range(http_port, http_port + 3):
        pid = _listener_pid(port)
        if pid is None:
            continue
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            if proc.name() == "haproxy":
                progress(f"stopping an orphaned haproxy (pid {pid}) on port {port}")
                proc.terminate()
                proc.wait(10)


class MitosDouble(Service):
    """The local Mitos API (doubles/mitos): the catalogue's default source when the real API is not reachable."""

    @property
    def port(self) -> int:
        return self.stack.mitos_port

    def ready(self) -> bool:
        return _http_ok(f"http://127.0.0.1:{self.port}/v1/services?limit=1")

    def _launch(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "doubles.mitos.server",
            "--port",
            str(self.port),
            "--seed",
            str(self.stack.mitos_seed),
            "--count",
            str(self.stack.mitos_count),
        ]
        self._spawn(argv, cwd=ROOT)


@dataclass
class ExternalDouble(Service):
    """A double of a system nobody runs locally (doubles/<module>), ready when its control API answers."""

    module: str = ""
    port_name: str = ""

    @property
    def port(self) -> int:
        return int(getattr(self.stack, self.port_name))

    def ready(self) -> bool:
        return _http_ok(f"http://127.0.0.1:{self.port}/_admin/calls")

    @property
    def _code_file(self) -> Path:
        return self.stack.run_dir / f"{self.name}.code"

    def _code(self) -> str:
        """The double's code as it is now: a double left running by an earlier `kep up` must speak what the tests
        and the adapters of this checkout expect."""
        digest = hashlib.sha256()
        for path in sorted((ROOT / "doubles").rglob("*.py")):  # doubles share code (the mailbox knows ΚΕΔ's ΕΜΕπ)
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def start(self, timeout: float = 120) -> None:
        if self.ready() and (not self._code_file.exists() or self._code_file.read_text() != self._code()):
            self.progress(f"restarting {self.name}: its code changed")
            self.stop()
        super().start(timeout)

    def _launch(self) -> None:
        self._spawn([sys.executable, "-m", f"doubles.{self.module}.server", "--port", str(self.port)], cwd=ROOT)
        self._code_file.write_text(self._code())


def all_services(stack: StackSettings, progress: ProgressFn = print) -> list[Service]:
    """In start order; the engine needs PostgreSQL."""
    return [
        Postgres("postgres", stack, progress),
        Redis("redis", stack, progress),
        RabbitMQ("rabbitmq", stack, progress),
        MinIO("minio", stack, progress),
        Azurite("azurite", stack, progress),
        Engine("engine", stack, progress),
        Keycloak("keycloak", stack, progress),
        MitosDouble("mitos", stack, progress),
        ExternalDouble("ked", stack, progress, module="ked", port_name="ked_port"),
        ExternalDouble("mailbox", stack, progress, module="mailbox", port_name="mailbox_port"),
        ExternalDouble("kshde", stack, progress, module="kshde", port_name="kshde_port"),
        Kubernetes("k8s", stack, progress),
    ]


# started only when named (`kep services start k8s`, the tests that need it); stopped with the rest
OPTIONAL = frozenset({"k8s"})


def start_all(stack: StackSettings, progress: ProgressFn = print, only: set[str] | None = None) -> None:
    for svc in all_services(stack, progress):
        if (only is None and svc.name not in OPTIONAL) or (only is not None and svc.name in only):
            svc.start()


def stop_all(stack: StackSettings, progress: ProgressFn = print, only: set[str] | None = None) -> None:
    for svc in reversed(all_services(stack, progress)):
        if only is None or svc.name in only:
            svc.stop()


# -- the local Kubernetes control plane (`kep services start k8s`; not part of `up`) ------------------------------

KUBE_BIN = ROOT / ".state" / "bin" / "kube"  # `./dev install-k8s` builds the binaries here
KUBE_ADMIN = "kep-admin"
KWOK_NODE = "kwok-node-0"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class KubePki:
    """The control plane's keys and credentials, made once under the state folder (development only)."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def sa_key(self) -> Path:
        """Signs the service-account tokens (kube-apiserver's TokenRequest, kube-controller-manager's)."""
        return self.directory / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.directory / "sa.pub"

    @property
    def tokens_file(self) -> Path:
        """--token-auth-file: the administrator's static token (group system:masters)."""
        return self.directory / "tokens.csv"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    @property
    def admin_token(self) -> str:
        return self.tokens_file.read_text().split(",", 1)[0]


def ensure_kube_pki(stack: StackSettings) -> KubePki:
    """A CA, the API server's certificate for 127.0.0.1, the service-account key pair, the admin token and its
    kubeconfig: what is missing is made, nothing that exists is replaced (tokens already issued stay valid)."""
    pki = KubePki(stack.k8s_dir / "pki")
    stack.k8s_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stack.k8s_dir.chmod(0o700)  # etcd's data, keys, tokens: the user's only
    pki.directory.mkdir(exist_ok=True, mode=0o700)

    def write(path: Path, data: bytes, mode: int = 0o600) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.chmod(mode)
        tmp.replace(path)

    def pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    if not (pki.ca_cert.exists() and pki.server_cert.exists() and pki.server_key.exists()):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kep local kubernetes CA (development only)")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=3652))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=3652))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        write(pki.server_key, pem_key(key))
        write(pki.server_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        write(pki.ca_cert, ca.public_bytes(serialization.Encoding.PEM), 0o644)
    if not (pki.sa_key.exists() and pki.sa_pub.exists()):
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pub = sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        write(pki.sa_key, pem_key(sa))
        write(pki.sa_pub, pub, 0o644)
    if not pki.tokens_file.exists():
        write(pki.tokens_file, f'{secrets.token_urlsafe(32)},{KUBE_ADMIN},{KUBE_ADMIN},"system:masters"\n'.encode())
    write(pki.admin_kubeconfig, kubeconfig(stack.k8s_api_url, pki.ca_cert, pki.admin_token, KUBE_ADMIN).encode())
    return pki


def kubeconfig(server: str, ca_cert: Path, token: str, user: str = "user") -> str:
    """A kubeconfig as an operator hands one out: the server, its CA and a bearer token."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kep-local", "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "kep-local", "context": {"cluster": "kep-local", "user": user}}],
            "current-context": "kep-local",
        },
        indent=2,
    )


def write_kubeconfig(path: Path, server: str, ca_cert: Path, token: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(kubeconfig(server, ca_cert, token))
    path.chmod(0o600)
    return path


def _kube_get(stack: StackSettings, path: str, port: int | None = None) -> httpx.Response | None:
    """GET as the administrator from the API server (or another component on `port`, serving the same certificate)."""
    pki = KubePki(stack.k8s_dir / "pki")
    if not pki.tokens_file.exists():
        return None
    try:
        return httpx.get(
            f"https://127.0.0.1:{port or stack.k8s_api_port}{path}",
            headers={"Authorization": f"Bearer {pki.admin_token}"},
            verify=ssl.create_default_context(cafile=str(pki.ca_cert)),
            timeout=2.0,
        )
    except httpx.HTTPError:
        return None


class _KubeComponent(Service):
    """One process of the control plane, its binary from `./dev install-k8s`."""

    binary = ""

    @property
    def pki(self) -> KubePki:
        return KubePki(self.stack.k8s_dir / "pki")

    def exe(self) -> str:
        path = KUBE_BIN / self.binary
        if not path.exists():
            raise ServiceError(f"{path} is not built; run ./dev install-k8s")
        return str(path)

    def _health(self) -> bool:
        resp = _kube_get(self.stack, "/healthz", self.port)
        return resp is not None and resp.status_code == 200

    def _client_flags(self) -> list[str]:
        kubeconfig = str(self.pki.admin_kubeconfig)
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.port}",
            # the API server's certificate (it names 127.0.0.1), so that health checks verify it too
            f"--tls-cert-file={self.pki.server_cert}",
            f"--tls-private-key-file={self.pki.server_key}",
            "--leader-elect=false",
        ]


class KubeEtcd(_KubeComponent):
    binary = "etcd"

    @property
    def port(self) -> int:
        return self.stack.k8s_etcd_port

    def ready(self) -> bool:
        try:
            resp = httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2.0)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200 and resp.json().get("health") == "true"

    def _launch(self) -> None:
        client, peer = f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{self.stack.k8s_etcd_peer_port}"
        argv = [
            self.exe(),
            "--name=kep",
            f"--data-dir={self.stack.k8s_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=kep={peer}",
            "--log-level=warn",
            # a development store: keep it small, and let the API server's compaction keep it so
            "--quota-backend-bytes=1073741824",
        ]
        self._spawn(argv)


class KubeApiServer(_KubeComponent):
    binary = "kube-apiserver"
    # it stops listening at once on SIGTERM, then waits a minute or more for its clients' long-lived connections
    # to close; it keeps no state of its own (etcd does), so it is not waited for that long
    stop_grace_s = 5.0

    @property
    def port(self) -> int:
        return self.stack.k8s_api_port

    def ready(self) -> bool:
        resp = _kube_get(self.stack, "/readyz")
        return resp is not None and resp.status_code == 200

    def _launch(self) -> None:
        pki = self.pki
        argv = [
            self.exe(),
            f"--etcd-servers=http://127.0.0.1:{self.stack.k8s_etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={self.stack.k8s_dir / self.name}",
            f"--tls-cert-file={pki.server_cert}",
            f"--tls-private-key-file={pki.server_key}",
            # no client certificates are issued; it publishes the extension-apiserver-authentication ConfigMap that
            # kube-controller-manager's and kube-scheduler's own servers read
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-signing-key-file={pki.sa_key}",
            f"--service-account-key-file={pki.sa_pub}",
            "--authorization-mode=RBAC",
            f"--token-auth-file={pki.tokens_file}",
            # no kubelets, no Service network to reconcile the `kubernetes` endpoints onto
            "--endpoint-reconciler-type=none",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--profiling=false",
        ]
        self._spawn(argv)


class KubeControllerManager(_KubeComponent):
    binary = "kube-controller-manager"

    @property
    def port(self) -> int:
        return self.stack.k8s_controller_manager_port

    def ready(self) -> bool:
        return self._health()

    def _launch(self) -> None:
        argv = [
            self.exe(),
            *self._client_flags(),
            # service-account tokens for the kube-root-ca.crt ConfigMap and legacy token Secrets
            f"--service-account-private-key-file={self.pki.sa_key}",
            f"--root-ca-file={self.pki.ca_cert}",
            "--use-service-account-credentials=false",
        ]
        self._spawn(argv)


class KubeScheduler(_KubeComponent):
    binary = "kube-scheduler"

    @property
    def port(self) -> int:
        return self.stack.k8s_scheduler_port

    def ready(self) -> bool:
        return self._health()

    def _launch(self) -> None:
        self._spawn([self.exe(), *self._client_flags()])


class Kwok(_KubeComponent):
    """kwok plays the kubelet of one fake node: pods scheduled there pass to Running without running anything."""

    binary = "kwok"

    @property
    def port(self) -> int:
        return self.stack.k8s_kwok_port

    def ready(self) -> bool:
        return _http_ok(f"http://127.0.0.1:{self.port}/healthz")

    def _launch(self) -> None:
        argv = [
            self.exe(),
            f"--kubeconfig={self.pki.admin_kubeconfig}",
            # its own "fast" node and pod stages and the node-lease heartbeat (`./dev install-k8s` copies them)
            f"--config={KUBE_BIN / 'kwok-stages.yaml'}",
            "--node-lease-duration-seconds=40",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--server-address=127.0.0.1:{self.port}",
            "--cidr=10.244.0.0/16",
            "--node-ip=127.0.0.1",
        ]
        self._spawn(argv)


class Kubernetes(Service):
    """etcd, kube-apiserver (RBAC, service-account tokens, an admin token), kube-controller-manager,
    kube-scheduler and kwok with one fake node: a real API server for the autoscaler and its tests."""

    @property
    def components(self) -> list[_KubeComponent]:
        return [
            KubeEtcd("k8s-etcd", self.stack, self.progress),
            KubeApiServer("k8s-apiserver", self.stack, self.progress),
            KubeControllerManager("k8s-controller-manager", self.stack, self.progress),
            KubeScheduler("k8s-scheduler", self.stack, self.progress),
            Kwok("k8s-kwok", self.stack, self.progress),
        ]

    @property
    def port(self) -> int:
        return self.stack.k8s_api_port

    @property
    def log_file(self) -> Path:
        """The API server's; each component logs to its own (`k8s-etcd.log`, `k8s-kwok.log`, ...)."""
        return self.components[1].log_file

    @property
    def pki(self) -> KubePki:
        return KubePki(self.stack.k8s_dir / "pki")

    def ready(self) -> bool:
        return all(c.ready() for c in self.components) and self._node_ready()

    def pid(self) -> int | None:
        return self.components[1].pid()

    def _node_ready(self) -> bool:
        resp = _kube_get(self.stack, f"/api/v1/nodes/{KWOK_NODE}")
        if resp is None or resp.status_code != 200:
            return False
        conditions = resp.json().get("status", {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def build(self) -> None:
        """`./dev install-k8s`: at once when the binaries are current, minutes the first time."""
        done = subprocess.run([str(ROOT / "dev"), "install-k8s"], check=False)
        if done.returncode != 0:
            raise ServiceError(f"building the local Kubernetes control plane failed (exit {done.returncode})")

    def start(self, timeout: float = 120) -> None:
        """Idempotent: starts only what is not running (after a component died, or an API server restart)."""
        if self.ready():
            return
        self.build()
        _private_state(self.stack.state_dir)
        ensure_kube_pki(self.stack)
        for component in self.components:
            component.start(timeout)
        self._ensure_node()
        _wait("the kwok node", self._node_ready, timeout, self.progress)

    def _ensure_node(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": KWOK_NODE,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"type": "kwok", "kubernetes.io/hostname": KWOK_NODE, "kubernetes.io/os": "linux"},
            },
            "status": {
                "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            },
        }
        resp = httpx.post(
            f"{self.stack.k8s_api_url}/api/v1/nodes",
            json=node,
            headers={"Authorization": f"Bearer {self.pki.admin_token}"},
            verify=ssl.create_default_context(cafile=str(self.pki.ca_cert)),
            timeout=10.0,
        )
        if resp.status_code not in (201, 409):
            raise ServiceError(f"creating the kwok node failed: {resp.status_code} {resp.text}")

    def stop(self) -> None:
        for component in reversed(self.components):
            component.stop()

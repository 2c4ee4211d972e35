"""Two git revisions side by side: the whole stack's CPU per k6 iteration, idle CPU and latency (bench/stack_cpu.py).

    .venv/bin/python bench/stack_compare.py --base 1854077 --head HEAD --rate 8 --duration 60 --vus 16 --repeats 3

Each revision gets a git worktree under --workdir (default /tmp/kep-bench/<sha>) and its own `./dev install`
(its own .venv from its own pyproject; MinIO, Maven and Keycloak from the shared caches). Then, alternating
base, head, base, head, ...: that revision's `./dev up` on shifted ports (--port-base, so the stack of this checkout
and the test runs on the default ports are left alone), the measurement of stack_cpu.py with this checkout's k6 and
k6/cases.js, and a stop of exactly the processes of that stack. One JSON line per run, then per revision the
medians over the repeats and head ÷ base per headline figure. Method and caveats: bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from _stack_procs import GONE, classify
from stack_cpu import ROOT, Load, Target, add_load_args, k6_binary, load_from_args, log, measure_stack, medians, ratios

# Offsets from --port-base of the ports of kepctl/stack.py; a *_port field this list lacks gets one after them.
PORT_OFFSETS = {
    "pg_port": 0,
    "redis_port": 1,
    "amqp_port": 2,
    "rabbit_mgmt_port": 3,
    "rabbit_dist_port": 4,
    "minio_port": 5,
    "minio_console_port": 6,
    "engine_port": 7,
    "mitos_port": 8,
    "keycloak_port": 9,
    "keycloak_mgmt_port": 10,
    "ray_port": 11,
}
EPMD_OFFSET, EXTRA_OFFSET, HTTP_OFFSET, HTTP_SPAN = 12, 20, 50, 50
# What this harness sets for a revision's processes; inherited values of these would point them elsewhere.
FOREIGN_ENV = ("KEP_", "RAY_", "RABBITMQ_", "ERL_")
DUMP_PORTS = (
    "import json; from kepctl.stack import StackSettings; "
    "print(json.dumps({k: v for k, v in StackSettings().model_dump(mode='json').items() if k.endswith('_port')}))"
)


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _listening(ports: set[int]) -> dict[int, str]:
    held = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port in ports:
            name = "?"
            with contextlib.suppress(*GONE):
                name = psutil.Process(conn.pid).name() if conn.pid else "?"
            held[conn.laddr.port] = f"{name} (pid {conn.pid})"
    return held


@dataclass
class Revision:
    label: str  # base | head
    rev: str
    sha: str
    workdir: Path
    port_base: int
    ports: dict[str, int] | None = None

    @property
    def tree(self) -> Path:
        return self.workdir / self.sha[:10]

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    @property
    def marker(self) -> str:
        return f"{self.sha[:10]}-{os.getpid()}"

    def env(self) -> dict[str, str]:
        """The environment of every command run in the worktree: shifted ports, private Ray temp folder, marker."""
        assert self.ports is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV) and k != "VIRTUAL_ENV"}
        env |= {f"KEP_{k.upper()}": str(v) for k, v in self.ports.items()}
        env |= {
            # RabbitMQ's node name is fixed (kep@localhost): a second broker needs an epmd of its own
            "ERL_EPMD_PORT": str(self.port_base + EPMD_OFFSET),
            # Ray's session folder and ray_current_cluster away from /tmp/ray (short: it holds unix sockets)
            "RAY_TMPDIR": str(self.workdir / f"ray-{self.sha[:8]}"),
            "KEP_BENCH_STACK": self.marker,
            # k6 is one employee doing the work of many: limits far above its rate (still counted, so still paid)
            "KEP_RATE_LIMIT_READS": "1000000/minute",
            "KEP_RATE_LIMIT_WRITES": "1000000/minute",
        }
        return env

    def run(self, argv: list[str], log_name: str, timeout: float) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        path = self.logs / f"{self.sha[:10]}-{log_name}.log"
        with path.open("a") as out:
            out.write(f"\n=== {time.strftime('%F %T')} {' '.join(argv)}\n")
            out.flush()
            rc = subprocess.run(
                argv, cwd=self.tree, env=self.env(), stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
            ).returncode
        if rc != 0:
            tail = path.read_text(errors="replace").splitlines()[-25:]
            raise RuntimeError(f"{self.label}: {' '.join(argv)} exited {rc}; {path}:\n" + "\n".join(tail))

    def prepare(self, install: bool, fresh: bool) -> None:
        if not (self.tree / ".git").exists():
            log(f"{self.label}: git worktree {self.tree} at {self.sha[:10]}")
            self.tree.parent.mkdir(parents=True, exist_ok=True)
            git("worktree", "add", "--detach", str(self.tree), self.sha)
        elif git("rev-parse", "HEAD", cwd=self.tree) != self.sha:
            raise RuntimeError(f"{self.tree} is not at {self.sha}; remove it (git worktree remove --force {self.tree})")
        # Shifted ports for ./dev install too: it stops the engine and Keycloak it is about to rebuild, found by
        # their pid file or *by who listens on their port*; with the default ports that is this checkout's stack.
        self.ports = self._shift(list(PORT_OFFSETS))
        if _listening(self.all_ports()):
            raise RuntimeError(f"ports of the bench stack are in use: {_listening(self.all_ports())}")
        self.forget_pids()
        if install:
            log(f"{self.label}: ./dev install (log in {self.logs})")
            self.run(["./dev", "install"], "install", timeout=3600)
        self.ports = self._ports()
        if fresh:
            shutil.rmtree(self.tree / ".state", ignore_errors=True)

    def forget_pids(self) -> None:
        """kepctl trusts a pid file whose pid exists; after a killed run that pid may be someone else's by now."""
        for pid_file in (self.tree / ".state" / "run").glob("*.pid"):
            pid_file.unlink(missing_ok=True)

    def _ports(self) -> dict[str, int]:
        """Every *_port of the revision's own StackSettings, shifted, after checking the revision reads them all."""
        py = self.tree / ".venv" / "bin" / "python"
        if not py.exists():
            raise RuntimeError(f"{py} is missing: run without --no-install")
        fields = list(json.loads(subprocess.check_output([py, "-c", DUMP_PORTS], cwd=self.tree, text=True)))
        ports = self._shift(fields)
        self.ports = ports
        seen = json.loads(subprocess.check_output([py, "-c", DUMP_PORTS], cwd=self.tree, env=self.env(), text=True))
        ignored = {k: (v, seen.get(k)) for k, v in ports.items() if seen.get(k) != v}
        if ignored:
            raise RuntimeError(f"{self.label}: kepctl/stack.py of {self.sha[:10]} ignores KEP_* for {ignored}")
        return ports

    def _shift(self, fields: list[str]) -> dict[str, int]:
        extra = [f for f in fields if f not in PORT_OFFSETS and f != "http_port"]
        ports = {f: self.port_base + PORT_OFFSETS[f] for f in fields if f in PORT_OFFSETS}
        ports |= {f: self.port_base + EXTRA_OFFSET + i for i, f in enumerate(extra)}
        return ports | {"http_port": self.port_base + HTTP_OFFSET}

    def all_ports(self) -> set[int]:
        assert self.ports is not None
        http = self.ports["http_port"]
        return set(self.ports.values()) | set(range(http, http + HTTP_SPAN)) | {self.port_base + EPMD_OFFSET}


class Stack:
    """One revision's stack, up between __enter__ and __exit__; the exit stops exactly its processes."""

    def __init__(self, rev: Revision) -> None:
        self.rev = rev

    def __enter__(self) -> Stack:
        held = _listening(self.rev.all_ports())
        if held:
            raise RuntimeError(f"ports of the bench stack are in use: {held}; pick another --port-base")
        self.rev.forget_pids()
        t0 = time.monotonic()
        log(f"{self.rev.label}: ./dev up on ports {self.rev.port_base}+ (log in {self.rev.logs})")
        try:
            self.rev.run(["./dev", "up"], "up", timeout=1200)
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.up_s = time.monotonic() - t0
        return self

    def _wait_ready(self, timeout: float = 180) -> None:
        assert self.rev.ports is not None
        url = f"http://127.0.0.1:{self.rev.ports['http_port']}/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=5).status_code == 200:
                    return
            time.sleep(2)
        raise RuntimeError(f"{self.rev.label}: {url} not ready after {timeout:.0f}s")

    def _ours(self) -> list[psutil.Process]:
        """The stack's processes and their trees: those with its marker in their environment or its Ray folder in
        their command line (Ray's daemons), and those listening on its ports (Redis rewrites its environment)."""
        roots: dict[int, psutil.Process] = {}
        needle = f"KEP_BENCH_STACK={self.rev.marker}\0".encode()
        ray_dir = self.rev.env()["RAY_TMPDIR"] + "/"
        assert self.rev.ports is not None
        gcs = f":{self.rev.ports['ray_port']}"  # Ray's client server names only the GCS address
        for proc in psutil.process_iter():
            with contextlib.suppress(*GONE, OSError):
                cmd = proc.cmdline()
                if (
                    needle in Path(f"/proc/{proc.pid}/environ").read_bytes()
                    or ray_dir in " ".join(cmd)
                    or ("ray" in " ".join(cmd) and any(a.endswith(gcs) for a in cmd))
                ):
                    roots[proc.pid] = proc
        ports = self.rev.all_ports()
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port in ports and conn.pid:
                with contextlib.suppress(*GONE):
                    roots[conn.pid] = psutil.Process(conn.pid)
        family: dict[int, psutil.Process] = {}
        for proc in roots.values():
            with contextlib.suppress(*GONE):
                family |= {p.pid: p for p in (proc, *proc.children(recursive=True))}
        family.pop(os.getpid(), None)
        return list(family.values())

    @staticmethod
    def _terminate(procs: list[psutil.Process], wait: float) -> None:
        for p in procs:
            with contextlib.suppress(*GONE):
                p.terminate()
        _, alive = psutil.wait_procs(procs, timeout=wait)
        for p in alive:
            with contextlib.suppress(*GONE):
                p.kill()
        psutil.wait_procs(alive, timeout=5)

    def __exit__(self, *exc: object) -> None:
        """Not the revision's `./dev down`: its `ray stop --force` stops every Ray cluster on the machine."""
        log(f"{self.rev.label}: stopping its stack")
        haproxy_dirs = set()
        ray = []
        for p in self._ours():
            with contextlib.suppress(*GONE):
                cmd = p.cmdline()
                if p.name() == "haproxy" and "-f" in cmd:
                    haproxy_dirs.add(Path(cmd[cmd.index("-f") + 1]).parent)
                kind = classify(p)
                if kind and kind[0] in ("ray_core", "ray_actors", "haproxy"):
                    ray.append(p)
        self._terminate(ray, 15)
        with contextlib.suppress(Exception):
            self.rev.run(["./dev", "kep", "services", "stop"], "down", timeout=180)
        self._terminate(self._ours(), 15)  # what is left: epmd, an orphaned worker
        for d in haproxy_dirs:
            if d.parent == Path("/tmp/haproxy-serve"):  # noqa: S108 (Ray's own default, per node: ours only)
                shutil.rmtree(d, ignore_errors=True)
        assert self.rev.ports is not None
        # the engine's Tomcat work folders (java.io.tmpdir), named by its port
        for tomcat in Path("/tmp").glob(f"tomcat*.{self.rev.ports['engine_port']}.*"):  # noqa: S108
            shutil.rmtree(tomcat, ignore_errors=True)
        held = _listening(self.rev.all_ports())
        if held:
            log(f"warning: after the stop, bench ports are still held: {held}")


def summary_table(base: dict[str, Any], head: dict[str, Any], ratio: dict[str, Any]) -> str:
    """The headline medians as text, for quoting: base → head, ×head/base."""

    def row(title: str, *path: str) -> str:
        vals: list[object] = []
        for d in (base, head, ratio):
            for p in path:
                d = d.get(p, {}) if isinstance(d, dict) else {}
            vals.append(None if isinstance(d, dict) else d)
        return f"  {title:34} {vals[0]!s:>9} → {vals[1]!s:>9}   ×{vals[2]}"

    rows = []
    for mode in base:
        rows.append(f"{mode}:")
        rows.append(row("iterations/s", mode, "iter_per_s"))
        for k in ("net", "net_ex_k6", "gross", "stack", "stack_net"):
            rows.append(row(f"CPU ms/iteration {k}", mode, "cpu_ms_per_iter", k))
        rows.append(row("idle: stack cores", mode, "idle", "stack_cores"))
        rows.append(row("idle: machine busy cores", mode, "idle", "machine_busy_cores"))
        for name in ("open", "view", "update", "search"):
            for q in ("p50", "p95", "p99"):
                rows.append(row(f"{name} {q} ms", mode, "latency_ms", name, q))
        for k in ("checks_failed", "http_req_failed", "dropped_iterations"):
            rows.append(row(k, mode, k))
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="1854077", help="baseline revision (default 1854077)")
    ap.add_argument("--head", default="HEAD", help="revision compared with it (default HEAD of this checkout)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per revision, alternating base and head")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kep-bench")
    ap.add_argument("--port-base", type=int, default=7300, help="bench ports: base..base+99 (default 7300)")
    ap.add_argument("--no-install", action="store_true", help="skip ./dev install in the worktrees")
    ap.add_argument("--fresh", action="store_true", help="wipe each worktree's .state (database, Keycloak) first")
    add_load_args(ap)
    args = ap.parse_args()
    load: Load = load_from_args(args)

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    revs = [
        Revision(label, rev, git("rev-parse", "--verify", f"{rev}^{{commit}}"), args.workdir, args.port_base)
        for label, rev in (("base", args.base), ("head", args.head))
    ]
    k6 = k6_binary()
    for r in revs:
        r.prepare(install=not args.no_install, fresh=args.fresh)
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "head": []}
    for i in range(args.repeats):
        for r in revs:
            with Stack(r) as stack:
                assert r.ports is not None
                figures = measure_stack(Target.from_ports(r.ports), load, k6)
            line = {"rev": r.label, "ref": r.rev, "sha": r.sha[:10], "repeat": i + 1, "up_s": round(stack.up_s, 1)}
            print(json.dumps(line | figures, ensure_ascii=False), flush=True)
            runs[r.label].append(figures)
    med = {label: medians(rs) for label, rs in runs.items()}
    ratio = ratios(med["head"], med["base"])
    summary = {
        "repeats": args.repeats,
        "base": {"ref": revs[0].rev, "sha": revs[0].sha[:10], "median": med["base"]},
        "head": {"ref": revs[1].rev, "sha": revs[1].sha[:10], "median": med["head"]},
        "ratio_head_over_base": ratio,
    }
    print(json.dumps({"summary": summary}, ensure_ascii=False), flush=True)
    log("medians, base → head (×head/base):\n" + summary_table(med["base"], med["head"], ratio))


if __name__ == "__main__":
    main()

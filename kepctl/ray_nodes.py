"""More than one Ray node on one machine (`kep up --nodes N`): worker nodes joining the head, each a `ray start
--block` in a process group of its own, so that one can be killed as a whole, as a lost machine would be.

Nodes on one machine share its network: each node's agents take free ports, and only the head carries the
`kep-http` resource the HTTP replicas ask for, since each replica's HAProxy binds the same ports. On KubeRay each node
is a pod with its own addresses, and the resource is not needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from kepctl.stack import StackSettings

HTTP_RESOURCE = "kep-http"  # the HTTP replicas' resource: the head's only, on one machine
NODE_RESOURCE = "kep-worker-node"


def start_command(address: str, index: int, num_cpus: int) -> list[str]:
    resources = {NODE_RESOURCE: 1, f"{NODE_RESOURCE}-{index}": 1}
    return [
        sys.executable,
        "-m",
        "ray.scripts.scripts",
        "start",
        f"--address={address}",
        "--node-ip-address=127.0.0.1",
        f"--num-cpus={num_cpus}",
        f"--resources={json.dumps(resources)}",
        # every node's agents on free ports: two nodes on one machine must not ask for the same one
        "--dashboard-agent-listen-port=0",
        "--metrics-export-port=0",
        "--disable-usage-stats",
        f"--object-store-memory={200 * 1024**2}",
        "--block",
    ]


def start_node(address: str, index: int, env: dict[str, str], log: Path, num_cpus: int = 1) -> subprocess.Popen[bytes]:
    """A worker node joining the cluster at `address`; its process group is the node (raylet, agents, workers)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            start_command(address, index, num_cpus),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def kill_node(pid: int) -> None:
    """The node goes at once, as a machine lost: SIGKILL to its whole process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _pid_file(stack: StackSettings, index: int) -> Path:
    return stack.run_dir / f"ray-node-{index}.pid"


def start_nodes(stack: StackSettings, address: str, count: int, env: dict[str, str]) -> list[int]:
    """Worker nodes 1..count for the local stack (idempotent: a node whose process lives is kept)."""
    pids = []
    for index in range(1, count + 1):
        pid_file = _pid_file(stack, index)
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text())
            if psutil.pid_exists(pid):
                pids.append(pid)
                continue
        stack.run_dir.mkdir(parents=True, exist_ok=True)
        node = start_node(address, index, env, stack.log_dir / f"ray-node-{index}.log")
        pid_file.write_text(str(node.pid))
        pids.append(node.pid)
    return pids


def forget_nodes(stack: StackSettings) -> None:
    """After `ray stop` took every node of this machine down."""
    for pid_file in stack.run_dir.glob("ray-node-*.pid"):
        pid_file.unlink(missing_ok=True)

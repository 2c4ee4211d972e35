"""`kep up --workers processes`: the queue workers as the cluster runs them, on this machine. The worker Deployments
(deployments/k8s/base/workers) and the autoscaler's Role (deployments/k8s/autoscaler) are applied to namespace `kep`
of the local control plane (the `k8s` service); the autoscaler reaches it as its ServiceAccount with the cluster
policies (deployments/autoscaler/policies-cluster.yaml); the local kubelet (`kep worker follow`, a process of its own)
runs each Running pod's command. Dev only: nothing here is how a cluster is deployed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from kubernetes import client, config

from kepctl import services
from kepctl.stack import ROOT, StackSettings

NAMESPACE = "kep"
SERVICE_ACCOUNT = "kep-autoscaler"
CLUSTER_POLICIES = ROOT / "deployments" / "autoscaler" / "policies-cluster.yaml"
TOKEN_S = 24 * 3600  # a dev session's day; `kep up` mints a new one
KUBELET = "kubelet"


def kubectl(k8s: services.Kubernetes, *args: str) -> str:
    argv = [str(services.KUBE_BIN / "kubectl"), f"--kubeconfig={k8s.pki.admin_kubeconfig}", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise services.ServiceError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def install(stack: StackSettings, namespace: str = NAMESPACE, kubeconfig: Path | None = None) -> Path:
    """Apply the namespace, the autoscaler's ServiceAccount and Role and the worker Deployments; return a kubeconfig
    for the ServiceAccount."""
    k8s = services.Kubernetes("k8s", stack)
    grant_autoscaler(k8s, namespace)
    kubectl(k8s, "apply", "-n", namespace, "-k", str(ROOT / "deployments" / "k8s" / "base" / "workers"))
    return autoscaler_kubeconfig(k8s, namespace, kubeconfig or stack.k8s_dir / "autoscaler.kubeconfig")


def grant_autoscaler(k8s: services.Kubernetes, namespace: str) -> None:
    """The namespace (made if missing) with the autoscaler's ServiceAccount, Role and RoleBinding of rbac.yaml."""
    _apply_text(k8s, kubectl(k8s, "create", "namespace", namespace, "--dry-run=client", "-o=yaml"))
    kubectl(k8s, "apply", "-n", namespace, "-f", str(ROOT / "deployments" / "k8s" / "autoscaler" / "rbac.yaml"))


def autoscaler_kubeconfig(k8s: services.Kubernetes, namespace: str, path: Path) -> Path:
    """A kubeconfig for the autoscaler's ServiceAccount: a bound token from the API server's TokenRequest, as a pod
    is given."""
    admin: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(k8s.pki.admin_kubeconfig), persist_config=False
    )
    try:
        spec = client.V1TokenRequestSpec(audiences=[services.SERVICE_ACCOUNT_ISSUER], expiration_seconds=TOKEN_S)
        made = client.CoreV1Api(admin).create_namespaced_service_account_token(
            SERVICE_ACCOUNT, namespace, client.AuthenticationV1TokenRequest(spec=spec)
        )
    finally:
        admin.close()  # type: ignore[no-untyped-call]
    token = made.status.token if made.status is not None else None
    if not token:
        raise services.ServiceError(f"the API server issued no token for {namespace}/{SERVICE_ACCOUNT}")
    return services.write_kubeconfig(path, k8s.stack.k8s_api_url, k8s.pki.ca_cert, token)


def _apply_text(k8s: services.Kubernetes, manifest: str) -> None:
    argv = [str(services.KUBE_BIN / "kubectl"), f"--kubeconfig={k8s.pki.admin_kubeconfig}", "apply", "-f", "-"]
    done = subprocess.run(argv, input=manifest, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise services.ServiceError(f"kubectl apply: {done.stderr.strip()}")


def _pid_file(stack: StackSettings) -> Path:
    return stack.run_dir / f"{KUBELET}.pid"


def kubelet_pid(stack: StackSettings) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        pid = int(_pid_file(stack).read_text())
        if psutil.pid_exists(pid):
            return pid
    return None


def start_kubelet(stack: StackSettings, env: dict[str, str]) -> int:
    """`kep worker follow` in the background (idempotent), its log in the stack's logs; the workers it starts get
    `env` (the system's KEP_* and its Ray address)."""
    if (pid := kubelet_pid(stack)) is not None:
        return pid
    stack.run_dir.mkdir(parents=True, exist_ok=True)
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    argv = [str(Path(sys.executable).parent / "kep"), "worker", "follow", "--namespace", NAMESPACE]
    with (stack.log_dir / f"{KUBELET}.log").open("ab") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    _pid_file(stack).write_text(str(proc.pid))
    return proc.pid


def stop_kubelet(stack: StackSettings, grace_s: float = 120.0) -> bool:
    """SIGTERM: the kubelet stops its workers as if their pods had gone (each drains), then exits."""
    pid = kubelet_pid(stack)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if psutil.pid_exists(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    _pid_file(stack).unlink(missing_ok=True)
    return True

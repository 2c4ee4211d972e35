"""The worker Deployments as shipped (deployments/k8s/base/workers), applied to the local control plane the way
`kep up --workers processes` does: the autoscaler's ServiceAccount may scale each one the cluster policies name,
and the local kubelet runs their pods' own commands, which join the session's Ray cluster and consume every queue
of their pool."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from kubernetes import client

from autoscaler.kube import DeploymentScaler, KubeConnection
from autoscaler.policy import load_policies
from bpmn_bridge.topics import GROUPS
from bpmn_bridge.worker import task_queue
from infra.settings import Settings, as_env
from kepctl import cluster_workers, services
from kepctl.local_kubelet import LocalKubelet
from kepctl.stack import StackSettings
from tests.autoscaler.kube_cluster import admin_client
from tests.helpers import eventually
from tests.queues import consumers


@pytest.fixture
def namespace(k8s: services.Kubernetes) -> Iterator[str]:
    name = f"kep-workers-{uuid.uuid4().hex[:8]}"
    yield name
    api = admin_client(k8s)
    try:
        client.CoreV1Api(api).delete_namespace(name)
    finally:
        api.close()  # type: ignore[no-untyped-call]


@pytest.fixture
async def kubelet(
    k8s: services.Kubernetes, namespace: str, settings: Settings, ray_app: dict[str, Any], tmp_path: Path
) -> AsyncIterator[LocalKubelet]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEP_")} | as_env(settings)
    env["KEP_RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    api = admin_client(k8s)
    following = LocalKubelet(client.CoreV1Api(api), namespace, tmp_path / "pods", base_env=env)
    stop = asyncio.Event()
    task = asyncio.create_task(following.run(stop))
    yield following
    stop.set()
    await task
    api.close()  # type: ignore[no-untyped-call]


async def test_the_shipped_worker_deployments_run_here_and_the_autoscaler_may_scale_them(
    stack: StackSettings,
    k8s: services.Kubernetes,
    namespace: str,
    kubelet: LocalKubelet,
    settings: Settings,
    tmp_path: Path,
) -> None:
    kubeconfig = await asyncio.to_thread(cluster_workers.install, stack, namespace, tmp_path / "autoscaler.kubeconfig")

    # every Deployment the cluster policies name exists and the autoscaler's account may scale it
    policies = load_policies(cluster_workers.CLUSTER_POLICIES)
    for policy in policies:
        assert policy.scale.kubernetes is not None
        scaler = DeploymentScaler.connect(
            f"{namespace}/{policy.scale.kubernetes.name}", KubeConnection(kubeconfig=kubeconfig)
        )
        try:
            await scaler.verify()
            assert (await scaler.read()).desired == 1  # no replicas in the manifest: created at one
        finally:
            scaler.close()

    # the pods' own commands, run by the local kubelet, consume every queue of their pool
    queues = [task_queue(t) for group in ("cases", "delivery") for t in GROUPS[group]] + [task_queue("document-render")]
    before = {q: await consumers(settings, q) for q in queues}

    async def all_consuming() -> bool:
        return all([await consumers(settings, q) == n + 1 for q, n in before.items()])

    await eventually(all_consuming, within=180)
    assert kubelet.running() == 3

"""The autoscaler's Kubernetes tests on the local control plane (`kep services start k8s`): a namespace of their
own with the repository's RBAC manifest applied to it, tokens of the autoscaler's ServiceAccount, and Deployments
whose pods kube-controller-manager, kube-scheduler and kwok's fake node take to Running."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import yaml
from kubernetes import client, config, utils

from autoscaler.kube import KubeConnection
from kepctl import services
from kepctl.services import write_kubeconfig
from kepctl.stack import ROOT

RBAC_MANIFEST = ROOT / "deployments" / "k8s" / "autoscaler" / "rbac.yaml"
SERVICE_ACCOUNT = "kep-autoscaler"


def admin_client(k8s: services.Kubernetes) -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(k8s.pki.admin_kubeconfig), persist_config=False
    )
    return api


@dataclass
class KubeNamespace:
    """A namespace with the autoscaler's ServiceAccount, Role and RoleBinding from the repository's manifest."""

    name: str
    k8s: services.Kubernetes
    admin: client.ApiClient
    folder: Path

    @classmethod
    def create(cls, k8s: services.Kubernetes, folder: Path) -> KubeNamespace:
        admin = admin_client(k8s)
        name = f"kep-test-{uuid.uuid4().hex[:8]}"
        client.CoreV1Api(admin).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        ns = cls(name, k8s, admin, folder)
        ns.apply_rbac()
        return ns

    def delete(self) -> None:
        client.CoreV1Api(self.admin).delete_namespace(self.name)
        self.admin.close()  # type: ignore[no-untyped-call]

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.admin)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.admin)

    def apply_rbac(self) -> None:
        objects = list(yaml.safe_load_all(RBAC_MANIFEST.read_text()))
        utils.create_from_yaml(self.admin, yaml_objects=objects, namespace=self.name)

    def token(self, seconds: int = 3600) -> str:
        """A bound token of the ServiceAccount from the API server's TokenRequest (what a pod is given)."""
        spec = client.V1TokenRequestSpec(audiences=[services.SERVICE_ACCOUNT_ISSUER], expiration_seconds=seconds)
        made = self.core.create_namespaced_service_account_token(
            SERVICE_ACCOUNT, self.name, client.AuthenticationV1TokenRequest(spec=spec)
        )
        return str(made.status.token)

    def signed_token(self, *, expires_in: float) -> str:
        """A token as the API server signs them (its service-account key), valid or expired as asked."""
        account = self.core.read_namespaced_service_account(SERVICE_ACCOUNT, self.name)
        now = int(time.time())
        claims = {
            "iss": services.SERVICE_ACCOUNT_ISSUER,
            "aud": [services.SERVICE_ACCOUNT_ISSUER],
            "sub": f"system:serviceaccount:{self.name}:{SERVICE_ACCOUNT}",
            "iat": now - 3600,
            "nbf": now - 3600,
            "exp": int(now + expires_in),
            "kubernetes.io": {
                "namespace": self.name,
                "serviceaccount": {"name": SERVICE_ACCOUNT, "uid": account.metadata.uid},
            },
        }
        return jwt.encode(claims, self.k8s.pki.sa_key.read_bytes(), algorithm="RS256")

    def connection(self, token: str | None = None, *, timeout_s: float = 10.0) -> KubeConnection:
        """How the autoscaler reaches the server as its ServiceAccount: a kubeconfig with the token and the CA."""
        path = self.folder / f"autoscaler-{uuid.uuid4().hex[:8]}.kubeconfig"
        token = token or self.token()
        write_kubeconfig(path, self.k8s.stack.k8s_api_url, self.k8s.pki.ca_cert, token)
        return KubeConnection(kubeconfig=path, timeout_s=timeout_s)

    def create_deployment(
        self, replicas: int, *, node_selector: dict[str, str] | None = None, name: str | None = None
    ) -> str:
        name = name or f"worker-{uuid.uuid4().hex[:8]}"
        labels = {"app": name}
        pod = client.V1PodSpec(
            containers=[client.V1Container(name="worker", image="kep-backoffice:test")],
            node_selector=node_selector,
            termination_grace_period_seconds=0,
        )
        spec = client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels), spec=pod),
        )
        body = client.V1Deployment(metadata=client.V1ObjectMeta(name=name, labels=labels), spec=spec)
        self.apps.create_namespaced_deployment(self.name, body)
        return name

    def create_worker_deployment(
        self, replicas: int, command: list[str], *, grace_s: int = 30, name: str | None = None
    ) -> str:
        """A queue-worker Deployment as in deployments/k8s/base/workers/: its pods' command is what the local
        kubelet (kepctl/local_kubelet.py) runs."""
        name = name or f"worker-{uuid.uuid4().hex[:8]}"
        labels = {"app": name, "app.kubernetes.io/component": "queue-worker"}
        container = client.V1Container(name="worker", image="kep-backoffice:test", command=command)
        pod = client.V1PodSpec(containers=[container], termination_grace_period_seconds=grace_s)
        spec = client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels), spec=pod),
        )
        body = client.V1Deployment(metadata=client.V1ObjectMeta(name=name, labels=labels), spec=spec)
        self.apps.create_namespaced_deployment(self.name, body)
        return name

    def scale(self, name: str, replicas: int) -> None:
        self.apps.patch_namespaced_deployment_scale(name, self.name, {"spec": {"replicas": replicas}})

    def deployment(self, name: str) -> Any:
        return self.apps.read_namespaced_deployment(name, self.name)

    def replicas(self, name: str) -> int:
        return int(self.deployment(name).spec.replicas or 0)

    def settled(self, name: str) -> bool:
        """The controllers have caught up with the Deployment's size: its pods all Ready, nothing left to write."""
        dep = self.deployment(name)
        want, status = dep.spec.replicas or 0, dep.status
        return (
            status.observed_generation == dep.metadata.generation
            and (status.replicas or 0) == want
            and (status.ready_replicas or 0) == want
            and (status.updated_replicas or 0) == want
        )

    def running_pods(self, name: str) -> list[Any]:
        pods = self.core.list_namespaced_pod(self.name, label_selector=f"app={name}").items
        return [p for p in pods if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]

    def replica_set_sizes(self, name: str) -> list[int]:
        sets = self.apps.list_namespaced_replica_set(self.name, label_selector=f"app={name}").items
        return [int(rs.spec.replicas or 0) for rs in sets]

    def other_writer(self, name: str, *, replicas: int | None = None) -> str:
        """Somebody else writes the Deployment (`kubectl annotate`, or another scaler): a new resourceVersion."""
        if replicas is None:
            patch: dict[str, Any] = {"metadata": {"annotations": {"kep.test/touched": uuid.uuid4().hex}}}
            written = self.apps.patch_namespaced_deployment(name, self.name, patch)
        else:
            written = self.apps.patch_namespaced_deployment_scale(name, self.name, {"spec": {"replicas": replicas}})
        return str(written.metadata.resource_version)

    def managers(self, name: str) -> set[tuple[str, str]]:
        """(field manager, subresource) of every writer the server recorded for the Deployment."""
        fields = self.deployment(name).metadata.managed_fields or []
        return {(f.manager, f.subresource or "") for f in fields}

    def set_role_verbs(self, resource: str, verbs: list[str]) -> None:
        """Rewrite one rule of the autoscaler's Role, as an operator editing rbac.yaml and applying it would."""
        rbac = client.RbacAuthorizationV1Api(self.admin)
        role = rbac.read_namespaced_role(SERVICE_ACCOUNT, self.name)
        for rule in role.rules:
            if rule.resources == [resource]:
                rule.verbs = verbs
        rbac.replace_namespaced_role(SERVICE_ACCOUNT, self.name, role)

    async def wait(self, check: Any, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while not await asyncio.to_thread(check):
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached on the API server")
            await asyncio.sleep(0.2)

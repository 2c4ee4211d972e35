"""Manifests as the real API server reads them: `kubectl apply --dry-run=server --validate=strict` on the k8s
service (schemas, unknown fields, RBAC objects), nothing stored, with the CRDs of the operators they use
(KubeRay, Argo CD, CloudNativePG, the RabbitMQ cluster operator) taken by `./dev install-k8s` from the operators'
modules at the versions `dev` pins. Then the shape of production's replicated stores, read from the rendered YAML."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kepctl import services
from kepctl.stack import ROOT
from tests.autoscaler.kube_cluster import admin_client

KUBECTL = services.KUBE_BIN / "kubectl"
CRDS = services.KUBE_BIN / "crds"
K8S = ROOT / "deployments" / "k8s"
# one CRD of each operator's, waited for before any dry run
OPERATORS = {
    "kuberay": "rayservices.ray.io",
    "argocd": "applications.argoproj.io",
    "cnpg": "clusters.postgresql.cnpg.io",
    "rabbitmq": "rabbitmqclusters.rabbitmq.com",
    "prometheus-operator": "prometheusrules.monitoring.coreos.com",
}


def kubectl(k8s: services.Kubernetes, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(KUBECTL), f"--kubeconfig={k8s.pki.admin_kubeconfig}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def dry_run(k8s: services.Kubernetes, *source: str) -> subprocess.CompletedProcess[str]:
    return kubectl(k8s, "apply", *source, "--dry-run=server", "--validate=strict", "-o=name")


@pytest.fixture(scope="module")
def namespaces(k8s: services.Kubernetes) -> None:
    """The manifests name the namespaces `kep` and (the Application) `argocd`; a server-side dry run needs them."""
    api = admin_client(k8s)
    try:
        for name in ("kep", "argocd"):
            try:
                client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
            except ApiException as exc:
                if exc.status != 409:
                    raise
    finally:
        api.close()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module")
def operator_crds(k8s: services.Kubernetes) -> None:
    """The operators' CRDs as `./dev install-k8s` took them from their modules, installed server-side (they are too
    large for the last-applied annotation) and established."""
    assert (CRDS / ".versions").is_file(), f"{CRDS} is missing or stale: run ./dev install-k8s"
    for operator in OPERATORS:
        done = kubectl(k8s, "apply", "--server-side", "--force-conflicts", "-f", str(CRDS / operator))
        assert done.returncode == 0, done.stderr
    api = admin_client(k8s)
    try:
        extensions = client.ApiextensionsV1Api(api)
        deadline = time.monotonic() + 60
        for crd in OPERATORS.values():
            while not _established(extensions.read_custom_resource_definition(crd)):
                assert time.monotonic() < deadline, f"the CRD {crd} was never established"
                time.sleep(0.2)
    finally:
        api.close()  # type: ignore[no-untyped-call]


def _established(crd: Any) -> bool:
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


# every kustomization, and what each must at least produce
KUSTOMIZATIONS = {
    "deployments/autoscaler": [],
    "deployments/k8s/autoscaler": [],
    "deployments/k8s/stores/single": ["statefulset.apps/postgres", "statefulset.apps/rabbitmq"],
    "deployments/k8s/stores/ha": [
        "cluster.postgresql.cnpg.io/kep-pg",
        "pooler.postgresql.cnpg.io/postgres",
        "scheduledbackup.postgresql.cnpg.io/kep-pg-daily",
        "rabbitmqcluster.rabbitmq.com/rabbitmq",
        "statefulset.apps/redis-sentinel",
        "statefulset.apps/minio",
    ],
    "deployments/k8s/monitoring": [
        "podmonitor.monitoring.coreos.com/kep-ray",
        "podmonitor.monitoring.coreos.com/kep-queue-workers",
        "prometheusrule.monitoring.coreos.com/kep",
        "configmap/kep-grafana-dashboard",
    ],
    "deployments/k8s/overlays/dev": ["rayservice.ray.io/kep", "statefulset.apps/postgres"],
    "deployments/k8s/overlays/prod": [
        "rayservice.ray.io/kep",
        "pooler.postgresql.cnpg.io/postgres",
        "prometheusrule.monitoring.coreos.com/kep",
    ],
}


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_every_kustomization_passes_the_servers_strict_dry_run(
    k8s: services.Kubernetes, namespaces: None, operator_crds: None, kustomization: str
) -> None:
    done = dry_run(k8s, "-k", str(ROOT / kustomization))

    assert done.returncode == 0, done.stderr
    applied = done.stdout.split()
    assert applied, "the kustomization produced nothing to apply"
    assert set(KUSTOMIZATIONS[kustomization]) <= set(applied), done.stdout


def test_the_argocd_application_passes_the_servers_strict_dry_run(
    k8s: services.Kubernetes, namespaces: None, operator_crds: None
) -> None:
    done = dry_run(k8s, "-f", str(ROOT / "deployments" / "argocd" / "application.yaml"))

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["application.argoproj.io/kep-backoffice"]


def test_the_dry_run_is_strict(k8s: services.Kubernetes, namespaces: None, tmp_path: Path) -> None:
    # a field the schema does not know is refused, so the passes above mean something
    bad = tmp_path / "role.yaml"
    bad.write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: x, namespace: kep}\n"
        "rules: [{apiGroups: [apps], resources: [deployments/scale], verbs: [get], resourceName: [w]}]\n"
    )

    done = dry_run(k8s, "-f", str(bad))

    assert done.returncode != 0
    assert 'unknown field "rules[0].resourceName"' in done.stderr


@pytest.mark.parametrize(
    ("kind", "spec", "field"),
    [
        ("apiVersion: postgresql.cnpg.io/v1\nkind: Cluster", "{instance: 3}", "spec.instance"),
        (
            "apiVersion: ray.io/v1\nkind: RayService",
            "{rayClusterConfig: {authOption: {}}}",
            "spec.rayClusterConfig.authOption",
        ),
        ("apiVersion: rabbitmq.com/v1beta1\nkind: RabbitmqCluster", "{replica: 3}", "spec.replica"),
    ],
)
def test_the_operators_schemas_are_strict_too(
    k8s: services.Kubernetes, namespaces: None, operator_crds: None, tmp_path: Path, kind: str, spec: str, field: str
) -> None:
    # the custom resources are checked against their CRDs' schemas, not kept as they come
    bad = tmp_path / "cr.yaml"
    bad.write_text(f"{kind}\nmetadata: {{name: x, namespace: kep}}\nspec: {spec}\n")

    done = dry_run(k8s, "-f", str(bad))

    assert done.returncode != 0, done.stdout
    assert f'unknown field "{field}"' in done.stderr, done.stderr


def render(overlay: str) -> dict[tuple[str, str], dict[str, Any]]:
    done = subprocess.run(
        [str(KUBECTL), "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(done.stdout) if d}


def test_production_runs_every_store_replicated() -> None:
    prod = render("prod")

    postgres = prod["Cluster", "kep-pg"]["spec"]
    assert postgres["instances"] == 3
    assert postgres["backup"]["barmanObjectStore"]["destinationPath"].startswith("s3://")
    assert postgres["backup"]["retentionPolicy"]
    backup = prod["ScheduledBackup", "kep-pg-daily"]["spec"]
    assert backup["cluster"]["name"] == "kep-pg"
    assert backup["method"] == "barmanObjectStore"
    pooler = prod["Pooler", "postgres"]["spec"]
    assert (pooler["cluster"]["name"], pooler["type"]) == ("kep-pg", "rw")
    assert pooler["instances"] >= 2
    assert ("StatefulSet", "postgres") not in prod

    assert prod["RabbitmqCluster", "rabbitmq"]["spec"]["replicas"] == 3
    assert ("StatefulSet", "rabbitmq") not in prod

    assert prod["StatefulSet", "redis"]["spec"]["replicas"] == 3
    sentinel = prod["StatefulSet", "redis-sentinel"]["spec"]
    assert sentinel["replicas"] == 3
    assert "sentinel monitor kep redis-0.redis-hl 6379 2" in sentinel["template"]["spec"]["containers"][0]["args"][0]

    minio = prod["StatefulSet", "minio"]["spec"]
    assert minio["replicas"] == 4
    assert (
        "http://minio-{0...3}.minio-hl.kep.svc.cluster.local/data" in minio["template"]["spec"]["containers"][0]["args"]
    )


def test_development_keeps_one_pod_of_each_store() -> None:
    dev = render("dev")

    for store in ("postgres", "redis", "rabbitmq", "minio"):
        assert dev["StatefulSet", store]["spec"]["replicas"] == 1
    assert not [key for key in dev if key[0] in {"Cluster", "Pooler", "RabbitmqCluster"}]


def app_hosts() -> set[str]:
    """The hosts the application is configured with: the URLs' of the kep-app Secret (the dev overlay's
    placeholders name the same hosts production's must) and the MinIO endpoint of the ConfigMap."""
    env = (K8S / "overlays" / "dev" / "secrets" / "kep-app.env").read_text(encoding="utf-8")
    hosts = {urlsplit(url).hostname for url in re.findall(r"^KEP_\w+_URL=(\S+)$", env, re.M)}
    config = (K8S / "base" / "app.env").read_text(encoding="utf-8")
    minio = re.search(r"^KEP_MINIO_ENDPOINT=([\w.-]+):\d+$", config, re.M)
    assert minio
    return {h for h in hosts if h} | {minio.group(1)}


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_applications_addresses_are_services_of_each_overlay(overlay: str) -> None:
    objects = render(overlay)
    # a Pooler's Service has the Pooler's name; a RabbitmqCluster's client Service the cluster's
    services_ = {name for kind, name in objects if kind in {"Service", "Pooler", "RabbitmqCluster"}}

    assert {"postgres", "redis", "rabbitmq", "minio"} <= app_hosts()
    hosts = app_hosts()
    config = next(
        d["data"] for (kind, name), d in objects.items() if kind == "ConfigMap" and name.startswith("kep-config")
    )
    if "KEP_REDIS_SENTINELS" in config:  # Redis through its Sentinels (pod.service names): the URL's host is unused
        sentinels = {item.rpartition(":")[0] for item in config["KEP_REDIS_SENTINELS"].split(",")}
        hosts = hosts - {"redis"} | {host.partition(".")[2] or host for host in sentinels}
        assert ("Service", "redis") not in objects, "a Service behind Sentinel's back"
    assert hosts <= services_ | {"kep-serve-svc"}, hosts - services_

"""Manifests as the real API server reads them: `kubectl apply --dry-run=server --validate=strict` on the k8s
service (schema, unknown fields, RBAC objects), nothing stored. The autoscaler's kustomizations pass; the overlays
are checked against KubeRay's CRDs from its module and fail, for now, only on one known field (an expected failure
for that reason alone: any other error fails the test, and a pass tells to drop it)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kepctl import services
from kepctl.stack import ROOT
from tests.autoscaler.kube_cluster import admin_client

KUBECTL = services.KUBE_BIN / "kubectl"


def kubectl(k8s: services.Kubernetes, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(KUBECTL), f"--kubeconfig={k8s.pki.admin_kubeconfig}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def kep_namespace(k8s: services.Kubernetes) -> str:
    """The manifests name the namespace `kep`; a server-side dry run needs it to exist."""
    api = admin_client(k8s)
    try:
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="kep")))
    except ApiException as exc:
        if exc.status != 409:
            raise
    finally:
        api.close()  # type: ignore[no-untyped-call]
    return "kep"


@pytest.mark.parametrize("kustomization", ["deployments/k8s/autoscaler", "deployments/autoscaler"])
def test_the_autoscaler_manifests_pass_the_servers_strict_dry_run(
    k8s: services.Kubernetes, kep_namespace: str, kustomization: str
) -> None:
    done = kubectl(k8s, "apply", "-k", str(ROOT / kustomization), "--dry-run=server", "--validate=strict", "-o=name")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the kustomization produced nothing to apply"


def test_the_dry_run_is_strict(k8s: services.Kubernetes, kep_namespace: str, tmp_path: Path) -> None:
    # a field the schema does not know is refused, so the passes above mean something
    bad = tmp_path / "role.yaml"
    bad.write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: x, namespace: kep}\n"
        "rules: [{apiGroups: [apps], resources: [deployments/scale], verbs: [get], resourceName: [w]}]\n"
    )

    done = kubectl(k8s, "apply", "-f", str(bad), "--dry-run=server", "--validate=strict")

    assert done.returncode != 0
    assert 'unknown field "rules[0].resourceName"' in done.stderr


KNOWN = 'unknown field "spec.rayClusterConfig.authOptions"'


@pytest.fixture(scope="module")
def kuberay_crds(k8s: services.Kubernetes) -> None:
    """KubeRay's CRDs as `./dev install-k8s` took them from the operator's module (server-side: they are too large
    for the last-applied annotation)."""
    crds = services.KUBE_BIN / "crds" / "kuberay"
    done = kubectl(k8s, "apply", "--server-side", "--force-conflicts", "-f", str(crds))
    assert done.returncode == 0, done.stderr
    api = admin_client(k8s)
    try:
        deadline = time.monotonic() + 60
        while not _established(client.ApiextensionsV1Api(api).read_custom_resource_definition("rayservices.ray.io")):
            assert time.monotonic() < deadline, "KubeRay's RayService CRD was never established"
            time.sleep(0.2)
    finally:
        api.close()  # type: ignore[no-untyped-call]


def _established(crd: Any) -> bool:
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_overlays_pass_the_servers_strict_dry_run(
    k8s: services.Kubernetes, kep_namespace: str, kuberay_crds: None, overlay: str
) -> None:
    overlay_dir = ROOT / "deployments" / "k8s" / "overlays" / overlay
    done = kubectl(k8s, "apply", "-k", str(overlay_dir), "--dry-run=server", "--validate=strict", "-o=name")

    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("Error")]
        assert errors, done.stderr
        assert all(KNOWN in line for line in errors), done.stderr  # anything else is a new failure
        pytest.xfail("KubeRay's RayService CRD does not know spec.rayClusterConfig.authOptions (issue 19, part 3)")
    assert "rayservice.ray.io/kep" in done.stdout.splitlines()

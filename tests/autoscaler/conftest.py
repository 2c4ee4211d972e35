"""A namespace of the module's own on the local control plane, with the autoscaler's ServiceAccount and Role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kepctl import services
from tests.autoscaler.kube_cluster import KubeNamespace


@pytest.fixture(scope="module")
def kube_ns(k8s: services.Kubernetes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeNamespace]:
    ns = KubeNamespace.create(k8s, tmp_path_factory.mktemp("kube"))
    yield ns
    ns.delete()

"""The Kubernetes double behaves as kube-apiserver does for a Deployment's scale: the official client's own calls
(PUT, strategic and JSON patches) work, versions move on every write, and errors are worded Status objects."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from doubles.kubernetes.patches import JSON_PATCH, MERGE, STRATEGIC
from doubles.kubernetes.server import KubeApp, create_app, serve_in_thread

NS = "kep"


@pytest.fixture(scope="module")
def kube() -> Iterator[tuple[KubeApp, str]]:
    app = create_app()
    with serve_in_thread(app) as url:
        yield app, url


@pytest.fixture
def name(kube: tuple[KubeApp, str]) -> Iterator[str]:
    app = kube[0]
    name = f"worker-{uuid.uuid4().hex[:8]}"
    app.cluster.create(NS, name, replicas=2)
    yield name
    app.cluster.delete(NS, name)
    app.cluster.allow_all()


@pytest.fixture
def apps(kube: tuple[KubeApp, str]) -> Iterator[client.AppsV1Api]:
    api = client.ApiClient(client.Configuration(host=kube[1]))
    yield client.AppsV1Api(api)
    api.close()


@pytest.fixture
def http(kube: tuple[KubeApp, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kube[1], timeout=10) as c:
        yield c


def _scale_path(name: str) -> str:
    return f"/apis/apps/v1/namespaces/{NS}/deployments/{name}/scale"


def test_the_official_client_reads_a_deployment_and_its_scale(apps: client.AppsV1Api, name: str) -> None:
    deployment = apps.read_namespaced_deployment(name, NS)
    scale = apps.read_namespaced_deployment_scale(name, NS)

    assert deployment.spec.replicas == scale.spec.replicas == 2
    assert deployment.status.ready_replicas == 2
    # the Scale is a view of the Deployment: same object, same version
    assert scale.metadata.resource_version == deployment.metadata.resource_version
    assert scale.metadata.uid == deployment.metadata.uid
    assert scale.status.selector == f"app={name}"


def test_a_put_of_the_scale_is_an_update(apps: client.AppsV1Api, name: str, kube: tuple[KubeApp, str]) -> None:
    scale = apps.read_namespaced_deployment_scale(name, NS)
    scale.spec.replicas = 4

    updated = apps.replace_namespaced_deployment_scale(name, NS, scale)

    assert updated.spec.replicas == 4
    assert updated.metadata.resource_version != scale.metadata.resource_version
    assert kube[0].seen[-1].method == "PUT"


def test_a_dict_patch_goes_as_strategic_merge_and_a_list_as_json_patch(
    apps: client.AppsV1Api, name: str, kube: tuple[KubeApp, str]
) -> None:
    apps.patch_namespaced_deployment_scale(name, NS, {"spec": {"replicas": 3}})
    assert kube[0].seen[-1].content_type == STRATEGIC

    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/replicas", "value": 6},
    ]
    scale = apps.patch_namespaced_deployment_scale(name, NS, ops)
    assert kube[0].seen[-1].content_type == JSON_PATCH
    assert scale.spec.replicas == 6


def test_a_patch_without_a_version_applies_to_the_latest(
    apps: client.AppsV1Api, name: str, kube: tuple[KubeApp, str]
) -> None:
    kube[0].cluster.other_writer(NS, name)

    scale = apps.patch_namespaced_deployment_scale(name, NS, {"spec": {"replicas": 1}}, _content_type=MERGE)

    assert scale.spec.replicas == 1


def test_a_write_that_changes_nothing_keeps_the_version(apps: client.AppsV1Api, name: str) -> None:
    before = apps.read_namespaced_deployment_scale(name, NS).metadata.resource_version

    after = apps.patch_namespaced_deployment_scale(name, NS, {"spec": {"replicas": 2}}, _content_type=MERGE)

    assert after.metadata.resource_version == before


def test_a_stale_version_is_a_conflict_status(apps: client.AppsV1Api, name: str, http: httpx.Client) -> None:
    stale = apps.read_namespaced_deployment_scale(name, NS).metadata.resource_version
    apps.patch_namespaced_deployment_scale(name, NS, {"spec": {"replicas": 5}}, _content_type=MERGE)

    response = http.patch(
        _scale_path(name),
        json={"metadata": {"resourceVersion": stale}, "spec": {"replicas": 3}},
        headers={"content-type": MERGE},
    )

    assert response.status_code == 409
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'Operation cannot be fulfilled on deployments.apps "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        "reason": "Conflict",
        "details": {"name": name, "group": "apps", "kind": "deployments"},
        "code": 409,
    }


def test_a_stale_version_through_the_client_is_an_api_exception(apps: client.AppsV1Api, name: str) -> None:
    body = {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 3}}

    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment_scale(name, NS, body, _content_type=MERGE)

    assert caught.value.status == 409


def test_an_unknown_deployment_is_not_found(http: httpx.Client) -> None:
    response = http.get(_scale_path("nope"))

    assert response.status_code == 404
    body = response.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "NotFound", 404)
    assert body["message"] == 'deployments.apps "nope" not found'


def test_a_denied_verb_is_forbidden_in_the_authorizer_s_words(
    http: httpx.Client, name: str, kube: tuple[KubeApp, str]
) -> None:
    kube[0].cluster.deny("patch", "deployments/scale")

    response = http.patch(_scale_path(name), json={"spec": {"replicas": 3}}, headers={"content-type": MERGE})

    assert response.status_code == 403
    assert response.json()["reason"] == "Forbidden"
    assert response.json()["message"] == (
        f'deployments.apps "{name}" is forbidden: User "system:serviceaccount:kep:kep-autoscaler" cannot patch '
        f'resource "deployments/scale" in API group "apps" in the namespace "{NS}"'
    )
    assert http.get(_scale_path(name)).status_code == 200  # only that verb


@pytest.mark.parametrize(
    ("content_type", "body", "code", "reason"),
    [
        ("application/json", {"spec": {"replicas": 3}}, 415, "UnsupportedMediaType"),
        (MERGE, {"spec": {"replicas": -1}}, 422, "Invalid"),
        (JSON_PATCH, [{"op": "test", "path": "/spec/replicas", "value": 9}], 422, "Invalid"),
        (JSON_PATCH, {"op": "replace"}, 400, "BadRequest"),
    ],
)
def test_bad_patches_are_refused_with_a_status(
    http: httpx.Client, name: str, kube: tuple[KubeApp, str], content_type: str, body: Any, code: int, reason: str
) -> None:
    response = http.patch(_scale_path(name), json=body, headers={"content-type": content_type})

    assert (response.status_code, response.json()["reason"], response.json()["code"]) == (code, reason, code)
    assert kube[0].cluster.deployment(NS, name).replicas == 2


def test_a_bearer_token_is_checked_when_configured() -> None:
    app = create_app(token="secret")
    app.cluster.create(NS, "worker")
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as http:
        assert http.get(_scale_path("worker")).json()["reason"] == "Unauthorized"
        assert http.get(_scale_path("worker"), headers={"authorization": "Bearer secret"}).status_code == 200


def test_the_admin_routes_drive_a_double_in_another_process(http: httpx.Client) -> None:
    name = f"worker-{uuid.uuid4().hex[:8]}"
    http.post(f"/_admin/deployments/{NS}/{name}/create", json={"replicas": 1, "ready_after_reads": None})
    rv = http.get(_scale_path(name)).json()["metadata"]["resourceVersion"]

    bumped = http.post(f"/_admin/deployments/{NS}/{name}/write", json={"replicas": 3}).json()["resourceVersion"]
    http.post(f"/_admin/deployments/{NS}/{name}/ready")

    deployment = http.get(f"/apis/apps/v1/namespaces/{NS}/deployments/{name}").json()
    assert int(bumped) > int(rv)
    assert deployment["spec"]["replicas"] == deployment["status"]["readyReplicas"] == 3

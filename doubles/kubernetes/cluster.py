"""Deployments as the API server keeps them: one resourceVersion per write, the Scale view, and its errors.

The rules follow kube-apiserver: the Scale's resourceVersion *is* the Deployment's
(`pkg/registry/apps/deployment/storage/storage.go`), every write of the object (spec or status) gives it a new
one, a write that changes nothing keeps it, and an explicit stale resourceVersion or uid is a 409. Error bodies are
`Status` objects worded as apimachinery words them (`k8s.io/apimachinery/pkg/api/errors`).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from doubles.kubernetes.patches import ACCEPTED, JSON_PATCH, MERGE, STRATEGIC, PatchError, json_patch, merge_patch

Json = dict[str, Any]
GROUP, RESOURCE = "apps", "deployments"


class ApiError(Exception):
    """Answered as a `Status` object with the HTTP code in it."""

    def __init__(self, code: int, reason: str, message: str, details: Json | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status: Json = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            **({"details": details} if details is not None else {}),
            "code": code,
        }


def _details(name: str) -> Json:
    return {"name": name, "group": GROUP, "kind": RESOURCE}


def not_found(name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{RESOURCE}.{GROUP} "{name}" not found', _details(name))


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def conflict(name: str, why: str = STALE) -> ApiError:
    return ApiError(
        409, "Conflict", f'Operation cannot be fulfilled on {RESOURCE}.{GROUP} "{name}": {why}', _details(name)
    )


def forbidden(user: str, verb: str, resource: str, namespace: str, name: str) -> ApiError:
    why = f'User "{user}" cannot {verb} resource "{resource}" in API group "{GROUP}" in the namespace "{namespace}"'
    return ApiError(403, "Forbidden", f'{RESOURCE}.{GROUP} "{name}" is forbidden: {why}', _details(name))


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def invalid_replicas(name: str, value: Any) -> ApiError:
    detail = f"Invalid value: {value}: must be greater than or equal to 0"
    cause = {"reason": "FieldValueInvalid", "message": detail, "field": "spec.replicas"}
    details = {"name": name, "group": "autoscaling", "kind": "Scale", "causes": [cause]}
    return ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: {detail}', details)


def unsupported_media_type() -> ApiError:
    accepted = ", ".join(ACCEPTED)
    message = f"the body of the request was in an unknown format - accepted media types include: {accepted}"
    return ApiError(415, "UnsupportedMediaType", message)


@dataclass
class Deployment:
    namespace: str
    name: str
    replicas: int
    ready: int
    resource_version: int
    # new pods turn ready: 0 at once; N on the Nth GET of the Deployment after a change; None only on make_ready
    ready_after_reads: int | None = 0
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    generation: int = 1
    created: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    reads_since_change: int = 0

    def metadata(self) -> Json:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "resourceVersion": str(self.resource_version),
            "creationTimestamp": self.created,
        }

    def as_deployment(self) -> Json:
        labels = {"app": self.name}
        # zero-valued status counters are omitted on the wire (omitempty), as the API server sends them
        status = {"observedGeneration": self.generation, "replicas": self.replicas, "updatedReplicas": self.replicas}
        status |= {"readyReplicas": self.ready, "availableReplicas": self.ready}
        return {
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {**self.metadata(), "generation": self.generation, "labels": labels},
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "worker", "image": "kep-backoffice"}]},
                },
            },
            "status": {k: v for k, v in status.items() if v},
        }

    def as_scale(self) -> Json:
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": self.metadata(),
            "spec": {"replicas": self.replicas} if self.replicas else {},
            "status": {"replicas": self.replicas, "selector": f"app={self.name}"},
        }


class Cluster:
    """The stored objects plus the knobs tests turn; shared with the server thread, hence the lock."""

    def __init__(self, *, user: str = "system:serviceaccount:kep:kep-autoscaler") -> None:
        self.user = user
        self._lock = threading.Lock()
        self._deployments: dict[tuple[str, str], Deployment] = {}
        self._denied: set[tuple[str, str, str | None]] = set()
        self._rv = 1000

    # -- test hooks ------------------------------------------------------------------------------------------

    def create(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 1,
        ready: int | None = None,
        ready_after_reads: int | None = 0,
    ) -> Json:
        with self._lock:
            ready = replicas if ready is None else ready
            dep = Deployment(namespace, name, replicas, ready, self._next_rv(), ready_after_reads)
            self._deployments[(namespace, name)] = dep
            return dep.as_deployment()

    def delete(self, namespace: str, name: str) -> None:
        with self._lock:
            self._deployments.pop((namespace, name), None)

    def other_writer(self, namespace: str, name: str, *, replicas: int | None = None) -> str:
        """Someone else writes the Deployment (a rollout, `kubectl apply`, an HPA): a new resourceVersion."""
        with self._lock:
            dep = self._get(namespace, name)
            if replicas is not None:
                self._set_replicas(dep, replicas)
            else:
                dep.generation += 1
                dep.resource_version = self._next_rv()
            return str(dep.resource_version)

    def make_ready(self, namespace: str, name: str) -> None:
        """Every pod passes its readiness probe now (a status write, so a new resourceVersion)."""
        with self._lock:
            self._catch_up(self._get(namespace, name))

    def deny(self, verb: str, resource: str, namespace: str | None = None) -> None:
        """RBAC refuses `verb` on `resource` (`deployments` or `deployments/scale`), in one or every namespace."""
        with self._lock:
            self._denied.add((verb, resource, namespace))

    def allow_all(self) -> None:
        with self._lock:
            self._denied.clear()

    def deployment(self, namespace: str, name: str) -> Deployment:
        with self._lock:
            return self._get(namespace, name)

    # -- the API ---------------------------------------------------------------------------------------------

    def authorize(self, verb: str, resource: str, namespace: str, name: str) -> None:
        with self._lock:
            if (verb, resource, None) in self._denied or (verb, resource, namespace) in self._denied:
                raise forbidden(self.user, verb, resource, namespace, name)

    def read(self, namespace: str, name: str, *, scale: bool) -> Json:
        with self._lock:
            dep = self._get(namespace, name)
            # readiness is observed through the Deployment (the Scale has no readyReplicas), so only its reads count
            if not scale and dep.ready < dep.replicas and dep.ready_after_reads:
                dep.reads_since_change += 1
                if dep.reads_since_change >= dep.ready_after_reads:
                    self._catch_up(dep)
            return dep.as_scale() if scale else dep.as_deployment()

    def patch_scale(self, namespace: str, name: str, content_type: str, patch: Any) -> Json:
        with self._lock:
            dep = self._get(namespace, name)
            current = dep.as_scale()
            try:
                if content_type in (MERGE, STRATEGIC):
                    # strategic merge differs from merge only on lists, and a Scale has none
                    updated = merge_patch(current, patch)
                elif content_type == JSON_PATCH:
                    updated = json_patch(current, patch)
                else:
                    raise unsupported_media_type()
            except PatchError as exc:
                if exc.unprocessable:
                    raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: {exc}') from None
                raise bad_request(str(exc)) from None
            return self._update(dep, updated)

    def replace_scale(self, namespace: str, name: str, body: Any) -> Json:
        with self._lock:
            dep = self._get(namespace, name)
            if not isinstance(body, dict) or body.get("kind", "Scale") != "Scale":
                raise bad_request("the body of the request is not a Scale")
            return self._update(dep, body)

    # -- internals, called with the lock held ----------------------------------------------------------------

    def _get(self, namespace: str, name: str) -> Deployment:
        dep = self._deployments.get((namespace, name))
        if dep is None:
            raise not_found(name)
        return dep

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _update(self, dep: Deployment, scale: Json) -> Json:
        meta = scale.get("metadata") or {}
        if meta.get("name", dep.name) != dep.name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({dep.name})"
            )
        if meta.get("uid") and meta["uid"] != dep.uid:
            why = f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: {dep.uid}"
            raise conflict(dep.name, why)
        # an empty resourceVersion means "whatever is stored now" (last writer wins); any other must match
        rv = meta.get("resourceVersion")
        if rv and rv != str(dep.resource_version):
            raise conflict(dep.name)
        replicas = (scale.get("spec") or {}).get("replicas", 0)  # omitted means 0, as omitempty decodes
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid_replicas(dep.name, replicas)
        if replicas != dep.replicas:
            self._set_replicas(dep, replicas)
        return dep.as_scale()

    def _set_replicas(self, dep: Deployment, replicas: int) -> None:
        # pods are created (or stopped) at once; new ones may turn ready only later
        dep.replicas, dep.generation, dep.reads_since_change = replicas, dep.generation + 1, 0
        dep.ready = replicas if dep.ready_after_reads == 0 else min(dep.ready, replicas)
        dep.resource_version = self._next_rv()

    def _catch_up(self, dep: Deployment) -> None:
        if dep.ready != dep.replicas:
            dep.ready = dep.replicas
            dep.resource_version = self._next_rv()

"""A Kubernetes Deployment as a scale target: its `scale` subresource through the official client.

Writes are compare-and-swap: the PATCH carries the resourceVersion that was read, so a Deployment somebody else
changed meanwhile (a rollout, `kubectl apply`, another scaler) answers 409 and the caller reads and decides again
(`autoscaler.rescale`). The client is synchronous, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from autoscaler.model import ScaleConflict, ScalerError, ScaleState, ScaleTargetRefused
from messages.errors import ConfigurationError

MERGE_PATCH = "application/merge-patch+json"
RBAC_MANIFEST = "deployments/k8s/autoscaler/rbac.yaml"
T = TypeVar("T")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_TARGET = re.compile(rf"(?P<namespace>{_DNS_LABEL})/(?P<name>{_DNS_LABEL}(\.{_DNS_LABEL})*)")


class KubeConnection(BaseModel):
    """How to reach the API server: an explicit URL (tests, proxies), a kubeconfig file, or else in-cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_url: str | None = None
    token: SecretStr | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    verify_ssl: bool = True
    timeout_s: float = 10.0


def api_client(connection: KubeConnection) -> client.ApiClient:
    try:
        if connection.api_url is not None:
            cfg = client.Configuration(host=connection.api_url.rstrip("/"), verify_ssl=connection.verify_ssl)
            if connection.token is not None:
                cfg.api_key = {"BearerToken": connection.token.get_secret_value()}
                cfg.api_key_prefix = {"BearerToken": "Bearer"}
            return client.ApiClient(cfg)
        if connection.kubeconfig is not None:
            path, context = str(connection.kubeconfig), connection.context
            api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context, persist_config=False
            )
            return api
        cfg = client.Configuration()
        # the pod's service account; the client re-reads the projected token before it expires
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        return client.ApiClient(cfg)
    except config.ConfigException as exc:
        raise ConfigurationError(f"no way to reach the Kubernetes API: {exc}") from None


class _Status(BaseModel):
    """The API server's error body (kind Status)."""

    message: str = ""
    reason: str = ""


class DeploymentScaler:
    """`target` is `namespace/name` of a Deployment."""

    def __init__(self, target: str, api: client.ApiClient, *, timeout_s: float = 10.0) -> None:
        match = _TARGET.fullmatch(target)
        if match is None:
            raise ValueError(f"a Deployment target is namespace/name in lower-case DNS form, not {target!r}")
        self.target, self.namespace, self.name = target, match["namespace"], match["name"]
        self._api, self._apps, self._timeout_s = api, client.AppsV1Api(api), timeout_s

    @classmethod
    def connect(cls, target: str, connection: KubeConnection | None = None) -> DeploymentScaler:
        connection = connection or KubeConnection()
        return cls(target, api_client(connection), timeout_s=connection.timeout_s)

    def __repr__(self) -> str:
        return f"DeploymentScaler({self.target!r}, {self._api.configuration.host!r})"

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    async def verify(self) -> None:
        """The Deployment exists and this account may read and patch its scale: a read, then a server-side dry run
        of a patch to the size it has (admission and RBAC run, nothing is stored)."""
        scale = await self._call("get", "deployments/scale", self._apps.read_namespaced_deployment_scale)
        body = {"spec": {"replicas": (scale.spec.replicas if scale.spec else None) or 0}}
        patch = self._apps.patch_namespaced_deployment_scale
        await self._call("patch", "deployments/scale", patch, body, _content_type=MERGE_PATCH, dry_run="All")

    async def read(self) -> ScaleState:
        # readiness is not part of a Scale (its status.replicas counts unready pods too); the Deployment is read
        # first so that the version written against is the later one, not one a status update already replaced
        deployment = await self._call("get", "deployments", self._apps.read_namespaced_deployment)
        scale = await self._call("get", "deployments/scale", self._apps.read_namespaced_deployment_scale)
        ready = (deployment.status.ready_replicas if deployment.status else None) or 0  # omitted when 0
        return self._state(scale, ready)

    async def write(self, replicas: int, expected: ScaleState) -> ScaleState:
        if replicas < 0:
            raise ValueError(f"replicas must be >= 0, not {replicas}")
        if expected.version is None:
            raise ScalerError(self.target, "no resourceVersion to compare against: read the scale before writing it")
        # the resourceVersion makes the patch a compare-and-swap; without it the last writer would win
        body = {"metadata": {"resourceVersion": expected.version}, "spec": {"replicas": replicas}}
        patch = self._apps.patch_namespaced_deployment_scale
        scale = await self._call("patch", "deployments/scale", patch, body, _content_type=MERGE_PATCH)
        state = self._state(scale, expected.ready)
        # a PATCH answers with the Scale only; readiness is what was read, less any pods being stopped
        return replace(state, ready=min(state.ready, state.desired))

    def _state(self, scale: client.V1Scale, ready: int) -> ScaleState:
        desired = (scale.spec.replicas if scale.spec else None) or 0  # omitted on the wire when 0
        version = scale.metadata.resource_version if scale.metadata else None
        return ScaleState(self.target, desired, ready, version)

    async def _call(self, verb: str, resource: str, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        kwargs["_request_timeout"] = self._timeout_s
        if verb == "patch":
            kwargs["field_manager"] = "kep-autoscaler"
        try:
            return await asyncio.to_thread(method, self.name, self.namespace, *args, **kwargs)
        except ApiException as exc:
            raise self._error(exc, verb, resource) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            host = self._api.configuration.host
            why = getattr(exc, "reason", None) or exc  # urllib3 wraps the socket error in MaxRetryError.reason
            raise ScalerError(self.target, f"Kubernetes API at {host} unreachable: {why}") from None

    def _error(self, exc: ApiException, verb: str, resource: str) -> ScalerError:
        try:
            status = _Status.model_validate_json(exc.body or "{}")
        except ValidationError:
            status = _Status(message=str(exc.body or exc.reason))
        where = f"{self.namespace}/{self.name}"
        match exc.status:
            case 409:
                return ScaleConflict(self.target, f"Deployment {where} changed since it was read: {status.message}")
            case 404:
                return ScaleTargetRefused(self.target, f"Deployment {where} not found ({status.message})")
            case 403:
                needs = f"the service account needs {verb} on {resource} in {self.namespace}"
                return ScaleTargetRefused(self.target, f"forbidden: {needs} — see {RBAC_MANIFEST} ({status.message})")
            case 401:
                why = "unauthorized: the API server refused the credentials (token expired?)"
                return ScaleTargetRefused(self.target, f"{why} ({status.message or status.reason})")
            case code:
                return ScalerError(self.target, f"Kubernetes API answered {code} {status.reason}: {status.message}")

"""The scaler behind each policy target: a Kubernetes Deployment or a local pool of Ray actors."""

from __future__ import annotations

from autoscaler.kube import DeploymentScaler, KubeConnection
from autoscaler.model import Scaler
from autoscaler.policy import TargetPolicy
from autoscaler.ray_pool import ActorPoolScaler, load_factory
from infra.settings import Settings


def kube_connection(settings: Settings) -> KubeConnection:
    return KubeConnection(api_url=settings.kube_api_url, token=settings.kube_token, kubeconfig=settings.kubeconfig)


def scaler_for(policy: TargetPolicy, settings: Settings) -> Scaler:
    ref = policy.scale
    if ref.kubernetes is not None:
        where = f"{ref.kubernetes.namespace}/{ref.kubernetes.name}"
        return DeploymentScaler.connect(where, kube_connection(settings))
    assert ref.ray_pool is not None
    pool = ref.ray_pool
    return ActorPoolScaler(
        pool.name, load_factory(pool.member), settings, pool.options, drain_timeout_s=pool.drain_seconds
    )

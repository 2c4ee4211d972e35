"""Where the HTTP replicas may run: anywhere by default; with `KEP_SERVE_HTTP_RESOURCE` (several Ray nodes on one
machine, `kep up --nodes`) only on nodes that carry that resource, keeping the deployment's other actor options."""

from __future__ import annotations

from infra.settings import Settings
from serve.app import build


def test_by_default_the_replicas_ask_for_no_resource(settings: Settings) -> None:
    options = build(settings, 2)._bound_deployment.ray_actor_options
    assert options == {"num_cpus": 0}


def test_with_a_resource_the_replicas_ask_for_a_sliver_of_it(settings: Settings) -> None:
    pinned = settings.model_copy(update={"serve_http_resource": "kep-http"})
    options = build(pinned, 1)._bound_deployment.ray_actor_options
    assert options == {"num_cpus": 0, "resources": {"kep-http": 0.01}}

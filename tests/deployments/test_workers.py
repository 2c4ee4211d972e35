"""The queue-worker Deployments as each overlay renders them: the pools the cluster policies scale, drained within
their grace period, and let through the network policies to what they use (and nothing lets them be skipped)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deployments.test_manifests import render

WORKERS = {"kep-task-worker": "cases", "kep-delivery": "delivery", "kep-renderer": "renderer"}
QUEUE_WORKER = {"app.kubernetes.io/component": "queue-worker"}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def peers_allow(rules: list[dict[str, Any]], key: str, labels: dict[str, str], port: int) -> bool:
    """Some rule lets pods with `labels` through on `port` (a rule without ports allows every port)."""
    for rule in rules:
        ports = [p["port"] for p in rule.get("ports", [])]
        if ports and port not in ports:
            continue
        if any("podSelector" in peer and selects(peer["podSelector"], labels) for peer in rule.get(key, [])):
            return True
    return False


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_each_pool_is_a_deployment_that_drains_within_its_grace_period(overlay: str) -> None:
    objects = render(overlay)
    for name, pool in WORKERS.items():
        spec = objects["Deployment", name]["spec"]
        assert "replicas" not in spec, "the autoscaler owns the size"
        pod = spec["template"]["spec"]
        [container] = pod["containers"]
        command = container["command"]
        assert command[:4] == ["kep", "worker", "run", pool]
        drain = float(command[command.index("--drain-seconds") + 1])
        assert pod["terminationGracePeriodSeconds"] > drain
        env = {e["name"]: e for e in container["env"]}
        assert env["KEP_WORKER_HEALTH_PORT"]["value"] == str(container["ports"][0]["containerPort"])
        assert env["KEP_RAY_ADDRESS"]["value"].startswith("ray://")
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "kep-ray-auth"
        assert selects({"matchLabels": QUEUE_WORKER}, spec["template"]["metadata"]["labels"])
    app_env = objects["ConfigMap", next(n for k, n in objects if k == "ConfigMap" and n.startswith("kep-config"))]
    assert app_env["data"]["KEP_WORKER_POOLS"] == "processes"


@pytest.mark.parametrize("overlay", ["dev", "prod"])
@pytest.mark.parametrize(
    ("target", "port"),
    [
        ({"app.kubernetes.io/name": "kep-ray", "ray.io/node-type": "head"}, 10001),
        ({"app.kubernetes.io/name": "kep-ray", "ray.io/node-type": "worker"}, 8000),
        ({"app.kubernetes.io/name": "postgres"}, 5432),
        ({"app.kubernetes.io/name": "rabbitmq"}, 5672),
        ({"app.kubernetes.io/name": "minio"}, 9000),
    ],
)
def test_the_network_policies_let_the_workers_reach_what_they_use(
    overlay: str, target: dict[str, str], port: int
) -> None:
    policies = [d for (kind, _), d in render(overlay).items() if kind == "NetworkPolicy"]
    # out of the worker pods, and into the target's, both: deny-all applies to each side
    out = [
        p for p in policies if "Egress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], QUEUE_WORKER)
    ]
    into = [p for p in policies if "Ingress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], target)]
    assert any(peers_allow(p["spec"].get("egress", []), "to", target, port) for p in out)
    assert any(peers_allow(p["spec"].get("ingress", []), "from", QUEUE_WORKER, port) for p in into)

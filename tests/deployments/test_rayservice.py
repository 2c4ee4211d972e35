"""The RayService runs the HTTP ingress of one machine: every Ray node gets `node_env` for the port Serve listens on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.settings import Settings
from serve.bootstrap import node_env
from serve.entrypoint import node_env_drift

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deployments" / "k8s"
MANIFEST = yaml.safe_load((K8S / "base" / "ray" / "rayservice.yaml").read_text(encoding="utf-8"))
HTTP_PORT: int = yaml.safe_load(MANIFEST["spec"]["serveConfigV2"])["http_options"]["port"]


def ray_containers() -> dict[str, dict[str, Any]]:
    cluster = MANIFEST["spec"]["rayClusterConfig"]
    pods = [cluster["headGroupSpec"]] + cluster["workerGroupSpecs"]
    return {c["name"]: c for pod in pods for c in pod["template"]["spec"]["containers"]}


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(
        database_url="postgresql://kep@postgres/kep",  # type: ignore[arg-type]
        redis_url="redis://redis:6379/0",  # type: ignore[arg-type]
        amqp_url="amqp://kep@rabbitmq:5672/",  # type: ignore[arg-type]
        engine_url="http://engine:8080/engine-rest",
        http_port=int(env["KEP_HTTP_PORT"]),
        serve_ingress=env["KEP_SERVE_INGRESS"],  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("name", sorted(ray_containers()))
def test_every_ray_node_gets_the_ingress_env_of_one_machine(name: str) -> None:
    container = ray_containers()[name]
    env = env_of(container)

    # the app's own settings name the port Serve listens on, and the ingress `kep up` runs by default
    assert env["KEP_HTTP_PORT"] == str(HTTP_PORT)
    assert env["KEP_SERVE_INGRESS"] == Settings.model_fields["serve_ingress"].default == "haproxy"
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["serve"] == HTTP_PORT
    settings = settings_of(env)
    wanted = node_env(settings)
    assert wanted["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    assert {k: env.get(k) for k in wanted} == wanted
    assert node_env_drift(settings, env) == {}


def test_the_head_and_every_worker_group_are_checked() -> None:
    workers = MANIFEST["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    assert set(ray_containers()) == {"ray-head", "ray-worker"}
    assert len(workers) == 1


@pytest.mark.parametrize("overlay", sorted(p.name for p in (K8S / "overlays").iterdir()))
def test_overlays_keep_the_http_port_and_the_node_env(overlay: str) -> None:
    for patch_file in (K8S / "overlays" / overlay).glob("rayservice-*.yaml"):
        for op in yaml.safe_load(patch_file.read_text(encoding="utf-8")):
            if op["path"] == "/spec/serveConfigV2":
                assert yaml.safe_load(op["value"])["http_options"]["port"] == HTTP_PORT, patch_file.name
            assert "/env" not in op["path"], f"{patch_file.name} changes the Ray nodes' environment"


def test_the_image_leaves_the_node_env_to_the_manifest() -> None:
    # one place for these values: an image ENV would be a second copy that drifts from the port
    dockerfile = (ROOT / "deployments" / "docker" / "Dockerfile").read_text(encoding="utf-8")
    settings = settings_of(env_of(ray_containers()["ray-head"]))
    assert [k for k in node_env(settings) if k in dockerfile] == []


def test_the_entrypoint_names_what_a_node_lacks() -> None:
    settings = settings_of({"KEP_HTTP_PORT": "9000", "KEP_SERVE_INGRESS": "haproxy"})
    environ = node_env(settings) | {"RAY_SERVE_HAPROXY_STATS_PORT": "8001"}
    del environ["RAY_SERVE_ENABLE_HA_PROXY"]

    assert node_env_drift(settings, environ) == {
        "RAY_SERVE_HAPROXY_STATS_PORT": ("8001", "9001"),
        "RAY_SERVE_ENABLE_HA_PROXY": (None, "1"),
    }

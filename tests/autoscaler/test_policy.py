"""Policies from YAML: the shipped file loads, bad ones are refused naming the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.behavior import StepPolicy
from autoscaler.policy import OUR_SCALE_DOWN, OUR_SCALE_UP, PolicyError, load_policies
from bpmn_bridge.worker import TASK_WORKER, task_queue

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deployments" / "autoscaler" / "policies.yaml"
CLUSTER = ROOT / "deployments" / "autoscaler" / "policies-cluster.yaml"
WORKERS = ROOT / "deployments" / "k8s" / "base" / "workers"


def target(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "workers",
        "queues": ["tasks.case-status"],
        "scale": {"ray_pool": {"name": "pool"}},
        "min_replicas": 0,
        "max_replicas": 5,
        "target_backlog_per_replica": 20,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def write(tmp_path: Path, *targets: dict[str, Any], name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"targets": list(targets)}), encoding="utf-8")
    return path


def test_the_shipped_policy_covers_the_bridge_queues() -> None:
    from actors.documents.renderer import RENDERER
    from bpmn_bridge.topics import GROUPS, OPTIONS
    from messages.documents import RENDER_QUEUE, RENDER_TOPIC

    policies = load_policies(SHIPPED)
    workers = policies["bridge-workers"]
    # every topic's queue is some pool's: the task workers', the delivery workers', or the renderers'
    renderers, deliveries = policies["renderers"], policies["delivery-workers"]
    assert sorted(workers.queues) == sorted(task_queue(topic) for topic in GROUPS["cases"])
    assert sorted(deliveries.queues) == sorted(task_queue(topic) for topic in GROUPS["delivery"])
    assert sorted(workers.queues + deliveries.queues + renderers.queues) == sorted(map(task_queue, OPTIONS))
    assert deliveries.scale.ray_pool is not None
    assert deliveries.scale.ray_pool.member == "bpmn_bridge.worker:delivery_member"
    assert renderers.queues == [task_queue(RENDER_TOPIC)] == [RENDER_QUEUE]
    assert workers.scale.ray_pool is not None
    assert workers.scale.ray_pool.name == TASK_WORKER
    assert renderers.scale.ray_pool is not None
    assert renderers.scale.ray_pool.name == RENDERER
    assert renderers.scale.ray_pool.member == "actors.documents.renderer:pool_member"
    assert workers.target_drain_seconds == 30
    assert policies.sources["bridge-workers"] == SHIPPED


def test_the_cluster_policies_are_the_local_ones_scaling_the_worker_deployments() -> None:
    local, cluster = load_policies(SHIPPED), load_policies(CLUSTER)
    assert sorted(cluster.targets) == sorted(local.targets)
    # numbers tuned by replaying a trace locally are the ones the cluster runs
    for name, policy in cluster.targets.items():
        assert policy.model_dump(exclude={"scale"}) == local[name].model_dump(exclude={"scale"}), name
    # each names the Deployment whose pods run its pool (kepctl/worker.py), in the namespace the manifests use
    pools = {"bridge-workers": "cases", "delivery-workers": "delivery", "renderers": "renderer"}
    deployments = {
        d["metadata"]["name"]: d
        for f in sorted(WORKERS.glob("*.yaml"))
        for d in yaml.safe_load_all(f.read_text(encoding="utf-8"))
        if d and d.get("kind") == "Deployment"
    }
    for name, pool in pools.items():
        ref = cluster[name].scale.kubernetes
        assert ref is not None, name
        assert ref.namespace == "kep"
        container = deployments[ref.name]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"][:4] == ["kep", "worker", "run", pool], name
        assert "replicas" not in deployments[ref.name]["spec"], "the autoscaler owns the size"
    # the ConfigMap the pods mount carries the cluster's file under the name KEP_AUTOSCALER_POLICIES gives
    kustomization = yaml.safe_load((SHIPPED.parent / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization["configMapGenerator"][0]["files"] == ["policies.yaml=policies-cluster.yaml"]


def test_a_partial_scale_down_takes_the_rest_from_our_defaults(tmp_path: Path) -> None:
    # as the HPA fills a partial behavior
    scale_down = {"stabilization_window_seconds": 120, "policies": [{"type": "Pods", "value": 2, "period_seconds": 30}]}
    path = write(tmp_path, target(scale={"kubernetes": {"namespace": "kep", "name": "w"}}, scale_down=scale_down))
    k8s = load_policies(path)["workers"]
    assert str(k8s.scale) == "kubernetes:kep/w"
    assert k8s.behavior.down.window_s == 120
    assert k8s.behavior.down.policies == (StepPolicy("Pods", 2, 30),)
    assert k8s.behavior.down.select == "Max"
    assert k8s.behavior.up == OUR_SCALE_UP


def test_defaults(tmp_path: Path) -> None:
    policy = load_policies(write(tmp_path, target()))["workers"]
    assert policy.behavior.up == OUR_SCALE_UP
    assert policy.behavior.down == OUR_SCALE_DOWN
    assert (policy.prefetch, policy.tolerance, policy.interval_seconds) == (8, 0.1, 5.0)
    assert policy.scales_to_zero
    assert policy.equivalent_backlog_per_replica() == 20


INVALID = [
    ("missing max", target(max_replicas=None), "targets.0.max_replicas: Field required"),
    ("negative min", target(min_replicas=-1), "targets.0.min_replicas: Input should be greater than or equal to 0"),
    ("max below min", target(min_replicas=6), "targets.0: Value error, `max_replicas` (5) is below `min_replicas` (6)"),
    ("no queues", target(queues=[]), "targets.0.queues: List should have at least 1 item"),
    ("same queue twice", target(queues=["a", "a"]), "`queues` names a queue twice"),
    ("both targets", target(target_drain_seconds=30, service_rate_per_replica=4),
     "give exactly one of `target_backlog_per_replica` or `target_drain_seconds`"),
    ("no target", target(target_backlog_per_replica=None),
     "give exactly one of `target_backlog_per_replica` or `target_drain_seconds`"),
    ("drain needs a rate", target(target_backlog_per_replica=None, target_drain_seconds=30),
     "`target_drain_seconds` needs `service_rate_per_replica`"),
    ("scale both", target(scale={"ray_pool": {"name": "p"}, "kubernetes": {"namespace": "n", "name": "d"}}),
     "targets.0.scale: Value error, give exactly one of `kubernetes` or `ray_pool`"),
    ("scale neither", target(scale={}), "targets.0.scale: Value error, give exactly one of"),
    ("bad namespace", target(scale={"kubernetes": {"namespace": "Kep_NS", "name": "d"}}),
     "targets.0.scale.kubernetes.namespace: String should match pattern"),
    ("unknown field", target(max_replica=3), "targets.0.max_replica: Extra inputs are not permitted"),
    ("zero step", target(scale_up={"policies": [{"type": "Pods", "value": 0, "period_seconds": 15}]}),
     "targets.0.scale_up.policies.0.value: Input should be greater than 0"),
    ("long period", target(scale_down={"policies": [{"type": "Percent", "value": 50, "period_seconds": 1801}]}),
     "targets.0.scale_down.policies.0.period_seconds: Input should be less than or equal to 1800"),
    ("step type", target(scale_up={"policies": [{"type": "Replicas", "value": 1, "period_seconds": 15}]}),
     "targets.0.scale_up.policies.0.type: Input should be 'Pods' or 'Percent'"),
    ("select policy", target(scale_down={"select_policy": "Maximum"}),
     "targets.0.scale_down.select_policy: Input should be 'Max', 'Min' or 'Disabled'"),
    ("empty policies", target(scale_down={"policies": []}),
     "targets.0.scale_down.policies: List should have at least 1 item"),
    ("window", target(scale_down={"stabilization_window_seconds": 3601}),
     "targets.0.scale_down.stabilization_window_seconds: Input should be less than or equal to 3600"),
    ("tolerance", target(tolerance=1.5), "targets.0.tolerance: Input should be less than 1"),
    ("upstream from zero", target(upstream_backlog=True, min_replicas=0),
     "targets.0: Value error, `upstream_backlog` needs `min_replicas` ≥ 1"),
    ("engine without upstream", target(engine_backlog=True),
     "targets.0: Value error, `engine_backlog` describes an upstream producer"),
    ("engine on a plain queue", target(upstream_backlog=True, engine_backlog=True, min_replicas=1, queues=["orders"]),
     "targets.0: Value error, `engine_backlog` reads the engine for `tasks.<topic>` queues, not ['orders']"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "message"), [pytest.param(d, m, id=i) for i, d, m in INVALID])
def test_invalid_policies_name_the_field(tmp_path: Path, doc: dict[str, Any], message: str) -> None:
    path = write(tmp_path, doc)
    with pytest.raises(PolicyError) as refused:
        load_policies(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert any(message in problem for problem in refused.value.problems), refused.value.problems


def test_every_fault_of_a_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, target(min_replicas=-1), target(name="other", max_replicas=0))
    with pytest.raises(PolicyError) as refused:
        load_policies(path)
    assert {p.split(":")[0] for p in refused.value.problems} == {"targets.0.min_replicas", "targets.1.max_replicas"}


def test_duplicate_names(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="target names must be unique; repeated: workers"):
        load_policies(write(tmp_path, target(), target()))
    write(tmp_path, target(), name="a.yaml")
    second = write(tmp_path, target(), name="b.yml")
    with pytest.raises(PolicyError, match=r"b\.yml: targets\.0\.name: 'workers' is already defined in .*a\.yaml"):
        load_policies(tmp_path)
    assert str(second).endswith("b.yml")


def test_a_folder_loads_every_yaml_file(tmp_path: Path) -> None:
    write(tmp_path, target(), name="a.yaml")
    write(tmp_path, target(name="second", queues=["other"]), name="b.yml")
    (tmp_path / "notes.txt").write_text("not a policy", encoding="utf-8")
    assert sorted(load_policies(tmp_path).targets) == ["second", "workers"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("targets: [", "(file): not YAML"),
        ("- just a list", "(file): Input should be a valid dictionary"),
        ("", "(file): Input should be a valid dictionary"),
        ("targets: []", "targets: List should have at least 1 item"),
        ("targets: [1]\n!!python/object:os.system x: 1", "(file): not YAML"),
    ],
)
def test_broken_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as refused:
        load_policies(path)
    assert message in str(refused.value)


def test_no_policy_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"no \*\.yaml policy files"):
        load_policies(tmp_path)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policies(tmp_path / "missing.yaml")

"""Autoscaling policies as operators write them (YAML under `deployments/autoscaler/`), validated at the boundary.

A file holds `targets:`, each a queue group and the thing that consumes it. Step limits use the HPA `behavior`
vocabulary (Pods/Percent policies per period, selectPolicy), so an HPA manifest's numbers carry over unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from autoscaler.behavior import Behavior, ScalingRules, StepPolicy
from messages.errors import ConfigurationError

_K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
TASK_QUEUE_PREFIX = "tasks."  # bpmn_bridge.worker.task_queue: the queue of topic T is tasks.T
DEFAULT_POLICIES = Path(__file__).resolve().parent.parent / "deployments" / "autoscaler" / "policies.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepPolicyModel(_Strict):
    type: Literal["Pods", "Percent"]
    value: Annotated[int, Field(gt=0)]
    period_seconds: Annotated[int, Field(gt=0, le=1800)]  # the HPA's own bounds


class ScalingRulesModel(_Strict):
    """Unset fields take the direction's defaults, as the HPA fills a partial `behavior` (`copyHPAScalingRules`)."""

    stabilization_window_seconds: Annotated[int, Field(ge=0, le=3600)] | None = None
    select_policy: Literal["Max", "Min", "Disabled"] | None = None
    policies: Annotated[list[StepPolicyModel], Field(min_length=1)] | None = None

    def rules(self, default: ScalingRules) -> ScalingRules:
        return ScalingRules(
            window_s=default.window_s
            if self.stabilization_window_seconds is None
            else self.stabilization_window_seconds,
            select=self.select_policy or default.select,
            policies=default.policies
            if self.policies is None
            else tuple(StepPolicy(p.type, p.value, p.period_seconds) for p in self.policies),
        )


# Ours: up at once (HPA's default rate), down after one quiet minute instead of the HPA's five
OUR_SCALE_UP = ScalingRules(0, "Max", (StepPolicy("Pods", 4, 15), StepPolicy("Percent", 100, 15)))
OUR_SCALE_DOWN = ScalingRules(60, "Max", (StepPolicy("Percent", 100, 15),))


class KubernetesTarget(_Strict):
    namespace: Annotated[str, Field(pattern=_K8S_NAME, max_length=63)]
    name: Annotated[str, Field(pattern=_K8S_NAME, max_length=253)]


class RayPoolTarget(_Strict):
    """Named actors `<name>-<i>`, each started by `member` (`module:function`) with `options`."""

    name: Annotated[str, Field(min_length=1)]
    member: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")] = "bpmn_bridge.worker:pool_member"
    options: dict[str, str | int | float | bool] = {}
    # how long a member being removed may take to finish the messages it holds
    drain_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0


class ScaleTargetRef(_Strict):
    kubernetes: KubernetesTarget | None = None
    ray_pool: RayPoolTarget | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.kubernetes is None) == (self.ray_pool is None):
            raise ValueError("give exactly one of `kubernetes` or `ray_pool`")
        return self

    @property
    def kind(self) -> Literal["kubernetes", "ray_pool"]:
        return "kubernetes" if self.kubernetes is not None else "ray_pool"

    def __str__(self) -> str:
        if self.kubernetes is not None:
            return f"kubernetes:{self.kubernetes.namespace}/{self.kubernetes.name}"
        assert self.ray_pool is not None
        return f"ray_pool:{self.ray_pool.name}"


class TargetPolicy(_Strict):
    name: Annotated[str, Field(pattern=_K8S_NAME, max_length=63)]
    queues: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    scale: ScaleTargetRef
    min_replicas: Annotated[int, Field(ge=0)] = 1
    max_replicas: Annotated[int, Field(ge=1)]
    # from zero only when the backlog is above this (strictly, as KEDA's activationValue); min_replicas 0 enables zero
    activation_backlog: Annotated[int, Field(ge=0)] = 0
    target_backlog_per_replica: Annotated[int, Field(gt=0)] | None = None
    target_drain_seconds: Annotated[float, Field(gt=0)] | None = None
    # messages a second one replica handles, for when it cannot be measured (no replica saturated yet)
    service_rate_per_replica: Annotated[float, Field(gt=0)] | None = None
    prefetch: Annotated[int, Field(gt=0)] = 8
    # the producer publishes only what the consumers can hold and keeps the rest upstream (the BPMN bridge fetches
    # from the engine only the workers' free prefetch): the queue never shows a backlog, and a full pool is the
    # only sign that more waits, so a full pool with nothing ready scales up by one
    upstream_backlog: bool = False
    # the queues are the bridge's `tasks.<topic>`: the engine's fetchable tasks of each topic are read too and count
    # as waiting work, so the pool is sized on the real backlog rather than grown one replica at a time when full
    engine_backlog: bool = False
    tolerance: Annotated[float, Field(ge=0, lt=1)] = 0.1  # no scale-up until the load is this much above capacity
    # a scale-down only goes to a count that keeps this much spare capacity (hysteresis against flapping)
    scale_down_headroom: Annotated[float, Field(ge=0, le=1)] = 0.1
    scale_up: ScalingRulesModel = ScalingRulesModel()
    scale_down: ScalingRulesModel = ScalingRulesModel()
    interval_seconds: Annotated[float, Field(gt=0)] = 5.0
    stale_after_seconds: Annotated[float, Field(gt=0)] = 30.0
    rate_window_seconds: Annotated[float, Field(gt=0)] = 60.0  # arrival rates are averaged over this

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.target_backlog_per_replica is None) == (self.target_drain_seconds is None):
            raise ValueError("give exactly one of `target_backlog_per_replica` or `target_drain_seconds`")
        if self.target_drain_seconds is not None and self.service_rate_per_replica is None:
            raise ValueError("`target_drain_seconds` needs `service_rate_per_replica` for when no rate is measured yet")
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"`max_replicas` ({self.max_replicas}) is below `min_replicas` ({self.min_replicas})")
        if len(set(self.queues)) != len(self.queues):
            raise ValueError("`queues` names a queue twice")
        if self.engine_backlog and not self.upstream_backlog:
            raise ValueError("`engine_backlog` describes an upstream producer: it needs `upstream_backlog: true`")
        if self.engine_backlog and (plain := [q for q in self.queues if not q.startswith(TASK_QUEUE_PREFIX)]):
            raise ValueError(f"`engine_backlog` reads the engine for `{TASK_QUEUE_PREFIX}<topic>` queues, not {plain}")
        if self.upstream_backlog and self.min_replicas == 0:
            # with no consumer the producer publishes nothing, so the queue never shows work to scale from zero on
            raise ValueError("`upstream_backlog` needs `min_replicas` ≥ 1: at zero nothing is published to scale on")
        return self

    @property
    def behavior(self) -> Behavior:
        return Behavior(self.scale_up.rules(OUR_SCALE_UP), self.scale_down.rules(OUR_SCALE_DOWN))

    @property
    def scales_to_zero(self) -> bool:
        return self.min_replicas == 0

    def equivalent_backlog_per_replica(self) -> int:
        """The per-replica backlog a queue-length scaler (KEDA) would need to aim at what this policy aims at."""
        if self.target_backlog_per_replica is not None:
            return self.target_backlog_per_replica
        assert self.target_drain_seconds is not None
        assert self.service_rate_per_replica is not None
        return max(1, math.ceil(self.service_rate_per_replica * self.target_drain_seconds))


class PolicyFile(_Strict):
    targets: Annotated[list[TargetPolicy], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [t.name for t in self.targets]
        if dup := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"target names must be unique; repeated: {', '.join(dup)}")
        return self


class PolicyError(ConfigurationError):
    """A policy file cannot be used; `problems` holds one `field.path: message` line per fault."""

    def __init__(self, file: Path, problems: list[str]) -> None:
        super().__init__(f"{file}: " + "; ".join(problems), file=str(file), problems=problems)
        self.file = file
        self.problems = problems


@dataclass(frozen=True)
class Policies:
    """Every target of the files loaded, by name, and where each came from."""

    targets: Mapping[str, TargetPolicy]
    sources: Mapping[str, Path]

    def __getitem__(self, name: str) -> TargetPolicy:
        return self.targets[name]

    def __iter__(self) -> Iterator[TargetPolicy]:
        return iter(self.targets.values())


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(file)"


def parse_policy_file(text: str, file: Path) -> PolicyFile:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(file, [f"(file): not YAML: {exc}"]) from None
    try:
        return PolicyFile.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise PolicyError(file, problems) from None


def policy_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())
    return [path]


def load_policies(path: Path) -> Policies:
    """Every target in `path` (one file, or each *.yaml/*.yml directly in a folder); refuses the lot on any fault."""
    targets: dict[str, TargetPolicy] = {}
    sources: dict[str, Path] = {}
    files = policy_files(path)
    if not files:
        raise PolicyError(path, ["(file): no *.yaml policy files here"])
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(file, [f"(file): cannot read: {exc.strerror}"]) from None
        for i, target in enumerate(parse_policy_file(text, file).targets):
            if target.name in targets:
                raise PolicyError(
                    file, [f"targets.{i}.name: {target.name!r} is already defined in {sources[target.name]}"]
                )
            targets[target.name] = target
            sources[target.name] = file
    return Policies(targets, sources)

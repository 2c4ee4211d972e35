"""The Autoscaler actor: every target's queues read at the target's interval, a decision made and logged with its
inputs and reason, and applied unless in dry run. Policies reload when their file changes (or on request); a file
that does not validate is refused and the policies in force stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from actors.ray_options import actor_class
from autoscaler.decision import Memory, decide, record_scale
from autoscaler.metrics import MetricsError, MetricsReader, reader_from_settings
from autoscaler.model import Decision, QueueMetrics, Scaler, ScalerError, ScaleState, ScaleTargetRefused
from autoscaler.policy import (
    DEFAULT_POLICIES,
    TASK_QUEUE_PREFIX,
    Policies,
    PolicyError,
    TargetPolicy,
    load_policies,
    policy_files,
)
from autoscaler.rescale import rescale
from autoscaler.targets import scaler_for
from bpmn_bridge.engine import EngineClient
from infra import metrics
from infra.logging import configure_logging
from infra.settings import Settings
from messages.errors import ConfigurationError, KepError

log = structlog.get_logger("autoscaler")
AUTOSCALER_ACTOR = "kep-autoscaler"
DECISIONS_KEPT = 500
HISTORY_MARGIN_S = 30.0  # readings are kept for the rate window and this much more
RETRY_REFUSED_S = 30.0  # a load refused at start is tried again this often, until it passes


class TargetsRefused(PolicyError):
    """Valid policies naming a target its owner refuses: the API server's answer is in each problem."""


def _close(scaler: Scaler) -> None:
    close = getattr(scaler, "close", None)  # a Deployment's API client; an actor pool holds nothing
    if close is not None:
        close()


@dataclass
class Target:
    policy: TargetPolicy
    scaler: Scaler
    memory: Memory = field(default_factory=Memory)
    history: deque[QueueMetrics] = field(default_factory=deque)
    state: ScaleState | None = None
    error: str | None = None
    due: float = 0.0

    def remember(self, reading: QueueMetrics, now: float) -> None:
        self.history.append(reading)
        horizon = now - max(self.policy.rate_window_seconds, self.policy.stale_after_seconds) - HISTORY_MARGIN_S
        while self.history and self.history[0].at < horizon:
            self.history.popleft()

    def latest(self) -> dict[str, dict[str, Any]]:
        last: dict[str, QueueMetrics] = {}
        for reading in self.history:
            last[reading.queue] = reading
        return {q: {k: v for k, v in vars(r).items() if k != "queue"} | {"at": _wall(r.at)} for q, r in last.items()}


def _wall(monotonic_at: float) -> str:
    return datetime.fromtimestamp(time.time() - (time.monotonic() - monotonic_at), UTC).isoformat(timespec="seconds")


class Autoscaler:
    async def __init__(  # type: ignore[misc]  # Ray awaits async __init__
        self,
        settings: Settings,
        policies: str | None = None,
        dry_run: bool | None = None,
        retry_refused_s: float = RETRY_REFUSED_S,
    ) -> None:
        configure_logging(settings.log_format, settings.log_level)
        self.settings = settings
        self.path = Path(policies) if policies else settings.autoscaler_policies or DEFAULT_POLICIES
        self.dry_run = settings.autoscaler_dry_run if dry_run is None else dry_run
        self.reader: MetricsReader = reader_from_settings(settings)
        self.targets: dict[str, Target] = {}
        self.decisions: deque[dict[str, Any]] = deque(maxlen=DECISIONS_KEPT)
        self._stamp: tuple[tuple[str, float], ...] = ()
        self._engine: EngineClient | None = None  # only for policies that read the engine's backlog
        # the problems of the last load refused, shown in the view; at start the load is tried again until it passes
        self.refused: dict[str, Any] | None = None
        self._retry_refused_s = retry_refused_s
        self._retry_at: float | None = None
        try:
            await self._load()  # a file that does not validate at start stops the actor: nothing to run
        except TargetsRefused as exc:
            # a target the API server refuses: perhaps the Deployment or its RoleBinding is created in the same sync
            self.refused = self._refused(exc.file, exc.problems)
            self._retry_at = time.monotonic() + retry_refused_s
        self._loop = asyncio.create_task(self._run())

    # -- policies ----------------------------------------------------------------------------------------------

    def _files_stamp(self) -> tuple[tuple[str, float], ...]:
        with contextlib.suppress(OSError):
            return tuple((str(f), f.stat().st_mtime) for f in policy_files(self.path))
        return ()

    async def _load(self) -> None:
        stamp = self._files_stamp()
        policies = load_policies(self.path)
        targets: dict[str, Target] = {}
        kept: list[tuple[Target, TargetPolicy]] = []
        made: list[Target] = []
        for policy in policies:
            old = self.targets.get(policy.name)
            if old is not None and old.policy.scale == policy.scale:
                # same target: its readings and memory still hold; the new limits apply from the next decision
                kept.append((old, policy))
                targets[policy.name] = old
            else:
                targets[policy.name] = Target(policy, scaler_for(policy, self.settings))
                made.append(targets[policy.name])
        refusals = await self._verify(made, policies)
        if refusals:
            for target in made:
                _close(target.scaler)
            file = refusals[0][0]
            raise TargetsRefused(file, [problem for f, problem in refusals if f == file])
        for old, policy in kept:
            old.policy = policy
        for name, target in self.targets.items():
            if targets.get(name) is not target:
                _close(target.scaler)
        self.targets, self._stamp = targets, stamp
        self.refused, self._retry_at = None, None
        log.info("autoscaler_policies_loaded", source=str(self.path), targets=sorted(targets), dry_run=self.dry_run)

    async def _verify(self, made: list[Target], policies: Policies) -> list[tuple[Path, str]]:
        """Ask each new target's owner whether it can be scaled at all; (file, `field: the answer`) per refusal.
        An owner that cannot be asked now (unreachable) is not a refusal: the decisions will say so."""

        async def verify(target: Target) -> tuple[Path, str] | None:
            name = target.policy.name
            try:
                await target.scaler.verify()
            except ScaleTargetRefused as exc:
                file = policies.sources[name]
                index = [n for n, f in policies.sources.items() if f == file].index(name)
                return file, f"targets.{index}.scale.{target.policy.scale.kind}: {exc.reason}"
            except ScalerError as exc:
                log.warning("autoscaler_target_unverified", target=name, error=exc.reason)
            return None

        return [r for r in await asyncio.gather(*(verify(t) for t in made)) if r is not None]

    async def reload(self) -> dict[str, Any]:
        """Read the policies again; a file that does not validate, or names a target its owner refuses (a
        Deployment that does not exist or that we may not scale), changes nothing and says why."""
        try:
            await self._load()
        except PolicyError as exc:
            self.refused = self._refused(exc.file, exc.problems)
            return self.refused
        except (ConfigurationError, ValueError) as exc:  # valid YAML naming a target we cannot reach or start
            self.refused = self._refused(self.path, [f"(file): {exc}"])
            return self.refused
        return {"reloaded": True, "targets": sorted(self.targets)}

    def _refused(self, file: Path, problems: list[str]) -> dict[str, Any]:
        log.warning("autoscaler_policies_refused", source=str(file), problems=problems)
        self._stamp = self._files_stamp()  # not again until it changes again
        return {"reloaded": False, "file": str(file), "problems": problems}

    # -- the loop ----------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if self._retry_at is not None and time.monotonic() >= self._retry_at:
                self._stamp = ()  # the refused load at start, again: see if the cluster has caught up
                self._retry_at = time.monotonic() + self._retry_refused_s
            if self._files_stamp() != self._stamp:
                try:
                    await self.reload()
                except Exception:  # the policies in force go on; the next change of the file tries again
                    self._stamp = self._files_stamp()
                    log.exception("autoscaler_reload_failed", source=str(self.path))
            now = time.monotonic()
            for target in list(self.targets.values()):
                if target.due <= now:
                    target.due = now + target.policy.interval_seconds
                    try:
                        await self._tick(target)
                    except Exception as exc:  # one target's trouble must not stop the others
                        target.error = f"{type(exc).__name__}: {exc}"
                        log.exception("autoscaler_tick_failed", target=target.policy.name)
            next_due = min((t.due for t in self.targets.values()), default=now + 5.0)
            await asyncio.sleep(max(0.05, min(next_due - time.monotonic(), 5.0)))

    async def _tick(self, target: Target) -> None:
        policy = target.policy
        for queue in policy.queues:
            try:
                reading = await self.reader.read(queue)
            except MetricsError as exc:  # no reading: the queue's last one goes stale and the decision holds
                log.warning("autoscaler_metrics_failed", target=policy.name, queue=queue, error=exc.reason)
                continue
            if policy.engine_backlog:
                reading = replace(reading, upstream=await self._engine_backlog(queue.removeprefix(TASK_QUEUE_PREFIX)))
            target.remember(reading, time.monotonic())
            metrics.queue_depth(reading.queue, reading.ready, reading.unacked)
            if reading.consumers is not None:
                metrics.consumers(reading.queue, reading.consumers)
        decided: list[tuple[Decision, Memory]] = []

        def choose(state: ScaleState) -> int:
            target.state = state
            decision, memory = decide(policy, state, tuple(target.history), time.monotonic(), target.memory)
            decided.append((decision, memory))
            return decision.current if self.dry_run else decision.desired

        try:
            done = await rescale(target.scaler, choose)
        except ScalerError as exc:
            target.error = exc.reason
            applied = False
            metrics.autoscaler_target_error(policy.name, True)
            if not decided:
                log.warning("autoscaler_target_unreadable", target=policy.name, error=exc.reason)
                return
        else:
            target.error, target.state = None, done.after
            metrics.autoscaler_target_error(policy.name, False)
            applied = done.changed
        decision, memory = decided[-1]
        target.memory = record_scale(memory, decision, policy) if applied else memory
        self._record(target, decision, applied)

    async def _engine_backlog(self, topic: str) -> int | None:
        """The topic's tasks the bridge has left in the engine; None (the decision holds) when it cannot be read."""
        if self._engine is None:
            self._engine = EngineClient(self.settings.engine_url, tenant_id=self.settings.engine_tenant)
        try:
            return await self._engine.fetchable(topic)
        except KepError as exc:
            log.warning("autoscaler_engine_backlog_failed", topic=topic, error=str(exc))
            return None

    def _record(self, target: Target, decision: Decision, applied: bool) -> None:
        entry = {
            "target": decision.target,
            "at": _wall(decision.at),
            "current": decision.current,
            "desired": decision.desired,
            "raw": decision.raw,
            "reason": decision.reason,
            "applied": applied,
            "dry_run": self.dry_run,
            "error": target.error,
            "metrics": target.latest(),
        }
        self.decisions.append(entry)
        # the reason as a label is its class, never its text (that carries numbers: a series per value)
        if target.error:
            reason = "error"
        elif decision.desired != decision.current:
            reason = "up" if decision.desired > decision.current else "down"
        else:
            reason = "hold" if decision.reason.startswith("hold") else "steady"
        metrics.autoscaler_decision(
            decision.target, decision.current, decision.desired, target.policy.max_replicas, reason
        )
        # every decision is kept for the view; the log gets the ones that change something or went wrong
        (log.info if decision.changes or target.error else log.debug)("autoscaler_decision", **entry)

    # -- the view ----------------------------------------------------------------------------------------------

    async def view(self, recent: int = 50) -> dict[str, Any]:
        """Policies, current replicas, latest readings and the recent decisions, for operators."""
        targets = []
        for name, t in sorted(self.targets.items()):
            state = t.state
            targets.append(
                {
                    "name": name,
                    "scale": str(t.policy.scale),
                    "replicas": None if state is None else {"desired": state.desired, "ready": state.ready},
                    "error": t.error,
                    "metrics": t.latest(),
                    "policy": t.policy.model_dump(mode="json"),
                }
            )
        return {
            "source": str(self.path),
            "dry_run": self.dry_run,
            "refused": self.refused,
            "targets": targets,
            "decisions": list(self.decisions)[-recent:][::-1],
        }

    async def set_dry_run(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        log.info("autoscaler_dry_run", dry_run=dry_run)


AutoscalerActor = actor_class(Autoscaler, max_restarts=-1, max_task_retries=0)

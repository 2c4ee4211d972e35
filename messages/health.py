"""Readiness reports."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DependencyStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    ok: bool
    detail: str | None = None
    latency_ms: float


class Readiness(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    dependencies: list[DependencyStatus]

"""The HTTP application: one FastAPI ingress deployment with a router per audience."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from ray import serve

from infra.logging import configure_logging
from infra.settings import Settings
from serve import deps, guard, http_metrics, problems, throttle
from serve.routers import (
    admin_adapters,
    admin_autoscaler,
    admin_catalog,
    admin_delivery,
    admin_kshde,
    admin_reconciler,
    admin_templates,
    apps,
    case_transfers,
    cases,
    documents,
    eugo_applications,
    eugo_me,
    eugo_public,
    forms,
    health,
    incidents,
    issued,
    kshde_inbox,
    live,
    news,
    offices,
    positions,
    procedures,
    render_pages,
    routings,
    service_points,
    statistics,
    tasks,
    users,
)


def create_api() -> FastAPI:
    api = FastAPI(
        title="KEP Backoffice",
        version="0.1.0",
        description="Back office of the Greek Citizen Service Centres (ΚΕΠ) and of EUGO.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    problems.install(api)
    larger = (documents.UPLOAD_BODIES, issued.VERIFY_BODIES, eugo_applications.UPLOAD_BODIES)
    api.add_middleware(guard.RequestGuard, larger=larger)
    api.add_middleware(throttle.RateLimiter)  # before the guard: a caller over its rate costs nothing more
    api.add_middleware(http_metrics.HttpMetrics)  # the outermost: every answer counted, the 429s too
    api.include_router(health.router)
    api.include_router(issued.router)  # before documents: /documents/render is not a document id
    api.include_router(documents.router)
    api.include_router(render_pages.router)
    api.include_router(admin_templates.router)
    api.include_router(admin_adapters.router)
    api.include_router(admin_kshde.router)
    api.include_router(eugo_applications.router)  # before cases: /messages is no case action
    api.include_router(cases.router)
    api.include_router(case_transfers.router)
    api.include_router(procedures.router)
    api.include_router(admin_catalog.router)
    api.include_router(live.router)
    api.include_router(forms.router)
    api.include_router(tasks.router)
    api.include_router(admin_autoscaler.router)
    api.include_router(admin_reconciler.router)
    api.include_router(incidents.router)
    api.include_router(admin_delivery.router)
    api.include_router(kshde_inbox.router)
    api.include_router(offices.router)
    api.include_router(apps.router)
    api.include_router(news.router)
    api.include_router(statistics.router)
    api.include_router(service_points.router)
    api.include_router(positions.router)
    api.include_router(routings.router)
    api.include_router(users.router)
    api.include_router(eugo_me.router)
    api.include_router(eugo_public.router)
    return api


api = create_api()


@serve.deployment(
    name="KepIngress",
    # Serve's default of 5 concurrent requests per replica throttles an async, I/O-bound app to a crawl.
    max_ongoing_requests=256,
    max_queued_requests=2048,
    ray_actor_options={"num_cpus": 0},
    # Serve's own check only: the replica answers. Not the database: a replica restarted because PostgreSQL is away
    # answers nothing (its pool reconnects by itself, and requests meanwhile get 503 with Retry-After)
    health_check_period_s=10,
)
@serve.ingress(api)
class KepIngress:
    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_format, settings.log_level)
        deps.configure(settings)


def build(settings: Settings, replicas: int = 1) -> serve.Application:
    deployment: Any = KepIngress
    options: dict[str, Any] = {"num_replicas": replicas}
    if settings.serve_http_resource:
        resources = {settings.serve_http_resource: 0.01}
        options["ray_actor_options"] = {**(deployment.ray_actor_options or {}), "resources": resources}
    return deployment.options(**options).bind(settings)  # type: ignore[no-any-return]

"""`GET /metrics` (Prometheus text format 0.0.4, as the node's)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import CollectorRegistry

from grid_console.metrics.access import MetricsAccess


def metrics_router(registry: CollectorRegistry, access: MetricsAccess) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", tags=["console"], response_class=Response)
    def metrics(request: Request) -> Response:
        """Prometheus text: ingest, quarantine, open and overdue cases, deliveries, outbox,
        MQTT (docs/console.md, Metrics). Who may read it: grid_console/metrics/access.py."""
        access.check(request)
        return Response(
            generate_latest(registry),
            media_type=CONTENT_TYPE_PLAIN_0_0_4,
            headers={"Cache-Control": "no-store"},
        )

    return router

"""Health, metrics, status, live pictures and the event stream."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

import cv2
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse

from edge.alerts.evidence import annotate
from edge.alerts.payload import iso
from edge.api.context import ApiContext
from edge.api.metrics import CONTENT_TYPE, render
from edge.api.schemas import DetectedObject, Detections
from edge.messages import Image

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}


def _jpeg(image: Image, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise HTTPException(500, "could not encode the picture")
    return bytes(buf.tobytes())


def _draw_zones(ctx: ApiContext, camera_id: str, image: Image) -> Image:
    camera = ctx.backend.site.settings.camera(camera_id)
    for zone in camera.zones:
        image = annotate(image, list(zone.polygon), ())
    return image


def _known_camera(ctx: ApiContext, camera_id: str) -> str:
    if camera_id not in {c.id for c in ctx.backend.site.settings.cameras}:
        raise HTTPException(404, "no such camera")
    return camera_id


def node_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter()
    read = [Depends(ctx.auth.read)]

    @router.get("/healthz", tags=["node"])
    def healthz() -> dict[str, bool]:
        """The process answers (no token needed)."""
        return {"ok": True}

    @router.get("/metrics", tags=["node"], dependencies=read, response_class=Response)
    def metrics() -> Response:
        """Prometheus text exposition."""
        text = render([*ctx.backend.metrics(), *ctx.api_metrics()])
        return Response(text, media_type=CONTENT_TYPE, headers=NO_STORE)

    @router.get("/api/status", tags=["node"], dependencies=read)
    def status() -> dict[str, Any]:
        """Node, cameras, sensors and open alerts."""
        return ctx.backend.status()

    return router


def live_router(ctx: ApiContext) -> APIRouter:
    """The latest picture of each camera and the event stream."""
    router = APIRouter()
    read = [Depends(ctx.auth.read)]

    @router.get(
        "/api/cameras/{camera_id}/snapshot.jpg",
        tags=["cameras"],
        dependencies=read,
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}, 404: {}},
    )
    def snapshot(camera_id: str, zones: Annotated[bool, Query()] = False) -> Response:
        """The camera's latest frame; with `zones=1` its zones are outlined."""
        _known_camera(ctx, camera_id)
        frame = ctx.backend.latest_frame(camera_id)
        if frame is None:
            raise HTTPException(404, f"no picture from camera {camera_id!r} yet")
        image = _draw_zones(ctx, camera_id, frame.image) if zones else frame.image
        return Response(_jpeg(image), media_type="image/jpeg", headers=NO_STORE)

    @router.get("/api/cameras/{camera_id}/detections", tags=["cameras"], dependencies=read)
    def detections(camera_id: str) -> Detections:
        """What the model found on the camera's latest judged frame (boxes normalised 0..1),
        for the installer page's live boxes. Every detection the detector kept, including
        those below a zone's min_confidence or outside every zone."""
        camera = _known_camera(ctx, camera_id)
        seen = ctx.backend.latest_seen(camera)
        if seen is None:
            return Detections(camera=camera, at=None, detections=[])
        return Detections(
            camera=camera,
            at=iso(seen.wall_ts),
            detections=[DetectedObject.of(d) for d in seen.detections],
        )

    @router.get(
        "/api/events",
        tags=["alerts"],
        dependencies=read,
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def events(request: Request) -> StreamingResponse:
        """Server-Sent Events: `alert` (an AlertPayload) on every transition, `status`
        (as /api/status) on connect and every 5 s."""

        async def current_status() -> dict[str, Any]:
            return await asyncio.to_thread(ctx.backend.status)

        client = request.client.host if request.client else "?"
        log.info("event stream opened for %s (%d clients before)", client, ctx.hub.clients)
        headers = {**NO_STORE, "X-Accel-Buffering": "no"}
        return StreamingResponse(
            ctx.hub.stream(current_status), media_type="text/event-stream", headers=headers
        )

    return router

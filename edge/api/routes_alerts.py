"""Alerts: the list with filters, one alert, its evidence, and ack / release / resolve."""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from edge.alerts.store import Actor
from edge.api.context import ApiContext
from edge.api.files import check_alert_id, inside, snapshot_file
from edge.api.schemas import ActionBody, ActionResult, AlertList, AlertPayload
from edge.video.clips import alert_clips_dir

log = logging.getLogger(__name__)

Action = Literal["ack", "release", "resolve"]
JPEG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}},
    404: {"description": "No such snapshot."},
}
MP4: dict[int | str, dict[str, Any]] = {
    200: {"content": {"video/mp4": {}}},
    404: {"description": "No clip for this alert (yet)."},
}


def parse_time(value: str | None, name: str) -> float | None:
    """ISO 8601 (a naive time is UTC) or Unix seconds; 400 otherwise."""
    if value is None or value == "":
        return None
    try:
        ts = float(value)
    except ValueError:
        try:
            dt = datetime.fromisoformat(value)
        except ValueError as exc:
            raise HTTPException(
                400, f"{name}: not an ISO 8601 time or Unix seconds: {value[:40]!r}"
            ) from exc
        ts = (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(ts):
        raise HTTPException(400, f"{name}: not a finite time")
    return ts


def _payload(ctx: ApiContext, alert_id: str) -> AlertPayload:
    text = ctx.backend.alert_payload(check_alert_id(alert_id))
    if text is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    payload: AlertPayload = json.loads(text)
    return payload


class AlertQuery(BaseModel):
    state: str | None = Field(None, max_length=64, description="open, acknowledged, ...")
    kind: str | None = Field(None, max_length=64, description="fire_lane_blocked, smoke, ...")
    camera: str | None = Field(None, max_length=64)
    since: str | None = Field(None, max_length=64, description="ISO 8601 or Unix seconds.")
    until: str | None = Field(None, max_length=64, description="ISO 8601 or Unix seconds.")
    limit: int = Field(200, ge=1, le=1000)


def alerts_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["alerts"])
    read = [Depends(ctx.auth.read)]

    @router.get("/api/alerts", dependencies=read)
    def list_alerts(q: Annotated[AlertQuery, Query()]) -> AlertList:
        """The last payload of each matching alert, most recently updated first. `since` and
        `until` bound the time of that last update."""
        rows = ctx.backend.alert_payloads(
            state=q.state or None, kind=q.kind or None, camera=q.camera or None,
            since=parse_time(q.since, "since"), until=parse_time(q.until, "until"), limit=q.limit,
        )  # fmt: skip
        return AlertList(alerts=[json.loads(r) for r in rows])

    @router.get("/api/alerts/{alert_id}", dependencies=read)
    def get_alert(alert_id: str) -> AlertPayload:
        """The alert's last payload."""
        return _payload(ctx, alert_id)

    @router.get(
        "/api/alerts/{alert_id}/snapshots/{snapshot_id}.jpg",
        dependencies=read,
        response_class=FileResponse,
        responses=JPEG,
    )
    def alert_snapshot(alert_id: str, snapshot_id: str) -> FileResponse:
        """An evidence JPEG of this alert (`evidence.url` in its payload)."""
        path = snapshot_file(ctx.snapshots_dir, snapshot_id, check_alert_id(alert_id))
        return FileResponse(path, media_type="image/jpeg")

    @router.get(
        "/api/alerts/{alert_id}/clip.mp4",
        dependencies=read,
        response_class=FileResponse,
        responses=MP4,
    )
    def alert_clip(alert_id: str) -> FileResponse:
        """The evidence clip of a camera alert (`evidence.clip.url` in its payload): the
        camera's stream from about 5 s before the alert to 5 s after, as the camera sent it.
        404 until it is written, a few seconds after the alert."""
        path = inside(alert_clips_dir(ctx.storage), f"{check_alert_id(alert_id)}.mp4")
        if not path.is_file():
            raise HTTPException(404, "no clip for this alert (yet: it is written after the alert)")
        return FileResponse(path, media_type="video/mp4")

    @router.post("/api/alerts/{alert_id}/{action}", dependencies=[Depends(ctx.auth.write)])
    def act(
        alert_id: str, action: Action, body: Annotated[ActionBody | None, Body()] = None
    ) -> ActionResult:
        """ack, release (false alarm) or resolve: the lifecycle of the MQTT commands; the
        transition is published on MQTT like theirs."""
        check_alert_id(alert_id)
        body = body or ActionBody()
        actor = Actor(by=body.by, at=ctx.backend.now(), note=body.note)
        result = ctx.backend.command(action, alert_id, actor)
        if result.record is None and ctx.backend.alert_payload(alert_id) is None:
            raise HTTPException(404, f"no alert {alert_id!r}")
        log.info("api %s %s by=%s: ok=%s %s", action, alert_id, body.by, result.ok,
                 result.message)  # fmt: skip
        alert = result.payload if result.payload is not None else _payload(ctx, alert_id)
        return ActionResult(ok=result.ok, message=result.message, alert=alert)

    return router

"""Recorded clips for testing zones, and the test itself: a replay with unsaved zones."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from edge.alerts.payload import iso
from edge.api.context import ApiContext
from edge.api.files import (
    MAX_CLIP_BYTES,
    check_clip_name,
    clip_file,
    list_clips,
    prune_old,
    snapshot_file,
)
from edge.api.routes_config import invalid
from edge.api.schemas import Clip, ClipList, ClipTestRequest, ClipTestResult, Ok
from edge.api.zonesedit import CameraNotInFileError, replace_zones
from edge.config.loader import ConfigError, SiteConfig
from edge.replay import replay
from edge.video.files import probe
from edge.video.source import VideoSourceError

log = logging.getLogger(__name__)

TEST_SNAPSHOTS_KEEP = 500
TEST_SNAPSHOTS_KEEP_S = 86_400.0


async def _receive(request: Request, tmp: Path) -> int:
    size = 0
    with tmp.open("wb") as f:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_CLIP_BYTES:
                raise HTTPException(413, f"clips are limited to {MAX_CLIP_BYTES} bytes")
            await asyncio.to_thread(f.write, chunk)
        await asyncio.to_thread(os.fsync, f.fileno())
    return size


def _test_site(ctx: ApiContext, camera_id: str, zones: list[dict[str, Any]] | None) -> SiteConfig:
    site = ctx.backend.site
    if camera_id not in {c.id for c in site.settings.cameras}:
        raise HTTPException(404, "no such camera")
    if zones is None:
        return site
    try:
        text = replace_zones(ctx.config.read().text, camera_id, zones)
    except CameraNotInFileError as exc:
        raise HTTPException(404, "no such camera in the config file") from exc
    return ctx.config.check(text)  # ConfigError: 422 with the issues


def _run_test(ctx: ApiContext, camera_id: str, body: ClipTestRequest) -> ClipTestResult:
    clip = clip_file(ctx.clips_dir, body.clip)
    site = _test_site(ctx, camera_id, body.zones)
    out = io.StringIO()
    snapshots = ctx.test_snapshots_dir
    prune_old(snapshots, keep_s=TEST_SNAPSHOTS_KEEP_S, keep_files=TEST_SNAPSHOTS_KEEP)
    result = replay(
        site, camera_id, clip, out, still_seconds=body.still_seconds, snapshots_dir=snapshots,
        detector=ctx.backend.test_detector(site), epoch=ctx.backend.now(),
    )  # fmt: skip
    last: dict[str, dict[str, Any]] = {}
    for line in out.getvalue().splitlines():
        payload = json.loads(line)
        evidence = payload.get("evidence")
        if isinstance(evidence, dict):
            evidence["url"] = f"/api/test-snapshots/{evidence['snapshot_id']}.jpg"
        last[payload["id"]] = payload  # insertion order: the order alerts were raised
    return ClipTestResult(
        alerts=list(last.values()),
        frames=result.frames,
        video_s=round(result.video_s, 3),
        wall_s=round(result.wall_s, 3),
    )


def clips_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["clips"])
    read, write = [Depends(ctx.auth.read)], [Depends(ctx.auth.write)]

    @router.get("/api/clips", dependencies=read)
    def clips() -> ClipList:
        """Clips kept in `storage/clips` for testing zones."""
        found = list_clips(ctx.clips_dir)
        return ClipList(clips=[Clip(name=c.name, bytes=c.bytes, modified_at=iso(c.modified_at))
                               for c in found])  # fmt: skip

    @router.put("/api/clips/{name}", dependencies=write)
    async def upload(name: str, request: Request) -> Clip:
        """Store the raw request body as a clip (a video or an image file)."""
        check_clip_name(name)
        directory = ctx.clips_dir
        directory.mkdir(parents=True, exist_ok=True)
        path = clip_file(directory, name, must_exist=False)
        # Hidden, unique, and with the same extension: probe goes by it.
        tmp = path.with_name(f".upload-{secrets.token_hex(6)}-{name}")
        try:
            size = await _receive(request, tmp)
            await asyncio.to_thread(_check_media, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        log.info("clip %s stored (%d bytes)", name, size)
        return Clip(name=name, bytes=size, modified_at=iso(path.stat().st_mtime))

    @router.delete("/api/clips/{name}", dependencies=write)
    def delete(name: str) -> Ok:
        clip_file(ctx.clips_dir, name).unlink(missing_ok=True)
        return Ok(ok=True)

    return router


def clip_test_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["clips"])
    read, write = [Depends(ctx.auth.read)], [Depends(ctx.auth.write)]

    @router.post(
        "/api/cameras/{camera_id}/test-clip",
        dependencies=write,
        response_model=ClipTestResult,
        responses={422: {"description": "The zones are invalid."}},
    )
    def test_clip(camera_id: str, body: ClipTestRequest) -> ClipTestResult | JSONResponse:
        """Replay a clip through this camera's pipeline with the given (unsaved) zones."""
        if not ctx.test_lock.acquire(blocking=False):
            raise HTTPException(503, "another clip test is running", {"Retry-After": "5"})
        try:
            return _run_test(ctx, camera_id, body)
        except ConfigError as exc:
            return invalid(exc.issues)
        except VideoSourceError as exc:
            log.warning("clip test on %s: %s", body.clip, exc)
            raise HTTPException(400, f"clip {body.clip!r} cannot be read") from exc
        finally:
            ctx.test_lock.release()

    @router.get("/api/test-snapshots/{snapshot_id}.jpg", dependencies=read,
                response_class=FileResponse,
                responses={200: {"content": {"image/jpeg": {}}}})  # fmt: skip
    def test_snapshot(snapshot_id: str) -> FileResponse:
        """A snapshot of an alert raised by a clip test."""
        return FileResponse(
            snapshot_file(ctx.test_snapshots_dir, snapshot_id), media_type="image/jpeg"
        )

    return router


def _check_media(path: Path) -> None:
    """Refuse an upload that is not a readable video or image."""
    try:
        probe(path)
    except VideoSourceError as exc:
        raise HTTPException(400, "not a readable video or image file") from exc

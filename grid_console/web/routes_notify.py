"""`GET /api/snapshots/{sha256}`: the picture a notification links to.

The link works without signing in, on purpose: a robot card is read in a group chat on a phone,
and DingTalk fetches the image for its card from its own servers. The sha256 of the JPEG is the
capability: 256 bits nobody can guess without the picture or the message, and it names one
picture only (no listing, no other route takes it). A deployment that must not allow even that
puts the console behind its own gateway and keeps the snapshot links inside it.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from grid_console.snapshots.models import Snapshot

_SHA256 = re.compile(r"[0-9a-f]{64}")


def snapshot_router(engine: Engine) -> APIRouter:
    router = APIRouter()

    @router.get("/api/snapshots/{sha256}")
    def snapshot(sha256: str) -> Response:
        if not _SHA256.fullmatch(sha256):
            raise HTTPException(404, "没有这张截图 / no such snapshot")
        with Session(engine) as session:
            found = session.get(Snapshot, sha256)
            # Pictures only: a case's clip is served to those who may read the case.
            if found is None or not found.content_type.startswith("image/"):
                raise HTTPException(404, "没有这张截图 / no such snapshot")
            content, media_type = found.content, found.content_type
        # Content-addressed: it never changes, so it may be cached; never sniffed as HTML.
        headers = {"Cache-Control": "private, max-age=604800, immutable",
                   "X-Content-Type-Options": "nosniff"}  # fmt: skip
        return Response(content, media_type=media_type, headers=headers)

    return router

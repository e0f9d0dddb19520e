"""`GET /api/quarantine`: what the ingest refused, for the admin page (issue 16: quarantine is
"counted (metric, admin page)"). Read-only; admin and operator, like the directory."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from grid_console.auth.roles import READS_DIRECTORY
from grid_console.auth.service import Principal
from grid_console.ingest.models import Quarantined
from grid_console.web.security import Security

_PREVIEW = 300  # bytes of the payload shown; the row keeps up to 64 KiB


def quarantine_router(engine: Engine, security: Security) -> APIRouter:
    router = APIRouter()
    centre = Depends(security.require(*READS_DIRECTORY))

    @router.get("/api/quarantine", tags=["ingest"])
    def quarantine(
        reason: str | None = Query(default=None, max_length=32),
        limit: int = Query(default=50, ge=1, le=500),
        _: Principal = centre,
    ) -> dict[str, Any]:
        """`{"total", "counts": {reason: n}, "items": [...]}`, newest first."""
        with Session(engine) as session:
            counts: dict[str, int] = {
                reason: count
                for reason, count in session.execute(
                    select(Quarantined.reason, func.count()).group_by(Quarantined.reason)
                )
            }
            stmt = select(Quarantined).order_by(Quarantined.id.desc()).limit(limit)
            if reason:
                stmt = stmt.where(Quarantined.reason == reason)
            items = [_item(row) for row in session.execute(stmt).scalars()]
        return {"total": sum(counts.values()), "counts": counts, "items": items}

    return router


def _item(row: Quarantined) -> dict[str, Any]:
    return {
        "id": row.id,
        "received_at": row.received_at.isoformat(),
        "topic": row.topic,
        "reason": row.reason,
        "detail": row.detail,
        "size": row.size,
        # Shown as text on the page (never as markup); bytes that are not UTF-8 become U+FFFD.
        "preview": row.payload[:_PREVIEW].decode("utf-8", errors="replace"),
    }

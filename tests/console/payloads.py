"""Alert events as a node publishes them (mqtt/topics.md), checked against the schema."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.schemas import validate

PREFIX = "grid/xizhen/gate-1"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_STATE_AFTER = {
    "raised": "open",
    "updated": "open",
    "escalated": "open",
    "cleared": "cleared",
    "acknowledged": "acknowledged",
    "released": "released",
    "resolved": "resolved",
}


def new_alert_id() -> str:
    return "".join(secrets.choice(_CROCKFORD) for _ in range(26))


def ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def alert(
    alert_id: str,
    seq: int,
    event: str,
    *,
    kind: str = "smoke",
    severity: str = "critical",
    at: datetime | None = None,
    grid: str | None = "A-05",
    source: str | None = None,
) -> dict[str, Any]:
    now = at or datetime.now(UTC)
    sensor = kind in ("smoke", "gas", "co")
    body: dict[str, Any] = {
        "schema": "grid-sentinel.alert/1",
        "id": alert_id,
        "seq": seq,
        "event": event,
        "state": _STATE_AFTER[event],
        "kind": kind,
        "severity": severity,
        "escalated": event == "escalated",
        "site": {"id": "xizhen", "name": "西镇社区"},
        "node": "gate-1",
        "grid": grid,
        "location": {"text": "5号楼 2单元 1楼", "building": "5", "floor": "1", "lon": None,
                     "lat": None},
        "source": {"camera": None if sensor else (source or "lift-3"),
                   "zone": None if sensor else "car",
                   "sensor": (source or "smoke-1") if sensor else None},
        "started_at": ts(now - timedelta(seconds=5)),
        "updated_at": ts(now),
        "cleared_at": ts(now) if event == "cleared" else None,
        "dwell_s": 5.0,
        "objects": [],
        "evidence": None,
        "detail": {"alarm": True} if sensor else {},
    }  # fmt: skip
    validate("alert", body)
    return body


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def status(state: str = "online") -> dict[str, Any]:
    online = state == "online"
    body = {
        "schema": "grid-sentinel.status/1",
        "site": {"id": "xizhen", "name": "西镇社区"},
        "node": "gate-1",
        "state": state,
        "version": "0.1.0",
        "started_at": ts(datetime.now(UTC)) if online else None,
        "ts": ts(datetime.now(UTC)),
        "cameras": 0 if online else None,
        "sensors": 1 if online else None,
    }
    validate("status", body)
    return body

"""The alert event payload (mqtt/schemas/alert.json), built from an alert record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from edge.alerts.store import AlertRecord
from edge.messages import AlertObject

SCHEMA = "grid-sentinel.alert/1"
JsonDict = dict[str, object]


@dataclass(frozen=True, slots=True)
class Place:
    """Where a camera or sensor is, copied onto its alerts."""

    grid: str | None = None
    text: str | None = None
    building: str | None = None
    floor: str | None = None
    lon: float | None = None
    lat: float | None = None
    zones: Mapping[str, Sequence[tuple[float, float]]] = field(default_factory=dict)
    zone_names: Mapping[str, str] = field(default_factory=dict)  # for the evidence stamp
    # The camera's stream can hold an evidence clip: False for a capture device or a still
    # picture, whose alerts must not name a clip URL that can only answer 404.
    clips: bool = True


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    site_id: str
    site_name: str
    node_id: str
    evidence_url: str = "/api/alerts/{alert_id}/snapshots/{snapshot_id}.jpg"
    # The evidence clip of a camera alert (edge.video.clips); None where clips are off.
    clip_url: str | None = None
    clip_seconds: tuple[float, float] = (5.0, 5.0)  # before, after the alert


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def object_json(obj: AlertObject) -> JsonDict:
    b = obj.box
    return {
        "category": obj.category.value,
        "class": obj.class_name,
        "confidence": round(obj.confidence, 3),
        "box": [round(b.x1, 4), round(b.y1, 4), round(b.x2, 4), round(b.y2, 4)],
        "track_id": obj.track_id,
    }


def _evidence_json(node: NodeIdentity, place: Place, r: AlertRecord) -> JsonDict | None:
    ev = r.evidence
    if ev is None:
        return None
    return {
        "snapshot_id": ev.snapshot_id,
        "url": node.evidence_url.format(alert_id=r.id, snapshot_id=ev.snapshot_id),
        "content_type": "image/jpeg",
        "width": ev.width,
        "height": ev.height,
        "bytes": ev.bytes,
        "sha256": ev.sha256,
        **_clip_json(node, place, r),
    }


def _clip_json(node: NodeIdentity, place: Place, r: AlertRecord) -> JsonDict:
    """A zone alert's clip: named from the raise on, written `after` seconds later."""
    if node.clip_url is None or r.zone_id is None or not place.clips:
        return {}
    before, after = node.clip_seconds
    url = node.clip_url.format(alert_id=r.id)
    return {"clip": {"url": url, "content_type": "video/mp4", "before_s": before, "after_s": after}}


def alert_payload(
    node: NodeIdentity, place: Place, r: AlertRecord, event: str, now_wall: float
) -> JsonDict:
    """The full state of an alert after `event`, as every transition publishes it."""
    cleared = r.state == "cleared"
    actor = r.actor
    return {
        "schema": SCHEMA,
        "id": r.id,
        "seq": r.seq,
        "event": event,
        "state": r.state,
        "kind": r.kind.value,
        "severity": r.severity.value,
        "escalated": r.escalated,
        "site": {"id": node.site_id, "name": node.site_name},
        "node": node.node_id,
        "grid": place.grid,
        "location": {
            "text": place.text,
            "building": place.building,
            "floor": place.floor,
            "lon": place.lon,
            "lat": place.lat,
        },
        "source": {"camera": r.camera_id, "zone": r.zone_id, "sensor": r.sensor_id},
        "started_at": iso(r.started_wall),
        "updated_at": iso(now_wall),
        "cleared_at": iso(r.closed_wall or now_wall) if cleared else None,
        # Measured from the start on the wall clock, so it stays true across restarts.
        "dwell_s": round(max(0.0, (r.closed_wall or now_wall) - r.started_wall), 2),
        "objects": [object_json(o) for o in r.objects],
        "evidence": _evidence_json(node, place, r),
        "detail": dict(r.detail),
        "actor": None
        if actor is None
        else {
            "by": actor.by,
            "at": iso(actor.at),
            "note": actor.note,
            "command_id": actor.command_id,
        },
    }

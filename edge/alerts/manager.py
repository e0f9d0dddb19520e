"""Turns rule verdicts into alerts: stable ids, sequence numbers, evidence, full state each time.

The manager takes events from any source (zone rules, camera health, later sensors) and hands
each transition, already serialised, to a sink: the durable outbox when live, stdout in a
replay. It never talks to the network itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from edge.alerts.evidence import Evidence, SnapshotStore
from edge.clock import Clock
from edge.messages import AlertEvent, AlertObject, Frame, Transition
from edge.mqtt.topics import Topics

SCHEMA = "grid-sentinel.alert/1"
JsonDict = dict[str, object]

log = logging.getLogger(__name__)


class AlertSink(Protocol):
    def deliver(self, topic: str, payload: bytes) -> None:
        """Take one serialised alert event; must not lose it once this returns."""
        ...


@dataclass(frozen=True, slots=True)
class Place:
    """Where a camera (or sensor) is, copied onto its alerts."""

    grid: str | None = None
    text: str | None = None
    building: str | None = None
    floor: str | None = None
    lon: float | None = None
    lat: float | None = None
    zones: Mapping[str, Sequence[tuple[float, float]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    site_id: str
    site_name: str
    node_id: str
    evidence_url: str = "/api/alerts/{alert_id}/snapshots/{snapshot_id}.jpg"


@dataclass(slots=True)
class OpenAlert:
    id: str
    seq: int
    started_wall: float
    evidence: Evidence | None


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _object_json(obj: AlertObject) -> JsonDict:
    b = obj.box
    return {
        "category": obj.category.value,
        "class": obj.class_name,
        "confidence": round(obj.confidence, 3),
        "box": [round(b.x1, 4), round(b.y1, 4), round(b.x2, 4), round(b.y2, 4)],
        "track_id": obj.track_id,
    }


class AlertManager:
    def __init__(
        self,
        node: NodeIdentity,
        places: Mapping[str, Place],
        *,
        topics: Topics,
        clock: Clock,
        sink: AlertSink,
        snapshots: SnapshotStore | None,
        new_id: Callable[[], str],
    ) -> None:
        self._node = node
        self._places = places
        self._topics = topics
        self._clock = clock
        self._sink = sink
        self._snapshots = snapshots
        self._new_id = new_id
        self._open: dict[str, OpenAlert] = {}

    @property
    def open_count(self) -> int:
        return len(self._open)

    def handle(self, events: Sequence[AlertEvent], frame: Frame | None = None) -> list[JsonDict]:
        """Record and deliver each event; returns the payloads delivered."""
        return [p for e in events if (p := self._handle_one(e, frame)) is not None]

    def _handle_one(self, event: AlertEvent, frame: Frame | None) -> JsonDict | None:
        alert = self._open.get(event.key)
        if alert is None:
            if event.transition is not Transition.RAISED:
                log.warning("ignoring %s for unknown condition %s", event.transition, event.key)
                return None
            started_wall = self._clock.now() - (self._clock.monotonic() - event.started)
            alert = OpenAlert(self._new_id(), 0, started_wall, None)
            self._open[event.key] = alert
        alert.seq += 1
        if frame is not None and event.transition is not Transition.UPDATED:
            alert.evidence = self._snapshot(alert, event, frame) or alert.evidence
        if event.transition is Transition.CLEARED:
            del self._open[event.key]
        payload = self._payload(alert, event)
        self._sink.deliver(self._topics.alert(event.kind.value), json.dumps(payload).encode())
        log.info(
            "alert %s %s %s camera=%s zone=%s seq=%d",
            event.kind.value,
            event.transition.value,
            alert.id,
            event.camera_id,
            event.zone_id,
            alert.seq,
        )
        return payload

    def _snapshot(self, alert: OpenAlert, event: AlertEvent, frame: Frame) -> Evidence | None:
        if self._snapshots is None:
            return None
        place = self._places.get(event.camera_id or "")
        zone = place.zones.get(event.zone_id or "") if place else None
        try:
            return self._snapshots.save(alert.id, alert.seq, frame.image, zone, event.objects)
        except OSError:
            # Evidence is precious but the alert itself matters more: send it without.
            log.exception("could not store the snapshot of alert %s", alert.id)
            return None

    def _payload(self, alert: OpenAlert, event: AlertEvent) -> JsonDict:
        place = self._places.get(event.camera_id or "", Place())
        now = self._clock.now()
        cleared = event.transition is Transition.CLEARED
        return {
            "schema": SCHEMA,
            "id": alert.id,
            "seq": alert.seq,
            "event": event.transition.value,
            "state": "cleared" if cleared else "open",
            "kind": event.kind.value,
            "severity": event.severity.value,
            "escalated": False,
            "site": {"id": self._node.site_id, "name": self._node.site_name},
            "node": self._node.node_id,
            "grid": place.grid,
            "location": {
                "text": place.text,
                "building": place.building,
                "floor": place.floor,
                "lon": place.lon,
                "lat": place.lat,
            },
            "source": {"camera": event.camera_id, "zone": event.zone_id, "sensor": None},
            "started_at": iso(alert.started_wall),
            "updated_at": iso(now),
            "cleared_at": iso(now) if cleared else None,
            "dwell_s": round(event.dwell_s, 2),
            "objects": [_object_json(o) for o in event.objects],
            "evidence": self._evidence_json(alert),
            "detail": dict(event.detail),
        }

    def _evidence_json(self, alert: OpenAlert) -> JsonDict | None:
        ev = alert.evidence
        if ev is None:
            return None
        return {
            "snapshot_id": ev.snapshot_id,
            "url": self._node.evidence_url.format(alert_id=alert.id, snapshot_id=ev.snapshot_id),
            "content_type": "image/jpeg",
            "width": ev.width,
            "height": ev.height,
            "bytes": ev.bytes,
            "sha256": ev.sha256,
        }

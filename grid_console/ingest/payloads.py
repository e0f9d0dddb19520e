"""What the console reads from an alert event that already passed the schema (alert.json)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from grid_console.clock import parse_timestamp


@dataclass(frozen=True, slots=True)
class AlertPayload:
    id: str
    seq: int
    event: str
    state: str
    kind: str
    severity: str
    escalated: bool
    site: str
    node: str
    grid: str | None
    location: str | None
    building: str | None
    floor: str | None
    lon: float | None
    lat: float | None
    camera: str | None
    zone: str | None
    sensor: str | None
    updated_at: datetime
    raw: dict[str, Any]

    @classmethod
    def from_valid(cls, doc: dict[str, Any]) -> AlertPayload:
        """`doc` must have passed alert.json: every key used here is then present and typed."""
        location, source = doc["location"], doc["source"]
        return cls(
            id=doc["id"],
            seq=doc["seq"],
            event=doc["event"],
            state=doc["state"],
            kind=doc["kind"],
            severity=doc["severity"],
            escalated=doc["escalated"],
            site=doc["site"]["id"],
            node=doc["node"],
            grid=doc["grid"],
            location=location["text"],
            building=location["building"],
            floor=location["floor"],
            lon=location["lon"],
            lat=location["lat"],
            camera=source["camera"],
            zone=source["zone"],
            sensor=source["sensor"],
            updated_at=parse_timestamp(doc["updated_at"]),
            raw=doc,
        )

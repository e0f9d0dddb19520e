"""What every zone rule offers the pipeline, and how a zone's kind picks its rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from edge.config.model import Zone, ZoneKind
from edge.messages import AlertEvent, AlertKind, Track
from edge.rules.dwell import DwellRule
from edge.rules.lift import LiftRule


class ZoneRule(Protocol):
    camera_id: str
    zone: Zone

    def update(self, tracks: Sequence[Track], now: float) -> list[AlertEvent]:
        """Judge this frame's tracks; no I/O, time only from `now`."""
        ...

    def resume(self, now: float) -> None:
        """The camera came back after an outage."""
        ...


def build_rule(camera_id: str, zone: Zone) -> ZoneRule:
    if zone.kind is ZoneKind.LIFT:
        return LiftRule(camera_id, zone)
    kind = (
        AlertKind.FIRE_LANE_BLOCKED
        if zone.kind is ZoneKind.FIRE_LANE
        else AlertKind.ILLEGAL_PARKING
    )
    return DwellRule(camera_id, zone, kind)

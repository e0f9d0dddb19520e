"""Which tracks a zone cares about: right category, confident enough, big enough, inside."""

from __future__ import annotations

from collections.abc import Sequence

from edge.config.model import Zone
from edge.messages import AlertObject, Track
from edge.rules.geometry import point_in_polygon


class ZoneFilter:
    def __init__(self, zone: Zone) -> None:
        self._polygon = list(zone.polygon)
        self._categories = zone.category_set
        self._min_confidence = zone.confidence_floor
        self._min_area = zone.min_area

    def select(self, tracks: Sequence[Track], now: float) -> list[Track]:
        """Tracks matched on this frame that belong in the zone (ground point inside)."""
        return [
            t
            for t in tracks
            if t.seen_at(now)
            and t.category in self._categories
            and t.confidence >= self._min_confidence
            and t.box.area >= self._min_area
            and point_in_polygon(_ground_point(t), self._polygon)
        ]


def _ground_point(track: Track) -> tuple[float, float]:
    # Boxes are clipped to the frame, and a polygon edge on the frame border counts as outside
    # in ray casting; nudge inwards so an object cut by the bottom edge is still in a
    # whole-frame zone.
    x, y = track.box.bottom_centre
    return min(x, _INSIDE), min(y, _INSIDE)


_INSIDE = 1.0 - 1e-6


def alert_object(track: Track) -> AlertObject:
    return AlertObject(
        category=track.category,
        class_name=track.class_name,
        confidence=round(track.confidence, 3),
        box=track.box,
        track_id=track.track_id,
    )

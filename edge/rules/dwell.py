"""Illegal parking and fire-lane blocking: a vehicle stopped in a zone for longer than allowed.

The rule follows *where* a vehicle stopped (an occupant), not a tracker id: a parked car that
flickers out of detection, is hidden by a passer-by or gets a new track id is still the same
occupant, keeps its dwell and never opens a second alert.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from edge.config.model import Zone
from edge.messages import AlertEvent, AlertKind, AlertObject, Box, Track, Transition
from edge.rules.stationary import StationaryClassifier, stayed_put
from edge.rules.zone import ZoneFilter, alert_object


@dataclass(slots=True)
class _Occupant:
    """A place in the zone where an object stopped, and what we know of it."""

    number: int
    anchor: Box
    since: float
    last_seen: float
    obj: AlertObject
    raised: bool = False
    last_sent: float = 0.0


def _overlap_of_smaller(a: Box, b: Box) -> float:
    ix = min(a.x2, b.x2) - max(a.x1, b.x1)
    iy = min(a.y2, b.y2) - max(a.y1, b.y1)
    smaller = min(a.area, b.area)
    if ix <= 0.0 or iy <= 0.0 or smaller <= 0.0:
        return 0.0
    return ix * iy / smaller


class DwellRule:
    """One no_parking or fire_lane zone of one camera."""

    def __init__(self, camera_id: str, zone: Zone, kind: AlertKind) -> None:
        self.camera_id = camera_id
        self.zone = zone
        self._kind = kind
        self._filter = ZoneFilter(zone)
        self._stationary = StationaryClassifier(zone.stationary_window_s, zone.stationary_iou)
        self._occupants: list[_Occupant] = []
        self._numbers = itertools.count(1)
        # Absence is not counted while the camera was offline: timers restart at resume.
        self._resumed_at = float("-inf")

    def update(self, tracks: Sequence[Track], now: float) -> list[AlertEvent]:
        inside = self._filter.select(tracks, now)
        stopped = self._stationary.observe(inside, now)
        claimed = self._match_stopped(stopped, now)
        self._keep_raised_alive(inside, claimed, now)
        return self._verdicts(now)

    def resume(self, now: float) -> None:
        """The camera is back after an outage: absence timers restart, nothing clears for it."""
        self._resumed_at = now
        self._stationary.reset()

    def _match_stopped(self, stopped: list[Track], now: float) -> set[int]:
        """Stopped tracks refresh the occupant where they stand, or become a new one."""
        claimed: set[int] = set()
        free = list(self._occupants)
        for track in sorted(stopped, key=lambda t: -t.box.area):
            best = max(free, key=lambda o: o.anchor.iou(track.box), default=None)
            if best is not None and stayed_put(best.anchor, track.box, self.zone.stationary_iou):
                free.remove(best)
                best.last_seen = now
                best.obj = alert_object(track)
                claimed.add(track.track_id)
            elif not self._covers_raised(track.box):
                # Still for the whole window already: its dwell started back then.
                since = now - self.zone.stationary_window_s
                number = next(self._numbers)
                self._occupants.append(
                    _Occupant(number, track.box, since, now, alert_object(track))
                )
                claimed.add(track.track_id)
        return claimed

    def _covers_raised(self, box: Box) -> bool:
        return any(o.raised and _overlap_of_smaller(o.anchor, box) >= 0.6 for o in self._occupants)

    def _keep_raised_alive(self, inside: list[Track], claimed: set[int], now: float) -> None:
        # A raised vehicle seen through a shrunken or shifted box (someone in front of it, a
        # fresh track id still inside its stationary window) is still there: never a second
        # alert for it, and no clearing while it is visible.
        for track in inside:
            if track.track_id in claimed:
                continue
            for occ in self._occupants:
                if occ.raised and _overlap_of_smaller(occ.anchor, track.box) >= 0.6:
                    occ.last_seen = now

    def _verdicts(self, now: float) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        keep: list[_Occupant] = []
        for occ in self._occupants:
            absent = now - max(occ.last_seen, self._resumed_at)
            if occ.raised and absent >= self.zone.clear_after:
                events.append(self._event(occ, Transition.CLEARED, now))
                continue
            if not occ.raised and absent > self.zone.gap_tolerance:
                continue
            keep.append(occ)
            if occ.last_seen < now:
                continue
            if not occ.raised and now - occ.since >= self.zone.grace - 1e-6:
                occ.raised, occ.last_sent = True, now
                events.append(self._event(occ, Transition.RAISED, now))
            elif occ.raised and now - occ.last_sent >= self.zone.update_every_s:
                occ.last_sent = now
                events.append(self._event(occ, Transition.UPDATED, now))
        self._occupants = keep
        return events

    def _event(self, occ: _Occupant, transition: Transition, now: float) -> AlertEvent:
        return AlertEvent(
            key=f"{self.camera_id}/{self.zone.id}/{occ.number}",
            kind=self._kind,
            transition=transition,
            severity=self.zone.alert_severity,
            started=occ.since,
            ts=now,
            camera_id=self.camera_id,
            zone_id=self.zone.id,
            objects=(occ.obj,),
            detail={"grace_s": self.zone.grace, "zone_kind": self.zone.kind.value},
        )

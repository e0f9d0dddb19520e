"""E-bike in a lift: a two-wheeler confirmed on enough frames within a second raises at once.

The question for a lift car is binary (is there an e-bike in it?), so the rule keeps one
condition per zone, not one per object: a rider turning the scooter round must not raise twice.

With a verifier (`edge.verify`), the pipeline hands the rule the verifier's verdict for the zone
on each frame (`observe`), and that verdict, not the detector's two-wheeler tracks, decides
whether the frame is a hit; the alert then carries the verifier's score and crop id.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence

from edge.config.model import Zone
from edge.messages import AlertEvent, AlertKind, AlertObject, Category, Track, Transition
from edge.rules.zone import ZoneFilter, alert_object
from edge.verify.verdict import Verdict


class LiftRule:
    def __init__(self, camera_id: str, zone: Zone) -> None:
        self.camera_id = camera_id
        self.zone = zone
        self._filter = ZoneFilter(zone)
        self._hits: deque[float] = deque()
        self._numbers = itertools.count(1)
        self._key: str | None = None
        self._started = 0.0
        self._last_present = 0.0
        self._last_sent = 0.0
        self._objects: tuple[AlertObject, ...] = ()
        self._verdict: Verdict | None = None
        self._evidence: Verdict | None = None

    def observe(self, verdict: Verdict) -> None:
        """The verifier's verdict for this zone on the coming `update`'s frame."""
        self._verdict = verdict

    def update(self, tracks: Sequence[Track], now: float) -> list[AlertEvent]:
        present = self._present(tracks, now)
        if present:
            self._hits.append(now)
            self._last_present = now
            self._objects = present
        while self._hits and self._hits[0] < now - self.zone.confirm_s:
            self._hits.popleft()

        if self._key is None:
            if len(self._hits) >= self.zone.min_hits:
                self._key = f"{self.camera_id}/{self.zone.id}/{next(self._numbers)}"
                self._started, self._last_sent = self._hits[0], now
                return [self._event(Transition.RAISED, now)]
            return []
        if now - self._last_present >= self.zone.clear_after:
            event = self._event(Transition.CLEARED, now)
            self._key = None
            self._hits.clear()
            return [event]
        if present and now - self._last_sent >= self.zone.update_every_s:
            self._last_sent = now
            return [self._event(Transition.UPDATED, now)]
        return []

    def _present(self, tracks: Sequence[Track], now: float) -> tuple[AlertObject, ...]:
        verdict = self._verdict
        if verdict is None:
            return tuple(alert_object(t) for t in self._filter.select(tracks, now))
        if not verdict.is_ebike or verdict.box is None:
            return ()
        self._evidence = verdict
        obj = AlertObject(Category.TWO_WHEELER, "ebike", round(verdict.score, 3), verdict.box)
        return (obj,)

    def resume(self, now: float) -> None:
        """Back from an outage: the absence timer restarts; stale hits must not confirm."""
        if self._key is not None:
            self._last_present = max(self._last_present, now)
        self._hits.clear()

    def _event(self, transition: Transition, now: float) -> AlertEvent:
        assert self._key is not None
        return AlertEvent(
            key=self._key,
            kind=AlertKind.EBIKE_IN_LIFT,
            transition=transition,
            severity=self.zone.alert_severity,
            started=self._started,
            ts=now,
            camera_id=self.camera_id,
            zone_id=self.zone.id,
            objects=self._objects,
            detail={
                "confirm_s": self.zone.confirm_s,
                "min_hits": self.zone.min_hits,
                **(self._evidence.detail() if self._evidence else {}),
            },
        )

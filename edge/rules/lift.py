"""E-bike in a lift: a two-wheeler confirmed on enough frames within a second raises at once.

The question for a lift car is binary (is there an e-bike in it?), so the rule keeps one
condition per zone, not one per object: a rider turning the scooter round must not raise twice.

With a verifier (`edge.verify`), the pipeline hands the rule the verifier's verdict for the zone
on each frame (`observe`), and that verdict, not the detector's two-wheeler tracks, decides
whether the frame is a hit; the alert then carries the verifier's score and crop id.
Verdicts are judged as a track, not one by one: each verified frame's box either continues the
current verdict track (it overlaps the last box, or is near it, within confirm_s) or starts a
new one, and frames count as hits only once their track holds `verifier_frames` of them (and,
with `verifier_rider`, a person on or beside the e-bike on one of them). A false verdict that
jumps around the car never builds a track.
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
        self._track_last: tuple[float, Verdict] | None = None
        self._track_len = 0
        self._track_rider = False
        self._track_pending: list[float] = []

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
            self._reset_track()
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
        if not self._follow(verdict, now):
            return ()
        self._evidence = verdict
        obj = AlertObject(Category.TWO_WHEELER, "ebike", round(verdict.score, 3), verdict.box)
        return (obj,)

    def _follow(self, verdict: Verdict, now: float) -> bool:
        """Add a verified frame to the verdict track; True when the track holds (then its
        earlier frames, not yet counted, count as hits too, so holding costs no delay)."""
        last = self._track_last
        if last is None or now - last[0] > self.zone.confirm_s or not _same(last[1], verdict):
            self._reset_track()
        self._track_last = (now, verdict)
        self._track_len += 1
        self._track_rider = self._track_rider or verdict.rider
        holds = self._track_len >= self.zone.verifier_frames
        if holds and self.zone.verifier_rider:
            holds = self._track_rider
        if not holds:
            self._track_pending.append(now)
            del self._track_pending[: -self.zone.min_hits - self.zone.verifier_frames]  # bounded
            return False
        self._hits.extend(self._track_pending)
        self._track_pending = []
        return True

    def _reset_track(self) -> None:
        self._track_last = None
        self._track_len = 0
        self._track_rider = False
        self._track_pending = []

    def resume(self, now: float) -> None:
        """Back from an outage: the absence timer restarts; stale hits must not confirm."""
        if self._key is not None:
            self._last_present = max(self._last_present, now)
        self._hits.clear()
        self._reset_track()

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


def _same(a: Verdict, b: Verdict) -> bool:
    """Whether verdict `b`'s box continues `a`'s: they overlap, or `b` is within one box size
    of `a` (an e-bike wheeled in moves; a false verdict jumps from one thing to another)."""
    assert a.box is not None and b.box is not None
    if a.box.iou(b.box) > 0.1:
        return True
    ax, ay = (a.box.x1 + a.box.x2) / 2, (a.box.y1 + a.box.y2) / 2
    bx, by = (b.box.x1 + b.box.x2) / 2, (b.box.y1 + b.box.y2) / 2
    size = max(a.box.width, a.box.height, b.box.width, b.box.height)
    return abs(ax - bx) <= size and abs(ay - by) <= size

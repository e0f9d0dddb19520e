"""The alert state machine: rule verdicts, platform commands, escalation, restarts.

    raised -> updated* -> cleared                      (the rule's condition, at the edge)
    open -> acknowledged                                (ack: someone is on it; no escalation)
    open|acknowledged|cleared -> released | resolved    (false alarm | handled on site)
    open, unacknowledged for escalate_after_s -> escalated once, one severity up

A released condition stays silent while the thing stays: the same parked car or e-bike never
comes back as a new alert after an operator called it a false alarm. Not when its track id
changes (the rules key by place, not track), not when it is hidden for a while (the silence
outlasts the rule's clear by the zone's `release_hold_s`, so a bus in front of the car or a
verifier that loses the e-bike for a moment does not bring it back), not across a reload or a
restart (the new rules' first alert at the same place is that car; in a lift, the lift's next
e-bike alert). A resolved one raises a new alert if it is still there
`reraise_after_resolve_s` later. After a restart, open alerts are restored from disk and
re-adopted when a rule confirms the same condition again, or cleared when none does within
the condition's restore window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace

from edge.alerts.payload import JsonDict
from edge.alerts.store import Actor, AlertRecord, AlertStore
from edge.clock import Clock
from edge.messages import AlertEvent, AlertKind, Box, Severity, Transition

_ORDER = [Severity.INFO, Severity.WARNING, Severity.MAJOR, Severity.CRITICAL]
_BY_PLACE = {AlertKind.ILLEGAL_PARKING, AlertKind.FIRE_LANE_BLOCKED}
# Kinds whose release silences the same thing when it is raised again under a new key. A lift
# car is one place: whatever its rule raises again while the silence holds is the released one.
# Sensors are left out on purpose: a smoke detector that alarms again is a new alarm.
_SILENCEABLE = _BY_PLACE | {AlertKind.EBIKE_IN_LIFT}
COMMANDS = ("ack", "release", "resolve")
SENSOR_KEY_PREFIX = "sensor/"  # edge/sensors/rules.py keys its conditions sensor/{id}/{what}


def _bump(s: Severity) -> Severity:
    return _ORDER[min(_ORDER.index(s) + 1, len(_ORDER) - 1)]


def _higher(a: Severity, b: Severity) -> Severity:
    return a if _ORDER.index(a) >= _ORDER.index(b) else b


def _same_place(a: Box, b: Box) -> bool:
    ix = min(a.x2, b.x2) - max(a.x1, b.x1)
    iy = min(a.y2, b.y2) - max(a.y1, b.y1)
    smaller = min(a.area, b.area)
    return ix > 0 and iy > 0 and smaller > 0 and ix * iy / smaller >= 0.5


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    escalate_after_s: float = 300.0
    reraise_after_resolve_s: float = 300.0
    # When (monotonic) a restored alert gives up waiting for its rule to confirm it again,
    # given the time the rules (re)started.
    restore_deadline: Callable[[AlertRecord, float], float] = lambda _r, start: start + 600.0
    # How long a released thing's place stays silent after its rule cleared (the zone's
    # release_hold_s).
    release_hold: Callable[[AlertRecord], float] = lambda _r: 0.0


@dataclass(slots=True)
class CommandResult:
    ok: bool
    message: str
    record: AlertRecord | None = None
    event: str | None = None
    payload: JsonDict | None = field(default=None)


Step = tuple[AlertRecord, str]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The lifecycle's whole state at one moment, to go back to when a write fails."""

    by_key: dict[str, AlertRecord]
    by_id: dict[str, AlertRecord]
    suppressed: dict[str, float | None]
    silenced: dict[str, AlertRecord]
    held: dict[str, tuple[AlertRecord, float]]
    orphans: list[AlertRecord]
    restored: list[AlertRecord]
    changed: list[AlertRecord]
    records: list[tuple[AlertRecord, AlertRecord]]  # (the live record, a copy of its fields)


class Lifecycle:
    def __init__(self, policy: LifecyclePolicy, clock: Clock) -> None:
        self.policy = policy
        self._clock = clock
        self._by_key: dict[str, AlertRecord] = {}
        self._by_id: dict[str, AlertRecord] = {}
        self._suppressed: dict[str, float | None] = {}
        # Released, condition not cleared: by live key, and those whose key the rules lost
        # (restart, reload), waiting for the same place to be raised again.
        self._silenced: dict[str, AlertRecord] = {}
        self._orphans: list[AlertRecord] = []
        # Released, its rule cleared (gone, or only hidden?): by alert id, with the monotonic
        # time its place stops being silent.
        self._held: dict[str, tuple[AlertRecord, float]] = {}
        self._restored: list[AlertRecord] = []
        # Records changed without a publish (a silence lifted); the manager stores them.
        self.changed: list[AlertRecord] = []
        self._started = clock.monotonic()

    def active(self) -> list[AlertRecord]:
        return list(self._by_id.values())

    def checkpoint(self) -> Checkpoint:
        """Everything a transition may change, so `rollback` can undo it: the alert manager
        advances the state only once the transition is written to the store and the outbox."""
        live = {
            id(r): r
            for r in (*self._by_id.values(), *self._silenced.values(), *self._orphans,
                      *(h for h, _ in self._held.values()), *self.changed)
        }  # fmt: skip
        return Checkpoint(
            dict(self._by_key), dict(self._by_id), dict(self._suppressed), dict(self._silenced),
            dict(self._held), list(self._orphans), list(self._restored), list(self.changed),
            [(r, replace(r, detail=dict(r.detail))) for r in live.values()],
        )  # fmt: skip

    def rollback(self, cp: Checkpoint) -> None:
        """Back to `cp`, the same record objects with their old fields (listeners and the
        API may hold them)."""
        self._by_key, self._by_id = dict(cp.by_key), dict(cp.by_id)
        self._suppressed, self._silenced = dict(cp.suppressed), dict(cp.silenced)
        self._held = dict(cp.held)
        self._orphans, self._restored = list(cp.orphans), list(cp.restored)
        self.changed = list(cp.changed)
        for record, saved in cp.records:
            for f in fields(AlertRecord):
                setattr(record, f.name, getattr(saved, f.name))

    def get(self, alert_id: str) -> AlertRecord | None:
        return self._by_id.get(alert_id)

    def tracks(self, key: str) -> bool:
        """Whether a rule's condition `key` has an active alert."""
        return key in self._by_key

    def restore(self, records: Sequence[AlertRecord], silenced: Sequence[AlertRecord] = ()) -> None:
        self._orphans.extend(r for r in silenced if r.kind in _SILENCEABLE)
        for r in records:
            # Releases before issue 12 put an event in the outbox before saving it, so the
            # event after the last saved one may have been sent: skip its number so (id, seq)
            # never names two different events.
            r.seq += 1
            r.restored = True
            self._by_id[r.id] = r
            self._restored.append(r)

    def rebase(self, rebuilt: Callable[[AlertRecord], bool]) -> None:
        """Some rules were rebuilt (config reload): their active alerts must be confirmed again
        by the new rules within their restore window, or they clear. Alerts of rules that
        carry on (sensors) keep their keys."""
        for key, r in list(self._by_key.items()):
            if rebuilt(r):
                del self._by_key[key]
                r.restored = True
                self._restored.append(r)
        for key, r in list(self._silenced.items()):
            if rebuilt(r):
                del self._silenced[key]
                self._orphans.append(r)
        # New rules number their conditions afresh: an old key of theirs means nothing now.
        for key in [k for k in self._suppressed if not k.startswith(SENSOR_KEY_PREFIX)]:
            del self._suppressed[key]
        self._started = self._clock.monotonic()

    # --- rule verdicts -------------------------------------------------------------------

    def on_event(self, event: AlertEvent, new_id: Callable[[], str]) -> Step | None:
        key = event.key
        if key in self._suppressed:
            if event.transition is Transition.CLEARED:
                del self._suppressed[key]
                if key in self._silenced:
                    # Gone, or only hidden: the place stays silent a while yet.
                    r = self._silenced.pop(key)
                    hold = self.policy.release_hold(r)
                    if hold > 0:
                        self._held[r.id] = (r, self._clock.monotonic() + hold)
                    else:
                        self._lift_silence(r)
                return None
            until = self._suppressed[key]
            if until is None or self._clock.monotonic() < until:
                return None
            del self._suppressed[key]  # resolved, yet still there: a new alert
            return self._raise(event, new_id, fresh=True)
        current = self._by_key.get(key)
        if event.transition is Transition.CLEARED:
            return self._clear(current, event) if current else None
        if current is not None:
            return self._update(current, event)
        if event.transition is Transition.RAISED:
            released = self._released_again(event)
            if released is not None:
                # The car an operator released, back under a new key (a new track, after it
                # was hidden, after a restart or reload): silent still.
                released.key = key
                self._silenced[key] = released
                self._suppressed[key] = None
                return None
            adopted = self._adopt(event)
            return self._update(adopted, event) if adopted else self._raise(event, new_id)
        return None

    def _raise(self, event: AlertEvent, new_id: Callable[[], str], fresh: bool = False) -> Step:
        now_wall = self._clock.now()
        started = now_wall if fresh else now_wall - (self._clock.monotonic() - event.started)
        r = AlertRecord(
            id=new_id(), key=event.key, kind=event.kind, severity=event.severity, state="open",
            seq=1, started_wall=started, raised_wall=now_wall, camera_id=event.camera_id,
            zone_id=event.zone_id, sensor_id=event.sensor_id, objects=event.objects,
            detail=dict(event.detail),
        )  # fmt: skip
        self._by_key[event.key] = r
        self._by_id[r.id] = r
        return r, "raised"

    def _update(self, r: AlertRecord, event: AlertEvent) -> Step:
        r.seq += 1
        r.objects = event.objects or r.objects
        r.detail = dict(event.detail)
        r.severity = _higher(r.severity, event.severity)
        return r, "updated"

    def _clear(self, r: AlertRecord, event: AlertEvent) -> Step:
        r.seq += 1
        r.state = "cleared"
        r.closed_wall = self._clock.now()
        r.objects = event.objects or r.objects
        # What the rule says at the clear (a gas level back to 10 %LEL) replaces what it said
        # while open; keys it does not repeat (a verifier's crop id) stay.
        r.detail = {**r.detail, **event.detail}
        self._forget(r)
        return r, "cleared"

    def _adopt(self, event: AlertEvent) -> AlertRecord | None:
        """A restored alert the rule has just confirmed again: same kind, source, place."""
        r = self._match(self._restored, event)
        if r is None:
            return None
        self._restored.remove(r)
        r.restored = False
        r.key = event.key
        self._by_key[event.key] = r
        return r

    @staticmethod
    def _match(records: list[AlertRecord], event: AlertEvent) -> AlertRecord | None:
        """The record of `event`'s condition under an older key: same kind, source, place."""
        for r in records:
            if (r.kind, r.camera_id, r.zone_id, r.sensor_id) != (
                event.kind, event.camera_id, event.zone_id, event.sensor_id,
            ):  # fmt: skip
                continue
            if r.kind in _BY_PLACE and not (
                r.objects and event.objects and _same_place(r.objects[0].box, event.objects[0].box)
            ):
                continue
            return r
        return None

    def _released_again(self, event: AlertEvent) -> AlertRecord | None:
        released = self._match(self._orphans, event)
        if released is not None:
            self._orphans.remove(released)
            return released
        now = self._clock.monotonic()
        held = self._match([r for r, until in self._held.values() if now < until], event)
        if held is not None:
            del self._held[held.id]
        return held

    def _lift_silence(self, r: AlertRecord) -> None:
        r.silenced = False
        self.changed.append(r)

    def _forget(self, r: AlertRecord) -> None:
        self._by_id.pop(r.id, None)
        if self._by_key.get(r.key) is r:
            del self._by_key[r.key]
        if r in self._restored:
            self._restored.remove(r)

    # --- platform commands -----------------------------------------------------------------

    def on_command(
        self, action: str, alert_id: str, actor: Actor, store: AlertStore | None
    ) -> CommandResult:
        if action not in COMMANDS:
            return CommandResult(False, f"unknown command {action!r}; known: {', '.join(COMMANDS)}")
        r = self._by_id.get(alert_id) or (store.get(alert_id) if store else None)
        if r is None:
            return CommandResult(False, f"no alert with id {alert_id!r}")
        target = {"ack": "acknowledged", "release": "released", "resolve": "resolved"}[action]
        if r.state == target:
            return CommandResult(True, f"already {target}", r)
        if r.state in ("released", "resolved"):
            return CommandResult(False, f"alert is already {r.state}", r)
        r.actor = actor
        r.seq += 1
        if action != "ack":
            self._close(r, target)
        elif r.active:
            r.state = target
        # Acknowledging an alert that already cleared is recorded and echoed; it stays cleared.
        return CommandResult(True, target, r, target)

    def _close(self, r: AlertRecord, state: str) -> None:
        was_active = r.active
        r.state = state
        r.closed_wall = r.closed_wall or self._clock.now()
        silence = was_active and state == "released" and r.kind in _SILENCEABLE
        if was_active and self._by_key.get(r.key) is r:
            self._suppressed[r.key] = (
                None
                if state == "released"
                else self._clock.monotonic() + self.policy.reraise_after_resolve_s
            )
            # A sensor alarm that is still there after a release raises again once it has
            # cleared (safer than silencing a new one).
            if silence:
                r.silenced = True
                self._silenced[r.key] = r
        elif silence and r in self._restored:
            # Released while its rules were rebuilt (a reload) or restarting, before they
            # confirmed it again: their next alert at the same place is this one.
            r.silenced = True
            self._orphans.append(r)
        self._forget(r)

    # --- time ------------------------------------------------------------------------------

    def on_tick(self) -> list[Step]:
        steps: list[Step] = []
        while (step := self.tick_step()) is not None:
            steps.append(step)
        return steps

    def tick_step(self) -> Step | None:
        """The next transition that time has made due (an escalation, a restored alert nobody
        confirmed), or None; one at a time, so each can be written before the next."""
        now_wall, now = self._clock.now(), self._clock.monotonic()
        for r in self._by_id.values():
            if (
                r.state == "open"
                and not r.escalated
                and (now_wall - r.raised_wall >= self.policy.escalate_after_s)
            ):
                r.escalated = True
                r.severity = _bump(r.severity)
                r.seq += 1
                return r, "escalated"
        for r in list(self._orphans):
            # Not seen again in its window: the car left while the rules were not looking.
            if now >= self.policy.restore_deadline(r, self._started):
                self._orphans.remove(r)
                self._lift_silence(r)
        for alert_id, (r, until) in list(self._held.items()):
            if now >= until:  # gone for good
                del self._held[alert_id]
                self._lift_silence(r)
        for r in self._restored:
            if now >= self.policy.restore_deadline(r, self._started):
                r.seq += 1
                r.state = "cleared"
                r.closed_wall = now_wall
                r.detail = {**r.detail, "cleared_reason": "not_confirmed_after_restart"}
                self._forget(r)
                return r, "cleared"
        return None

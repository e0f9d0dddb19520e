"""Turns rule verdicts into alerts: stable ids, sequence numbers, evidence, full state each time.

The manager takes events from any source (zone rules, camera health, sensors) and hands each
transition, serialised, to a sink: the durable outbox when live, stdout in a replay. Platform
commands (acknowledge, release, resolve) and the escalation timer go through it too, so one
lock orders everything that happens to an alert. It never talks to the network itself.

No state advances without a durable write (issue 12). A transition is written to the alert
store first, then put in the outbox (the store row is marked `queued` once it is there; a crash
in between is repaired at the next start by putting the saved payload in the outbox then), and
only then logged and shown to listeners. If either write fails (a full disk), the lifecycle is
rolled back to where it was, the rule's event waits in a bounded queue in memory, in order, and
is tried again on the next event or tick; everything after it waits behind it. The first
failure raises a `storage_fault` alert, written into the room a `DiskReserve` frees by being
deleted, so it reaches the platform although nothing else fits. It clears once every held-back
transition is written and the reserve could be put back. A `cleared` can never go out without
its `raised`: a `raised` that could not be written leaves the lifecycle knowing nothing of the
condition, and what it does not know it neither updates nor clears.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from edge.alerts.evidence import Caption, Evidence, SnapshotStore
from edge.alerts.lifecycle import CommandResult, Lifecycle, LifecyclePolicy
from edge.alerts.outbox import OutboxError
from edge.alerts.payload import JsonDict, NodeIdentity, Place, alert_payload, iso
from edge.alerts.stamp import StampContext
from edge.alerts.store import Actor, AlertRecord, AlertStore
from edge.clock import Clock
from edge.messages import AlertEvent, AlertKind, Frame, Severity, Transition
from edge.mqtt.topics import Topics

__all__ = ["AlertManager", "AlertSink", "NodeIdentity", "Place", "iso"]

log = logging.getLogger(__name__)

Listener = Callable[[AlertRecord, JsonDict], None]

# What a failed durable write raises: SQLite's "database or disk is full", the outbox's wrapper
# of it (and OutboxFullError), and OSError from anything that writes files.
WRITE_ERRORS = (OSError, sqlite3.Error, OutboxError)
STORAGE_FAULT_KEY = "node/storage"
DEFAULT_MAX_PENDING = 10_000


class _WriteFailedError(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(slots=True)
class _Pending:
    """A rule's event not yet written; the id and evidence of its first attempt are kept."""

    event: AlertEvent
    alert_id: str | None = None
    evidence: Evidence | None = None


class AlertSink(Protocol):
    def deliver(self, topic: str, payload: bytes) -> None:
        """Take one serialised message; must not lose it once this returns."""
        ...


@dataclass(frozen=True, slots=True)
class Places:
    cameras: Mapping[str, Place]
    sensors: Mapping[str, Place]

    def of(self, r: AlertRecord | AlertEvent) -> Place:
        if r.sensor_id is not None:
            return self.sensors.get(r.sensor_id, Place())
        return self.cameras.get(r.camera_id or "", Place())


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
        store: AlertStore | None = None,
        policy: LifecyclePolicy | None = None,
        sensor_places: Mapping[str, Place] | None = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        snapshot_mqtt_max_bytes: int | None = None,
    ) -> None:
        self._node = node
        self._snapshot_mqtt_max = snapshot_mqtt_max_bytes
        self.snapshots_published = 0
        self.snapshots_too_large = 0
        self._places = Places(places, sensor_places or {})
        self._topics = topics
        self._clock = clock
        self._sink = sink
        self._snapshots = snapshots
        self._new_id = new_id
        self._store = store
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._next_prune = 0.0
        self.lifecycle = Lifecycle(policy or LifecyclePolicy(), clock)
        # Events held back by a failed write, oldest first, and payloads saved in the store
        # that a crash kept out of the outbox.
        self._pending: deque[_Pending] = deque()
        self._max_pending = max_pending
        self._unqueued: list[tuple[str, str, str]] = []
        self._faulted = False  # a storage_fault is raised (or waiting to be written)
        self.write_failures = 0
        self.dropped = 0
        if store is not None:
            self.lifecycle.restore(store.load_active(), store.load_silenced())
            self._unqueued = store.unqueued()
            with self._lock:
                self._drain([])

    @property
    def pending_count(self) -> int:
        """Transitions waiting in memory for the disk to take them."""
        return len(self._pending)

    @property
    def storage_faulted(self) -> bool:
        return self._faulted

    @property
    def open_count(self) -> int:
        return len(self.lifecycle.active())

    def add_listener(self, listener: Listener) -> None:
        """Called with every transition published (for the HTTP API, actuators, feedback)."""
        self._listeners.append(listener)

    def open_alerts(self) -> list[AlertRecord]:
        with self._lock:
            return list(self.lifecycle.active())

    def handle(self, events: Sequence[AlertEvent], frame: Frame | None = None) -> list[JsonDict]:
        """Record and deliver each rule event; returns the payloads delivered (with any held
        back earlier that could be written now)."""
        out: list[JsonDict] = []
        with self._lock:
            self._drain(out)
            for event in events:
                item = _Pending(event)
                if self._pending or not self._try(item, frame, out):
                    self._hold(item)
            self._store_changes(out)
        return out

    def command(self, action: str, alert_id: str, actor: Actor) -> CommandResult:
        """Apply a platform command (ack, release, resolve) and publish the echo."""
        with self._lock:
            self._drain([])
            checkpoint = self.lifecycle.checkpoint()
            result = self.lifecycle.on_command(action, alert_id, actor, self._store)
            if result.record is not None and result.event is not None:
                try:
                    result.payload = self._write(result.record, result.event)
                except _WriteFailedError as failed:
                    self.lifecycle.rollback(checkpoint)
                    self._failed(failed.error, [])
                    message = f"not applied: the node cannot store it ({failed.error}); retry"
                    return CommandResult(False, message, result.record)
            return result

    def resync(self, since_wall: float | None) -> tuple[int, str | None]:
        """Put the last event of every open alert (and of those closed at or after
        `since_wall`) in the outbox again, byte for byte as first sent, each with its snapshot
        while the picture is kept: a platform that subscribed after they were published (its
        first connection, a database restored) gets them. Duplicates are harmless: the same
        (id, seq) carries the same bytes. Returns how many were queued, and why it stopped
        short (the outbox could not take one) or None."""
        if self._store is None:
            return 0, None
        with self._lock:
            try:
                rows = self._store.resync_rows(since_wall)
            except WRITE_ERRORS as exc:
                return 0, str(exc)
            for sent, (record, text) in enumerate(rows):
                try:
                    self._sink.deliver(self._topics.alert(record.kind.value), text.encode())
                except WRITE_ERRORS as exc:
                    return sent, str(exc)
                ev = record.evidence
                if ev is not None and self._snapshot_mqtt_max is not None and ev.path.is_file():
                    self._publish_snapshot(record, ev, self._snapshot_mqtt_max)
        return len(rows), None

    def reconfigure(
        self,
        places: Mapping[str, Place],
        sensor_places: Mapping[str, Place],
        policy: LifecyclePolicy,
        *,
        rebase: bool = True,
    ) -> None:
        """New config; with `rebase`, new rules: open alerts wait to be confirmed again."""
        with self._lock:
            self._places = Places(places, sensor_places)
            self.lifecycle.policy = policy
            if rebase:
                # Only the camera side is rebuilt by a reload; sensor rules carry on.
                self.lifecycle.rebase(lambda r: r.camera_id is not None)

    def tick(self) -> list[JsonDict]:
        """Escalate unacknowledged alerts; clear restored ones no rule confirmed in time; write
        what a full disk held back; raise or clear `storage_fault`."""
        out: list[JsonDict] = []
        with self._lock:
            failures = self.write_failures
            self._drain(out)
            while not self._pending:
                checkpoint = self.lifecycle.checkpoint()
                step = self.lifecycle.tick_step()
                if step is None:
                    break
                try:
                    out.append(self._write(*step))
                except _WriteFailedError as failed:
                    # Still due at the next tick: time does not go back.
                    self.lifecycle.rollback(checkpoint)
                    self._failed(failed.error, out)
                    break
            self._store_changes(out)
            if self.write_failures == failures and not self._pending:
                self._check_room(out)
            now = self._clock.monotonic()
            if self._store is not None and now >= self._next_prune:
                self._next_prune = now + 3600.0
                try:
                    self._store.prune(self._clock.now())
                except WRITE_ERRORS:
                    log.exception("could not prune the alert store")
            return out

    # --- durable writes ------------------------------------------------------------------

    def _drain(self, out: list[JsonDict]) -> None:
        """Write what is held back, oldest first, until one fails."""
        while self._unqueued:
            alert_id, kind, text = self._unqueued[0]
            try:
                self._sink.deliver(self._topics.alert(kind), text.encode())
            except WRITE_ERRORS as exc:
                if not self._failed(exc, out):
                    return
                continue
            self._unqueued.pop(0)
            log.warning(
                "alert %s: put its last saved event in the outbox (after a crash)", alert_id
            )
            self._mark_queued(alert_id)
        while self._pending:
            if not self._try(self._pending[0], None, out):
                return
            self._pending.popleft()

    def _try(self, item: _Pending, frame: Frame | None, out: list[JsonDict]) -> bool:
        """Apply one rule event and write its transition; False (state unchanged) on failure."""
        for _ in range(2):
            try:
                payload = self._apply(item, frame)
            except _WriteFailedError as failed:
                if self._failed(failed.error, out):
                    continue  # the reserve made room: once more
                return False
            if payload is not None:
                out.append(payload)
            return True
        return False

    def _apply(self, item: _Pending, frame: Frame | None) -> JsonDict | None:
        checkpoint = self.lifecycle.checkpoint()

        def alert_id() -> str:
            # A raise that failed keeps its id (and the snapshot named after it) for the retry.
            if item.alert_id is None:
                item.alert_id = self._new_id()
            return item.alert_id

        step = self.lifecycle.on_event(item.event, alert_id)
        if step is None:
            return None
        record, name = step
        fresh: Evidence | None = None
        if item.event.transition is not Transition.UPDATED:
            if item.evidence is None and frame is not None:
                item.evidence = self._snapshot(record, frame)
            fresh = item.evidence
            record.evidence = item.evidence or record.evidence
        try:
            return self._write(record, name, fresh)
        except _WriteFailedError:
            self.lifecycle.rollback(checkpoint)
            raise

    def _hold(self, item: _Pending) -> None:
        """Queue an event behind those already waiting, within `max_pending`.

        A newer `updated` replaces a waiting one of the same condition (each carries the full
        state). When the queue is full, a new event is dropped, loudly, except a `cleared`: one
        whose `raised` is still waiting takes that `raised` and its updates out with it (the
        platform never heard of the alert), and one of an open alert is queued all the same
        (at most one per open alert), so the bound never leaves an alert open for good. A
        dropped `raised` takes its condition's later events with it: the lifecycle ignores
        events of conditions it does not know, so no `cleared` goes out without its `raised`.
        """
        event, pending = item.event, self._pending
        mine = [i for i in range(len(pending) - 1, -1, -1) if pending[i].event.key == event.key]
        if (
            event.transition is Transition.UPDATED
            and mine
            and pending[mine[0]].event.transition is Transition.UPDATED
        ):
            pending[mine[0]] = item
            return
        if len(pending) < self._max_pending:
            pending.append(item)
            return
        if event.transition is Transition.CLEARED:
            chain = []  # the condition's waiting events, back to its last raised or cleared
            for i in mine:
                chain.append(i)
                if pending[i].event.transition is not Transition.UPDATED:
                    break
            head = pending[chain[-1]].event.transition if chain else None
            if head is Transition.RAISED:
                for i in chain:  # descending, so the indices stay valid
                    del pending[i]
                self._dropped(len(chain) + 1, event)
                return
            if head is not Transition.CLEARED and self.lifecycle.tracks(event.key):
                pending.append(item)
                return
        self._dropped(1, event)

    def _dropped(self, count: int, event: AlertEvent) -> None:
        before, self.dropped = self.dropped, self.dropped + count
        if before == 0 or before // 1000 != self.dropped // 1000:
            log.error(
                "%d alert transitions wait for the disk; dropped %d (%s %s; %d so far)",
                len(self._pending), count, event.kind.value, event.transition.value, self.dropped,
            )  # fmt: skip

    def _write(self, record: AlertRecord, event: str, fresh: Evidence | None = None) -> JsonDict:
        """Store, then outbox, then log and listeners; raises _WriteFailedError if a write fails.

        `fresh` is a snapshot taken for this transition: its JPEG follows the event on the
        snapshot topic, through the outbox like the event, so it survives an outage too.
        """
        now = self._clock.now()
        payload = alert_payload(self._node, self._places.of(record), record, event, now)
        text = json.dumps(payload, ensure_ascii=False)
        try:
            if self._store is not None:
                self._store.save(record, text, now, queued=False)
            self._sink.deliver(self._topics.alert(record.kind.value), text.encode())
        except WRITE_ERRORS as exc:
            raise _WriteFailedError(exc) from exc
        self._mark_queued(record.id)
        if fresh is not None and self._snapshot_mqtt_max is not None:
            self._publish_snapshot(record, fresh, self._snapshot_mqtt_max)
        log.info(
            "alert %s %s %s camera=%s zone=%s sensor=%s seq=%d",
            record.kind.value,
            event,
            record.id,
            record.camera_id,
            record.zone_id,
            record.sensor_id,
            record.seq,
        )
        for listener in self._listeners:
            try:
                listener(record, payload)
            except Exception:
                log.exception("alert listener failed for %s", record.id)
        return payload

    def _publish_snapshot(self, record: AlertRecord, evidence: Evidence, cap: int) -> None:
        """The evidence JPEG on `{prefix}/alerts/{kind}/{id}/snapshot`, best effort: the event
        is out already and names the picture's URL and sha256, so a platform that misses the
        bytes (too large, or a full disk here) can still fetch them over HTTP."""
        if evidence.bytes > cap:
            self.snapshots_too_large += 1
            log.info(
                "alert %s: snapshot of %d bytes is over the %d-byte MQTT cap; HTTP only",
                record.id, evidence.bytes, cap,
            )  # fmt: skip
            return
        try:
            data = evidence.path.read_bytes()
            self._sink.deliver(self._topics.alert_snapshot(record.kind.value, record.id), data)
        except WRITE_ERRORS as exc:
            log.warning("alert %s: snapshot not queued for MQTT: %s", record.id, exc)
            return
        self.snapshots_published += 1

    def _mark_queued(self, alert_id: str) -> None:
        if self._store is None:
            return
        try:
            self._store.mark_queued(alert_id)
        except WRITE_ERRORS as exc:
            # The event is in the outbox; a restart would only send it once more.
            log.warning("alert %s: could not mark its event as queued: %s", alert_id, exc)

    def _store_changes(self, out: list[JsonDict]) -> None:
        """Changes that published nothing (a silence lifted); kept until written."""
        if self._store is None:
            self.lifecycle.changed = []
            return
        while self.lifecycle.changed:
            try:
                self._store.update_record(self.lifecycle.changed[0])
            except WRITE_ERRORS as exc:
                self._failed(exc, out)
                return
            self.lifecycle.changed.pop(0)

    # --- storage_fault -------------------------------------------------------------------

    def _failed(self, exc: Exception, out: list[JsonDict]) -> bool:
        """A durable write failed. The first time, raise `storage_fault` in the room the
        reserve frees; True if that made room (so the failed write may be tried again)."""
        self.write_failures += 1
        if self._faulted:
            return False
        log.error(
            "cannot write alert state (%s): transitions wait in memory and storage_fault is raised",
            exc,
        )
        freed = self._store.reserve.release() if self._store is not None else False
        self._raise_fault("write_failed", str(exc), out)
        return freed

    def _raise_fault(self, reason: str, error: str, out: list[JsonDict]) -> None:
        self._faulted = True
        item = _Pending(self._fault_event(Transition.RAISED, {"reason": reason, "error": error}))
        try:
            payload = self._apply(item, None)
        except _WriteFailedError as failed:
            log.error("could not write the storage_fault alert either: %s", failed.error)
            self._pending.appendleft(item)  # first in line when room appears
            return
        if payload is not None:
            out.append(payload)

    def _check_room(self, out: list[JsonDict]) -> None:
        """Nothing held back and the last writes worked: put the reserve back (or make it),
        then clear the fault; no room for the reserve is a fault of its own."""
        if self._store is None:
            return
        if not self._store.reserve.ensure():
            if not self._faulted:
                log.error("no room for the disk reserve %s", self._store.reserve.path)
                self._raise_fault("low_space", f"no room for {self._store.reserve.size} bytes", out)
            return
        if self._faulted and self._try(
            _Pending(self._fault_event(Transition.CLEARED, {})), None, out
        ):
            self._faulted = False
            log.info("alert state is written again; storage_fault cleared")

    def _fault_event(
        self, transition: Transition, detail: dict[str, float | str | bool]
    ) -> AlertEvent:
        now = self._clock.monotonic()
        return AlertEvent(
            STORAGE_FAULT_KEY, AlertKind.STORAGE_FAULT, transition, Severity.MAJOR,
            started=now, ts=now, detail=detail,
        )  # fmt: skip

    def _snapshot(self, record: AlertRecord, frame: Frame) -> Evidence | None:
        if self._snapshots is None:
            return None
        place = self._places.of(record)
        zone = place.zones.get(record.zone_id or "")
        where = StampContext(
            site_name=self._node.site_name, camera_id=record.camera_id or "", grid=place.grid,
            location=place.text, zone_name=place.zone_names.get(record.zone_id or ""),
        )  # fmt: skip
        caption = Caption(record.kind, record.severity, where, frame.wall_ts)
        try:
            return self._snapshots.save(
                record.id, record.seq, frame.image, zone, record.objects, caption=caption
            )
        except OSError:
            # Evidence is precious but the alert itself matters more: send it without.
            log.exception("could not store the snapshot of alert %s", record.id)
            return None

"""Turns rule verdicts into alerts: stable ids, sequence numbers, evidence, full state each time.

The manager takes events from any source (zone rules, camera health, sensors) and hands each
transition, serialised, to a sink: the durable outbox when live, stdout in a replay. Platform
commands (acknowledge, release, resolve) and the escalation timer go through it too, so one
lock orders everything that happens to an alert. It never talks to the network itself.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from edge.alerts.evidence import Evidence, SnapshotStore
from edge.alerts.lifecycle import CommandResult, Lifecycle, LifecyclePolicy
from edge.alerts.payload import JsonDict, NodeIdentity, Place, alert_payload, iso
from edge.alerts.store import Actor, AlertRecord, AlertStore
from edge.clock import Clock
from edge.messages import AlertEvent, Frame, Transition
from edge.mqtt.topics import Topics

__all__ = ["AlertManager", "AlertSink", "NodeIdentity", "Place", "iso"]

log = logging.getLogger(__name__)

Listener = Callable[[AlertRecord, JsonDict], None]


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
    ) -> None:
        self._node = node
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
        if store is not None:
            self.lifecycle.restore(store.load_active(), store.load_silenced())

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
        """Record and deliver each rule event; returns the payloads delivered."""
        out = []
        with self._lock:
            for event in events:
                step = self.lifecycle.on_event(event, self._new_id)
                if step is None:
                    continue
                record, name = step
                if frame is not None and event.transition is not Transition.UPDATED:
                    record.evidence = self._snapshot(record, frame) or record.evidence
                out.append(self._publish(record, name))
            self._store_changes()
        return out

    def command(self, action: str, alert_id: str, actor: Actor) -> CommandResult:
        """Apply a platform command (ack, release, resolve) and publish the echo."""
        with self._lock:
            result = self.lifecycle.on_command(action, alert_id, actor, self._store)
            if result.record is not None and result.event is not None:
                result.payload = self._publish(result.record, result.event)
            return result

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
        """Escalate unacknowledged alerts; clear restored ones no rule confirmed in time."""
        with self._lock:
            out = [self._publish(r, name) for r, name in self.lifecycle.on_tick()]
            self._store_changes()
            now = self._clock.monotonic()
            if self._store is not None and now >= self._next_prune:
                self._next_prune = now + 3600.0
                self._store.prune(self._clock.now())
            return out

    def _store_changes(self) -> None:
        changed, self.lifecycle.changed = self.lifecycle.changed, []
        if self._store is not None:
            for record in changed:
                self._store.update_record(record)

    def _snapshot(self, record: AlertRecord, frame: Frame) -> Evidence | None:
        if self._snapshots is None:
            return None
        place = self._places.of(record)
        zone = place.zones.get(record.zone_id or "")
        try:
            return self._snapshots.save(record.id, record.seq, frame.image, zone, record.objects)
        except OSError:
            # Evidence is precious but the alert itself matters more: send it without.
            log.exception("could not store the snapshot of alert %s", record.id)
            return None

    def _publish(self, record: AlertRecord, event: str) -> JsonDict:
        payload = alert_payload(
            self._node, self._places.of(record), record, event, self._clock.now()
        )
        text = json.dumps(payload, ensure_ascii=False)
        self._sink.deliver(self._topics.alert(record.kind.value), text.encode())
        # Disk state follows the outbox: a crash in between re-sends, never loses.
        if self._store is not None:
            self._store.save(record, text, self._clock.now())
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

"""The sensor hub: every sensor's decoding, rules and pollers behind one lock.

Three threads call in: paho's network thread (`handle_mqtt`), the Modbus pollers (readings) and
the worker loop (`check`). One lock serialises them, so the rules need none, and `emit` is
called under it so that a sensor's events reach the alert manager in the order they happened.
Nothing from the network may raise out of here: malformed input is counted by reason and logged
at WARNING with its topic, at most once per reason per `warn_every_s`. A message (or Modbus
poll) with fields the node cannot read is not malformed: the rest of it counts, and it is
counted in `unreadable_fields` and logged the same way (the rules raise a `sensor_fault`).

The hub also reports each sensor's state (online or offline, its latest values) to `on_state`:
at once when it goes online or offline, and with new values at most every `state_every_s`, so
a platform sees a sensor's last reading without a message per reading.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from edge.clock import Clock
from edge.config.sensors import ModbusSource, MqttFormat, Sensor, sensor_list_problems
from edge.messages import AlertEvent, Reading
from edge.sensors.decode import (
    FAILURES,
    ONLINE,
    UNREACHABLE,
    VALUE,
    DecodeError,
    DecodeReason,
    decode_availability,
    decode_json,
    decode_zigbee2mqtt,
)
from edge.sensors.modbus import ModbusPoller, PollerStats
from edge.sensors.rules import SensorRules

log = logging.getLogger(__name__)

Emit = Callable[[list[AlertEvent]], None]


@dataclass(frozen=True, slots=True)
class SensorState:
    sensor_id: str
    kind: str
    online: bool
    last_heard: float | None  # monotonic
    values: MappingProxyType[str, float | bool]


StateListener = Callable[[SensorState], None]
_UNKNOWN = "unknown_topic"  # the throttle key for unknown topics
_UNREADABLE = "unreadable_field"  # the throttle key for fields the node cannot read
_LINK_KEYS = frozenset({ONLINE, UNREACHABLE, FAILURES})
_MAX_TOPIC_LOG = 200


@dataclass(frozen=True, slots=True)
class SensorCounters:
    """A snapshot. For MQTT: received == decoded + sum(malformed.values()) + unknown_topics.
    `unreadable_fields` counts decoded messages and Modbus readings with a field (or register)
    the node could not read."""

    received: int
    decoded: int
    malformed: MappingProxyType[str, int]
    unknown_topics: int
    rule_errors: int
    last_seen: MappingProxyType[str, float]  # sensor id -> monotonic time of last sign of life
    offline: frozenset[str]
    pollers: tuple[PollerStats, ...] = field(default=())
    unreadable_fields: int = 0

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())


@dataclass(frozen=True, slots=True)
class _Route:
    rules: SensorRules
    availability: bool


class _Throttle:
    """At most one log line per key per interval; says how many were held back."""

    def __init__(self, clock: Clock, interval_s: float) -> None:
        self._clock = clock
        self._interval = interval_s
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def admit(self, key: str) -> int | None:
        """None to stay quiet; else the number of lines suppressed since the last one."""
        now = self._clock.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._held[key] += 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)


class SensorHub:
    def __init__(
        self,
        sensors: Sequence[Sensor],
        clock: Clock,
        emit: Emit,
        *,
        warn_every_s: float = 60.0,
        on_state: StateListener | None = None,
        state_every_s: float = 60.0,
    ) -> None:
        problems = sensor_list_problems(sensors)
        if problems:
            raise ValueError("; ".join(problems))
        self._clock = clock
        self._emit = emit
        # Re-entrant: an emit listener that reads `counters` on this thread must not deadlock.
        self._lock = threading.RLock()
        self._throttle = _Throttle(clock, warn_every_s)
        started = clock.monotonic()
        active = [s for s in sensors if s.enabled]
        self._rules = {s.id: SensorRules(s, started) for s in active}
        self._routes: dict[str, _Route] = {}
        for s in active:
            if s.mqtt is not None:
                self._routes[s.mqtt.topic] = _Route(self._rules[s.id], availability=False)
            if s.availability_topic is not None:
                self._routes[s.availability_topic] = _Route(self._rules[s.id], availability=True)
        self._pollers = self._build_pollers(active)
        self._received = 0
        self._decoded = 0
        self._malformed: Counter[str] = Counter()
        self._unknown = 0
        self._rule_errors = 0
        self._unreadable = 0
        self._on_state = on_state
        self._state_every = state_every_s
        self._values: dict[str, dict[str, float | bool]] = {s.id: {} for s in active}
        # What was last reported per sensor (online or not, when), and which sensors have
        # new values since.
        self._reported: dict[str, tuple[bool, float]] = {}
        self._fresh: set[str] = set()

    def _build_pollers(self, sensors: Sequence[Sensor]) -> list[ModbusPoller]:
        by_endpoint: dict[tuple[str, int], list[tuple[str, ModbusSource]]] = defaultdict(list)
        for s in sensors:
            if s.modbus is not None:
                by_endpoint[(s.modbus.host, s.modbus.port)].append((s.id, s.modbus))
        return [
            ModbusPoller(host, port, targets, self._clock, self._on_reading)
            for (host, port), targets in by_endpoint.items()
        ]

    # --- lifecycle --------------------------------------------------------------------------

    def mqtt_topics(self) -> list[str]:
        """Exact topics to subscribe to (state and zigbee2mqtt availability)."""
        return sorted(self._routes)

    def start(self) -> None:
        for poller in self._pollers:
            poller.start()

    def stop(self) -> None:
        for poller in self._pollers:
            poller.stop()

    # --- input ------------------------------------------------------------------------------

    def handle_mqtt(self, topic: str, payload: bytes) -> None:
        """One MQTT message, on paho's network thread. Never raises."""
        try:
            self._handle_mqtt(topic, payload)
        except Exception:  # only a bug gets here; paho's thread must survive it
            log.exception("sensor message on %r could not be handled", topic[:_MAX_TOPIC_LOG])

    def _handle_mqtt(self, topic: str, payload: bytes) -> None:
        with self._lock:
            now = self._clock.monotonic()  # under the lock, so readings stay in time order
            self._received += 1
            route = self._routes.get(topic)
            if route is None:
                self._unknown += 1
                self._warn(_UNKNOWN, topic, "no sensor is configured for this topic")
                return
            try:
                reading = self._decode(route, payload, now)
            except DecodeError as e:
                self._malformed[e.reason.value] += 1
                self._warn(e.reason.value, topic, str(e))
                return
            except Exception:
                self._malformed[DecodeReason.INTERNAL.value] += 1
                log.exception("decoding a message on %r failed", topic[:_MAX_TOPIC_LOG])
                return
            self._decoded += 1
            self._apply(route.rules, reading)

    def check(self, now: float) -> None:
        """Time passing: offline verdicts and alarms whose minimum duration has elapsed."""
        with self._lock:
            for rules in self._rules.values():
                try:
                    events = rules.check(now)
                except Exception:
                    self._rule_errors += 1
                    log.exception("sensor %s: check failed", rules.sensor.id)
                    continue
                self._send(events)
                self._report(rules, now)

    def _on_reading(self, reading: Reading) -> None:
        """A Modbus poller's reading, on its thread."""
        with self._lock:
            rules = self._rules.get(reading.sensor_id)
            if rules is not None:
                self._apply(rules, reading)

    # --- internals (lock held) --------------------------------------------------------------

    @staticmethod
    def _decode(route: _Route, payload: bytes, now: float) -> Reading:
        sensor = route.rules.sensor
        if route.availability:
            return decode_availability(sensor.id, payload, now)
        assert sensor.mqtt is not None
        if sensor.mqtt.format is MqttFormat.JSON:
            assert sensor.mqtt.field is not None
            return decode_json(sensor.id, payload, now, sensor.mqtt.field)
        return decode_zigbee2mqtt(sensor.id, sensor.kind, payload, now, sensor.mqtt.field)

    def _apply(self, rules: SensorRules, reading: Reading) -> None:
        try:
            events = rules.update(reading)
        except Exception:
            self._rule_errors += 1
            log.exception("sensor %s: rules failed on a reading", rules.sensor.id)
            return
        self._send(events)
        if reading.unreadable:
            self._unreadable += 1
            self._note_unreadable(rules.sensor.id, reading.unreadable)
        # Link state is the `state` field's business, not a reading; a value the rules refused
        # as implausible is not the sensor's state either: it keeps its last good one.
        values = {k: v for k, v in reading.values.items() if k not in _LINK_KEYS}
        if rules.refused_value is not None:
            values.pop(VALUE, None)
        if values:
            self._values[rules.sensor.id].update(values)
            self._fresh.add(rules.sensor.id)
        self._report(rules, reading.ts)

    def _report(self, rules: SensorRules, now: float) -> None:
        """Tell `on_state` of a change of state at once, of new values at most every
        `state_every_s`; a sensor never heard from and not yet offline is not reported."""
        if self._on_state is None:
            return
        sid = rules.sensor.id
        online = not rules.offline
        if online and rules.first_heard is None:
            return
        last = self._reported.get(sid)
        due = last is not None and sid in self._fresh and now - last[1] >= self._state_every
        if last is not None and last[0] == online and not due:
            return
        self._reported[sid] = (online, now)
        self._fresh.discard(sid)
        state = SensorState(
            sid,
            rules.sensor.kind.value,
            online,
            rules.last_heard,
            MappingProxyType(dict(self._values[sid])),
        )
        try:
            self._on_state(state)
        except Exception:
            log.exception("reporting the state of sensor %s failed", sid)

    def _send(self, events: list[AlertEvent]) -> None:
        if not events:
            return
        try:
            self._emit(events)
        except Exception:
            log.exception("emitting %d sensor alert events failed", len(events))

    def _warn(self, reason: str, topic: str, what: str) -> None:
        held = self._throttle.admit(reason)
        if held is not None:
            log.warning("sensor input on %r refused: %s (%d similar held back)",
                        topic[:_MAX_TOPIC_LOG], what[:_MAX_TOPIC_LOG], held)  # fmt: skip

    def _note_unreadable(self, sensor_id: str, names: tuple[str, ...]) -> None:
        held = self._throttle.admit(_UNREADABLE)
        if held is None:
            return
        shown = ", ".join(repr(n[:_MAX_TOPIC_LOG]) for n in names[:8])
        log.warning(
            "sensor %s: could not read %s; the rest of its message counts, and the sensor "
            "reports a fault (%d similar held back)",
            sensor_id,
            shown,
            held,
        )

    # --- observation ------------------------------------------------------------------------

    def first_heard(self, sensor_id: str) -> float | None:
        """Monotonic time of the sensor's first sign of life since start-up, None if not yet.

        For restored alerts: once a sensor has spoken, its rules have seen its state and have
        re-raised whatever is still true (zigbee2mqtt sends the device's whole cached state).
        """
        # No lock on purpose: the alert manager asks this while holding its own lock, and the
        # hub calls the manager while holding this one; taking both in opposite orders could
        # deadlock. A dict lookup and an attribute read are atomic, and `first_heard` is set
        # once, from None to a float.
        rules = self._rules.get(sensor_id)
        return rules.first_heard if rules is not None else None

    @property
    def counters(self) -> SensorCounters:
        with self._lock:
            last_seen = {
                sid: r.last_heard for sid, r in self._rules.items() if r.last_heard is not None
            }
            return SensorCounters(
                received=self._received,
                decoded=self._decoded,
                malformed=MappingProxyType(dict(self._malformed)),
                unknown_topics=self._unknown,
                rule_errors=self._rule_errors,
                last_seen=MappingProxyType(last_seen),
                offline=frozenset(sid for sid, r in self._rules.items() if r.offline),
                pollers=tuple(p.stats() for p in self._pollers),
                unreadable_fields=self._unreadable,
            )

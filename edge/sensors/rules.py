"""Sensor rules: one sensor's readings to alerts, one alert per condition.

Conditions and their keys (`sensor/<id>/<condition>`):

- the alarm (`smoke`, `gas` or `co`): the device's own alarm flags and the numeric value against
  two levels. A level counts once the value has stayed at or above it for `min_duration_s`, and
  ends once it has stayed below `level1 - hysteresis` as long. A level-2 crossing upgrades the
  open alert (severity and detail), it never opens a second one; the alert keeps its highest
  level until it clears. While open it is re-sent at most every `update_every_s`.
- `offline`: no sign of life for `offline_after_s`, zigbee2mqtt availability `offline`, or the
  poller reporting the device unreachable; cleared by the next sign of life.
- `fault`: one `sensor_fault` per sensor for everything that makes it untrustworthy, each named
  in `detail.reason`: the device's fault and comms-fault flags; fields of its messages the node
  cannot read (`unreadable`, issue 15); a reading outside its plausible range (`implausible`,
  issue 12). Raised when the first appears, `updated` when the set of reasons changes, cleared
  when none is left.
- `tamper`, `low_battery`: the device's flags, raised and cleared as they change.

A field the node cannot read keeps its last good state and is a fault until a message carries
it readable again; it never stops the rest of the message, least of all the alarm, from
counting. A reading outside the plausible range is refused the same way: it neither raises nor
clears the alarm and never becomes the value an alarm reports.

Time comes only from readings (`Reading.ts`) and from `check(now)`; no I/O, no locks (the hub
serialises calls).
"""

from __future__ import annotations

from edge.config.sensors import Sensor, SensorKind, Thresholds
from edge.messages import AlertEvent, AlertKind, Reading, Severity, Transition
from edge.sensors import decode as v

Detail = dict[str, float | str | bool]

_ALARM_KINDS = {
    SensorKind.SMOKE: AlertKind.SMOKE,
    SensorKind.GAS: AlertKind.GAS,
    SensorKind.CO: AlertKind.CO,
}
_FLAGS = (v.ALARM, v.ALARM1, v.ALARM2, v.FAULT, v.COMMS_FAULT, v.TAMPER, v.BATTERY_LOW, v.TEST)


class _Condition:
    """A condition that is simply on or off: offline, fault, tamper, low battery."""

    def __init__(self, sensor_id: str, name: str, kind: AlertKind, severity: Severity) -> None:
        self.sensor_id = sensor_id
        self.key = f"sensor/{sensor_id}/{name}"
        self.kind = kind
        self.severity = severity
        self.started: float | None = None

    @property
    def open(self) -> bool:
        return self.started is not None

    def update(self, now: float, detail: Detail) -> list[AlertEvent]:
        """The open condition's detail changed: one `updated` event (none when not open)."""
        return [self._event(Transition.UPDATED, now, detail)] if self.open else []

    def set(
        self, active: bool, now: float, detail: Detail, started: float | None = None
    ) -> list[AlertEvent]:
        if active and self.started is None:
            self.started = now if started is None else min(started, now)
            return [self._event(Transition.RAISED, now, detail)]
        if not active and self.started is not None:
            event = self._event(Transition.CLEARED, now, detail)
            self.started = None
            return [event]
        return []

    def _event(self, transition: Transition, now: float, detail: Detail) -> AlertEvent:
        assert self.started is not None
        return AlertEvent(
            key=self.key,
            kind=self.kind,
            transition=transition,
            severity=self.severity,
            started=self.started,
            ts=now,
            sensor_id=self.sensor_id,
            detail=detail,
        )


class _Levels:
    """The numeric value's confirmed level (0, 1, 2): hysteresis plus a minimum duration."""

    def __init__(self, t: Thresholds) -> None:
        assert t.level1 is not None and t.hysteresis is not None and t.min_duration_s is not None
        self.limits: dict[int, float] = {1: t.level1}
        if t.level2 is not None:
            self.limits[2] = t.level2
        self._hysteresis = t.hysteresis
        self._min_s = t.min_duration_s
        self._above: dict[int, float | None] = dict.fromkeys(self.limits)
        self._below_since: float | None = None
        self._seen: float | None = None
        self.level = 0

    @property
    def since(self) -> float | None:
        """When the value first crossed level 1 (this episode)."""
        return self._above[1]

    def feed(self, value: float, ts: float) -> None:
        self._seen = ts
        for level, limit in self.limits.items():
            if value >= limit:
                if self._above[level] is None:
                    self._above[level] = ts
            elif value < limit - self._hysteresis:
                self._above[level] = None
            # In the hysteresis band a level neither starts nor ends.
        if value < self.limits[1] - self._hysteresis:
            if self._below_since is None:
                self._below_since = ts
        else:
            self._below_since = None

    def holding(self, now: float) -> bool:
        """Whether the value keeps an open alarm open: it has not yet been below level 1 (less
        the hysteresis) for the minimum duration, even if it never confirmed a level itself."""
        if self._seen is None:
            return False
        below = self._below_since
        return below is None or now - below < self._min_s

    def evaluate(self, now: float) -> int:
        for level, since in self._above.items():
            if since is not None and now - since >= self._min_s and level > self.level:
                self.level = level
        below = self._below_since
        if self.level and below is not None and now - below >= self._min_s:
            self.level = 0
        return self.level


class SensorRules:
    """All conditions of one sensor. `started` is when watching began (monotonic seconds)."""

    def __init__(self, sensor: Sensor, started: float) -> None:
        self.sensor = sensor
        sid, sev = sensor.id, sensor.severities
        self._alarm_key = f"sensor/{sid}/{sensor.kind.value}"
        self._alarm_kind = _ALARM_KINDS[sensor.kind]
        self._levels = _Levels(sensor.limits) if sensor.numeric else None
        self._range = sensor.plausible_range if sensor.numeric else None
        self.refused_value: float | None = None
        """The latest reading, while it lies outside the plausible range; None once one is in."""
        # Fields (or registers) whose latest appearance could not be read, in order of arrival.
        self._unreadable: dict[str, None] = {}
        self._fault_reason = ""
        self._flags: dict[str, bool] = {}
        self._flag_since: dict[str, float] = {}
        self._value: float | None = None
        self._battery: float | None = None
        # Counting silence from start-up means a sensor that never reports is reported too.
        self._last_heard = started
        self._heard = False
        self.first_heard: float | None = None  # first sign of life since start-up
        self._now = started
        self._peak = 0  # level of the open alarm; 0 = no alarm open
        self._alarm_started = 0.0
        self._last_sent = 0.0
        self._offline = _Condition(sid, "offline", AlertKind.SENSOR_OFFLINE, sev.offline)
        self._fault = _Condition(sid, "fault", AlertKind.SENSOR_FAULT, sev.fault)
        self._tamper = _Condition(sid, "tamper", AlertKind.SENSOR_TAMPER, sev.tamper)
        self._battery_low = _Condition(
            sid, "low_battery", AlertKind.SENSOR_LOW_BATTERY, sev.low_battery
        )

    @property
    def last_heard(self) -> float | None:
        """When the sensor last gave a sign of life; None if never."""
        return self._last_heard if self._heard else None

    @property
    def offline(self) -> bool:
        return self._offline.open

    @property
    def alarm_level(self) -> int:
        return self._peak

    def update(self, reading: Reading) -> list[AlertEvent]:
        # Readings from different threads can arrive a hair out of order: time never goes back.
        values, now = reading.values, self._tick(reading.ts)
        if values.get(v.ONLINE) is False:
            return self._go_offline(now, "availability")
        if values.get(v.UNREACHABLE) is True:
            failures = values.get(v.FAILURES, 0.0)
            return self._go_offline(now, "unreachable", {"failures": float(failures)})
        if not self._heard:
            self.first_heard = now
        self._last_heard, self._heard = now, True
        events = self._offline.set(False, now, self._offline_detail(now, "recovered"))
        self._remember(values, now)
        self._remember_fields(reading.fields)
        events += self._alarm_events(now, fresh=True)
        events += self._device_events(now)
        return events

    def check(self, now: float) -> list[AlertEvent]:
        """Time passing: silence becomes offline; a crossing held long enough raises."""
        now = self._tick(now)
        if self._offline.open:
            return []  # nothing new is known; stale values must not raise or clear alarms
        if now - self._last_heard >= self.sensor.offline_after:
            return self._go_offline(now, "silent")
        return self._alarm_events(now, fresh=False)

    # --- state ------------------------------------------------------------------------------

    def _tick(self, now: float) -> float:
        self._now = max(self._now, now)
        return self._now

    def _remember(self, values: dict[str, float | bool], now: float) -> None:
        for key in _FLAGS:
            flag = values.get(key)
            if isinstance(flag, bool):
                if flag and not self._flags.get(key, False):
                    self._flag_since[key] = now
                self._flags[key] = flag
        battery = _number(values.get(v.BATTERY))
        if battery is not None:
            self._battery = battery
        value = _number(values.get(v.VALUE))
        if value is not None and self._levels is not None and self._range is not None:
            low, high = self._range
            if not low <= value <= high:
                # The sensor is broken, not the air: keep the last good state (issue 12).
                self.refused_value = value
                return
            self.refused_value = None
            self._value = value
            self._levels.feed(value, now)

    def _remember_fields(self, fields: dict[str, bool]) -> None:
        for name, readable in fields.items():
            if readable:
                self._unreadable.pop(name, None)
            else:
                self._unreadable[name] = None

    def _flag_level(self) -> tuple[int, float | None]:
        """The level the device's own alarm flags say, and since when."""
        for key, level in ((v.ALARM, 2), (v.ALARM2, 2), (v.ALARM1, 1)):
            if self._flags.get(key, False):
                return level, self._flag_since.get(key)
        return 0, None

    # --- the alarm --------------------------------------------------------------------------

    def _alarm_events(self, now: float, *, fresh: bool) -> list[AlertEvent]:
        flag_level, flag_since = self._flag_level()
        num_level = self._levels.evaluate(now) if self._levels is not None else 0
        level = max(flag_level, num_level)
        if self._peak == 0:
            if level == 0:
                return []
            num_since = self._levels.since if self._levels is not None and num_level else None
            starts = [t for t in (flag_since, num_since) if t is not None]
            self._alarm_started = min([*starts, now])
            self._peak, self._last_sent = level, now
            return [self._alarm_event(Transition.RAISED, now)]
        if level == 0 and not (self._levels is not None and self._levels.holding(now)):
            # The device's flag dropped, but a value still high keeps the alarm from flapping.
            event = self._alarm_event(Transition.CLEARED, now)
            self._peak = 0
            return [event]
        if level > self._peak:
            self._peak, self._last_sent = level, now
            return [self._alarm_event(Transition.UPDATED, now)]
        if fresh and now - self._last_sent >= self.sensor.update_every_s:
            self._last_sent = now
            return [self._alarm_event(Transition.UPDATED, now)]
        return []

    def _alarm_event(self, transition: Transition, now: float) -> AlertEvent:
        sev = self.sensor.severities
        detail: Detail = {"level": self._peak}
        if self.sensor.unit:
            detail["unit"] = self.sensor.unit
        if self._levels is not None:
            detail["threshold"] = self._levels.limits.get(self._peak, self._levels.limits[1])
            if self._value is not None:
                detail["value"] = self._value
        for key in (v.ALARM, v.ALARM1, v.ALARM2, v.TEST):
            if key in self._flags:
                detail[f"device_{key}"] = self._flags[key]
        return AlertEvent(
            key=self._alarm_key,
            kind=self._alarm_kind,
            transition=transition,
            severity=sev.level2 if self._peak >= 2 else sev.level1,
            started=self._alarm_started,
            ts=now,
            sensor_id=self.sensor.id,
            detail=detail,
        )

    # --- device conditions and silence ------------------------------------------------------

    def _device_events(self, now: float) -> list[AlertEvent]:
        events = self._fault_events(now)
        events += self._tamper.set(self._flags.get(v.TAMPER, False), now, {})
        battery: Detail = {} if self._battery is None else {"battery": self._battery}
        events += self._battery_low.set(self._flags.get(v.BATTERY_LOW, False), now, battery)
        return events

    def _fault_events(self, now: float) -> list[AlertEvent]:
        # A field the node cannot read is reported as a sensor_fault rather than as a note in
        # the alarm's detail. An operator sees alerts, not logs or counters, and a note on the
        # alarm is seen only while an alarm is open: never for a detector at rest, which is just
        # when an unreadable tamper, fault or battery flag (a converter that changed its
        # encoding, a vendor's firmware) silently switches off the supervision those flags are
        # for. A fault (warning by default) is raised once per sensor, names the fields, clears
        # when they read again, and never touches the alarm.
        reasons = [k for k in (v.FAULT, v.COMMS_FAULT) if self._flags.get(k, False)]
        detail: Detail = {}
        if self._unreadable:
            reasons.append("unreadable")
            detail["unreadable"] = ",".join(self._unreadable)
        if self.refused_value is not None and self._range is not None:
            reasons.append("implausible")
            detail["value"] = self.refused_value
            detail["plausible_min"], detail["plausible_max"] = self._range
            if self.sensor.unit:
                detail["unit"] = self.sensor.unit
        reason = ",".join(reasons)
        head: Detail = {"reason": reason or "none"}
        detail = head | detail
        events = self._fault.set(bool(reasons), now, detail)
        changed = f"{reason}|{detail.get('unreadable', '')}"
        if not events and reasons and changed != self._fault_reason:
            events = self._fault.update(now, detail)
        self._fault_reason = changed
        return events

    def _go_offline(self, now: float, reason: str, extra: Detail | None = None) -> list[AlertEvent]:
        detail = self._offline_detail(now, reason) | (extra or {})
        return self._offline.set(True, now, detail, started=self._last_heard)

    def _offline_detail(self, now: float, reason: str) -> Detail:
        return {
            "reason": reason,
            "offline_after_s": self.sensor.offline_after,
            "silent_s": round(max(0.0, now - self._last_heard), 3),
        }


def _number(raw: object) -> float | None:
    # bool is an int to Python, but never a measurement.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw)

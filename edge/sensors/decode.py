"""Sensor payloads to `Reading`s: zigbee2mqtt state and availability messages, generic JSON.

Everything arriving here comes off the network, so every step is checked. A message that is not
a usable JSON object at all (too large, empty, not UTF-8, not JSON, not an object, no value
where a JSON sensor's `field` points) raises `DecodeError` with one of a few fixed reasons (they
label counters, so they must stay a small set). A field inside a good message is never a reason
to refuse it (issue 15: a real alarm is never thrown away because something beside it is odd):
each field is judged on its own, and one the node cannot read is left out of the values and
named in `Reading.fields` as unreadable, for the rules to report as a `sensor_fault`.

The alarm flag and the measured value are read strictly (a JSON true/false or its word, "true",
"ON"; a finite JSON number): a guess there would raise or clear an alarm. Side fields (tamper,
test, battery and fault flags, battery, linkquality) are read as converters and devices really
send them, where the meaning is unambiguous: "true"/"false", "on"/"off" (any case) and 0/1 for
flags, a number written as text for numbers. Fields we do not use are ignored, whatever they
hold: zigbee2mqtt adds many (update, voltage, device_temperature, last_seen, ...), vendors add
their own, and `null` means "not known yet", not an error.
"""

from __future__ import annotations

import json
import math
import re
from enum import StrEnum
from typing import NoReturn

from edge.config.sensors import SensorKind
from edge.messages import Reading

# Keys of `Reading.values`, shared by the decoders, the Modbus poller and the rules.
VALUE = "value"  # the measured number, in the sensor's unit
ALARM = "alarm"  # the device's own alarm (smoke / gas / carbon_monoxide true)
ALARM1 = "alarm1"  # Modbus status bit: the device's level-1 alarm
ALARM2 = "alarm2"  # Modbus status bit: the device's level-2 alarm
FAULT = "fault"
COMMS_FAULT = "comms_fault"  # reported by the device itself (e.g. lost its sensor head)
TAMPER = "tamper"
TEST = "test"  # the device is in test mode / its test button is pressed: an alarm may be a drill
BATTERY_LOW = "battery_low"
BATTERY = "battery"  # percent
LINKQUALITY = "linkquality"
ONLINE = "online"  # zigbee2mqtt availability
UNREACHABLE = "unreachable"  # the poller could not reach the device: we heard nothing
FAILURES = "failures"  # consecutive failed polls, with UNREACHABLE

MAX_PAYLOAD_BYTES = 64 * 1024
"""Larger payloads are refused unread: a smoke detector's state is a few hundred bytes."""

# The boolean alarm zigbee2mqtt exposes for each kind (its `exposes` names).
_Z2M_ALARM = {
    SensorKind.SMOKE: "smoke",
    SensorKind.GAS: "gas",
    SensorKind.CO: "carbon_monoxide",
}
# Tuya devices expose `fault_alarm`, some others plain `fault`; IAS zone devices (Heiman and most
# ZCL smoke detectors) `trouble`, the zone status "trouble/failure" bit.
_Z2M_FAULTS = ("fault_alarm", "fault", "trouble")


_TRUE_WORDS = frozenset({"true", "on"})
_FALSE_WORDS = frozenset({"false", "off"})
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_MAX_NUMBER_TEXT = 64


class DecodeReason(StrEnum):
    TOO_LARGE = "too_large"
    EMPTY = "empty"
    NOT_UTF8 = "not_utf8"
    BAD_JSON = "bad_json"
    NOT_OBJECT = "not_object"
    MISSING_FIELD = "missing_field"
    BAD_AVAILABILITY = "bad_availability"
    INTERNAL = "internal"  # a bug in a decoder or rule: counted like bad input, never raised


class DecodeError(Exception):
    """A payload we cannot use; `reason` is one of `DecodeReason`, `detail` says where."""

    def __init__(self, reason: DecodeReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


def _fail(reason: DecodeReason, detail: str = "") -> NoReturn:
    raise DecodeError(reason, detail)


def _constant(name: str) -> float:
    # json.loads accepts NaN and Infinity. No device should send them, but one beside the alarm
    # must not cost the alarm: they parse, and a field we read that holds one is unreadable.
    return float(name)


def _integer(text: str) -> int | float:
    # Python refuses to parse an int of more than 4,300 digits (a ValueError that would refuse
    # the whole message); as a float it is infinite, so unreadable where we read it.
    try:
        return int(text)
    except ValueError:
        return float(text)


def _text(payload: bytes) -> str:
    if len(payload) > MAX_PAYLOAD_BYTES:
        _fail(DecodeReason.TOO_LARGE, f"{len(payload)} bytes")
    if not payload.strip():
        _fail(DecodeReason.EMPTY)
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        _fail(DecodeReason.NOT_UTF8)


def parse_object(payload: bytes) -> dict[str, object]:
    """The payload as a JSON object, or DecodeError."""
    text = _text(payload)
    try:
        obj = json.loads(text, parse_constant=_constant, parse_int=_integer)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, too deep
        _fail(DecodeReason.BAD_JSON, type(e).__name__)
    if not isinstance(obj, dict):
        _fail(DecodeReason.NOT_OBJECT, type(obj).__name__)
    return obj


def strict_number(raw: object) -> float | None:
    """A finite JSON number, else None; booleans are not numbers even though Python says so."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        value = float(raw)
    except OverflowError:  # an int beyond float
        return None
    return value if math.isfinite(value) else None


def loose_number(raw: object) -> float | None:
    """A side field's number: a finite JSON number or one written as text ("97", " 96.5 ")."""
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) > _MAX_NUMBER_TEXT or not _NUMBER_TEXT.fullmatch(text):
            return None
        return strict_number(float(text))
    return strict_number(raw)


def loose_flag(raw: object) -> bool | None:
    """A side field's flag: true/false, "true"/"false" or "on"/"off" in any case, 0 or 1."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return raw == 1
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


class _Fields:
    """One object's fields as read. Each field we look at that is present (not null) is noted
    in `read` as readable or not, so that a bad field costs only itself."""

    def __init__(self, obj: dict[str, object]) -> None:
        self.obj = obj
        self.read: dict[str, bool] = {}

    def alarm(self, key: str) -> bool | None:
        # true/false, or the words for them ("true", "ON", ...) that converters send: a word
        # cannot be a concentration. A number is not read as a flag here: `gas: 1` may be 1 %LEL.
        raw = self.obj.get(key)
        flag = raw if isinstance(raw, bool) else (loose_flag(raw) if isinstance(raw, str) else None)
        self._note(key, raw, flag)
        return flag

    def flag(self, key: str) -> bool | None:
        raw = self.obj.get(key)
        flag = loose_flag(raw)
        self._note(key, raw, flag)
        return flag

    def number(self, key: str) -> float | None:
        raw = self.obj.get(key)
        value = loose_number(raw)
        self._note(key, raw, value)
        return value

    def word(self, key: str) -> str | None:
        """An enum written as text, lower-cased; anything but text is unreadable."""
        raw = self.obj.get(key)
        word = raw.strip().lower() if isinstance(raw, str) else None
        self._note(key, raw, word)
        return word

    def value(self, path: str) -> float | None:
        # zigbee2mqtt leaves a field out (or null) until the device has reported it.
        try:
            raw = lookup(self.obj, path)
        except DecodeError:
            return None
        value = strict_number(raw)
        self._note(path, raw, value)
        return value

    def _note(self, key: str, raw: object, read: object) -> None:
        if raw is not None:
            self.read[key] = read is not None


def lookup(obj: object, path: str) -> object:
    """Follow a dotted path through objects (and lists, by number); DecodeError if absent."""
    current = obj
    for segment in path.split("."):
        if isinstance(current, dict) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and segment.isascii() and segment.isdigit():
            index = int(segment)
            if index >= len(current):
                _fail(DecodeReason.MISSING_FIELD, path)
            current = current[index]
        else:
            _fail(DecodeReason.MISSING_FIELD, path)
    return current


def decode_zigbee2mqtt(
    sensor_id: str, kind: SensorKind, payload: bytes, ts: float, field: str | None = None
) -> Reading:
    """A zigbee2mqtt device state message, e.g. {"smoke": false, "battery_low": false, ...}.

    Any valid object is a sign of life, even one without a field we use or with fields we
    cannot read.
    """
    fields = _Fields(parse_object(payload))
    values: dict[str, float | bool] = {}
    alarm = fields.alarm(_Z2M_ALARM[kind])
    if alarm is not None:
        values[ALARM] = alarm
    for key in (TAMPER, TEST):
        flag = fields.flag(key)
        if flag is not None:
            values[key] = flag
    battery_low = _battery_low(fields)
    if battery_low is not None:
        values[BATTERY_LOW] = battery_low
    fault = _fault(fields)
    if fault is not None:
        values[FAULT] = fault
    for key in (BATTERY, LINKQUALITY):
        measured = fields.number(key)
        if measured is not None:
            values[key] = measured
    if field is not None:
        value = fields.value(field)
        if value is not None:
            values[VALUE] = value
    return Reading(sensor_id=sensor_id, ts=ts, values=values, fields=fields.read)


def _battery_low(fields: _Fields) -> bool | None:
    # IAS zone devices also flag `battery_defect`; Tuya ones have a battery_state enum instead.
    seen = [f for f in (fields.flag(BATTERY_LOW), fields.flag("battery_defect")) if f is not None]
    state = fields.word("battery_state")  # Tuya: low | middle | high
    if not seen and state is not None:
        seen.append(state == "low")
    return any(seen) if seen else None


def _fault(fields: _Fields) -> bool | None:
    seen = [f for f in (fields.flag(key) for key in _Z2M_FAULTS) if f is not None]
    result = fields.word("self_test_result")  # Tuya: checking | success | failure | others
    if result == "failure":
        seen.append(True)
    elif result == "success":
        seen.append(False)
    return any(seen) if seen else None


def decode_availability(sensor_id: str, payload: bytes, ts: float) -> Reading:
    """zigbee2mqtt's retained <device>/availability: {"state": "online"} or plain online."""
    text = _text(payload).strip()
    if text in ("online", "offline"):
        state: object = text
    else:
        state = parse_object(payload).get("state")
    if state not in ("online", "offline"):
        _fail(DecodeReason.BAD_AVAILABILITY, "state is not online or offline")
    return Reading(sensor_id=sensor_id, ts=ts, values={ONLINE: state == "online"})


def decode_json(sensor_id: str, payload: bytes, ts: float, field: str) -> Reading:
    """A generic JSON object with the value at a dotted path, e.g. {"data": {"ppm": 12}}."""
    obj = parse_object(payload)
    raw = lookup(obj, field)
    if raw is None:
        _fail(DecodeReason.MISSING_FIELD, f"{field} is null")
    value = strict_number(raw)
    if value is None:
        # A value we cannot read is the sensor's fault, reported as such; the message is still
        # a sign of life, and the rules keep the last good value.
        return Reading(sensor_id=sensor_id, ts=ts, values={}, fields={field: False})
    return Reading(sensor_id=sensor_id, ts=ts, values={VALUE: value}, fields={field: True})

"""Sensor payloads to `Reading`s: zigbee2mqtt state and availability messages, generic JSON.

Everything arriving here comes off the network, so every step is checked and anything wrong
raises `DecodeError` with one of a few fixed reasons (they label counters, so they must stay a
small set). Fields we do not use are ignored: zigbee2mqtt adds many (update, voltage,
device_temperature, last_seen, ...), and `null` means "not known yet", not an error.
"""

from __future__ import annotations

import json
import math
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


class DecodeReason(StrEnum):
    TOO_LARGE = "too_large"
    EMPTY = "empty"
    NOT_UTF8 = "not_utf8"
    BAD_JSON = "bad_json"
    NOT_OBJECT = "not_object"
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
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


def _reject_constant(name: str) -> NoReturn:
    # json.loads accepts NaN and Infinity by default; no device should send them.
    _fail(DecodeReason.NOT_FINITE, name)


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
        obj = json.loads(text, parse_constant=_reject_constant)
    except DecodeError:
        raise
    except (ValueError, RecursionError) as e:  # JSONDecodeError, int too long, too deep
        _fail(DecodeReason.BAD_JSON, type(e).__name__)
    if not isinstance(obj, dict):
        _fail(DecodeReason.NOT_OBJECT, type(obj).__name__)
    return obj


def number(raw: object, where: str) -> float:
    """A finite JSON number; booleans are not numbers even though Python says they are."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        _fail(DecodeReason.WRONG_TYPE, f"{where} is {type(raw).__name__}, not a number")
    try:
        value = float(raw)
    except OverflowError:
        _fail(DecodeReason.NOT_FINITE, where)
    if not math.isfinite(value):
        _fail(DecodeReason.NOT_FINITE, where)
    return value


def _flag(obj: dict[str, object], key: str) -> bool | None:
    raw = obj.get(key)
    if raw is None:
        return None
    if not isinstance(raw, bool):
        _fail(DecodeReason.WRONG_TYPE, f"{key} is {type(raw).__name__}, not true/false")
    return raw


def _optional_number(obj: dict[str, object], key: str) -> float | None:
    raw = obj.get(key)
    return None if raw is None else number(raw, key)


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

    Any valid object is a sign of life, even one without a field we use.
    """
    obj = parse_object(payload)
    values: dict[str, float | bool] = {}
    alarm = _flag(obj, _Z2M_ALARM[kind])
    if alarm is not None:
        values[ALARM] = alarm
    for key in (TAMPER, TEST):
        flag = _flag(obj, key)
        if flag is not None:
            values[key] = flag
    battery_low = _battery_low(obj)
    if battery_low is not None:
        values[BATTERY_LOW] = battery_low
    fault = _fault(obj)
    if fault is not None:
        values[FAULT] = fault
    for key in (BATTERY, LINKQUALITY):
        measured = _optional_number(obj, key)
        if measured is not None:
            values[key] = measured
    if field is not None:
        raw = _lookup_optional(obj, field)
        if raw is not None:
            values[VALUE] = number(raw, field)
    return Reading(sensor_id=sensor_id, ts=ts, values=values)


def _battery_low(obj: dict[str, object]) -> bool | None:
    # IAS zone devices also flag `battery_defect`; Tuya ones have a battery_state enum instead.
    seen = [f for f in (_flag(obj, BATTERY_LOW), _flag(obj, "battery_defect")) if f is not None]
    state = obj.get("battery_state")
    if not seen and isinstance(state, str):
        seen.append(state == "low")
    return any(seen) if seen else None


def _fault(obj: dict[str, object]) -> bool | None:
    seen = [f for f in (_flag(obj, key) for key in _Z2M_FAULTS) if f is not None]
    result = obj.get("self_test_result")  # Tuya: checking | success | failure | others
    if result is not None and not isinstance(result, str):
        _fail(DecodeReason.WRONG_TYPE, "self_test_result is not text")
    if result == "failure":
        seen.append(True)
    elif result == "success":
        seen.append(False)
    return any(seen) if seen else None


def _lookup_optional(obj: dict[str, object], path: str) -> object:
    # zigbee2mqtt leaves a field out (or null) until the device has reported it.
    try:
        return lookup(obj, path)
    except DecodeError:
        return None


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
    return Reading(sensor_id=sensor_id, ts=ts, values={VALUE: number(raw, field)})

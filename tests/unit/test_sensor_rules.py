"""Sensor rules as tables: a script of readings and clock checks, and the alerts they must give.

A step is `(t, values)` for a reading at monotonic time t, or `(t, None)` for `check(t)`. Each
expected event is `(t, transition, condition, severity, level)`, level only for the alarm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from edge.clock import FakeClock
from edge.config.sensors import Sensor
from edge.messages import AlertEvent, AlertKind, Reading, Severity, Transition
from edge.sensors.rules import SensorRules

R, U, C = Transition.RAISED, Transition.UPDATED, Transition.CLEARED
INFO, WARN, MAJOR, CRIT = Severity.INFO, Severity.WARNING, Severity.MAJOR, Severity.CRITICAL

Step = tuple[float, dict[str, float | bool] | None]
Seen = tuple[float, Transition, str, Severity, Any]


def sensor(**config: Any) -> Sensor:
    base: dict[str, Any] = {"id": "s1", "kind": "gas"}
    return Sensor.model_validate(base | config)


GAS_JSON = sensor(mqtt={"topic": "site/gas", "format": "json", "field": "lel"})
GAS_MODBUS = sensor(
    modbus={
        "host": "127.0.0.1",
        "register": 0,
        "status_register": 1,
        "status_bits": {"alarm1": 0, "alarm2": 1, "fault": 2, "comms_fault": 3},
    }
)
SMOKE_Z2M = sensor(kind="smoke", mqtt={"topic": "zigbee2mqtt/smoke-1"})
CO_JSON = sensor(kind="co", mqtt={"topic": "site/co", "format": "json", "field": "ppm"})


def run(s: Sensor, steps: Sequence[Step]) -> list[Seen]:
    rules = SensorRules(s, started=0.0)
    seen: list[Seen] = []
    for t, values in steps:
        if values is None:
            events = rules.check(t)
        else:
            events = rules.update(Reading(sensor_id=s.id, ts=t, values=values))
        seen += [_seen(s, e) for e in events]
    return seen


def _seen(s: Sensor, e: AlertEvent) -> Seen:
    assert e.sensor_id == s.id
    assert e.camera_id is None
    prefix = f"sensor/{s.id}/"
    assert e.key.startswith(prefix)
    condition = e.key.removeprefix(prefix)
    return (e.ts, e.transition, condition, e.severity, e.detail.get("level"))


def lel(value: float) -> dict[str, float | bool]:
    return {"value": float(value)}


THRESHOLD_CASES = [
    pytest.param(
        [(0, lel(30)), (2, lel(10)), (30, None)],
        [],
        id="spike-shorter-than-min-duration",
    ),
    pytest.param(
        [(0, lel(30)), (4, None), (5, None)],
        [(5, R, "gas", MAJOR, 1)],
        id="held-crossing-raises-on-the-clock",
    ),
    pytest.param(
        [(0, lel(30)), (5, lel(31))],
        [(5, R, "gas", MAJOR, 1)],
        id="held-crossing-raises-on-a-reading",
    ),
    pytest.param(
        [(0, lel(24.9)), (100, None)],
        [],
        id="below-level1",
    ),
    pytest.param(
        [(0, lel(25)), (5, None)],
        [(5, R, "gas", MAJOR, 1)],
        id="at-level1-counts",
    ),
    pytest.param(
        [(0, lel(30)), (5, None), (6, lel(55)), (10, None), (11, None), (20, lel(60))],
        [(5, R, "gas", MAJOR, 1), (11, U, "gas", CRIT, 2)],
        id="level2-upgrades-the-same-alert",
    ),
    pytest.param(
        [(0, lel(80)), (5, None)],
        [(5, R, "gas", CRIT, 2)],
        id="straight-to-level2",
    ),
    pytest.param(
        [(0, lel(30)), (5, None), (6, lel(55)), (8, lel(30)), (20, None)],
        [(5, R, "gas", MAJOR, 1)],
        id="level2-spike-does-not-upgrade",
    ),
    pytest.param(
        [(0, lel(30)), (5, None), (10, lel(21)), (100, None), (110, lel(20.5)), (200, None)],
        [(5, R, "gas", MAJOR, 1), (110, U, "gas", MAJOR, 1)],
        id="hysteresis-band-holds-the-alert",
    ),
    pytest.param(
        [(0, lel(30)), (5, None), (10, lel(19)), (14, None), (15, None)],
        [(5, R, "gas", MAJOR, 1), (15, C, "gas", MAJOR, 1)],
        id="clears-below-band-after-min-duration",
    ),
    pytest.param(
        [(0, lel(30)), (5, None), (10, lel(19)), (12, lel(26)), (20, None), (40, None)],
        [(5, R, "gas", MAJOR, 1)],
        id="short-dip-does-not-clear",
    ),
    pytest.param(
        [(0, lel(60)), (5, None), (6, lel(30)), (30, None), (40, lel(0)), (45, None)],
        [(5, R, "gas", CRIT, 2), (45, C, "gas", CRIT, 2)],
        id="keeps-its-highest-level-until-it-clears",
    ),
    pytest.param(
        [(0, lel(30)), (5, None), (10, lel(0)), (15, None), (20, lel(30)), (25, None)],
        [(5, R, "gas", MAJOR, 1), (15, C, "gas", MAJOR, 1), (25, R, "gas", MAJOR, 1)],
        id="a-new-episode-after-clearing",
    ),
]


@pytest.mark.parametrize(("steps", "expected"), THRESHOLD_CASES)
def test_gas_thresholds(steps: list[Step], expected: list[Seen]) -> None:
    assert run(GAS_JSON, steps) == expected


def test_no_flood_one_alert_updated_at_most_every_minute() -> None:
    steps: list[Step] = [(float(t), lel(30 + t % 7)) for t in range(0, 301)]
    steps += [(float(t), None) for t in range(0, 301, 3)]
    steps.sort(key=lambda s: s[0])
    seen = run(GAS_JSON, steps)
    assert [(t, tr) for t, tr, *_ in seen] == [
        (5, R), (65, U), (125, U), (185, U), (245, U),
    ]  # fmt: skip


def test_alarm_detail_carries_value_unit_level_threshold() -> None:
    rules = SensorRules(GAS_JSON, started=0.0)
    rules.update(Reading("s1", 0.0, lel(30)))
    (raised,) = rules.update(Reading("s1", 5.0, lel(33)))
    assert raised.kind is AlertKind.GAS
    assert raised.started == 0.0
    assert raised.detail == {"level": 1, "unit": "%LEL", "threshold": 25.0, "value": 33.0}
    rules.update(Reading("s1", 6.0, lel(51)))
    (upgraded,) = rules.update(Reading("s1", 11.0, lel(52)))
    assert upgraded.detail == {"level": 2, "unit": "%LEL", "threshold": 50.0, "value": 52.0}
    assert upgraded.started == 0.0


def test_co_defaults_in_ppm_with_a_minute_of_persistence() -> None:
    steps: list[Step] = [(0, lel(60)), (59, None), (60, None), (61, lel(200)), (121, None)]
    assert run(CO_JSON, steps) == [(60, R, "co", MAJOR, 1), (121, U, "co", CRIT, 2)]


BOOLEAN_CASES = [
    pytest.param(
        [(0, {"alarm": True}), (1, {"alarm": True}), (2, {"alarm": False})],
        [(0, R, "smoke", CRIT, 2), (2, C, "smoke", CRIT, 2)],
        id="smoke-raised-and-cleared-at-once",
    ),
    pytest.param(
        [(0, {"alarm": False}), (10, {"battery": 80.0}), (20, None)],
        [],
        id="quiet-detector",
    ),
    pytest.param(
        [(0, {"alarm": True}), (30, {"linkquality": 80.0}), (61, {"linkquality": 81.0})],
        [(0, R, "smoke", CRIT, 2), (61, U, "smoke", CRIT, 2)],
        id="flag-persists-across-partial-messages",
    ),
    pytest.param(
        [(0, {"alarm": True}), (1, {"alarm": False}), (2, {"alarm": True})],
        [(0, R, "smoke", CRIT, 2), (1, C, "smoke", CRIT, 2), (2, R, "smoke", CRIT, 2)],
        id="one-alert-per-episode",
    ),
]


@pytest.mark.parametrize(("steps", "expected"), BOOLEAN_CASES)
def test_boolean_alarms(steps: list[Step], expected: list[Seen]) -> None:
    assert run(SMOKE_Z2M, steps) == expected


MODBUS_CASES = [
    pytest.param(
        [(0, {"value": 3.0, "alarm1": True, "alarm2": False})],
        [(0, R, "gas", MAJOR, 1)],
        id="device-alarm1-bit",
    ),
    pytest.param(
        [(0, {"value": 3.0, "alarm1": True}), (1, {"value": 3.0, "alarm2": True})],
        [(0, R, "gas", MAJOR, 1), (1, U, "gas", CRIT, 2)],
        id="device-alarm2-bit-upgrades",
    ),
    pytest.param(
        [
            (0, {"value": 30.0, "alarm1": True}),
            (1, {"value": 30.0, "alarm1": False}),
            (6, None),
            (7, {"value": 0.0, "alarm1": False}),
            (12, None),
        ],
        [(0, R, "gas", MAJOR, 1), (12, C, "gas", MAJOR, 1)],
        id="bit-off-but-value-still-high-keeps-it-open",
    ),
    pytest.param(
        [
            (0, {"value": 0.0, "fault": True}),
            (5, {"value": 0.0, "comms_fault": True}),
            (6, {"value": 0.0, "fault": False}),
            (7, {"value": 0.0, "comms_fault": False}),
        ],
        # One alert, updated as its reasons change: fault, fault,comms_fault, comms_fault.
        [
            (0, R, "fault", WARN, None),
            (5, U, "fault", WARN, None),
            (6, U, "fault", WARN, None),
            (7, C, "fault", WARN, None),
        ],
        id="fault-and-comms-fault-bits-are-one-fault-alert",
    ),
]


@pytest.mark.parametrize(("steps", "expected"), MODBUS_CASES)
def test_modbus_status_bits(steps: list[Step], expected: list[Seen]) -> None:
    assert run(GAS_MODBUS, steps) == expected


DEVICE_CASES = [
    pytest.param(
        [
            (0, {"battery_low": True, "battery": 9.0}),
            (1, {"battery_low": True}),
            (9, {"battery_low": False}),
        ],
        [(0, R, "low_battery", INFO, None), (9, C, "low_battery", INFO, None)],
        id="low-battery",
    ),
    pytest.param(
        [(0, {"tamper": True}), (5, {"tamper": True}), (6, {"tamper": False})],
        [(0, R, "tamper", WARN, None), (6, C, "tamper", WARN, None)],
        id="tamper",
    ),
    pytest.param(
        [(0, {"fault": True}), (3, {"fault": False})],
        [(0, R, "fault", WARN, None), (3, C, "fault", WARN, None)],
        id="fault",
    ),
    pytest.param(
        [(0, {"alarm": True, "tamper": True, "battery_low": True})],
        [(0, R, "smoke", CRIT, 2), (0, R, "tamper", WARN, None), (0, R, "low_battery", INFO, None)],
        id="independent-conditions",
    ),
]


@pytest.mark.parametrize(("steps", "expected"), DEVICE_CASES)
def test_battery_tamper_fault(steps: list[Step], expected: list[Seen]) -> None:
    assert run(SMOKE_Z2M, steps) == expected


MODBUS_OFFLINE = 60.0  # the Modbus default
OFFLINE_CASES = [
    pytest.param(
        [(59, None), (60, None), (61, None), (300, None)],
        [(60, R, "offline", MAJOR, None)],
        id="never-heard-is-offline-once",
    ),
    pytest.param(
        [(10, lel(0)), (69, None), (70, None), (75, lel(0)), (76, None)],
        [(70, R, "offline", MAJOR, None), (75, C, "offline", MAJOR, None)],
        id="silence-then-recovery",
    ),
    pytest.param(
        [(1, {"unreachable": True, "failures": 3.0}), (2, {"unreachable": True}), (9, lel(0))],
        [(1, R, "offline", MAJOR, None), (9, C, "offline", MAJOR, None)],
        id="unreachable-is-offline-at-once",
    ),
    pytest.param(
        [(0, lel(30)), (3, {"unreachable": True}), (10, None), (100, None)],
        [(3, R, "offline", MAJOR, None)],
        id="stale-value-raises-nothing-while-offline",
    ),
    pytest.param(
        [
            (0, lel(30)),
            (5, None),
            (6, {"unreachable": True}),
            (200, None),
            (201, lel(0)),
            (206, None),
        ],
        [
            (5, R, "gas", MAJOR, 1),
            (6, R, "offline", MAJOR, None),
            (201, C, "offline", MAJOR, None),
            (201, U, "gas", MAJOR, 1),
            (206, C, "gas", MAJOR, 1),
        ],
        id="alarm-frozen-while-offline",
    ),
]


@pytest.mark.parametrize(("steps", "expected"), OFFLINE_CASES)
def test_offline_and_recovery(steps: list[Step], expected: list[Seen]) -> None:
    assert GAS_MODBUS.offline_after == MODBUS_OFFLINE
    assert run(GAS_MODBUS, steps) == expected


def test_zigbee2mqtt_availability_counts() -> None:
    steps: list[Step] = [
        (0, {"alarm": False}),
        (100, {"online": False}),
        (101, {"online": False}),
        (500, {"online": True}),
    ]
    assert run(SMOKE_Z2M, steps) == [
        (100, R, "offline", MAJOR, None),
        (500, C, "offline", MAJOR, None),
    ]


def test_offline_event_starts_when_last_heard() -> None:
    rules = SensorRules(GAS_MODBUS, started=0.0)
    rules.update(Reading("s1", 42.0, lel(0)))
    (event,) = rules.check(102.0)
    assert event.kind is AlertKind.SENSOR_OFFLINE
    assert event.started == 42.0
    assert event.detail["reason"] == "silent"
    assert event.detail["silent_s"] == 60.0
    assert rules.offline


def test_battery_zigbee_default_tolerates_a_night_of_silence() -> None:
    clock = FakeClock()
    rules = SensorRules(SMOKE_Z2M, started=clock.monotonic())
    rules.update(Reading("s1", 0.0, {"alarm": False}))
    assert rules.check(18 * 3600.0) == []  # zigbee2mqtt's longest battery report interval
    assert [e.kind for e in rules.check(25 * 3600.0)] == [AlertKind.SENSOR_OFFLINE]


def test_configured_severities_are_used() -> None:
    s = sensor(
        kind="smoke",
        mqtt={"topic": "z/s"},
        severities={"level2": "major", "level1": "warning", "tamper": "info"},
    )
    seen = run(s, [(0, {"alarm": True, "tamper": True})])
    assert seen == [(0, R, "smoke", MAJOR, 2), (0, R, "tamper", INFO, None)]


# --- Issue 15: a field the node cannot read is a fault, never a reason to drop the alarm ------


def reading(t: float, values: dict[str, float | bool], **fields: bool) -> Reading:
    return Reading(sensor_id="s1", ts=t, values=values, fields=fields)


def events_of(s: Sensor, readings: Sequence[Reading]) -> list[AlertEvent]:
    rules = SensorRules(s, started=0.0)
    return [e for r in readings for e in rules.update(r)]


@pytest.mark.parametrize(
    ("fields", "unreadable"),
    [
        ({"smoke": True, "battery": False}, "battery"),
        ({"smoke": True, "linkquality": False}, "linkquality"),
        ({"smoke": True, "self_test_result": False}, "self_test_result"),
        ({"smoke": True, "tamper": False, "battery_state": False}, "tamper,battery_state"),
    ],
)
def test_alarm_raised_beside_an_unreadable_field_which_is_a_fault(
    fields: dict[str, bool], unreadable: str
) -> None:
    raised = events_of(SMOKE_Z2M, [reading(0, {"alarm": True}, **fields)])
    assert [(e.kind, e.transition) for e in raised] == [
        (AlertKind.SMOKE, R),
        (AlertKind.SENSOR_FAULT, R),
    ]
    assert raised[0].severity is CRIT
    assert raised[1].severity is WARN
    assert raised[1].detail == {"reason": "unreadable", "unreadable": unreadable}


def test_unreadable_alarm_field_keeps_the_last_state() -> None:
    seen = events_of(
        SMOKE_Z2M,
        [
            reading(0, {"alarm": True}, smoke=True),
            reading(1, {}, smoke=False),  # e.g. {"smoke": "yes"}: neither raised nor cleared
            reading(2, {"alarm": False}, smoke=True),
        ],
    )
    assert [(e.ts, e.kind, e.transition) for e in seen] == [
        (0, AlertKind.SMOKE, R),
        (1, AlertKind.SENSOR_FAULT, R),
        (2, AlertKind.SMOKE, C),
        (2, AlertKind.SENSOR_FAULT, C),
    ]
    assert seen[1].detail == {"reason": "unreadable", "unreadable": "smoke"}


def test_an_unreadable_field_is_a_fault_until_it_reads_again() -> None:
    # zigbee2mqtt with cache_state off sends partial messages: a message without the field
    # says nothing about it, so the fault does not flap.
    seen = events_of(
        SMOKE_Z2M,
        [
            reading(0, {"alarm": False}, smoke=True, battery=False),
            reading(10, {"alarm": False}, smoke=True),
            reading(20, {"battery": 90.0}, battery=True),
        ],
    )
    assert [(e.ts, e.kind, e.transition) for e in seen] == [
        (0, AlertKind.SENSOR_FAULT, R),
        (20, AlertKind.SENSOR_FAULT, C),
    ]


def test_one_fault_alert_updated_as_its_reasons_change() -> None:
    seen = events_of(
        GAS_MODBUS,
        [
            reading(0, {"value": 0.0, "fault": True}, register=True, status_register=True),
            reading(5, {"value": 0.0}, register=True, status_register=False),
            reading(10, {"value": 0.0}, register=True, status_register=False),
            reading(15, {"value": 0.0, "fault": False}, register=True, status_register=True),
        ],
    )
    assert [(e.ts, e.transition, e.detail) for e in seen] == [
        (0, R, {"reason": "fault"}),
        (5, U, {"reason": "fault,unreadable", "unreadable": "status_register"}),
        (15, C, {"reason": "none"}),
    ]


def test_modbus_alarm_bit_counts_when_the_value_register_is_unreadable() -> None:
    seen = events_of(
        GAS_MODBUS,
        [reading(0, {"alarm2": True, "fault": False}, register=False, status_register=True)],
    )
    assert [(e.kind, e.transition, e.detail.get("level")) for e in seen] == [
        (AlertKind.GAS, R, 2),
        (AlertKind.SENSOR_FAULT, R, None),
    ]
    assert seen[1].detail == {"reason": "unreadable", "unreadable": "register"}


# --- Issue 12: plausible values -----------------------------------------------------------------

IMPLAUSIBLE_CASES = [
    pytest.param(
        # The issue: -1e300 cleared a critical gas alarm 5 s later, the clear still saying 60.
        [(0, lel(60)), (5, None), (6, lel(-1e300)), (11, None), (60, None), (61, lel(60)),
         (70, lel(0)), (75, None)],
        [(5, R, "gas", CRIT, 2), (6, R, "fault", WARN, None), (61, C, "fault", WARN, None),
         (70, U, "gas", CRIT, 2), (75, C, "gas", CRIT, 2)],
        id="minus-1e300-never-clears",
    ),
    pytest.param(
        [(0, lel(30)), (5, None), (6, lel(-5.1)), (12, None), (100, None)],
        [(5, R, "gas", MAJOR, 1), (6, R, "fault", WARN, None)],
        id="just-below-the-range-never-clears",
    ),
    pytest.param(
        [(0, lel(1e300)), (5, None), (6, lel(6553.5)), (20, None)],
        [(0, R, "fault", WARN, None)],
        id="above-the-range-raises-no-alarm",
    ),
    pytest.param(
        [(0, lel(30)), (3, lel(1e9)), (5, None)],
        [(3, R, "fault", WARN, None), (5, R, "gas", MAJOR, 1)],
        id="an-implausible-reading-does-not-disturb-a-crossing",
    ),
    pytest.param(
        [(0, lel(-2)), (1, lel(-5)), (2, lel(100)), (7, None)],
        [(7, R, "gas", CRIT, 2)],
        id="zero-drift-and-full-scale-are-plausible",
    ),
    pytest.param(
        [(0, lel(-1e300)), (1, lel(-1e300)), (2, lel(3)), (3, lel(-1e300))],
        [(0, R, "fault", WARN, None), (2, C, "fault", WARN, None), (3, R, "fault", WARN, None)],
        id="fault-clears-when-plausible-readings-return",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("steps", "expected"), IMPLAUSIBLE_CASES)
def test_implausible_values(steps: list[Step], expected: list[Seen]) -> None:
    assert run(GAS_JSON, steps) == expected


def test_implausible_reading_never_changes_what_the_alarm_reports() -> None:
    rules = SensorRules(GAS_JSON, started=0.0)
    rules.update(Reading("s1", 0.0, lel(60)))
    (raised,) = rules.check(5.0)
    assert raised.detail["value"] == 60.0
    (fault,) = rules.update(Reading("s1", 6.0, lel(-1e300)))
    assert fault.kind is AlertKind.SENSOR_FAULT
    assert fault.detail == {
        "reason": "implausible",
        "value": -1e300,
        "plausible_min": -5.0,
        "plausible_max": 100.0,
        "unit": "%LEL",
    }
    assert rules.refused_value == -1e300
    (resent,) = rules.update(Reading("s1", 70.0, lel(1e300)))  # the minute's re-send
    assert (resent.kind, resent.transition) == (AlertKind.GAS, U)
    assert resent.detail["value"] == 60.0 and resent.detail["level"] == 2
    events = rules.update(Reading("s1", 71.0, lel(55)))
    assert [(e.kind, e.transition) for e in events] == [(AlertKind.SENSOR_FAULT, C)]
    assert rules.refused_value is None


def test_modbus_alarm_bit_counts_beside_an_implausible_value() -> None:
    # 0xFFFF in a tenths-of-%LEL register: a device's "no reading" sentinel, not 6553.5 %LEL.
    seen = run(GAS_MODBUS, [(0, {"value": 6553.5, "alarm2": True, "fault": False})])
    assert seen == [(0, R, "gas", CRIT, 2), (0, R, "fault", WARN, None)]


def test_own_range_in_another_unit() -> None:
    s = sensor(
        modbus={"host": "h", "register": 0, "unit_of_measure": "ppm"},
        thresholds={"level1": 1000, "level2": 5000, "hysteresis": 100, "min_duration_s": 0},
        plausible={"min": 0, "max": 20_000},
    )
    seen = run(s, [(0, lel(6000)), (1, lel(-1)), (2, lel(25_000)), (3, lel(0))])
    assert seen == [
        (0, R, "gas", CRIT, 2),
        (1, R, "fault", WARN, None),
        (3, C, "gas", CRIT, 2),
        (3, C, "fault", WARN, None),
    ]

"""The `sensors:` config: per-kind and per-source defaults, and cross-field mistakes refused
with messages that say what to change."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from edge.config.sensors import Sensor, sensor_list_problems
from edge.messages import Severity

Z2M = {"topic": "zigbee2mqtt/smoke-1", "format": "zigbee2mqtt"}
MODBUS = {"host": "127.0.0.1", "port": 5020, "unit": 1, "register": 0, "scale": 0.1}


def make(**config: Any) -> Sensor:
    return Sensor.model_validate({"id": "s1", "kind": "gas"} | config)


def error_of(**config: Any) -> str:
    with pytest.raises(ValidationError) as info:
        make(**config)
    return "; ".join(e["msg"] for e in info.value.errors())


def test_issue_examples() -> None:
    smoke = make(id="smoke-1", kind="smoke", location="5号楼 2单元 1楼", grid="A-05", mqtt=Z2M)
    assert smoke.thresholds is None and not smoke.numeric
    assert smoke.offline_after == 25 * 3600.0
    assert smoke.availability_topic == "zigbee2mqtt/smoke-1/availability"
    gas = make(
        id="gas-kitchen-3",
        modbus={**MODBUS, "table": "holding", "unit_of_measure": "%LEL"},
    )
    assert (gas.limits.level1, gas.limits.level2) == (25.0, 50.0)
    assert gas.offline_after == 60.0 and gas.unit == "%LEL"
    assert gas.modbus is not None and gas.modbus.value_register == 0
    assert gas.availability_topic is None


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"kind": "gas", "modbus": MODBUS}, (25.0, 50.0, 5.0, 5.0, "%LEL")),
        (
            {"kind": "co", "mqtt": {"topic": "t", "format": "json", "field": "ppm"}},
            (50.0, 150.0, 10.0, 60.0, "ppm"),
        ),
        (
            {"kind": "gas", "modbus": MODBUS, "thresholds": {"level1": 20, "min_duration_s": 0}},
            (20.0, 50.0, 5.0, 0.0, "%LEL"),
        ),
        (
            {
                "kind": "smoke",
                "mqtt": {"topic": "t", "field": "smoke_density", "unit": "dB/m"},
                "thresholds": {"level1": 0.1, "level2": 0.2},
                "plausible": {"min": 0, "max": 2},
            },
            (0.1, 0.2, 0.0, 5.0, "dB/m"),
        ),
        (
            {
                "kind": "gas",
                "modbus": {**MODBUS, "unit_of_measure": "ppm"},
                "thresholds": {"level1": 1000, "level2": 5000, "hysteresis": 100},
                "plausible": {"min": -500, "max": 10_000},
            },
            (1000.0, 5000.0, 100.0, 5.0, "ppm"),
        ),
        (
            {
                "kind": "co",
                "modbus": {**MODBUS, "unit_of_measure": "mg/m3"},
                "thresholds": {"level1": 30},
                "plausible": {"min": 0, "max": 1000},
            },
            (30.0, None, 0.0, 60.0, "mg/m3"),  # nothing in ppm carried over
        ),
    ],
)
def test_threshold_defaults(config: dict[str, Any], expected: tuple[Any, ...]) -> None:
    s = make(**config)
    t = s.limits
    assert (t.level1, t.level2, t.hysteresis, t.min_duration_s, s.unit) == expected


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param({"modbus": MODBUS}, (-5.0, 100.0), id="gas-default"),
        pytest.param(
            {"kind": "co", "mqtt": {"topic": "t", "format": "json", "field": "ppm"}},
            (-50.0, 10_000.0),
            id="co-default",
        ),
        pytest.param(
            {"modbus": MODBUS, "thresholds": {"level1": 10, "level2": 20}},
            (-5.0, 100.0),
            id="own-thresholds-same-unit-keep-the-kind-range",
        ),
        pytest.param(
            {"modbus": MODBUS, "plausible": {"max": 60}}, (-5.0, 60.0), id="one-end-given"
        ),
        pytest.param(
            {
                "modbus": {**MODBUS, "unit_of_measure": "ppm"},
                "thresholds": {"level1": 1000, "level2": 5000, "hysteresis": 100},
                "plausible": {"min": 0, "max": 50_000},
            },
            (0.0, 50_000.0),
            id="another-unit-gives-its-range",
        ),
    ],
)
def test_plausible_range_defaults(config: dict[str, Any], expected: tuple[float, float]) -> None:
    assert make(**config).plausible_range == expected


def test_no_plausible_range_without_a_value() -> None:
    s = make(kind="smoke", mqtt=Z2M)
    assert s.plausible is None


@pytest.mark.parametrize(
    ("config", "offline_after"),
    [
        ({"mqtt": Z2M, "kind": "smoke"}, 90_000.0),
        ({"mqtt": {"topic": "t", "format": "json", "field": "v"}}, 600.0),
        ({"modbus": MODBUS}, 60.0),
        ({"mqtt": Z2M, "kind": "smoke", "offline_after_s": 3900}, 3900.0),
    ],
)
def test_offline_defaults(config: dict[str, Any], offline_after: float) -> None:
    assert make(**config).offline_after == offline_after


def test_default_severities() -> None:
    sev = make(modbus=MODBUS).severities
    assert (sev.level1, sev.level2, sev.offline) == (
        Severity.MAJOR,
        Severity.CRITICAL,
        Severity.MAJOR,
    )
    assert (sev.fault, sev.tamper, sev.low_battery) == (
        Severity.WARNING,
        Severity.WARNING,
        Severity.INFO,
    )


ERRORS = [
    pytest.param({}, "give exactly one of `mqtt` or `modbus`", id="no-source"),
    pytest.param({"mqtt": Z2M, "modbus": MODBUS}, "exactly one of", id="two-sources"),
    pytest.param(
        {"mqtt": {"topic": "t", "format": "json"}}, "format json needs `field`", id="json-field"
    ),
    pytest.param({"mqtt": {"topic": "zigbee2mqtt/+"}}, "no wildcards", id="wildcard-topic"),
    pytest.param(
        {"modbus": MODBUS, "thresholds": {"level1": 60}},
        "thresholds.level2 (50) must be above thresholds.level1 (60)",
        id="level2-not-above-level1",
    ),
    pytest.param(
        {"modbus": MODBUS, "thresholds": {"level1": 30, "level2": 30}},
        "must be above",
        id="equal-levels",
    ),
    pytest.param(
        {"modbus": MODBUS, "thresholds": {"hysteresis": 25}},
        "thresholds.hysteresis (25) must be smaller than the gap between level1 and level2 (25)",
        id="hysteresis-too-wide",
    ),
    pytest.param(
        {"modbus": {**MODBUS, "unit_of_measure": "ppm"}},
        "reports in 'ppm' but the default thresholds are in %LEL",
        id="unit-mismatch",
    ),
    pytest.param(
        {"kind": "smoke", "mqtt": {"topic": "t", "field": "smoke_density"}},
        "a smoke sensor has no default thresholds; set thresholds.level1",
        id="smoke-value-without-thresholds",
    ),
    pytest.param(
        {"kind": "smoke", "mqtt": Z2M, "thresholds": {"level1": 1}},
        "thresholds need a numeric value: set mqtt.field or modbus.register",
        id="thresholds-without-value",
    ),
    pytest.param(
        {"modbus": {**MODBUS, "poll_s": 30}},
        "offline_after_s 60 is shorter than three polls at modbus.poll_s 30",
        id="offline-shorter-than-polls",
    ),
    pytest.param(
        {"modbus": {**MODBUS, "status_bits": {"fault": 2}}},
        "status_bits need `status_register`",
        id="bits-without-register",
    ),
    pytest.param(
        {"modbus": {**MODBUS, "status_register": 1}},
        "status_register needs at least one of status_bits",
        id="register-without-bits",
    ),
    pytest.param(
        {"modbus": {**MODBUS, "status_register": 1, "status_bits": {"alarm1": 0, "fault": 0}}},
        "bit 0 is used for both alarm1 and fault",
        id="bit-used-twice",
    ),
    pytest.param(
        {"modbus": {"host": "h", "status_register": None}},
        "give `register` (the value), `status_register`, or both",
        id="nothing-to-read",
    ),
    pytest.param({"modbus": {**MODBUS, "scale": 0}}, "scale 0", id="zero-scale"),
    pytest.param(
        {"modbus": {**MODBUS, "register": 70000}}, "less than or equal to 65535", id="register"
    ),
    pytest.param({"modbus": {**MODBUS, "count": 3}}, "less than or equal to 2", id="count"),
    pytest.param(
        {"modbus": MODBUS, "severities": {"level1": "critical", "level2": "major"}},
        "an upgrade must never lower the severity",
        id="severity-order",
    ),
    pytest.param(
        {"modbus": MODBUS, "thresholds": {"level1": float("nan")}},
        "less than or equal to",
        id="nan-threshold",
    ),
    pytest.param({"modbus": MODBUS, "treshold": {}}, "Extra inputs", id="misspelt-key"),
    pytest.param(
        {
            "modbus": {**MODBUS, "unit_of_measure": "ppm"},
            "thresholds": {"level1": 1000, "level2": 5000},
        },
        "reports in 'ppm' but the default plausible range is in %LEL; give plausible.min and "
        "plausible.max in ppm",
        id="another-unit-needs-its-range",
    ),
    pytest.param(
        {
            "kind": "smoke",
            "mqtt": {"topic": "t", "field": "smoke_density"},
            "thresholds": {"level1": 0.1, "level2": 0.2},
        },
        "a smoke sensor has no default plausible range; set plausible.min and plausible.max",
        id="smoke-value-needs-its-range",
    ),
    pytest.param(
        {"kind": "smoke", "mqtt": Z2M, "plausible": {"min": 0, "max": 1}},
        "plausible needs a numeric value: set mqtt.field or modbus.register",
        id="range-without-value",
    ),
    pytest.param(
        {"modbus": MODBUS, "plausible": {"min": 100, "max": 0}},
        "plausible.min (100) must be below plausible.max (0)",
        id="range-upside-down",
    ),
    pytest.param(
        {"modbus": MODBUS, "plausible": {"max": 40}},
        "thresholds.level2 (50) is above plausible.max (40)",
        id="level-beyond-the-range",
    ),
    pytest.param(
        {"modbus": MODBUS, "plausible": {"min": 20}},
        "thresholds.level1 (25) less the hysteresis (5) must be above plausible.min (20)",
        id="alarm-could-never-clear",
    ),
    pytest.param(
        {"modbus": MODBUS, "plausible": {"max": float("inf")}},
        "less than or equal to",
        id="infinite-range",
    ),
    pytest.param(
        {"modbus": MODBUS, "plausible": {"maximum": 10}}, "Extra inputs", id="misspelt-range"
    ),
]


@pytest.mark.parametrize(("config", "message"), ERRORS)
def test_mistakes_are_refused_clearly(config: dict[str, Any], message: str) -> None:
    assert message in error_of(**config)


def test_list_problems() -> None:
    a = make(id="a", kind="smoke", mqtt=Z2M)
    b = make(id="b", kind="smoke", mqtt=Z2M)
    c = make(id="a", modbus=MODBUS)
    d = make(id="d", modbus=MODBUS)
    assert sensor_list_problems([a, b, c, d]) == [
        "sensors 'a' and 'b' share topic zigbee2mqtt/smoke-1",
        "sensors 'a' and 'b' share topic zigbee2mqtt/smoke-1/availability",
        "sensor id 'a' is used twice",
        "sensors 'a' and 'd' read the same Modbus registers",
    ]
    assert sensor_list_problems([a, d]) == []

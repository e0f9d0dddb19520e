"""Decoding sensor payloads: real zigbee2mqtt shapes, generic JSON, and every way to be wrong.

The zigbee2mqtt payloads are the shapes zigbee2mqtt publishes for these devices (field names
from each device's `exposes` and from zigbee-herdsman-converters' converters: IAS zone smoke
devices add supervision_reports, restore_reports, trouble, ac_status, test, battery_defect;
Tuya ones fault_alarm, self_test_result, battery_state). Unused fields must be ignored and
`null` ("not reported yet") must not be an error.
"""

from __future__ import annotations

import json

import pytest

from edge.config.sensors import ModbusSource, SensorKind
from edge.sensors.decode import (
    MAX_PAYLOAD_BYTES,
    DecodeError,
    DecodeReason,
    decode_availability,
    decode_json,
    decode_zigbee2mqtt,
)
from edge.sensors.modbus import scaled_value, status_values

SMOKE, GAS, CO = SensorKind.SMOKE, SensorKind.GAS, SensorKind.CO

Z2M_CASES = [
    pytest.param(
        SMOKE,
        None,
        {
            "ac_status": False,
            "battery": 100,
            "battery_defect": False,
            "battery_low": False,
            "linkquality": 120,
            "restore_reports": True,
            "smoke": False,
            "supervision_reports": True,
            "tamper": False,
            "test": False,
            "trouble": False,
        },
        {
            "alarm": False,
            "battery": 100.0,
            "battery_low": False,
            "linkquality": 120.0,
            "tamper": False,
            "test": False,
            "fault": False,
        },
        id="heiman-HS1SA-quiet",
    ),
    pytest.param(
        SMOKE,
        None,
        # As reported in zigbee2mqtt issue #3164 for a Heiman HS1SA (Zigbee 3.0) in alarm.
        {"battery": 96.5, "linkquality": 92, "enrolled": True, "smoke": True, "battery_low": False},
        {"alarm": True, "battery": 96.5, "linkquality": 92.0, "battery_low": False},
        id="heiman-HS1SA-alarm",
    ),
    pytest.param(
        SMOKE,
        None,
        {"smoke": False, "trouble": True, "battery_defect": True, "tamper": True},
        {"alarm": False, "fault": True, "battery_low": True, "tamper": True},
        id="heiman-HS1SA-trouble-and-battery-defect",
    ),
    pytest.param(
        GAS,
        None,
        {"gas": True, "battery_low": False, "tamper": False, "linkquality": 76},
        {"alarm": True, "battery_low": False, "tamper": False, "linkquality": 76.0},
        id="heiman-HS1CG-gas",
    ),
    pytest.param(
        CO,
        None,
        {"carbon_monoxide": True, "battery_low": False, "battery": 90, "linkquality": 60},
        {"alarm": True, "battery_low": False, "battery": 90.0, "linkquality": 60.0},
        id="heiman-HS1CA-co",
    ),
    pytest.param(
        SMOKE,
        None,
        {
            "battery": 100,
            "battery_low": False,
            "device_temperature": 25,
            "linkquality": 90,
            "power_outage_count": 41,
            "sensitivity": "medium",
            "smoke": False,
            "smoke_density": 0,
            "tamper": False,
            "test": False,
            "voltage": 3055,
        },
        {
            "alarm": False,
            "battery": 100.0,
            "battery_low": False,
            "linkquality": 90.0,
            "tamper": False,
            "test": False,
        },
        id="xiaomi-JTYJ-GD-01LM-quiet",
    ),
    pytest.param(
        SMOKE,
        "smoke_density",
        {"smoke": True, "smoke_density": 7, "battery": 97, "test": False, "linkquality": 84},
        {"alarm": True, "value": 7.0, "battery": 97.0, "test": False, "linkquality": 84.0},
        id="xiaomi-JTYJ-GD-01LM-density-field",
    ),
    pytest.param(
        SMOKE,
        None,
        {
            "smoke": False,
            "battery_state": "low",
            "fault_alarm": False,
            "self_test_result": "success",
            "silence": False,
            "linkquality": 150,
        },
        {"alarm": False, "battery_low": True, "fault": False, "linkquality": 150.0},
        id="tuya-TS0601-smoke",
    ),
    pytest.param(
        GAS,
        "gas_value",
        {
            "gas": False,
            "gas_value": 3.2,
            "self_test_result": "checking",
            "preheat": False,
            "fault_alarm": False,
            "linkquality": 130,
        },
        {"alarm": False, "value": 3.2, "fault": False, "linkquality": 130.0},
        id="tuya-TS0601-gas-with-value",
    ),
    pytest.param(
        GAS,
        None,
        {"gas": False, "fault_alarm": False, "self_test_result": "failure"},
        {"alarm": False, "fault": True},
        id="tuya-failed-self-test-is-a-fault",
    ),
    pytest.param(
        SMOKE,
        None,
        {"smoke": False, "fault": True},
        {"alarm": False, "fault": True},
        id="plain-fault-key",
    ),
    pytest.param(
        SMOKE,
        "smoke_density",
        {"battery": None, "smoke": False, "smoke_density": None, "update": {"state": "idle"}},
        {"alarm": False},
        id="nulls-are-not-known-yet",
    ),
    pytest.param(SMOKE, None, {"update_available": False}, {}, id="no-known-field-still-alive"),
]


@pytest.mark.parametrize(("kind", "field", "payload", "values"), Z2M_CASES)
def test_zigbee2mqtt_payloads(
    kind: SensorKind, field: str | None, payload: dict[str, object], values: dict[str, object]
) -> None:
    reading = decode_zigbee2mqtt("s1", kind, json.dumps(payload).encode(), 12.5, field)
    assert reading.sensor_id == "s1"
    assert reading.ts == 12.5
    assert reading.values == values


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        (b"online", True),
        (b"offline", False),
        (b" offline\n", False),
        (b'{"state":"online"}', True),
        (b'{"state": "offline"}', False),
    ],
)
def test_availability(payload: bytes, online: bool) -> None:
    assert decode_availability("s1", payload, 3.0).values == {"online": online}


@pytest.mark.parametrize(
    ("payload", "field", "value"),
    [
        (b'{"co": 35}', "co", 35.0),
        (b'{"data": {"gas": {"lel": 12.5}}}', "data.gas.lel", 12.5),
        (b'{"channels": [{"ppm": 1}, {"ppm": 2.5}]}', "channels.1.ppm", 2.5),
        (b'{"v": -4}', "v", -4.0),
    ],
)
def test_generic_json(payload: bytes, field: str, value: float) -> None:
    assert decode_json("s1", payload, 0.0, field).values == {"value": value}


BIG = b'{"smoke": false, "pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'

MALFORMED_Z2M = [
    (b"", DecodeReason.EMPTY),
    (b"  \n", DecodeReason.EMPTY),
    (BIG, DecodeReason.TOO_LARGE),
    (b"\xff\xfe{}", DecodeReason.NOT_UTF8),
    (b"{", DecodeReason.BAD_JSON),
    (b"{'smoke': true}", DecodeReason.BAD_JSON),
    (b"[" * 50_000, DecodeReason.BAD_JSON),  # nesting deeper than the parser allows
    (b'{"battery": 1' + b"0" * 5000 + b"}", DecodeReason.BAD_JSON),  # int too long to parse
    (b"[1, 2]", DecodeReason.NOT_OBJECT),
    (b'"smoke"', DecodeReason.NOT_OBJECT),
    (b"null", DecodeReason.NOT_OBJECT),
    (b'{"smoke": "true"}', DecodeReason.WRONG_TYPE),
    (b'{"smoke": 1}', DecodeReason.WRONG_TYPE),
    (b'{"tamper": "ON"}', DecodeReason.WRONG_TYPE),
    (b'{"battery": true}', DecodeReason.WRONG_TYPE),
    (b'{"battery": "97"}', DecodeReason.WRONG_TYPE),
    (b'{"self_test_result": 3}', DecodeReason.WRONG_TYPE),
    (b'{"battery": NaN}', DecodeReason.NOT_FINITE),
    (b'{"battery": -Infinity}', DecodeReason.NOT_FINITE),
    (b'{"linkquality": 1e999}', DecodeReason.NOT_FINITE),
]


@pytest.mark.parametrize(("payload", "reason"), MALFORMED_Z2M)
def test_zigbee2mqtt_malformed(payload: bytes, reason: DecodeReason) -> None:
    with pytest.raises(DecodeError) as err:
        decode_zigbee2mqtt("s1", SMOKE, payload, 0.0)
    assert err.value.reason is reason


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        (b'{"co": 5}', "ppm", DecodeReason.MISSING_FIELD),
        (b'{"co": null}', "co", DecodeReason.MISSING_FIELD),
        (b'{"data": 5}', "data.co", DecodeReason.MISSING_FIELD),
        (b'{"list": [1]}', "list.3", DecodeReason.MISSING_FIELD),
        (b'{"co": "12"}', "co", DecodeReason.WRONG_TYPE),
        (b'{"co": false}', "co", DecodeReason.WRONG_TYPE),
        (b'{"co": [1]}', "co", DecodeReason.WRONG_TYPE),
        (b'{"co": 1e400}', "co", DecodeReason.NOT_FINITE),
        (b'{"co": ' + b"9" * 400 + b"}", "co", DecodeReason.NOT_FINITE),  # int beyond float
        (b"12", "co", DecodeReason.NOT_OBJECT),
    ],
)
def test_generic_json_malformed(payload: bytes, field: str, reason: DecodeReason) -> None:
    with pytest.raises(DecodeError) as err:
        decode_json("s1", payload, 0.0, field)
    assert err.value.reason is reason


def test_zigbee2mqtt_bad_value_field() -> None:
    with pytest.raises(DecodeError) as err:
        decode_zigbee2mqtt("s1", GAS, b'{"gas_value": "high"}', 0.0, "gas_value")
    assert err.value.reason is DecodeReason.WRONG_TYPE


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", DecodeReason.EMPTY),
        (b"maybe", DecodeReason.BAD_JSON),
        (b"{}", DecodeReason.BAD_AVAILABILITY),
        (b'{"state": "away"}', DecodeReason.BAD_AVAILABILITY),
        (b'{"state": true}', DecodeReason.BAD_AVAILABILITY),
        (b'"online"', DecodeReason.NOT_OBJECT),
    ],
)
def test_availability_malformed(payload: bytes, reason: DecodeReason) -> None:
    with pytest.raises(DecodeError) as err:
        decode_availability("s1", payload, 0.0)
    assert err.value.reason is reason


def _modbus(**config: object) -> ModbusSource:
    return ModbusSource.model_validate({"host": "h", "register": 0} | config)


@pytest.mark.parametrize(
    ("registers", "config", "value"),
    [
        ([312], {"scale": 0.1}, 31.2),
        ([65535], {}, 65535.0),
        ([65535], {"signed": True}, -1.0),
        ([0x8000], {"signed": True, "scale": 0.5}, -16384.0),
        ([1, 0], {"count": 2}, 65536.0),
        ([0xFFFF, 0xFFFE], {"count": 2, "signed": True}, -2.0),
        ([400], {"scale": 0.25, "offset": -100}, 0.0),
    ],
)
def test_modbus_register_scaling(
    registers: list[int], config: dict[str, object], value: float
) -> None:
    assert scaled_value(registers, _modbus(**config)) == pytest.approx(value)


def test_modbus_status_bits() -> None:
    src = _modbus(status_register=1, status_bits={"alarm1": 0, "alarm2": 1, "fault": 7})
    assert status_values(0b1000_0001, src) == {"alarm1": True, "alarm2": False, "fault": True}

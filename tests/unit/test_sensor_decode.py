"""Decoding sensor payloads: real zigbee2mqtt shapes, generic JSON, and every way to be wrong.

The zigbee2mqtt payloads are the shapes zigbee2mqtt publishes for these devices (field names
from each device's `exposes` and from zigbee-herdsman-converters' converters: IAS zone smoke
devices add supervision_reports, restore_reports, trouble, ac_status, test, battery_defect;
Tuya ones fault_alarm, self_test_result, battery_state). Unused fields must be ignored and
`null` ("not reported yet") must not be an error.
"""

from __future__ import annotations

import json
from typing import cast

import pytest
from pymodbus.client import ModbusTcpClient

from edge.config.sensors import ModbusSource, SensorKind
from edge.sensors.decode import (
    MAX_PAYLOAD_BYTES,
    DecodeError,
    DecodeReason,
    decode_availability,
    decode_json,
    decode_zigbee2mqtt,
)
from edge.sensors.modbus import DeviceError, read_values, scaled_value, status_values

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
    (b"[1, 2]", DecodeReason.NOT_OBJECT),
    (b'"smoke"', DecodeReason.NOT_OBJECT),
    (b"null", DecodeReason.NOT_OBJECT),
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
        (b"12", "co", DecodeReason.NOT_OBJECT),
    ],
)
def test_generic_json_malformed(payload: bytes, field: str, reason: DecodeReason) -> None:
    with pytest.raises(DecodeError) as err:
        decode_json("s1", payload, 0.0, field)
    assert err.value.reason is reason


# Issue 15: a real alarm is never thrown away because something beside it is odd. The alarm
# field decides; a side field the node cannot read is left out of the values and named in
# `unreadable` (the rules make it a sensor_fault), never a reason to refuse the message.
SMOKE_TRUE = {"alarm": True}
ALARM_BESIDE_ODD_FIELDS = [
    pytest.param(b'{"smoke": true, "battery": "high"}', SMOKE_TRUE, ("battery",), id="battery"),
    pytest.param(b'{"smoke": true, "linkquality": "n/a"}', SMOKE_TRUE, ("linkquality",), id="lq"),
    pytest.param(
        b'{"smoke": true, "tamper": "false"}', SMOKE_TRUE | {"tamper": False}, (), id="tamper"
    ),
    pytest.param(
        b'{"smoke": true, "self_test_result": 0}', SMOKE_TRUE, ("self_test_result",), id="test"
    ),
    pytest.param(b'{"smoke": true, "battery": NaN}', SMOKE_TRUE, ("battery",), id="nan"),
    pytest.param(b'{"smoke": true, "linkquality": 1e999}', SMOKE_TRUE, ("linkquality",), id="inf"),
    pytest.param(
        b'{"smoke": true, "battery": 1' + b"0" * 5000 + b"}", SMOKE_TRUE, ("battery",), id="long"
    ),
    pytest.param(
        b'{"smoke": true, "tamper": [true], "battery_state": 2}',
        SMOKE_TRUE,
        ("tamper", "battery_state"),
        id="list-and-number-enum",
    ),
    pytest.param(
        b'{"smoke": true, "trouble": "maybe", "battery_low": {}}',
        SMOKE_TRUE,
        ("battery_low", "trouble"),
        id="words-and-objects",
    ),
    pytest.param(
        b'{"smoke": true, "vendor": {"x": NaN, "y": -Infinity}}', SMOKE_TRUE, (), id="vendor"
    ),
]


@pytest.mark.parametrize(("payload", "values", "unreadable"), ALARM_BESIDE_ODD_FIELDS)
def test_alarm_beside_odd_side_fields(
    payload: bytes, values: dict[str, object], unreadable: tuple[str, ...]
) -> None:
    reading = decode_zigbee2mqtt("s1", SMOKE, payload, 0.0)
    assert reading.values == values
    assert sorted(reading.unreadable) == sorted(unreadable)


# Side fields as converters and devices really send them: zigbee2mqtt's own "ON"/"OFF", Tuya's
# 0/1, gateways' strings for numbers. Read where the meaning is unambiguous.
LENIENT_SIDE_FIELDS = [
    (b'{"tamper": "ON"}', {"tamper": True}),
    (b'{"tamper": "off", "test": "True"}', {"tamper": False, "test": True}),
    (b'{"tamper": 1, "test": 0}', {"tamper": True, "test": False}),
    (b'{"battery_low": 1}', {"battery_low": True}),
    (b'{"battery_defect": "false", "battery_low": "FALSE"}', {"battery_low": False}),
    (b'{"battery_state": "LOW"}', {"battery_low": True}),
    (b'{"fault_alarm": "OFF", "trouble": 0}', {"fault": False}),
    (b'{"trouble": "on"}', {"fault": True}),
    (b'{"self_test_result": "Failure"}', {"fault": True}),
    (b'{"battery": "97"}', {"battery": 97.0}),
    (b'{"battery": " 96.5 ", "linkquality": "120"}', {"battery": 96.5, "linkquality": 120.0}),
]


@pytest.mark.parametrize(("payload", "values"), LENIENT_SIDE_FIELDS)
def test_side_fields_in_common_encodings(payload: bytes, values: dict[str, object]) -> None:
    reading = decode_zigbee2mqtt("s1", SMOKE, payload, 0.0)
    assert reading.values == values
    assert reading.unreadable == ()


@pytest.mark.parametrize(
    ("payload", "unreadable"),
    [
        # The alarm field itself is read strictly (a true/false flag or its word): a number
        # there could be a concentration. Unreadable, it keeps its last state and is a fault;
        # the message is still a sign of life.
        (b'{"smoke": 1}', ("smoke",)),
        (b'{"smoke": "yes", "tamper": true}', ("smoke",)),
        (b'{"tamper": "maybe"}', ("tamper",)),
        (b'{"tamper": 2}', ("tamper",)),
        (b'{"battery": true}', ("battery",)),
        (b'{"battery": "97%"}', ("battery",)),
        (b'{"battery": -Infinity}', ("battery",)),
        (b'{"self_test_result": 3}', ("self_test_result",)),
    ],
)
def test_unreadable_fields_are_named_not_refused(
    payload: bytes, unreadable: tuple[str, ...]
) -> None:
    reading = decode_zigbee2mqtt("s1", SMOKE, payload, 0.0)
    assert "alarm" not in reading.values
    assert reading.unreadable == unreadable


@pytest.mark.parametrize(
    ("payload", "alarm"),
    [(b'{"smoke": "true"}', True), (b'{"smoke": "ON"}', True), (b'{"smoke": " False "}', False)],
)
def test_the_alarm_field_as_a_word_is_read(payload: bytes, alarm: bool) -> None:
    # A converter that writes the flag as text still raises the alarm: missing a fire is worse.
    reading = decode_zigbee2mqtt("s1", SMOKE, payload, 0.0)
    assert reading.values["alarm"] is alarm and reading.unreadable == ()


def test_zigbee2mqtt_value_field_is_judged_on_its_own() -> None:
    odd = b'{"gas": true, "gas_value": "high", "battery": "n/a"}'
    reading = decode_zigbee2mqtt("s1", GAS, odd, 0.0, "gas_value")
    assert reading.values == {"alarm": True}
    assert sorted(reading.unreadable) == ["battery", "gas_value"]
    fine = b'{"gas": false, "gas_value": 12, "battery": "high", "tamper": "OFF"}'
    reading = decode_zigbee2mqtt("s1", GAS, fine, 0.0, "gas_value")
    assert reading.values == {"alarm": False, "value": 12.0, "tamper": False}
    assert reading.fields == {"gas": True, "gas_value": True, "battery": False, "tamper": True}


# The JSON counterparts: the value at `field` is judged on its own, whatever else is there.
@pytest.mark.parametrize(
    "payload",
    [
        b'{"lel": 60, "battery": "high"}',
        b'{"lel": 60, "linkquality": "n/a"}',
        b'{"lel": 60, "tamper": "false"}',
        b'{"lel": 60, "self_test_result": 0}',
        b'{"lel": 60, "battery": NaN, "temperature": -Infinity}',
        b'{"lel": 60, "serial": 1' + b"0" * 5000 + b"}",
    ],
)
def test_generic_json_value_beside_odd_fields(payload: bytes) -> None:
    reading = decode_json("s1", payload, 0.0, "lel")
    assert reading.values == {"value": 60.0}
    assert reading.unreadable == ()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b'{"co": "12"}', "co"),
        (b'{"co": false}', "co"),
        (b'{"co": [1]}', "co"),
        (b'{"co": 1e400}', "co"),
        (b'{"co": NaN}', "co"),
        (b'{"co": ' + b"9" * 400 + b"}", "co"),  # an int beyond float
        (b'{"data": {"co": "n/a"}}', "data.co"),
    ],
)
def test_generic_json_unreadable_value_is_named(payload: bytes, field: str) -> None:
    reading = decode_json("s1", payload, 0.0, field)
    assert reading.values == {}
    assert reading.unreadable == (field,)


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


class _Answer:
    def __init__(self, registers: list[int] | None) -> None:
        self.registers = registers or []
        self._error = registers is None

    def isError(self) -> bool:  # noqa: N802 (pymodbus's name)
        return self._error


class _FakeDevice:
    """Holding registers by address; an address not in the map answers with an exception."""

    def __init__(self, registers: dict[int, int]) -> None:
        self.registers = registers

    def read_holding_registers(self, address: int, *, count: int, device_id: int) -> _Answer:
        words = [self.registers.get(a) for a in range(address, address + count)]
        return _Answer(None if None in words else [w for w in words if w is not None])


GAS_SRC = _modbus(scale=0.1, status_register=1, status_bits={"alarm1": 0, "alarm2": 1, "fault": 2})


def test_modbus_alarm_bit_read_when_the_value_register_is_not() -> None:
    client = cast(ModbusTcpClient, _FakeDevice({1: 0b010}))
    values, fields = read_values(client, GAS_SRC)
    assert values == {"alarm1": False, "alarm2": True, "fault": False}
    assert fields == {"register": False, "status_register": True}


def test_modbus_value_read_when_the_status_register_is_not() -> None:
    client = cast(ModbusTcpClient, _FakeDevice({0: 312}))
    values, fields = read_values(client, GAS_SRC)
    assert values == {"value": pytest.approx(31.2)}
    assert fields == {"register": True, "status_register": False}


def test_modbus_nothing_read_is_a_failed_poll() -> None:
    client = cast(ModbusTcpClient, _FakeDevice({}))
    with pytest.raises(DeviceError):
        read_values(client, GAS_SRC)

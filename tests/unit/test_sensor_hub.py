"""The hub: topics to subscribe, messages to alerts, counters, throttled warnings, no raising."""

from __future__ import annotations

import logging

import pytest

from edge.clock import FakeClock
from edge.config.sensors import Sensor
from edge.messages import AlertEvent, AlertKind, Transition
from edge.sensors.hub import SensorHub, SensorState

SMOKE = Sensor.model_validate(
    {"id": "smoke-1", "kind": "smoke", "mqtt": {"topic": "zigbee2mqtt/smoke-1"}}
)
CO = Sensor.model_validate(
    {"id": "co-1", "kind": "co", "mqtt": {"topic": "site/co", "format": "json", "field": "ppm"}}
)
OFF = Sensor.model_validate(
    {"id": "off-1", "kind": "smoke", "enabled": False, "mqtt": {"topic": "zigbee2mqtt/off"}}
)


class Sink:
    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    def __call__(self, events: list[AlertEvent]) -> None:
        self.events += events

    def seen(self) -> list[tuple[str, Transition]]:
        return [(e.key, e.transition) for e in self.events]


def make(clock: FakeClock | None = None) -> tuple[SensorHub, Sink, FakeClock]:
    clock = clock or FakeClock()
    sink = Sink()
    return SensorHub([SMOKE, CO, OFF], clock, sink), sink, clock


def test_topics_include_availability_and_skip_disabled_sensors() -> None:
    hub, _, _ = make()
    assert hub.mqtt_topics() == [
        "site/co",
        "zigbee2mqtt/smoke-1",
        "zigbee2mqtt/smoke-1/availability",
    ]


def test_zigbee2mqtt_smoke_alarm_end_to_end() -> None:
    hub, sink, clock = make()
    hub.handle_mqtt("zigbee2mqtt/smoke-1", b'{"smoke":false,"battery":100,"linkquality":90}')
    clock.advance(30)
    hub.handle_mqtt("zigbee2mqtt/smoke-1", b'{"smoke":true,"battery":100,"linkquality":90}')
    hub.handle_mqtt("zigbee2mqtt/smoke-1", b'{"smoke":true,"battery":100,"linkquality":88}')
    clock.advance(5)
    hub.handle_mqtt("zigbee2mqtt/smoke-1", b'{"smoke":false}')
    assert sink.seen() == [
        ("sensor/smoke-1/smoke", Transition.RAISED),
        ("sensor/smoke-1/smoke", Transition.CLEARED),
    ]
    raised = sink.events[0]
    assert raised.kind is AlertKind.SMOKE and raised.sensor_id == "smoke-1"
    assert raised.started == 30.0
    c = hub.counters
    assert (c.received, c.decoded, c.malformed_total, c.unknown_topics) == (4, 4, 0, 0)
    assert c.last_seen == {"smoke-1": 35.0}
    assert hub.first_heard("smoke-1") == 0.0
    assert hub.first_heard("co-1") is None
    assert hub.first_heard("no-such-sensor") is None


def test_availability_and_silence() -> None:
    hub, sink, clock = make()
    hub.handle_mqtt("zigbee2mqtt/smoke-1/availability", b'{"state":"offline"}')
    assert sink.seen() == [("sensor/smoke-1/offline", Transition.RAISED)]
    assert hub.counters.offline == {"smoke-1"}
    hub.handle_mqtt("zigbee2mqtt/smoke-1/availability", b"online")
    assert sink.seen()[-1] == ("sensor/smoke-1/offline", Transition.CLEARED)
    clock.advance(600)  # the json sensor's default silence limit
    hub.check(clock.monotonic())
    assert sink.seen()[-1] == ("sensor/co-1/offline", Transition.RAISED)
    hub.check(clock.monotonic() + 1)
    assert len(sink.events) == 3  # offline is reported once, not on every check


def test_malformed_input_is_counted_by_reason() -> None:
    hub, sink, _ = make()
    hub.handle_mqtt("zigbee2mqtt/smoke-1", b"{not json")
    hub.handle_mqtt("zigbee2mqtt/smoke-1", b'["smoke", true]')
    hub.handle_mqtt("site/co", b'{"co": 3}')
    hub.handle_mqtt("zigbee2mqtt/smoke-1", b"x" * 70_000)
    hub.handle_mqtt("zigbee2mqtt/off", b'{"smoke":true}')
    hub.handle_mqtt("elsewhere/topic", b"{}")
    c = hub.counters
    assert dict(c.malformed) == {
        "bad_json": 1,
        "not_object": 1,
        "missing_field": 1,
        "too_large": 1,
    }
    assert (c.received, c.decoded, c.unknown_topics) == (6, 0, 2)
    assert sink.events == []


# Issue 15, item 1: each of these once raised nothing, only a wrong_type warning.
FOUR_PAYLOADS = [
    pytest.param(b'{"smoke": true, "battery": "high"}', "battery", id="battery-high"),
    pytest.param(b'{"smoke": true, "linkquality": "n/a"}', "linkquality", id="linkquality-na"),
    pytest.param(b'{"smoke": true, "tamper": "false"}', None, id="tamper-text"),
    pytest.param(b'{"smoke": true, "self_test_result": 0}', "self_test_result", id="self-test-0"),
]


@pytest.mark.parametrize(("payload", "unreadable"), FOUR_PAYLOADS)
def test_a_real_alarm_is_never_thrown_away_for_a_field_beside_it(
    payload: bytes, unreadable: str | None
) -> None:
    hub, sink, _ = make()
    hub.handle_mqtt("zigbee2mqtt/smoke-1", payload)
    expected = [("sensor/smoke-1/smoke", Transition.RAISED)]
    if unreadable is not None:
        expected.append(("sensor/smoke-1/fault", Transition.RAISED))
        assert sink.events[1].kind is AlertKind.SENSOR_FAULT
        assert sink.events[1].detail == {"reason": "unreadable", "unreadable": unreadable}
    assert sink.seen() == expected
    c = hub.counters
    assert (c.received, c.decoded, c.malformed_total) == (1, 1, 0)
    assert c.unreadable_fields == (0 if unreadable is None else 1)


JSON_GAS = Sensor.model_validate(
    {"id": "gas-1", "kind": "gas", "mqtt": {"topic": "site/gas", "format": "json", "field": "lel"}}
)


@pytest.mark.parametrize(
    "odd",
    [
        b'"battery": "high"',
        b'"linkquality": "n/a"',
        b'"tamper": "false"',
        b'"self_test_result": 0',
        b'"battery": NaN',
        b'"serial": 1' + b"0" * 5000,
    ],
)
def test_json_value_beside_odd_fields_raises(odd: bytes) -> None:
    clock = FakeClock()
    sink = Sink()
    hub = SensorHub([JSON_GAS], clock, sink)
    hub.handle_mqtt("site/gas", b'{"lel": 60, ' + odd + b"}")
    clock.advance(5)  # the gas minimum duration
    hub.handle_mqtt("site/gas", b'{"lel": 61, ' + odd + b"}")
    assert sink.seen() == [("sensor/gas-1/gas", Transition.RAISED)]
    assert hub.counters.malformed_total == 0


def test_unreadable_fields_are_counted_logged_and_a_fault(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub, sink, _ = make()
    with caplog.at_level(logging.WARNING, logger="edge.sensors.hub"):
        hub.handle_mqtt("zigbee2mqtt/smoke-1", b'{"smoke": "yes", "tamper": "ON"}')
        hub.handle_mqtt("site/co", b'{"ppm": NaN}')
        hub.handle_mqtt("site/co", b'{"ppm": "n/a"}')
    assert sink.seen() == [
        ("sensor/smoke-1/fault", Transition.RAISED),
        ("sensor/smoke-1/tamper", Transition.RAISED),
        ("sensor/co-1/fault", Transition.RAISED),
    ]
    assert sink.events[2].detail == {"reason": "unreadable", "unreadable": "ppm"}
    c = hub.counters
    assert (c.received, c.decoded, c.malformed_total, c.unreadable_fields) == (3, 3, 0, 3)
    assert set(c.last_seen) == {"smoke-1", "co-1"}  # a sign of life all the same
    (line,) = [r.getMessage() for r in caplog.records]  # one a minute, however many
    assert "smoke-1" in line and "'smoke'" in line


def test_minus_1e300_never_clears_a_gas_alarm_end_to_end() -> None:
    """Issue 12, item 3: -1e300 cleared a critical gas alarm 5 s later, saying 60 %LEL."""
    clock = FakeClock()
    sink = Sink()
    states: list[SensorState] = []
    hub = SensorHub([JSON_GAS], clock, sink, on_state=states.append, state_every_s=60.0)
    hub.handle_mqtt("site/gas", b'{"lel": 60}')
    clock.advance(5)
    hub.check(clock.monotonic())
    assert sink.seen() == [("sensor/gas-1/gas", Transition.RAISED)]
    clock.advance(1)
    hub.handle_mqtt("site/gas", b'{"lel": -1e300}')
    fault = sink.events[-1]
    assert (fault.kind, fault.transition) == (AlertKind.SENSOR_FAULT, Transition.RAISED)
    assert fault.detail == {
        "reason": "implausible",
        "value": -1e300,
        "plausible_min": -5.0,
        "plausible_max": 100.0,
        "unit": "%LEL",
    }
    for _ in range(120):  # two minutes of housekeeping and more of the same
        clock.advance(1)
        hub.check(clock.monotonic())
        hub.handle_mqtt("site/gas", b'{"lel": -1e300}')
    assert [e.transition for e in sink.events if e.kind is AlertKind.GAS] == [
        Transition.RAISED,
        Transition.UPDATED,
        Transition.UPDATED,
    ]  # re-sent once a minute, never cleared
    assert all(e.detail["value"] == 60.0 for e in sink.events if e.kind is AlertKind.GAS)
    assert states[-1].values["value"] == 60.0  # the retained state keeps the last good value
    hub.handle_mqtt("site/gas", b'{"lel": 58}')
    assert sink.seen()[-1] == ("sensor/gas-1/fault", Transition.CLEARED)
    hub.handle_mqtt("site/gas", b'{"lel": 0}')
    clock.advance(5)
    hub.check(clock.monotonic())
    cleared = sink.events[-1]
    assert (cleared.kind, cleared.transition) == (AlertKind.GAS, Transition.CLEARED)
    assert cleared.detail["value"] == 0.0


def test_warnings_name_the_topic_and_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    hub, _, clock = make()
    with caplog.at_level(logging.WARNING, logger="edge.sensors.hub"):
        for _ in range(50):
            hub.handle_mqtt("zigbee2mqtt/smoke-1", b"{bad")
        clock.advance(61)
        hub.handle_mqtt("zigbee2mqtt/smoke-1", b"{bad")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "'zigbee2mqtt/smoke-1'" in lines[0] and "bad_json" in lines[0]
    assert "(49 similar held back)" in lines[1]
    assert hub.counters.malformed["bad_json"] == 51


def test_a_failing_emit_does_not_escape(caplog: pytest.LogCaptureFixture) -> None:
    def broken(events: list[AlertEvent]) -> None:
        raise RuntimeError("manager down")

    hub = SensorHub([SMOKE], FakeClock(), broken)
    with caplog.at_level(logging.ERROR):
        hub.handle_mqtt("zigbee2mqtt/smoke-1", b'{"smoke":true}')
        hub.check(10_000_000.0)
    assert hub.counters.decoded == 1
    assert "emitting" in caplog.text


def test_duplicate_topics_are_refused() -> None:
    twin = Sensor.model_validate(
        {"id": "twin", "kind": "smoke", "mqtt": {"topic": "zigbee2mqtt/smoke-1"}}
    )
    with pytest.raises(ValueError, match="share topic zigbee2mqtt/smoke-1"):
        SensorHub([SMOKE, twin], FakeClock(), Sink())


def test_modbus_sensors_share_one_poller_per_endpoint() -> None:
    def gas(sid: str, port: int, register: int) -> Sensor:
        modbus = {"host": "127.0.0.1", "port": port, "register": register}
        return Sensor.model_validate({"id": sid, "kind": "gas", "modbus": modbus})

    hub = SensorHub([gas("a", 5020, 0), gas("b", 5020, 1), gas("c", 5021, 0)], FakeClock(), Sink())
    assert sorted(p.endpoint for p in hub.counters.pollers) == [
        "127.0.0.1:5020",
        "127.0.0.1:5021",
    ]
    assert hub.mqtt_topics() == []


def test_state_is_reported_on_change_and_new_values_at_most_every_interval() -> None:
    clock = FakeClock()
    states: list[SensorState] = []
    hub = SensorHub([SMOKE, CO], clock, Sink(), on_state=states.append, state_every_s=60.0)
    hub.check(clock.monotonic())
    assert states == []  # never heard from, not yet offline: nothing to say
    hub.handle_mqtt("zigbee2mqtt/smoke-1", b'{"smoke":false,"battery":90,"linkquality":120}')
    (first,) = states
    assert (first.sensor_id, first.kind, first.online, first.last_heard) == (
        "smoke-1",
        "smoke",
        True,
        0.0,
    )
    assert dict(first.values) == {"alarm": False, "battery": 90.0, "linkquality": 120.0}
    clock.advance(30)
    hub.handle_mqtt("zigbee2mqtt/smoke-1", b'{"smoke":false,"battery":89,"linkquality":118}')
    assert len(states) == 1  # new values, but within the interval
    clock.advance(30)
    hub.check(clock.monotonic())
    assert len(states) == 2 and states[-1].values["battery"] == 89.0  # the held-back values
    hub.check(clock.monotonic() + 120)
    assert len(states) == 2  # nothing new: the retained message still says it all
    hub.handle_mqtt("zigbee2mqtt/smoke-1/availability", b'{"state":"offline"}')
    assert (states[-1].online, states[-1].values["battery"]) == (False, 89.0)
    hub.handle_mqtt("zigbee2mqtt/smoke-1/availability", b"online")
    assert states[-1].online is True
    clock.advance(600)  # the json CO sensor was never heard: its silence is an offline state
    hub.check(clock.monotonic())
    assert (states[-1].sensor_id, states[-1].online, states[-1].last_heard) == ("co-1", False, None)


def test_a_failing_state_listener_does_not_escape(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_state: SensorState) -> None:
        raise RuntimeError("outbox gone")

    hub = SensorHub([SMOKE], FakeClock(), Sink(), on_state=broken)
    with caplog.at_level(logging.ERROR):
        hub.handle_mqtt("zigbee2mqtt/smoke-1", b'{"smoke":true}')
    assert "reporting the state of sensor smoke-1 failed" in caplog.text

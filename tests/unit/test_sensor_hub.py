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
    hub.handle_mqtt("zigbee2mqtt/smoke-1", b'{"smoke":"yes"}')
    hub.handle_mqtt("site/co", b'{"co": 3}')
    hub.handle_mqtt("site/co", b'{"ppm": NaN}')
    hub.handle_mqtt("zigbee2mqtt/smoke-1", b"x" * 70_000)
    hub.handle_mqtt("zigbee2mqtt/off", b'{"smoke":true}')
    hub.handle_mqtt("elsewhere/topic", b"{}")
    c = hub.counters
    assert dict(c.malformed) == {
        "bad_json": 1,
        "wrong_type": 1,
        "missing_field": 1,
        "not_finite": 1,
        "too_large": 1,
    }
    assert (c.received, c.decoded, c.unknown_topics) == (7, 0, 2)
    assert sink.events == []


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

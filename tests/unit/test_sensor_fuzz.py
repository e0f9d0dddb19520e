"""Property: whatever arrives over MQTT, the sensor hub keeps running and its books balance.

10,000 random sequences of one to three messages (random bytes, random JSON, zigbee2mqtt-shaped
objects with random value types, oversized payloads, and well-formed messages on their own
topics so that the rules run too) on configured and unknown topics, with the clock moving
and `check` called in between. For every sequence: `handle_mqtt` never raises, nothing is put
down to an internal error (a bug hidden by the catch-all would show here), the counters add up
(received == decoded + malformed + unknown), and the alerts emitted form a valid lifecycle per
condition: raised, then updated*, then cleared, never two raises for one open condition.

Two more properties, from issues 15 and 12. A zigbee2mqtt message whose alarm field is true
raises (or keeps) the alarm, whatever else the message carries: odd side fields, unreadable
values, vendor extras, NaN, numbers too long to parse. And no alarm event ever reports a value
outside the sensor's plausible range.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from edge.clock import FakeClock
from edge.config.sensors import Sensor
from edge.messages import AlertEvent, AlertKind, Transition
from edge.sensors.decode import MAX_PAYLOAD_BYTES
from edge.sensors.hub import SensorHub

SENSORS = [
    Sensor.model_validate(d)
    for d in (
        {"id": "smoke-1", "kind": "smoke", "mqtt": {"topic": "zigbee2mqtt/smoke-1"}},
        {
            "id": "gas-1",
            "kind": "gas",
            "mqtt": {"topic": "zigbee2mqtt/gas-1", "field": "gas_value"},
        },
        {
            "id": "co-1",
            "kind": "co",
            "mqtt": {"topic": "site/co-1", "format": "json", "field": "data.ppm"},
        },
    )
]
KNOWN_TOPICS = [
    "zigbee2mqtt/smoke-1",
    "zigbee2mqtt/smoke-1/availability",
    "zigbee2mqtt/gas-1",
    "zigbee2mqtt/gas-1/availability",
    "site/co-1",
]
Z2M_KEYS = [
    "smoke", "gas", "carbon_monoxide", "battery_low", "tamper", "fault_alarm", "fault",
    "trouble", "test", "battery_defect", "self_test_result", "battery_state", "battery",
    "linkquality", "gas_value", "state", "data",
]  # fmt: skip
SIDE_KEYS = [
    "battery_low", "tamper", "fault_alarm", "fault", "trouble", "test", "battery_defect",
    "self_test_result", "battery_state", "battery", "linkquality", "gas_value", "vendor",
]  # fmt: skip
# The alarm field of each zigbee2mqtt sensor, and the condition it raises.
ALARMS = {
    "zigbee2mqtt/smoke-1": ("smoke", "sensor/smoke-1/smoke"),
    "zigbee2mqtt/gas-1": ("gas", "sensor/gas-1/gas"),
}
PLAUSIBLE = {s.id: s.plausible_range for s in SENSORS if s.numeric}

# Values known to matter (types, edges, the words the decoders look for), drawn cheaply from a
# pool; general random JSON and random bytes come on top. Hypothesis spends most of the time
# generating, so the pool keeps 10,000 examples within the time budget.
INTERESTING = [
    None, True, False, 0, 1, -1, 0.5, 25, 50.0, 1e308, -1e308, 10**30, 2**63, "", "x",
    "online", "offline", "low", "failure", "success", "checking", "true", "NaN",
    float("nan"), float("inf"), float("-inf"), [], {}, [1, "a"], {"state": "online"},
    {"ppm": 12}, {"ppm": None}, {"ppm": "12"},
    # What real devices and converters put beside an alarm (issue 15), and values no sensor can
    # physically read (issue 12).
    "high", "n/a", "false", "ON", "OFF", "on", "97", " 12.5 ", "1e999", 2, -5.1, 100.1, 6553.5,
    1e300, -1e300, -3276.8, {"x": float("nan")},
]  # fmt: skip
scalars = st.one_of(
    st.sampled_from(INTERESTING),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(Z2M_KEYS), inner, max_size=3),
    ),
    max_leaves=4,
)
z2m_like = st.dictionaries(st.sampled_from(Z2M_KEYS), st.sampled_from(INTERESTING), max_size=6)
valid_z2m = st.builds(
    lambda flags, lel: flags | ({} if lel is None else {"gas_value": lel}),
    st.dictionaries(
        st.sampled_from(["smoke", "gas", "tamper", "battery_low", "fault_alarm", "trouble"]),
        st.booleans(),
        max_size=4,
    ),
    st.none() | st.sampled_from([0.0, 10.0, 24.9, 25.0, 30.0, 49.0, 50.0, 80.0]),
)
co_like = st.builds(lambda v: {"data": {"ppm": v}}, st.sampled_from(INTERESTING) | st.floats())
# A true alarm among odd side fields, on its own topic.
alarm_beside_odd = st.builds(
    lambda topic, sides: (topic, _dumps(sides | {ALARMS[topic][0]: True})),
    st.sampled_from(sorted(ALARMS)),
    st.dictionaries(st.sampled_from(SIDE_KEYS), st.sampled_from(INTERESTING), max_size=5),
)


def _dumps(obj: Any) -> bytes:
    # allow_nan: Python writes NaN/Infinity, which is exactly the invalid JSON we want to send.
    return json.dumps(obj, allow_nan=True).encode()


payloads = st.one_of(
    st.binary(max_size=200),
    json_values.map(_dumps),
    z2m_like.map(_dumps),
    valid_z2m.map(_dumps),
    co_like.map(_dumps),
    st.integers(min_value=1, max_value=64).map(lambda n: b" " * (MAX_PAYLOAD_BYTES + n)),
    st.text(max_size=50).map(lambda s: s.encode("utf-8", "surrogatepass")),
)
topics = st.one_of(st.sampled_from(KNOWN_TOPICS), st.text(max_size=20))
availability = st.sampled_from(
    [b"online", b"offline", b'{"state":"online"}', b'{"state":"offline"}']
)
messages = st.one_of(
    st.tuples(topics, payloads),
    # Well-formed messages on their own topics, so that sequences reach the rules.
    st.tuples(st.sampled_from(["zigbee2mqtt/smoke-1", "zigbee2mqtt/gas-1"]),
              valid_z2m.map(_dumps)),
    st.tuples(st.sampled_from(["zigbee2mqtt/smoke-1/availability",
                               "zigbee2mqtt/gas-1/availability"]), availability),
    st.tuples(st.just("site/co-1"), co_like.map(_dumps)),
    alarm_beside_odd,
)  # fmt: skip
steps = st.lists(
    # Clock steps around the rules' durations: min duration 5 s, updates 60 s, json offline 600 s.
    st.tuples(messages, st.sampled_from([0.0, 0.5, 1.0, 5.0, 61.0, 700.0, 7200.0])),
    min_size=1,
    max_size=3,
)


class Lifecycle:
    """Collects emitted events and checks each condition's transitions are in order, and that
    no alarm reports an implausible value."""

    def __init__(self) -> None:
        self.open: set[str] = set()
        self.count = 0

    def __call__(self, events: list[AlertEvent]) -> None:
        for e in events:
            self.count += 1
            assert e.sensor_id is not None and e.key.startswith(f"sensor/{e.sensor_id}/")
            assert e.ts >= e.started
            if e.kind in (AlertKind.GAS, AlertKind.CO) and "value" in e.detail:
                low, high = PLAUSIBLE[e.sensor_id]
                assert low <= float(e.detail["value"]) <= high, f"implausible value in {e}"
            if e.transition is Transition.RAISED:
                assert e.key not in self.open, f"second raise of open {e.key}"
                self.open.add(e.key)
            else:
                assert e.key in self.open, f"{e.transition} of {e.key} that is not open"
                if e.transition is Transition.CLEARED:
                    self.open.discard(e.key)


@settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps)
# Issue 15's four payloads, and their JSON counterparts.
@example([(("zigbee2mqtt/smoke-1", b'{"smoke": true, "battery": "high"}'), 0.0)])
@example([(("zigbee2mqtt/smoke-1", b'{"smoke": true, "linkquality": "n/a"}'), 0.0)])
@example([(("zigbee2mqtt/smoke-1", b'{"smoke": true, "tamper": "false"}'), 0.0)])
@example([(("zigbee2mqtt/smoke-1", b'{"smoke": true, "self_test_result": 0}'), 0.0)])
@example([(("site/co-1", b'{"data": {"ppm": 200}, "battery": "high", "x": NaN}'), 61.0)])
@example([(("site/co-1", b'{"data": {"ppm": 200}, "tamper": "false"}'), 61.0)])
# Issue 12: an implausible reading beside an open alarm.
@example(
    [
        (("zigbee2mqtt/gas-1", b'{"gas_value": 60}'), 5.0),
        (("zigbee2mqtt/gas-1", b'{"gas_value": -1e300}'), 5.0),
        (("zigbee2mqtt/gas-1", b'{"gas": true, "gas_value": 1e300, "battery": NaN}'), 0.0),
    ]
)
def test_random_payloads_never_raise_and_counters_add_up(
    script: list[tuple[tuple[str, bytes], float]],
) -> None:
    clock = FakeClock()
    lifecycle = Lifecycle()
    hub = SensorHub(SENSORS, clock, lifecycle)
    for (topic, payload), advance in script:
        hub.handle_mqtt(topic, payload)
        alarm = _true_alarm(topic, payload)
        if alarm is not None:
            assert alarm in lifecycle.open, f"alarm in {payload[:200]!r} was dropped"
            event("a true alarm among the message")
        clock.advance(advance)
        hub.check(clock.monotonic())
    c = hub.counters
    assert c.received == len(script)
    assert c.received == c.decoded + c.malformed_total + c.unknown_topics
    assert c.malformed.get("internal", 0) == 0
    assert c.rule_errors == 0
    known = sum(1 for (topic, _), _ in script if topic in KNOWN_TOPICS)
    assert c.unknown_topics == len(script) - known
    assert set(c.last_seen) <= {s.id for s in SENSORS}
    # Coverage of the run, shown by --hypothesis-show-statistics.
    event("some message decoded" if c.decoded else "nothing decoded")
    event("alerts emitted" if lifecycle.count else "no alerts")


def _true_alarm(topic: str, payload: bytes) -> str | None:
    """The alarm condition `payload` must leave open: a zigbee2mqtt sensor's message that is a
    JSON object (UTF-8, within the size limit) with its alarm field exactly true."""
    if topic not in ALARMS or len(payload) > MAX_PAYLOAD_BYTES:
        return None
    key, condition = ALARMS[topic]
    try:
        obj = json.loads(payload.decode("utf-8"), parse_int=_int_or_float)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, too deep: not a message at all
        return None
    return condition if isinstance(obj, dict) and obj.get(key) is True else None


def _int_or_float(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:  # more digits than Python parses
        return float(text)

"""Modbus TCP against pymodbus's own server on loopback: no mocks.

The server simulates a gas detector: the concentration in holding register 0 (tenths of %LEL),
a status word in holding register 1 (bit 0 alarm 1, bit 1 alarm 2, bit 2 fault, bit 3 comms
fault), and a CO reading in input register 5 (ppm). The node's hub polls it like a real site.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edge.clock import SystemClock
from edge.config.sensors import Sensor
from edge.messages import AlertEvent, AlertKind, Transition
from edge.sensors.hub import SensorHub

pytestmark = pytest.mark.integration

UNIT = 1
HOLDING, INPUT = 3, 4  # function codes addressing the two register tables
POLL_S = 0.1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Detector:
    """pymodbus's TCP server on its own event loop thread; registers settable from the test."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusTcpServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        assert ready.wait(10), "modbus server did not start"

    def _serve(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)

        async def listen() -> None:
            device = SimDevice(
                UNIT,
                simdata=(
                    [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                    [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                    [SimData(0, count=10, values=0, datatype=DataType.REGISTERS)],
                    [SimData(0, count=10, values=0, datatype=DataType.REGISTERS)],
                ),
            )
            self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
            await self._server.serve_forever(background=True)

        self._loop.run_until_complete(listen())
        ready.set()
        self._loop.run_forever()
        self._loop.close()

    def set(self, table: int, address: int, *values: int) -> None:
        assert self._loop is not None and self._server is not None
        coro = self._server.async_setValues(UNIT, table, address, list(values))
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    def stop(self) -> None:
        if self._loop is None or self._server is None:
            return
        server, loop = self._server, self._loop
        asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        assert self._thread is not None
        self._thread.join(5)
        self._loop = self._server = self._thread = None


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def detector(port: int) -> Iterator[Detector]:
    d = Detector(port)
    d.start()
    try:
        yield d
    finally:
        d.stop()


class Events:
    """What the hub emitted, thread-safe, with waiting."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.all: list[AlertEvent] = []

    def __call__(self, events: list[AlertEvent]) -> None:
        with self._cond:
            self.all += events
            self._cond.notify_all()

    def wait_for(self, match: Callable[[AlertEvent], bool], timeout: float = 10.0) -> AlertEvent:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.all:
                    if match(e):
                        return e
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching event; got {self.all}")
                self._cond.wait(remaining)

    def of(self, kind: AlertKind) -> list[Transition]:
        with self._cond:
            return [e.transition for e in self.all if e.kind is kind]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def is_(kind: AlertKind, transition: Transition) -> Callable[[AlertEvent], bool]:
    return lambda e: e.kind is kind and e.transition is transition


def gas_sensor(port: int) -> Sensor:
    return Sensor.model_validate(
        {
            "id": "gas-kitchen-3",
            "kind": "gas",
            "modbus": {
                "host": "127.0.0.1",
                "port": port,
                "unit": UNIT,
                "register": 0,
                "table": "holding",
                "scale": 0.1,
                "unit_of_measure": "%LEL",
                "status_register": 1,
                "status_bits": {"alarm1": 0, "alarm2": 1, "fault": 2, "comms_fault": 3},
                "poll_s": POLL_S,
                "timeout_s": 0.5,
                "failures_before_offline": 3,
            },
            "thresholds": {"min_duration_s": 0.3},
            "offline_after_s": 5,
        }
    )


def co_sensor(port: int) -> Sensor:
    return Sensor.model_validate(
        {
            "id": "co-garage",
            "kind": "co",
            "modbus": {
                "host": "127.0.0.1",
                "port": port,
                "register": 5,
                "table": "input",
                "poll_s": POLL_S,
                "timeout_s": 0.5,
            },
            "thresholds": {"min_duration_s": 0.3},
            "offline_after_s": 5,
        }
    )


@pytest.fixture
def hub_events(port: int) -> Iterator[tuple[SensorHub, Events]]:
    events = Events()
    hub = SensorHub([gas_sensor(port), co_sensor(port)], SystemClock(), events)
    hub.start()
    try:
        yield hub, events
    finally:
        hub.stop()


def test_gas_value_is_scaled_and_levels_raise(
    detector: Detector, hub_events: tuple[SensorHub, Events]
) -> None:
    hub, events = hub_events
    detector.set(HOLDING, 0, 312)  # 31.2 %LEL: above level 1 (25)
    raised = events.wait_for(is_(AlertKind.GAS, Transition.RAISED))
    assert raised.sensor_id == "gas-kitchen-3"
    assert raised.detail["value"] == pytest.approx(31.2)
    assert raised.detail["unit"] == "%LEL"
    assert raised.detail["level"] == 1
    detector.set(HOLDING, 0, 650)  # 65 %LEL: level 2 upgrades the same alert
    upgraded = events.wait_for(is_(AlertKind.GAS, Transition.UPDATED))
    assert upgraded.detail["level"] == 2
    assert upgraded.key == raised.key
    assert events.of(AlertKind.GAS).count(Transition.RAISED) == 1
    detector.set(HOLDING, 0, 0)
    events.wait_for(is_(AlertKind.GAS, Transition.CLEARED))
    c = hub.counters
    assert "gas-kitchen-3" in c.last_seen and "co-garage" in c.last_seen
    (stats,) = c.pollers
    assert stats.reads > 0 and stats.failures == 0 and stats.connected


def test_input_register_table(detector: Detector, hub_events: tuple[SensorHub, Events]) -> None:
    _, events = hub_events
    detector.set(INPUT, 5, 200)  # 200 ppm CO in the input table
    raised = events.wait_for(is_(AlertKind.CO, Transition.RAISED))
    assert raised.detail["value"] == 200.0
    assert raised.detail["level"] == 2
    assert AlertKind.GAS not in {e.kind for e in events.all}  # holding 5 is still 0


def test_status_bits(detector: Detector, hub_events: tuple[SensorHub, Events]) -> None:
    _, events = hub_events
    detector.set(HOLDING, 1, 0b0100)  # fault
    fault = events.wait_for(is_(AlertKind.SENSOR_FAULT, Transition.RAISED))
    assert fault.detail["reason"] == "fault"
    detector.set(HOLDING, 1, 0b0001)  # fault gone, the device's own alarm 1
    events.wait_for(is_(AlertKind.SENSOR_FAULT, Transition.CLEARED))
    alarm = events.wait_for(is_(AlertKind.GAS, Transition.RAISED))
    assert alarm.detail["device_alarm1"] is True
    detector.set(HOLDING, 1, 0b1000)  # the detector reports a comms fault of its own
    comms = events.wait_for(
        lambda e: (
            is_(AlertKind.SENSOR_FAULT, Transition.RAISED)(e)
            and e.detail["reason"] == "comms_fault"
        )
    )
    assert comms.ts >= alarm.ts


def test_server_down_is_offline_and_recovery_clears(
    port: int, detector: Detector, hub_events: tuple[SensorHub, Events]
) -> None:
    hub, events = hub_events
    detector.set(HOLDING, 0, 50)
    wait_until(lambda: len(hub.counters.last_seen) == 2)
    assert hub.counters.offline == frozenset()
    detector.stop()
    offline = events.wait_for(is_(AlertKind.SENSOR_OFFLINE, Transition.RAISED))
    assert offline.detail["reason"] == "unreachable"
    assert float(offline.detail["failures"]) >= 3
    # Both sensors behind the endpoint are offline, each once, however long the outage.
    time.sleep(1.0)
    assert events.of(AlertKind.SENSOR_OFFLINE).count(Transition.RAISED) == 2
    assert hub.counters.offline == {"gas-kitchen-3", "co-garage"}
    assert hub.counters.pollers[0].failing_rounds >= 3

    restarted = Detector(port)
    restarted.start()
    try:
        restarted.set(HOLDING, 0, 40)
        events.wait_for(is_(AlertKind.SENSOR_OFFLINE, Transition.CLEARED))
        wait_until(lambda: not hub.counters.offline)
        assert events.of(AlertKind.SENSOR_OFFLINE).count(Transition.CLEARED) == 2
    finally:
        restarted.stop()


def test_alarm_bit_counts_when_the_value_register_is_refused(port: int, detector: Detector) -> None:
    """Issue 15: the alarm bit is judged on its own, whatever the value register does."""
    sensor = gas_sensor(port).model_dump(by_alias=True, exclude_none=True)
    # The simulated device has 10 holding registers: register 50 answers with an exception.
    sensor["modbus"] |= {"register": 50}
    events = Events()
    hub = SensorHub([Sensor.model_validate(sensor)], SystemClock(), events)
    detector.set(HOLDING, 1, 0b0010)  # the device's own alarm 2
    hub.start()
    try:
        alarm = events.wait_for(is_(AlertKind.GAS, Transition.RAISED))
        assert alarm.detail["level"] == 2 and alarm.detail["device_alarm2"] is True
        fault = events.wait_for(is_(AlertKind.SENSOR_FAULT, Transition.RAISED))
        assert fault.detail == {"reason": "unreadable", "unreadable": "register"}
        assert hub.counters.offline == frozenset()  # a partial answer is an answer
        assert hub.counters.unreadable_fields > 0
    finally:
        hub.stop()


def test_implausible_value_is_a_fault_beside_the_alarm_bit(port: int, detector: Detector) -> None:
    """Issue 12: 0xFFFF in a tenths-of-%LEL register is a sentinel, not 6553.5 %LEL.

    The sentinel is in the register before the hub's first poll: with no good reading ever
    made, the alarm the device's own bit raises quotes no value. (A hub that polled a good
    reading first quotes that one, the last good state; CI once raced into that.)"""
    detector.set(HOLDING, 0, 0xFFFF)
    events = Events()
    hub = SensorHub([gas_sensor(port)], SystemClock(), events)
    hub.start()
    try:
        fault = events.wait_for(is_(AlertKind.SENSOR_FAULT, Transition.RAISED))
        assert fault.detail["reason"] == "implausible"
        assert fault.detail["value"] == pytest.approx(6553.5)
        assert (fault.detail["plausible_min"], fault.detail["plausible_max"]) == (-5.0, 100.0)
        time.sleep(1.0)  # three times the minimum duration: an implausible value raises nothing
        assert events.of(AlertKind.GAS) == []
        detector.set(HOLDING, 1, 0b0010)  # the device's own alarm 2 still counts
        alarm = events.wait_for(is_(AlertKind.GAS, Transition.RAISED))
        assert alarm.detail["level"] == 2 and "value" not in alarm.detail
        detector.set(HOLDING, 0, 312)
        events.wait_for(is_(AlertKind.SENSOR_FAULT, Transition.CLEARED))
        assert AlertKind.GAS not in {
            e.kind for e in events.all if e.transition is Transition.CLEARED
        }
    finally:
        hub.stop()

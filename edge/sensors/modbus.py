"""Modbus TCP poller: gas detectors' registers to `Reading`s, on one thread per endpoint.

All sensors behind one host:port share a poller, one TCP connection and one thread: gateways
often accept only a handful of connections, and one slow device should not delay the others of
another gateway. Each round reads every sensor's value (scaled) and status word (bits). A failed
round never raises: the connection is closed and retried with backoff, every sensor of the round
counts a failure, and after `failures_before_offline` in a row the sensor gets an `unreachable`
reading so the rules report it offline at once. The injected clock stamps readings; waiting
between rounds is real time (`Event.wait`) because it paces network I/O, it does not measure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from edge.clock import Clock
from edge.config.sensors import ModbusSource, RegisterTable
from edge.messages import Reading
from edge.sensors import decode as v

log = logging.getLogger(__name__)

Target = tuple[str, ModbusSource]
"""A sensor id and where its registers are."""

_MAX_BACKOFF_S = 30.0


class _Link(Protocol):
    # pymodbus leaves connect() and close() of the sync client unannotated.
    def connect(self) -> bool: ...

    def close(self) -> None: ...


class DeviceError(Exception):
    """The endpoint answered but the unit did not give the registers (an exception response)."""


@dataclass(frozen=True, slots=True)
class PollerStats:
    endpoint: str
    reads: int  # sensor reads that succeeded
    failures: int  # sensor reads that failed (connection or device)
    connected: bool
    failing_rounds: int  # consecutive rounds without a connection


def scaled_value(registers: Sequence[int], src: ModbusSource) -> float:
    """Registers (high word first) to the value in the sensor's unit."""
    raw = 0
    for word in registers[: src.count]:
        raw = (raw << 16) | (word & 0xFFFF)
    bits = 16 * src.count
    if src.signed and raw >= 1 << (bits - 1):
        raw -= 1 << bits
    return raw * src.scale + src.offset


def status_values(word: int, src: ModbusSource) -> dict[str, float | bool]:
    return {name: bool((word >> bit) & 1) for name, bit in src.status_bits.items()}


def read_values(
    client: ModbusTcpClient, src: ModbusSource
) -> tuple[dict[str, float | bool], dict[str, bool]]:
    """One sensor's reading: its values, and which registers could be read (`register`,
    `status_register`: True or False, as `Reading.fields`). Each register is judged on its
    own: the status word's alarm bits count even when the device refuses the value register,
    and the other way round (issue 15). DeviceError when the device gave none of them (an
    exception response to each), ModbusException/OSError when the connection fails."""
    values: dict[str, float | bool] = {}
    read: dict[str, bool] = {}
    errors: list[str] = []
    if src.value_register is not None:
        try:
            registers = _registers(client, src, src.value_register, src.count)
        except DeviceError as e:
            errors.append(str(e))
            read["register"] = False
        else:
            values[v.VALUE] = scaled_value(registers, src)
            read["register"] = True
    if src.status_register is not None:
        try:
            (word,) = _registers(client, src, src.status_register, 1)
        except DeviceError as e:
            errors.append(str(e))
            read["status_register"] = False
        else:
            values.update(status_values(word, src))
            read["status_register"] = True
    if not any(read.values()):
        raise DeviceError("; ".join(errors))
    return values, read


def _registers(client: ModbusTcpClient, src: ModbusSource, address: int, count: int) -> list[int]:
    read = (
        client.read_holding_registers
        if src.table is RegisterTable.HOLDING
        else client.read_input_registers
    )
    response = read(address, count=count, device_id=src.unit)
    if response.isError():
        raise DeviceError(f"{src.table.value} register {address}: {response}")
    registers = list(response.registers)
    if len(registers) < count:
        raise DeviceError(f"{src.table.value} register {address}: {len(registers)} of {count}")
    return registers


class ModbusPoller:
    def __init__(
        self,
        host: str,
        port: int,
        targets: Sequence[Target],
        clock: Clock,
        on_reading: Callable[[Reading], None],
    ) -> None:
        if not targets:
            raise ValueError("a poller needs at least one sensor")
        self.endpoint = f"{host}:{port}"
        self._host, self._port = host, port
        self._targets = list(targets)
        self._clock = clock
        self._on_reading = on_reading
        # One round reads everyone, so the fastest sensor sets the pace.
        self._period = min(src.poll_s for _, src in targets)
        self._timeout = max(src.timeout_s for _, src in targets)
        self._backoff_cap = max(self._period, min(_MAX_BACKOFF_S, 8 * self._period))
        self._client: ModbusTcpClient | None = None
        self._failures = {sid: 0 for sid, _ in targets}
        self._failing_rounds = 0
        self._reads = 0
        self._failed_reads = 0
        self._lock = threading.Lock()  # guards the counters read by stats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"modbus-{self.endpoint}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._close()

    def stats(self) -> PollerStats:
        client = self._client  # one read: the poller thread may drop it meanwhile
        with self._lock:
            return PollerStats(
                endpoint=self.endpoint,
                reads=self._reads,
                failures=self._failed_reads,
                connected=client is not None and client.connected,
                failing_rounds=self._failing_rounds,
            )

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = self.poll_once()
            self._stop.wait(delay)

    def poll_once(self) -> float:
        """One round over every sensor; returns the seconds to wait. Never raises."""
        try:
            ok = self._round()
        except Exception:  # a bug must not kill the thread: the sensors would go silent
            log.exception("modbus poll of %s failed unexpectedly", self.endpoint)
            self._close()
            ok = False
        with self._lock:
            self._failing_rounds = 0 if ok else self._failing_rounds + 1
            failing = self._failing_rounds
        if ok:
            return self._period
        return min(self._period * 2.0 ** (failing - 1), self._backoff_cap)

    def _round(self) -> bool:
        """Reads every sensor; False when the connection failed (the rest count as failed)."""
        pending = list(self._targets)
        try:
            client = self._connect()
            while pending:
                sid, src = pending[0]
                try:
                    values, read = read_values(client, src)
                except DeviceError as e:
                    self._failed(sid, src, str(e))
                else:
                    self._succeeded(sid, values, read)
                pending.pop(0)
        except (ModbusException, OSError) as e:
            self._close()
            for sid, src in pending:
                self._failed(sid, src, f"{type(e).__name__}: {e}")
            return False
        return True

    def _connect(self) -> ModbusTcpClient:
        if self._client is None:
            self._client = ModbusTcpClient(
                self._host, port=self._port, timeout=self._timeout, retries=0
            )
        if not cast(_Link, self._client).connect():
            raise ConnectionError(f"cannot connect to {self.endpoint}")
        return self._client

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                cast(_Link, client).close()
            except Exception:
                log.debug("closing the modbus client of %s failed", self.endpoint, exc_info=True)

    def _succeeded(self, sid: str, values: dict[str, float | bool], read: dict[str, bool]) -> None:
        with self._lock:
            self._reads += 1
        if self._failures[sid]:
            log.info("modbus sensor %s at %s answers again", sid, self.endpoint)
        self._failures[sid] = 0
        now = self._clock.monotonic()
        self._deliver(Reading(sensor_id=sid, ts=now, values=values, fields=read))

    def _failed(self, sid: str, src: ModbusSource, why: str) -> None:
        with self._lock:
            self._failed_reads += 1
        n = self._failures[sid] = self._failures[sid] + 1
        # Log the first failure and the verdict, not every retry of a long outage.
        if n in (1, src.failures_before_offline):
            log.warning("modbus sensor %s at %s: poll failed (%d in a row): %s", sid,
                        self.endpoint, n, why)  # fmt: skip
        if n >= src.failures_before_offline:
            values: dict[str, float | bool] = {v.UNREACHABLE: True, v.FAILURES: float(n)}
            self._deliver(Reading(sensor_id=sid, ts=self._clock.monotonic(), values=values))

    def _deliver(self, reading: Reading) -> None:
        try:
            self._on_reading(reading)
        except Exception:
            log.exception("handling a modbus reading of %s failed", reading.sensor_id)

"""A full disk (issue 12, item 5): no alert transition lost, none without its durable write.

The node's storage directory is a small file system of its own (tmpfs, or a loop-mounted ext4
image), which the test fills with a file while alerts come and go. The alert manager, alert
store, outbox, link and publisher are the real ones, against a real Mosquitto; a platform
subscriber with a persistent session checks that

- the `storage_fault` alert arrives while the disk is still full (written into the room the
  deleted reserve file frees), with the broker up, or as soon as it is back;
- no `cleared` ever arrives without its `raised`, and no alert skips a number;
- once the filler is deleted, every transition held back in memory is written and delivered,
  in order, and `storage_fault` clears;
- the alert store knows every alert the platform was told of.

Mounting needs root (CI runs as root); elsewhere these tests skip and say so.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.alerts.ids import UlidFactory
from edge.alerts.lifecycle import LifecyclePolicy
from edge.alerts.manager import AlertManager, NodeIdentity
from edge.alerts.outbox import Outbox
from edge.alerts.store import AlertStore
from edge.clock import FakeClock, SystemClock
from edge.messages import AlertEvent, AlertKind, Severity, Transition
from edge.mqtt.link import BrokerAddress, MqttLink
from edge.mqtt.publisher import Publisher
from edge.mqtt.topics import Topics
from tests.integration.broker import HOST, MosquittoBroker, Received, Subscriber
from tests.schemas import validate

pytestmark = pytest.mark.integration

TOPICS = Topics.for_node("xizhen", "gate-1")
ALERT_FILTER = f"{TOPICS.prefix}/alerts/#"
DISK_MIB = 32  # room for both SQLite WALs (up to ~4 MiB each before a checkpoint)
CONDITIONS = 120  # each raised, updated and cleared: 360 transitions while the disk is full


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.fixture(params=["tmpfs", "ext4"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A DISK_MIB file system mounted for this test only."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if request.param == "tmpfs":
        done = _run("mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs", str(mount))
    else:
        image = tmp_path / "disk.img"
        with image.open("wb") as f:
            f.truncate(DISK_MIB << 20)
        made = _run("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
        if made.returncode != 0:
            pytest.skip(f"cannot make an ext4 image: {made.stderr.strip() or made.returncode}")
        done = _run("mount", "-o", "loop", str(image), str(mount))
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a small {request.param} (needs root): "
            f"{done.stderr.strip() or done.returncode}"
        )
    try:
        yield mount
    finally:
        if _run("umount", str(mount)).returncode != 0:
            _run("umount", "-l", str(mount))


def fill(directory: Path) -> Path:
    """Write a file until the file system refuses another byte."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\xa5" * chunk
            while True:
                try:
                    os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
        os.fsync(fd)
    finally:
        os.close(fd)
    return filler


class OutboxSink:
    """What app.OutboxSink does: every alert event into the outbox, QoS 1."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def deliver(self, topic: str, payload: bytes) -> None:
        self.outbox.put(topic, payload, qos=1, retain=False)


class Edge:
    """The alert side of a node on `storage`: manager, store, outbox, link, publisher."""

    def __init__(self, storage: Path, port: int) -> None:
        self.clock = FakeClock(start=1000.0)
        self.store = AlertStore(storage / "alerts.sqlite3")
        self.outbox = Outbox(storage / "outbox.sqlite3", clock=SystemClock())
        self.manager = AlertManager(
            NodeIdentity("xizhen", "西镇社区", "gate-1"),
            {},
            topics=TOPICS,
            clock=self.clock,
            sink=OutboxSink(self.outbox),
            snapshots=None,
            new_id=UlidFactory(self.clock),
            store=self.store,
            policy=LifecyclePolicy(escalate_after_s=1e9),
        )
        self.link = MqttLink(
            BrokerAddress(HOST, port),
            client_id="node-full-disk",
            status_topic=TOPICS.status(),
            online_payload=lambda: b'{"state": "online"}',
            offline_payload=b'{"state": "offline"}',
            clock=SystemClock(),
            reconnect_min_s=0.1,
            reconnect_max_s=0.5,
        )
        self.publisher = Publisher(self.outbox, self.link, clock=SystemClock())
        self.link.start()
        self.publisher.start()

    def event(self, n: int, transition: Transition) -> AlertEvent:
        now = self.clock.monotonic()
        return AlertEvent(
            f"sensor/smoke-{n}/smoke", AlertKind.SMOKE, transition, Severity.CRITICAL,
            started=now, ts=now, sensor_id=f"smoke-{n}", detail={"n": n},
        )  # fmt: skip

    def cycle(self, conditions: range) -> None:
        """Every condition raised, then updated, then cleared, interleaved, a tick between."""
        for transition in (Transition.RAISED, Transition.UPDATED, Transition.CLEARED):
            for n in conditions:
                self.clock.advance(0.5)
                self.manager.handle([self.event(n, transition)])
                self.manager.tick()

    def close(self) -> None:
        self.publisher.stop(drain_timeout_s=0)
        self.link.stop()
        self.outbox.close()
        self.store.close()


def alerts(messages: list[Received]) -> list[dict[str, Any]]:
    return [
        json.loads(m.payload)
        for m in messages
        if "/alerts/" in m.topic and not m.topic.endswith("/snapshot")
    ]


def fault(event: str) -> Any:
    return lambda msgs: any(
        a["kind"] == "storage_fault" and a["event"] == event for a in alerts(msgs)
    )


def assert_never_cleared_without_raised(messages: list[Received]) -> None:
    """In order of first arrival, each alert starts with `raised` (seq 1) and then counts up
    one by one (an alert's events arrive in order; duplicates are identical)."""
    last: dict[str, int] = {}
    for a in alerts(messages):
        seq = last.get(a["id"], 0)
        if a["seq"] <= seq:
            continue  # a duplicate delivery
        assert a["seq"] == seq + 1, f"{a['kind']} {a['id']}: seq {a['seq']} after {seq}"
        assert seq or a["event"] == "raised", f"{a['kind']} {a['id']} began with {a['event']}"
        last[a["id"]] = a["seq"]


def trails(messages: list[Received]) -> dict[str, list[tuple[str, int]]]:
    """Per sensor (or storage_fault), its alerts' distinct events in seq order."""
    by_id: dict[str, dict[int, dict[str, Any]]] = {}
    for a in alerts(messages):
        by_id.setdefault(a["id"], {})[a["seq"]] = a
    out: dict[str, list[tuple[str, int]]] = {}
    for events in by_id.values():
        first = events[min(events)]
        who = first["source"]["sensor"] or first["kind"]
        out.setdefault(who, []).extend((events[s]["event"], s) for s in sorted(events))
    return out


@pytest.mark.parametrize("broker_up", [True, False], ids=["broker up", "broker down"])
def test_a_full_disk_loses_no_transition(
    small_disk: Path, broker: MosquittoBroker, broker_up: bool
) -> None:
    platform = Subscriber(broker.port, ALERT_FILTER, client_id="platform", persistent=True)
    edge = Edge(small_disk / "storage", broker.port)
    try:
        assert edge.store.reserve.present
        edge.cycle(range(5))  # room to spare: written and sent at once
        assert edge.publisher.flush(10.0)
        assert not edge.manager.storage_faulted

        if not broker_up:
            broker.stop()
        filler = fill(small_disk)
        edge.cycle(range(5, 5 + CONDITIONS))
        assert edge.manager.storage_faulted
        assert edge.manager.write_failures > 0 and edge.manager.pending_count > 0
        if not broker_up:
            broker.start()
        # The disk is still full and the fault reaches the platform all the same.
        assert platform.wait_for(fault("raised"), 15.0), "storage_fault never arrived"
        assert filler.exists() and edge.manager.pending_count > 0
        assert_never_cleared_without_raised(platform.messages)

        filler.unlink()
        edge.manager.tick()  # the next housekeeping pass after the room came back
        assert edge.manager.pending_count == 0 and not edge.manager.storage_faulted
        assert edge.store.reserve.present
        everyone = [f"smoke-{n}" for n in range(5 + CONDITIONS)]
        complete = [("raised", 1), ("updated", 2), ("cleared", 3)]

        def all_there(msgs: list[Received]) -> bool:
            t = trails(msgs)
            return all(t.get(s) == complete for s in everyone) and fault("cleared")(msgs)

        assert platform.wait_for(all_there, 30.0), "transitions missing after the disk freed"
        assert edge.publisher.flush(10.0)
    finally:
        edge.close()
        platform.close()

    got = trails(platform.messages)
    assert {s: got[s] for s in everyone} == dict.fromkeys(everyone, complete)
    assert got["storage_fault"] == [("raised", 1), ("cleared", 2)]
    assert_never_cleared_without_raised(platform.messages)
    for a in alerts(platform.messages):
        validate("alert", a)
    # The store holds every alert the platform heard of, in its final state.
    store = AlertStore(small_disk / "storage" / "alerts.sqlite3")
    try:
        told = {a["id"] for a in alerts(platform.messages)}
        for alert_id in told:
            record = store.get(alert_id)
            assert record is not None and record.state == "cleared"
        assert store.unqueued() == []
    finally:
        store.close()

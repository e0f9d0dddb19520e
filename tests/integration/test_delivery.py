"""Outbox -> MqttLink -> real Mosquitto: order, no loss across outages and kill -9, status."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from edge.alerts.outbox import Outbox
from edge.clock import SystemClock
from edge.mqtt.link import BrokerAddress, MqttLink
from edge.mqtt.publisher import Publisher
from edge.mqtt.topics import Topics
from tests.integration.broker import HOST, MosquittoBroker, Received, Subscriber, TcpProxy

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOPICS = Topics.for_node("xizhen", "gate-1")
ALERTS = TOPICS.alert("test_kind")
STATUS_SCHEMA = json.loads((REPO / "mqtt" / "schemas" / "status.json").read_text("utf-8"))
STATUS_VALIDATOR = Draft202012Validator(
    STATUS_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def status_payload(state: str, clock: SystemClock, started_at: float | None) -> bytes:
    online = state == "online"
    body = {
        "schema": "grid-sentinel.status/1",
        "site": {"id": "xizhen", "name": "西镇社区"},
        "node": "gate-1",
        "state": state,
        "version": "0.1.0",
        "started_at": _rfc3339(started_at) if online and started_at is not None else None,
        "ts": _rfc3339(clock.now()),
        "cameras": 2 if online else None,
        "sensors": 0 if online else None,
    }
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


class Node:
    """The delivery half of a node: outbox, link and publisher, as app.py will wire them."""

    def __init__(self, port: int, db: Path, *, client_id: str = "node-under-test") -> None:
        clock = SystemClock()
        started = clock.now()
        self.outbox = Outbox(db, clock=clock)
        self.link = MqttLink(
            BrokerAddress(HOST, port),
            client_id=client_id,
            status_topic=TOPICS.status(),
            online_payload=lambda: status_payload("online", clock, started),
            offline_payload=status_payload("offline", clock, None),
            clock=clock,
            reconnect_min_s=0.2,
            reconnect_max_s=1.0,
        )
        self.publisher = Publisher(self.outbox, self.link, clock=clock)
        self.up = threading.Event()
        self.down = threading.Event()
        self.link.add_connection_listener(lambda ok: (self.up if ok else self.down).set())

    def start(self) -> None:
        self.link.start()
        self.publisher.start()

    def put(self, n: int) -> None:
        self.outbox.put(ALERTS, json.dumps({"n": n, "pad": "x" * 64}).encode())

    def close(self) -> None:
        self.publisher.stop(drain_timeout_s=0)
        self.link.stop()
        self.outbox.close()


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    nodes: list[Node] = []

    def make(port: int, db: Path | None = None) -> Node:
        node = Node(port, db or tmp_path / "outbox.db")
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.close()


@pytest.fixture
def subscribers() -> Iterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(port: int, topic_filter: str = TOPICS.all_filter(), **kw: Any) -> Subscriber:
        sub = Subscriber(port, topic_filter, **kw)
        made.append(sub)
        return sub

    yield make
    for sub in made:
        sub.close()


def numbers(messages: list[Received]) -> list[int]:
    return [int(json.loads(m.payload)["n"]) for m in messages if m.topic == ALERTS]


def has_all(count: int) -> Callable[[list[Received]], bool]:
    return lambda msgs: set(range(count)) <= set(numbers(msgs))


def assert_in_order_none_lost(messages: list[Received], count: int) -> None:
    """Every message arrived; first deliveries in order; any duplicate is byte-identical."""
    first: dict[int, bytes] = {}
    order: list[int] = []
    for m in (m for m in messages if m.topic == ALERTS):
        n = int(json.loads(m.payload)["n"])
        if n in first:
            assert first[n] == m.payload, f"duplicate of {n} differs"
        else:
            first[n] = m.payload
            order.append(n)
    assert order == list(range(count))


def statuses(messages: list[Received]) -> list[dict[str, Any]]:
    found = [json.loads(m.payload) for m in messages if m.topic == TOPICS.status()]
    for payload in found:
        errors = [e.message for e in STATUS_VALIDATOR.iter_errors(payload)]
        assert not errors, f"status payload violates status.json: {errors}"
    return found


def test_messages_arrive_in_order_and_outbox_empties(
    broker: MosquittoBroker, make_node: Callable[..., Node], subscribers: Callable[..., Subscriber]
) -> None:
    sub = subscribers(broker.port)
    node = make_node(broker.port)
    for n in range(100):
        node.put(n)  # queued before the node ever connected
    node.start()
    for n in range(100, 200):
        node.put(n)
    assert node.publisher.flush(10.0)
    assert sub.wait_for(has_all(200), 10.0)
    assert numbers(sub.messages) == list(range(200))
    assert node.outbox.size() == 0
    stats = node.publisher.stats()
    assert (stats.published, stats.acked, stats.resent, stats.backlog) == (200, 200, 0, 0)
    assert [s["state"] for s in statuses(sub.messages)] == ["online"]


def test_outage_loses_nothing_and_keeps_order(
    broker: MosquittoBroker, make_node: Callable[..., Node], subscribers: Callable[..., Subscriber]
) -> None:
    # A persistent session: the broker keeps our subscription and queue across its restart.
    sub = subscribers(broker.port, client_id="outage-sub", persistent=True)
    node = make_node(broker.port)
    node.start()
    for n in range(25):
        node.put(n)
    assert node.publisher.flush(10.0)

    broker.stop()
    assert node.down.wait(10.0)
    node.up.clear()
    for n in range(25, 75):
        node.put(n)
    assert node.outbox.size() == 50  # held on disk while the broker is away
    assert not node.publisher.flush(0.5)

    broker.start()
    assert node.up.wait(10.0)
    assert node.publisher.flush(15.0)
    assert sub.wait_for(has_all(75), 15.0)
    assert_in_order_none_lost(sub.messages, 75)
    assert node.outbox.size() == 0


def test_lost_pubacks_are_resent_in_order(
    broker: MosquittoBroker, make_node: Callable[..., Node], subscribers: Callable[..., Subscriber]
) -> None:
    proxy = TcpProxy(broker.port)
    try:
        sub = subscribers(broker.port)
        node = make_node(proxy.port)
        node.start()
        assert node.link.wait_connected(10.0)
        proxy.hold_replies()  # the broker gets every message, the node no PUBACK
        for n in range(300):
            node.put(n)
        assert sub.wait_for(has_all(100), 10.0)  # the first window reached the broker...
        stats = node.publisher.stats()
        assert (stats.acked, stats.in_flight) == (0, 100)  # ...but is unconfirmed
        assert node.outbox.size() == 300

        node.up.clear()
        proxy.cut()
        assert node.up.wait(10.0)
        assert node.publisher.flush(15.0)
        assert sub.wait_for(has_all(300), 10.0)
        assert_in_order_none_lost(sub.messages, 300)
        stats = node.publisher.stats()
        assert stats.resent == 100
        assert stats.acked == 300
        assert numbers(sub.messages).count(0) == 2  # resent from the oldest unacknowledged
    finally:
        proxy.close()


_PUT_AND_WAIT = """
import sys, time
from pathlib import Path
from edge.alerts.outbox import Outbox
from edge.clock import SystemClock
box = Outbox(Path(sys.argv[1]), clock=SystemClock())
for n in range(int(sys.argv[3])):
    box.put(sys.argv[2], ('{"n": %d}' % n).encode())
print("stored", flush=True)
time.sleep(60)
"""


def _child(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.kill()  # SIGKILL: no atexit, no clean disconnect, no flush
    proc.wait(10.0)
    if proc.stdout:
        proc.stdout.close()


def test_outbox_survives_kill_9(
    broker: MosquittoBroker,
    make_node: Callable[..., Node],
    subscribers: Callable[..., Subscriber],
    tmp_path: Path,
) -> None:
    db = tmp_path / "killed" / "outbox.db"
    proc = _child(_PUT_AND_WAIT, str(db), ALERTS, "60")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "stored"
    finally:
        _kill(proc)
    sub = subscribers(broker.port)
    node = make_node(broker.port, db)
    assert node.outbox.size() == 60
    node.start()
    assert node.publisher.flush(10.0)
    assert sub.wait_for(has_all(60), 10.0)
    assert numbers(sub.messages) == list(range(60))


_LINK_AND_WAIT = """
import sys, time
from edge.clock import SystemClock
from edge.mqtt.link import BrokerAddress, MqttLink
port, topic, online, offline = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
link = MqttLink(BrokerAddress("127.0.0.1", port), client_id="node-to-kill", status_topic=topic,
                online_payload=lambda: online.encode(), offline_payload=offline.encode(),
                clock=SystemClock())
link.start()
if not link.wait_connected(10.0):
    sys.exit(2)
print("ready", flush=True)
time.sleep(60)
"""


def _status_is(state: str, *, retained: bool | None = None) -> Callable[[list[Received]], bool]:
    def check(msgs: list[Received]) -> bool:
        return any(
            m.topic == TOPICS.status()
            and json.loads(m.payload)["state"] == state
            and (retained is None or m.retain == retained)
            for m in msgs
        )

    return check


def test_status_online_then_last_will_on_kill_9(
    broker: MosquittoBroker, subscribers: Callable[..., Subscriber]
) -> None:
    clock = SystemClock()
    online = status_payload("online", clock, clock.now()).decode()
    offline = status_payload("offline", clock, None).decode()
    proc = _child(_LINK_AND_WAIT, str(broker.port), TOPICS.status(), online, offline)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        watcher = subscribers(broker.port, TOPICS.status(), client_id="watcher")
        assert watcher.wait_for(_status_is("online"), 10.0)
        late = subscribers(broker.port, TOPICS.status(), client_id="late-1")
        assert late.wait_for(_status_is("online", retained=True), 10.0)
    finally:
        _kill(proc)
    assert watcher.wait_for(_status_is("offline"), 10.0)  # the broker sent the will
    later = subscribers(broker.port, TOPICS.status(), client_id="late-2")
    assert later.wait_for(_status_is("offline", retained=True), 10.0)
    assert [s["state"] for s in statuses(watcher.messages)] == ["online", "offline"]
    assert statuses(later.messages)[0]["started_at"] is None


def test_clean_stop_publishes_offline(
    broker: MosquittoBroker, make_node: Callable[..., Node], subscribers: Callable[..., Subscriber]
) -> None:
    watcher = subscribers(broker.port, TOPICS.status())
    node = make_node(broker.port)
    node.start()
    assert watcher.wait_for(_status_is("online"), 10.0)
    node.close()
    assert watcher.wait_for(_status_is("offline"), 10.0)
    found = statuses(watcher.messages)
    assert [s["state"] for s in found] == ["online", "offline"]
    assert found[0]["cameras"] == 2 and found[0]["started_at"] is not None


def test_link_starts_while_broker_is_down(
    broker: MosquittoBroker, make_node: Callable[..., Node], subscribers: Callable[..., Subscriber]
) -> None:
    broker.stop()
    node = make_node(broker.port)
    node.start()  # must neither block nor raise
    node.put(0)
    assert not node.link.wait_connected(0.5)
    broker.start()
    assert node.link.wait_connected(10.0)
    assert node.publisher.flush(10.0)


def test_subscriptions_survive_reconnect(
    broker: MosquittoBroker, make_node: Callable[..., Node]
) -> None:
    node = make_node(broker.port)
    got: list[tuple[str, bytes]] = []
    cond = threading.Condition()

    def handler(topic: str, payload: bytes) -> None:
        with cond:
            got.append((topic, payload))
            cond.notify_all()

    node.link.subscribe(TOPICS.cmd_filter(), 1, handler)
    node.start()
    assert node.link.wait_connected(10.0)
    sender = Node(broker.port, broker.workdir / "sender.db", client_id="platform")
    try:
        sender.start()
        assert sender.link.wait_connected(10.0)
        sender.outbox.put(TOPICS.cmd("ack"), b"before")
        with cond:
            assert cond.wait_for(lambda: len(got) == 1, 10.0)
        node.up.clear()
        broker.stop()
        broker.start()
        assert node.up.wait(10.0)
        # The re-subscription races with the platform's publish; repeat until it is in place.
        for _ in range(40):
            sender.outbox.put(TOPICS.cmd("ack"), b"after")
            with cond:
                if cond.wait_for(lambda: len(got) > 1, 0.25):
                    break
    finally:
        sender.close()
    assert got[0] == (TOPICS.cmd("ack"), b"before")
    assert got[1] == (TOPICS.cmd("ack"), b"after")


def test_undeliverable_row_does_not_block_the_queue(
    broker: MosquittoBroker,
    make_node: Callable[..., Node],
    subscribers: Callable[..., Subscriber],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = tmp_path / "outbox.db"
    Outbox(db, clock=SystemClock()).close()
    # put() refuses wildcard topics, so plant one the way an old release or a bug might have.
    raw = sqlite3.connect(db)
    with raw:
        raw.execute(
            "INSERT INTO outbox (topic, payload, qos, retain, created_at) VALUES (?, ?, 1, 0, 0)",
            ("grid/+/bad", b"x"),
        )
    raw.close()
    sub = subscribers(broker.port)
    node = make_node(broker.port, db)
    node.put(0)
    node.start()
    assert node.publisher.flush(10.0)
    assert sub.wait_for(has_all(1), 10.0)
    assert node.publisher.stats().rejected == 1
    assert "dropping outbox row" in caplog.text

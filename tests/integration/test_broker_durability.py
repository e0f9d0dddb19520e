"""What a real Mosquitto with the shipped persistence settings keeps for an away subscriber.

The broker is started with the persistence and queue lines of `mqtt/mosquitto.conf` (read from
the file, so these tests follow it), a platform subscriber with a persistent session goes away,
the node's delivery half (outbox, link, publisher) sends, and the broker is killed (SIGKILL) or
stopped and started again. The subscriber then comes back and must get every message: the node
deleted each one on PUBACK, so the broker is the only one left holding it.

Run as a module, it measures the cost and the loss figures quoted in docs/reliability.md:

    .venv/bin/python -m tests.integration.test_broker_durability
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.alerts.outbox import Outbox
from edge.clock import SystemClock
from edge.mqtt.link import BrokerAddress, MqttLink
from edge.mqtt.publisher import Publisher
from edge.mqtt.topics import Topics
from tests.integration.broker import (
    HOST,
    MosquittoBroker,
    Received,
    Subscriber,
    find_mosquitto,
    shipped_persistence,
)

pytestmark = pytest.mark.integration

TOPICS = Topics.for_node("xizhen", "gate-1")
ALERTS = TOPICS.alert("test_kind")
ALERT_FILTER = f"{TOPICS.prefix}/alerts/#"
PLATFORM = "grid-platform"  # the away subscriber's client id: its persistent session
# What the shipped file said before issue 12: save every 5 minutes (and on a clean shutdown).
OLD_PERSISTENCE = ["persistence true", "autosave_interval 300", "max_queued_messages 100000"]


class NodeSender:
    """The delivery half of a node (outbox, link, publisher), as app.py wires it."""

    def __init__(self, port: int, db: Path) -> None:
        clock = SystemClock()
        self.outbox = Outbox(db, clock=clock)
        self.link = MqttLink(
            BrokerAddress(HOST, port),
            client_id="node-under-test",
            status_topic=TOPICS.status(),
            online_payload=lambda: b'{"state": "online"}',
            offline_payload=b'{"state": "offline"}',
            clock=clock,
            reconnect_min_s=0.1,
            reconnect_max_s=0.5,
        )
        self.publisher = Publisher(self.outbox, self.link, clock=clock)
        self.link.start()
        self.publisher.start()

    def put(self, first: int, count: int) -> None:
        for n in range(first, first + count):
            self.outbox.put(ALERTS, json.dumps({"n": n, "pad": "x" * 1400}).encode())

    def close(self) -> None:
        self.publisher.stop(drain_timeout_s=0)
        self.link.stop()
        self.outbox.close()


def numbers(messages: list[Received]) -> set[int]:
    return {int(json.loads(m.payload)["n"]) for m in messages if m.topic == ALERTS}


def platform_goes_away(port: int) -> None:
    """Subscribe with a persistent session, then disconnect: the broker queues from now on."""
    Subscriber(port, ALERT_FILTER, client_id=PLATFORM, persistent=True).close()


def fence(port: int) -> None:
    """One QoS 1 round trip through the broker's event loop.

    Mosquitto sends a PUBACK while it handles the PUBLISH and saves its database at the end of
    that pass of its loop; a packet sent after the PUBACK arrived is read in a later pass, so
    once its own PUBACK is back, the pass that acknowledged the node's last message has saved.
    A kill inside that pass loses what it acknowledged (measured by `measure_random_kills`).
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="fence", protocol=MQTTProtocolVersion.MQTTv311
    )
    client.connect(HOST, port)
    client.loop_start()
    try:
        client.publish("fence", b"", qos=1).wait_for_publish(10.0)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def mosquitto() -> str:
    executable = find_mosquitto()
    if executable is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto); CI installs it")
    return executable


@pytest.fixture
def brokers(mosquitto: str, tmp_path: Path) -> Iterator[list[MosquittoBroker]]:
    made: list[MosquittoBroker] = []
    yield made
    for broker in made:
        broker.kill()


def test_the_shipped_config_saves_on_every_change() -> None:
    lines = shipped_persistence()
    assert "persistence true" in lines
    assert "autosave_on_changes true" in lines and "autosave_interval 1" in lines


@pytest.mark.parametrize("end", ["kill -9", "clean restart"])
def test_queued_messages_survive_the_broker_with_the_shipped_settings(
    mosquitto: str, brokers: list[MosquittoBroker], tmp_path: Path, end: str
) -> None:
    broker = MosquittoBroker(mosquitto, tmp_path / "broker", extra_config=shipped_persistence())
    brokers.append(broker)
    broker.start()
    platform_goes_away(broker.port)
    node = NodeSender(broker.port, tmp_path / "outbox.sqlite3")
    try:
        node.put(0, 300)
        assert node.publisher.flush(20.0), "the broker did not acknowledge every message"
        assert node.outbox.size() == 0  # the node has forgotten them: the broker alone has them
        fence(broker.port)
        if end == "kill -9":
            broker.kill()
        else:
            broker.stop()
        broker.start()
        back = Subscriber(broker.port, ALERT_FILTER, client_id=PLATFORM, persistent=True)
        try:
            assert back.wait_for(lambda m: numbers(m) >= set(range(300)), 20.0), (
                f"{300 - len(numbers(back.messages))} of 300 queued messages lost"
            )
        finally:
            back.close()
    finally:
        node.close()


def test_the_old_five_minute_autosave_loses_the_queue_on_kill_9(
    mosquitto: str, brokers: list[MosquittoBroker], tmp_path: Path
) -> None:
    """The control: the same run with the setting shipped before issue 12 loses everything,
    so the test above can tell the two apart."""
    broker = MosquittoBroker(mosquitto, tmp_path / "broker", extra_config=OLD_PERSISTENCE)
    brokers.append(broker)
    broker.start()
    platform_goes_away(broker.port)
    node = NodeSender(broker.port, tmp_path / "outbox.sqlite3")
    try:
        node.put(0, 300)
        assert node.publisher.flush(20.0)
        fence(broker.port)
        broker.kill()
        broker.start()
        back = Subscriber(broker.port, ALERT_FILTER, client_id=PLATFORM, persistent=True)
        try:
            # The session itself was never saved: nothing is queued, nothing will come.
            assert not back.wait_for(lambda m: bool(numbers(m)), 2.0)
        finally:
            back.close()
    finally:
        node.close()


# -- measurements (docs/reliability.md) -------------------------------------------------------


def _publish(port: int, count: int, size: int = 1500) -> float:
    """Seconds for `count` QoS 1 messages to be acknowledged, 100 in flight, as a node sends."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=MQTTProtocolVersion.MQTTv311
    )
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    client.connect(HOST, port)
    client.loop_start()
    try:
        start = time.perf_counter()
        infos = [client.publish("bench", b"x" * size, qos=1) for _ in range(count)]
        for info in infos:
            info.wait_for_publish(600.0)
        return time.perf_counter() - start
    finally:
        client.disconnect()
        client.loop_stop()


def measure_cost(executable: str, work: Path, depths: Sequence[int]) -> None:
    """Time per acknowledged message with `depth` messages already queued for an away client."""
    print("queued  db MB  shipped ms/msg  shipped msg/s  old (300 s) msg/s")
    for depth in depths:
        rates = {}
        for name, lines in (("shipped", shipped_persistence()), ("old", OLD_PERSISTENCE)):
            broker = MosquittoBroker(executable, work / f"cost-{depth}-{name}")
            try:
                broker.start()
                Subscriber(broker.port, "bench", client_id="away", persistent=True).close()
                _publish(broker.port, depth)  # fill the queue quickly, saved on a clean stop
                broker.stop()
                broker.extra_config = list(lines)
                broker.config_path.write_text(broker._config())
                broker.start()
                rates[name] = 200 / _publish(broker.port, 200)
                db = broker.workdir / "data" / "mosquitto.db"
                size = db.stat().st_size / 1e6 if db.exists() else 0.0
            finally:
                broker.kill()
        print(
            f"{depth:6d}  {size:5.1f}  {1000 / rates['shipped']:14.1f}  "
            f"{rates['shipped']:13.0f}  {rates['old']:17.0f}",
            flush=True,
        )


def measure_random_kills(executable: str, work: Path, lines: list[str], trials: int) -> None:
    """Kill -9 the broker at a random moment while a node sends 600 messages to an away
    subscriber; restart it, let the node finish, count what the subscriber never gets."""
    lost: list[int] = []
    for trial in range(trials):
        broker = MosquittoBroker(executable, work / f"kill-{trial}", extra_config=lines)
        node: NodeSender | None = None
        try:
            broker.start()
            platform_goes_away(broker.port)
            node = NodeSender(broker.port, work / f"kill-{trial}" / "outbox.sqlite3")
            node.put(0, 600)
            time.sleep(random.uniform(0.05, 0.6))
            broker.kill()
            broker.start()
            assert node.publisher.flush(120.0)
            fence(broker.port)
            back = Subscriber(broker.port, ALERT_FILTER, client_id=PLATFORM, persistent=True)
            back.wait_for(lambda m: numbers(m) >= set(range(600)), 10.0)
            lost.append(600 - len(numbers(back.messages)))
            back.close()
        finally:
            if node is not None:
                node.close()
            broker.kill()
    print(
        f"{' '.join(lines)}: lost per kill {lost} (mean {statistics.mean(lost):.1f}, "
        f"kills that lost any: {sum(1 for n in lost if n)} of {trials})",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depths", default="0,1000,10000,50000")
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args(argv)
    executable = find_mosquitto()
    if executable is None:
        print("mosquitto not installed", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="broker-durability-"))
    try:
        measure_cost(executable, work, [int(d) for d in args.depths.split(",")])
        for lines in (shipped_persistence(), OLD_PERSISTENCE):
            measure_random_kills(executable, work, lines, args.trials)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

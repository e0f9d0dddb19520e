"""The lifecycle through the real node process and a real Mosquitto: platform commands, lift
actuators, reload, alert state across kill -9, and delivery across a node crash."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from grid_contract.signing import sign
from tests.integration.broker import MosquittoBroker, Received, Subscriber, retained_payload
from tests.integration.node import NodeProcess, alert_events, find
from tests.schemas import validate

pytestmark = pytest.mark.integration
PREFIX = "grid/xizhen/gate-1"
KEY = "test-command-key-0123456789abcdef"

SITE = """\
site: {{id: xizhen, name: 西镇社区}}
node: {{id: gate-1}}
mqtt: {{url: "{url}"}}
models: {{dir: "{models}", detector: yolov8n_int8.onnx, threads: 1}}
storage: {{dir: "{storage}"}}
alerts: {{escalate_after_s: 3600}}
commands: {{key: "test-command-key-0123456789abcdef"}}
cameras:
"""
FORECOURT = """\
  - id: forecourt
    source: "{source}"
    detect_fps: 1
    zones:
      - {{id: driveway, kind: fire_lane, grace_s: 2, stationary_window_s: 1, clear_after_s: 3,
         polygon: [[0.42, 0.3], [0.62, 0.3], [0.72, 1.0], [0.45, 1.0]]}}
"""
LIFT = """\
  - id: lift-3
    source: "{data}/images/elevator_ebike/etoilesha_ebike_2024-01-01_12-07-27.png"
    zones:
      - {{id: car, kind: lift, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]],
         actions: {{door_hold: lift-3-door, voice_prompt: lift-3-voice}}}}
"""
LOT = """\
  - id: lot
    source: "{data}/videos/parking_lot_cctv_timelapse.mp4"
    detect_fps: 4
    zones:
      - {{id: front, kind: no_parking, grace_s: 2, stationary_window_s: 0.6, clear_after_s: 1,
         update_every_s: 1, polygon: [[0.0, 0.62], [0.78, 0.62], [0.78, 0.9], [0.0, 0.9]]}}
"""


class Site:
    def __init__(self, tmp: Path, broker: MosquittoBroker, models: Path, data: Path) -> None:
        self.tmp, self.broker, self.models, self.data = tmp, broker, models, data
        self.path = tmp / "site.yaml"
        self.runs = 0

    def write(self, *cameras: str, forecourt: Path | None = None) -> None:
        text = SITE.format(url=self.broker.url, models=self.models, storage=self.tmp / "var")
        source = forecourt or self.data / "images/parking/forecourt_parked_cars_qengineering.jpg"
        for cam in cameras:
            text += cam.format(data=self.data, source=source)
        self.path.write_text(text, encoding="utf-8")

    def start(self) -> NodeProcess:
        self.runs += 1
        return NodeProcess(self.path, self.tmp / f"node-{self.runs}.log")


@pytest.fixture
def site(tmp_path: Path, broker: MosquittoBroker, models_dir: Path, data_dir: Path) -> Site:
    return Site(tmp_path, broker, models_dir, data_dir)


@pytest.fixture
def platform(broker: MosquittoBroker) -> Iterator[Subscriber]:
    sub = Subscriber(broker.port, f"{PREFIX}/#", client_id="platform", persistent=True)
    yield sub
    sub.close()


def send(broker: MosquittoBroker, command: str, payload: bytes | dict[str, object]) -> None:
    """Publish a command as the platform does: signed with the node's key (bytes: as given)."""
    topic = f"{PREFIX}/cmd/{command}"
    if isinstance(payload, bytes):
        body = payload
    else:
        by = str(payload.get("by", "op-test"))
        body = json.dumps(sign(KEY, topic, payload, by=by, now=time.time())).encode()
    _raw(broker, topic, body)


def response(request_id: str) -> object:
    def check(msgs: list[Received]) -> bool:
        return any(
            m.topic == f"{PREFIX}/responses" and json.loads(m.payload)["request_id"] == request_id
            for m in msgs
        )

    return check


def reply(sub: Subscriber, request_id: str) -> dict[str, object]:
    assert sub.wait_for(response(request_id), 20), f"no reply to {request_id}"
    for m in sub.messages:
        if m.topic == f"{PREFIX}/responses":
            body = json.loads(m.payload)
            if body["request_id"] == request_id:
                validate("response", body)
                return dict(body)
    raise AssertionError


def actuator(msgs: list[Received], name: str) -> list[dict[str, object]]:
    return [json.loads(m.payload) for m in msgs if m.topic == f"{PREFIX}/actuators/{name}"]


def alert_id(sub: Subscriber, kind: str) -> str:
    return str(next(a["id"] for a in alert_events(sub.messages) if a["kind"] == kind))


def test_commands_actuators_and_reload(site: Site, platform: Subscriber) -> None:
    site.write(FORECOURT, LIFT)
    node = site.start()
    try:
        assert platform.wait_for(find(kind="fire_lane_blocked", event="raised"), 60), node.text()
        assert platform.wait_for(find(kind="ebike_in_lift", event="raised"), 30), node.text()
        assert platform.wait_for(lambda m: len(actuator(m, "lift-3-voice")) == 1, 10)
        assert [a["state"] for a in actuator(platform.messages, "lift-3-door")] == ["on"]
        fire, lift = alert_id(platform, "fire_lane_blocked"), alert_id(platform, "ebike_in_lift")

        send(site.broker, "ack", {"request_id": "r1", "alert_id": fire, "by": "op-7"})
        assert reply(platform, "r1")["ok"] is True
        assert platform.wait_for(find(id=fire, event="acknowledged", state="acknowledged"), 10)

        send(site.broker, "release", {"request_id": "r2", "alert_id": lift, "note": "a pram"})
        assert reply(platform, "r2")["message"] == "released"
        assert platform.wait_for(lambda m: len(actuator(m, "lift-3-door")) == 2, 10)
        assert actuator(platform.messages, "lift-3-door")[-1]["state"] == "off"

        send(site.broker, "ack", b"{not json")
        send(site.broker, "explode", {"request_id": "r3"})
        send(site.broker, "ack", {"request_id": "r4"})
        assert "unknown command" in str(reply(platform, "r3")["message"])
        assert reply(platform, "r4")["message"] == "field 'alert_id' is required"

        send(site.broker, "snapshot", {"request_id": "r5", "camera": "forecourt"})
        assert reply(platform, "r5")["ok"] is True
        jpeg = [m for m in platform.messages if m.topic.endswith("/forecourt/snapshot")]
        assert jpeg and jpeg[0].payload[:2] == b"\xff\xd8"

        good = site.path.read_text(encoding="utf-8")
        site.path.write_text(good.replace("grace_s: 2", "grace_s: -5"), encoding="utf-8")
        send(site.broker, "reload", {"request_id": "r6"})
        refused = reply(platform, "r6")
        assert refused["ok"] is False and "grace_s" in str(refused["message"])
        site.path.write_text(good, encoding="utf-8")
        send(site.broker, "reload", {"request_id": "r7"})
        assert reply(platform, "r7")["ok"] is True
        # The rules were rebuilt: the van is still there, so its alert is adopted, not doubled.
        assert platform.wait_for(find(id=fire, event="updated"), 30), node.text()
        raised = [a for a in alert_events(platform.messages) if a["event"] == "raised"]
        assert len([a for a in raised if a["kind"] == "fire_lane_blocked"]) == 1
        assert node.proc.poll() is None
    finally:
        node.end()
    for m in platform.messages:
        if "/alerts/" in m.topic and not m.topic.endswith("/snapshot"):
            validate("alert", json.loads(m.payload))
        elif "/actuators/" in m.topic:
            validate("actuator", json.loads(m.payload))


def test_an_open_alert_survives_kill_9_and_clears_normally_later(
    site: Site, platform: Subscriber, tmp_path: Path
) -> None:
    site.write(FORECOURT)
    first = site.start()
    assert platform.wait_for(find(kind="fire_lane_blocked", event="raised"), 60), first.text()
    fire = alert_id(platform, "fire_lane_blocked")
    first.end(signal.SIGKILL)
    assert platform.wait_for(lambda m: _status(m) == "offline", 20)

    second = site.start()  # same scene: the van is still there
    try:
        assert platform.wait_for(lambda m: _status(m) == "online", 30)
        # seq skips one across each restart, so (id, seq) never names two different events.
        assert platform.wait_for(find(id=fire, event="updated", seq=3), 60), second.text()
    finally:
        second.end(signal.SIGKILL)

    empty = tmp_path / "empty.jpg"
    cv2.imwrite(str(empty), np.full((825, 1326, 3), 128, dtype=np.uint8))
    site.write(FORECOURT, forecourt=empty)  # the van has gone while the node was down
    third = site.start()
    try:
        assert platform.wait_for(find(id=fire, event="cleared"), 60), third.text()
    finally:
        third.end()
    trail = [(a["event"], a["seq"]) for a in alert_events(platform.messages) if a["id"] == fire]
    # A kill -9 before a PUBACK re-sends that event after the restart: consumers dedupe.
    assert list(dict.fromkeys(trail)) == [("raised", 1), ("updated", 3), ("cleared", 5)]


def test_events_logged_before_kill_9_all_arrive_after_restart(
    site: Site, platform: Subscriber
) -> None:
    site.write(LOT)
    first = site.start()
    assert platform.wait_for(lambda m: len(alert_events(m)) >= 3, 60), first.text()
    time.sleep(1.0)
    first.end(signal.SIGKILL)  # mid-stream: the car park keeps producing events
    before = first.alert_log()
    second = site.start()
    try:
        assert platform.wait_for(
            lambda m: set(before) <= {(str(a["id"]), int(a["seq"])) for a in alert_events(m)}, 60
        ), "events written before the kill were lost"
    finally:
        second.end()


def _status(msgs: list[Received]) -> str | None:
    states = [json.loads(m.payload)["state"] for m in msgs if m.topic == f"{PREFIX}/status"]
    return states[-1] if states else None


def test_zigbee_smoke_detector_through_the_node(site: Site, platform: Subscriber) -> None:
    site.write()  # no cameras at all: a sensors-only node
    text = site.path.read_text(encoding="utf-8").replace("cameras:\n", "cameras: []\n")
    text += (
        "sensors:\n"
        "  - {id: smoke-1, kind: smoke, location: 5号楼 2单元 1楼, grid: A-05,\n"
        "     mqtt: {topic: zigbee2mqtt/smoke-1, format: zigbee2mqtt}}\n"
    )
    site.path.write_text(text, encoding="utf-8")
    node = site.start()
    try:
        assert platform.wait_for(lambda m: _status(m) == "online", 30), node.text()
        time.sleep(1.0)  # the node subscribes on connect
        publish = lambda body: _raw(site.broker, "zigbee2mqtt/smoke-1", body)  # noqa: E731
        publish(b'{"smoke": false, "battery": 90, "linkquality": 120}')
        publish(b"{definitely not json")
        publish(b'{"smoke": true, "battery": 90, "linkquality": 118}')
        assert platform.wait_for(find(kind="smoke", event="raised"), 20), node.text()
        publish(b'{"smoke": false, "battery": 90, "linkquality": 118}')
        assert platform.wait_for(find(kind="smoke", event="cleared"), 20), node.text()
        _raw(site.broker, "zigbee2mqtt/smoke-1/availability", b'{"state": "offline"}')
        assert platform.wait_for(find(kind="sensor_offline", event="raised"), 20), node.text()
        smoke = next(a for a in alert_events(platform.messages) if a["kind"] == "smoke")
        assert smoke["grid"] == "A-05" and smoke["source"]["sensor"] == "smoke-1"
        # The retained sensor state: online with its first reading, then offline.
        assert platform.wait_for(lambda m: _sensor_states(m)[-1:] == ["offline"], 20)
        assert node.proc.poll() is None  # the malformed payload cost nothing
    finally:
        node.end()
    for a in alert_events(platform.messages):
        validate("alert", a)
    states = [
        (json.loads(m.payload), m.retain)
        for m in platform.messages
        if m.topic == f"{PREFIX}/sensors/smoke-1/state"
    ]
    assert [s["state"] for s, _ in states] == ["online", "offline"]
    assert states[0][0]["values"] == {"alarm": False, "battery": 90, "linkquality": 120}
    for payload, _ in states:
        validate("sensor_state", payload)
    # A platform connecting later is told the sensor's last state at once.
    assert retained_payload(site.broker.port, f"{PREFIX}/sensors/+/state")["state"] == "offline"


def _sensor_states(msgs: list[Received]) -> list[str]:
    topic = f"{PREFIX}/sensors/smoke-1/state"
    return [json.loads(m.payload)["state"] for m in msgs if m.topic == topic]


def _raw(broker: MosquittoBroker, topic: str, body: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher")
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.publish(topic, body, qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()

"""The whole node (`edge run` in its own process) against a real Mosquitto.

Cameras are files played in real time (a looped time-lapse of a car park, and a still of a van
in a fire lane), the real model runs, and a subscriber sees what a grid platform would.
"""

from __future__ import annotations

import hashlib
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.broker import MosquittoBroker, Received, Subscriber, retained_payload
from tests.integration.node import NodeProcess
from tests.schemas import validate

pytestmark = pytest.mark.integration
PREFIX = "grid/xizhen/gate-1"

CONFIG = """\
site: {{id: xizhen, name: 西镇社区}}
node: {{id: gate-1}}
mqtt: {{url: "{url}"}}
models: {{dir: "{models}", detector: yolov8n_int8.onnx, threads: 1}}
storage: {{dir: "{storage}"}}
cameras:
  - id: lot
    source: "{data}/videos/parking_lot_cctv_timelapse.mp4"
    detect_fps: 4
    grid: A-01
    zones:
      - {{id: front-row, kind: no_parking, grace_s: 2, stationary_window_s: 0.6,
         clear_after_s: 1, update_every_s: 1,
         polygon: [[0.0, 0.62], [0.78, 0.62], [0.78, 0.9], [0.0, 0.9]]}}
  - id: forecourt
    source: "{data}/images/parking/forecourt_parked_cars_qengineering.jpg"
    detect_fps: 1
    grid: A-02
    zones:
      - {{id: driveway, kind: fire_lane, grace_s: 2, stationary_window_s: 1,
         polygon: [[0.42, 0.3], [0.62, 0.3], [0.72, 1.0], [0.45, 1.0]]}}
"""


@pytest.fixture
def node_config(tmp_path: Path, broker: MosquittoBroker, models_dir: Path, data_dir: Path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(
        CONFIG.format(url=broker.url, models=models_dir, storage=tmp_path / "var", data=data_dir),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def node(node_config: Path, tmp_path: Path) -> Iterator[NodeProcess]:
    proc = NodeProcess(node_config, tmp_path / "node.log")
    try:
        yield proc
    finally:
        if proc.proc.poll() is None:
            proc.end(signal.SIGKILL)


def alerts(messages: list[Received]) -> list[dict[str, object]]:
    return [
        json.loads(m.payload)
        for m in messages
        if "/alerts/" in m.topic and not m.topic.endswith("/snapshot")
    ]


def has_alert(kind: str, event: str) -> object:
    return lambda msgs: any(a["kind"] == kind and a["event"] == event for a in alerts(msgs))


def status_is(state: str) -> object:
    def check(msgs: list[Received]) -> bool:
        status = [json.loads(m.payload) for m in msgs if m.topic == f"{PREFIX}/status"]
        return bool(status) and status[-1]["state"] == state

    return check


def validate_all(messages: list[Received]) -> None:
    """Every payload against its schema; every evidence JPEG on the snapshot topic is the
    picture an event of the same alert names (its sha256), and every camera alert's first
    picture arrived over MQTT."""
    jpegs = {m.topic: m.payload for m in messages if m.topic.endswith("/snapshot")}
    events = [json.loads(m.payload) for m in messages if m.topic not in jpegs]
    named = {
        (f"{PREFIX}/alerts/{e['kind']}/{e['id']}/snapshot", e["evidence"]["sha256"])
        for e in events
        if "kind" in e and e.get("evidence")
    }
    for topic, data in jpegs.items():
        assert data[:2] == b"\xff\xd8", topic
        assert (topic, hashlib.sha256(data).hexdigest()) in named, topic
    raised = {f"{PREFIX}/alerts/{e['kind']}/{e['id']}/snapshot" for e in events
              if e.get("event") == "raised" and e.get("evidence")}  # fmt: skip
    assert raised <= set(jpegs)
    for m in messages:
        if m.topic in jpegs:
            continue
        payload = json.loads(m.payload)
        if m.topic == f"{PREFIX}/status":
            validate("status", payload)
        elif m.topic.endswith("/state"):
            validate("camera_state", payload)
        else:
            assert m.topic == f"{PREFIX}/alerts/{payload['kind']}"
            validate("alert", payload)


def test_alerts_status_and_last_will(broker: MosquittoBroker, node: NodeProcess) -> None:
    sub = Subscriber(broker.port, f"{PREFIX}/#")
    try:
        assert sub.wait_for(status_is("online"), 30), node.log_path.read_text()
        assert sub.wait_for(has_alert("fire_lane_blocked", "raised"), 60), node.log_path.read_text()
        assert sub.wait_for(has_alert("illegal_parking", "cleared"), 60), node.log_path.read_text()
        cameras = {
            m.topic for m in sub.messages if m.topic.endswith("/state") and m.retain is False
        }
        assert {f"{PREFIX}/cameras/lot/state", f"{PREFIX}/cameras/forecourt/state"} <= cameras

        node.end(signal.SIGKILL)  # no goodbye: only the broker's last will can say it
        assert sub.wait_for(status_is("offline"), 30)
        validate_all(sub.messages)
    finally:
        sub.close()

    assert retained_payload(broker.port, f"{PREFIX}/status")["state"] == "offline"


def test_two_detection_lanes_judge_their_cameras_in_parallel(
    broker: MosquittoBroker, tmp_path: Path, models_dir: Path, data_dir: Path
) -> None:
    """models.lanes: 2 deals the two cameras to two workers with a detector each; both
    cameras' alerts still reach the platform."""
    path = tmp_path / "site.yaml"
    config = CONFIG.format(
        url=broker.url, models=models_dir, storage=tmp_path / "var", data=data_dir
    ).replace("threads: 1}", "threads: 1, lanes: 2}")
    path.write_text(config, encoding="utf-8")
    node = NodeProcess(path, tmp_path / "node.log")
    sub = Subscriber(broker.port, f"{PREFIX}/#")
    try:
        assert sub.wait_for(has_alert("fire_lane_blocked", "raised"), 60), node.log_path.read_text()
        assert sub.wait_for(has_alert("illegal_parking", "raised"), 60), node.log_path.read_text()
        assert "2 cameras in 2 detection lane(s)" in node.log_path.read_text()
        node.end(signal.SIGTERM)
        validate_all(sub.messages)
    finally:
        sub.close()
        if node.proc.poll() is None:
            node.end(signal.SIGKILL)


def test_broker_outage_loses_nothing_and_keeps_order(
    broker: MosquittoBroker, node: NodeProcess, tmp_path: Path
) -> None:
    sub = Subscriber(broker.port, f"{PREFIX}/alerts/#", client_id="platform", persistent=True)
    try:
        assert sub.wait_for(has_alert("illegal_parking", "raised"), 60), node.log_path.read_text()
        logged_before = len(node.alert_log())
        broker.stop()
        time.sleep(30)  # the looping car park keeps raising and clearing meanwhile
        during = len(node.alert_log()) - logged_before
        assert during > 0, "no alert was raised during the outage; the test proves nothing"
        broker.start()
        # The node reconnects on its own (backoff) and sends the backlog; wait until every
        # event it has logged so far has arrived, then stop it cleanly.
        assert sub.wait_for(lambda msgs: set(node.alert_log()) <= {_key(m) for m in msgs}, 60), (
            "the backlog did not arrive after the broker came back"
        )
        assert node.end() == 0
        produced = node.alert_log()
        assert sub.wait_for(lambda msgs: set(produced) <= {_key(m) for m in msgs}, 30)
        received: list[tuple[str, int]] = []
        for m in sub.messages:
            if _key(m) not in received:
                received.append(_key(m))
        assert set(produced) <= set(received), "an alert event was lost"
        # Outbox order is production order, and each alert's transitions arrive in sequence.
        assert [k for k in received if k in set(produced)] == produced
        for alert_id in {i for i, _ in produced}:
            seqs = [s for i, s in received if i == alert_id]
            assert seqs == list(range(1, len(seqs) + 1))
        # The evidence pictures came through the outage too, each the one its event names.
        validate_all(sub.messages)
    finally:
        sub.close()


def _key(m: Received) -> tuple[str, int]:
    if m.topic.endswith("/snapshot"):
        return ("snapshot", 0)
    payload = json.loads(m.payload)
    return str(payload["id"]), int(payload["seq"])

"""Odd and implausible sensor messages through the real node process and a real Mosquitto.

Issue 15: a real alarm is never thrown away because something beside it is odd. Issue 12: an
implausible reading is a sensor fault, never a clear. The node is started as an installer
would (`python -m edge run`), sensors only; the test publishes as zigbee2mqtt or a gateway
would, over TCP, and reads what a platform would read.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.integration.broker import MosquittoBroker, Received, Subscriber
from tests.integration.node import NodeProcess, alert_events
from tests.schemas import validate

pytestmark = pytest.mark.integration
PREFIX = "grid/xizhen/gate-1"

SITE = """\
site: {{id: xizhen, name: 西镇社区}}
node: {{id: gate-1}}
mqtt: {{url: "{url}"}}
models: {{dir: "{models}", detector: yolov8n_int8.onnx, threads: 1}}
storage: {{dir: "{storage}"}}
api: {{enabled: false}}
alerts: {{escalate_after_s: 3600}}
cameras: []
sensors:
  - {{id: smoke-1, kind: smoke, mqtt: {{topic: zigbee2mqtt/smoke-1}}}}
  - {{id: smoke-2, kind: smoke, mqtt: {{topic: zigbee2mqtt/smoke-2}}}}
  - {{id: smoke-3, kind: smoke, mqtt: {{topic: zigbee2mqtt/smoke-3}}}}
  - {{id: smoke-4, kind: smoke, mqtt: {{topic: zigbee2mqtt/smoke-4}}}}
  - {{id: gas-1, kind: gas, mqtt: {{topic: site/gas-1, format: json, field: lel}},
     thresholds: {{min_duration_s: 0}}}}
"""

# Issue 15, item 1: each of these once raised nothing, only a wrong_type warning.
FOUR_PAYLOADS = {
    "smoke-1": (b'{"smoke": true, "battery": "high"}', "battery"),
    "smoke-2": (b'{"smoke": true, "linkquality": "n/a"}', "linkquality"),
    "smoke-3": (b'{"smoke": true, "tamper": "false"}', None),
    "smoke-4": (b'{"smoke": true, "self_test_result": 0}', "self_test_result"),
}


@pytest.fixture
def platform(broker: MosquittoBroker) -> Any:
    sub = Subscriber(broker.port, f"{PREFIX}/#", client_id="platform", persistent=True)
    yield sub
    sub.close()


def test_odd_and_implausible_messages_through_the_node(
    tmp_path: Path, broker: MosquittoBroker, platform: Subscriber, models_dir: Path
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(
        SITE.format(url=broker.url, models=models_dir, storage=tmp_path / "var"), encoding="utf-8"
    )
    node = NodeProcess(config, tmp_path / "node.log")
    try:
        assert platform.wait_for(lambda m: _status(m) == "online", 60), node.text()
        time.sleep(1.0)  # the node subscribes on connect

        for sensor, (payload, _) in FOUR_PAYLOADS.items():
            _publish(broker, f"zigbee2mqtt/{sensor}", payload)
        for sensor, (_, unreadable) in FOUR_PAYLOADS.items():
            assert platform.wait_for(_has(sensor, "smoke", "raised"), 20), node.text()
            if unreadable is not None:
                assert platform.wait_for(_has(sensor, "sensor_fault", "raised"), 20), node.text()
                fault = _alert(platform.messages, sensor, "sensor_fault", "raised")
                assert fault["detail"] == {"reason": "unreadable", "unreadable": unreadable}

        # The JSON counterpart: the value decides, whatever is beside it (NaN included).
        odd = b'{"lel": 60, "battery": "high", "linkquality": "n/a", "tamper": "false", '
        _publish(broker, "site/gas-1", odd + b'"self_test_result": 0, "temp": NaN}')
        assert platform.wait_for(_has("gas-1", "gas", "raised"), 20), node.text()
        assert _alert(platform.messages, "gas-1", "gas", "raised")["detail"]["value"] == 60

        # Issue 12: -1e300 is a fault, never a clear, and the alarm keeps saying 60 %LEL.
        _publish(broker, "site/gas-1", b'{"lel": -1e300}')
        assert platform.wait_for(_has("gas-1", "sensor_fault", "raised"), 20), node.text()
        fault = _alert(platform.messages, "gas-1", "sensor_fault", "raised")
        assert fault["detail"] == {
            "reason": "implausible",
            "value": -1e300,
            "plausible_min": -5,
            "plausible_max": 100,
            "unit": "%LEL",
        }
        time.sleep(3.0)  # the housekeeping runs every second: nothing may clear meanwhile
        assert not _has("gas-1", "gas", "cleared")(platform.messages)
        _publish(broker, "site/gas-1", b'{"lel": 0}')
        assert platform.wait_for(_has("gas-1", "sensor_fault", "cleared"), 20), node.text()
        assert platform.wait_for(_has("gas-1", "gas", "cleared"), 20), node.text()
        # The published clear repeats the detail of the last raised/updated event (the alert
        # manager keeps it on clear): what matters here is that it is never the refused value.
        cleared = _alert(platform.messages, "gas-1", "gas", "cleared")
        assert -5 <= cleared["detail"]["value"] <= 100
        assert node.proc.poll() is None
    finally:
        node.end()
    for a in alert_events(platform.messages):
        validate("alert", a)


def _status(msgs: list[Received]) -> str | None:
    states = [json.loads(m.payload)["state"] for m in msgs if m.topic == f"{PREFIX}/status"]
    return states[-1] if states else None


def _alert(msgs: list[Received], sensor: str, kind: str, event: str) -> dict[str, Any]:
    return next(
        a
        for a in alert_events(msgs)
        if a["source"]["sensor"] == sensor and a["kind"] == kind and a["event"] == event
    )


def _has(sensor: str, kind: str, event: str) -> Any:
    def check(msgs: list[Received]) -> bool:
        try:
            _alert(msgs, sensor, kind, event)
        except StopIteration:
            return False
        return True

    return check


def _publish(broker: MosquittoBroker, topic: str, body: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher")
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.publish(topic, body, qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()

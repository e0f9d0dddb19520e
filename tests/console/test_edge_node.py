"""End to end: a real `edge run` node over a real Mosquitto raises a smoke alarm, the console
opens a case, and the console's false alarm makes the node release its alert. An alarm raised
before the console ever connected reaches it too (the first-sight `resync`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.console.conftest import Backend
from tests.console.helpers import ConsoleProcess, NodeStandIn, wait_until
from tests.integration.broker import MosquittoBroker, Received, Subscriber, free_port
from tests.integration.node import SENSOR_NODE_SITE, NodeProcess, alert_events, find

pytestmark = pytest.mark.integration
PREFIX = "grid/xizhen/gate-1"
KEY = "console-and-node-key-0123456789"


def test_a_real_node_alarm_becomes_a_case_and_a_false_alarm_releases_it(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend, models_dir: Path
) -> None:
    key_file = tmp_path / "command.key"
    key_file.write_text(KEY + "\n", encoding="utf-8")
    console = ConsoleProcess(tmp_path, broker, backend, key_file=key_file)
    platform = Subscriber(broker.port, f"{PREFIX}/#", client_id="observer", persistent=True)
    config = tmp_path / "site.yaml"
    text = SENSOR_NODE_SITE.format(
        port=broker.port, models=models_dir, storage=tmp_path / "var", api_port=free_port(), key=KEY
    )
    config.write_text(text, encoding="utf-8")
    node = NodeProcess(config, tmp_path / "node.log")
    sensor = NodeStandIn(broker, client_id="zigbee2mqtt")
    try:
        console.wait_ready()
        console.token()  # log in now: the argon2 check must not count in the 2 s below
        online = lambda m: any(x.topic == f"{PREFIX}/status" and b'"online"' in x.payload  # noqa: E731
                               for x in m)  # fmt: skip
        assert platform.wait_for(online, 60), node.text()
        time.sleep(0.5)  # the node's sensor subscription follows its status
        sensor.publish("zigbee2mqtt/smoke-1", b'{"smoke": true, "battery": 90}')
        assert platform.wait_for(find(kind="smoke", event="raised"), 30), node.text()
        raised_at = time.monotonic()
        raised = next(a for a in alert_events(platform.messages) if a["kind"] == "smoke")

        def the_case() -> dict[str, object] | None:
            cases = console.get("/api/cases?kind=smoke")["cases"]
            return next((c for c in cases if c["alert_id"] == raised["id"]), None)

        case = wait_until(the_case, 10, "the case")
        assert time.monotonic() - raised_at < 2.0, "the case took longer than 2 s to appear"
        assert case["state"] == "registered" and case["colour"] == "red"
        assert case["grid"] == "A-05" and case["sensor"] == "smoke-1"

        status, reply = console.post(f"/api/cases/{case['id']}/actions",
                                     {"action": "false_alarm", "note": "测试 误报"})  # fmt: skip
        assert status == 200, reply
        assert platform.wait_for(find(id=raised["id"], event="released"), 20), node.text()
        released = next(a for a in alert_events(platform.messages) if a["event"] == "released")
        assert released["actor"]["by"] == "admin"
        assert released["actor"]["note"] == "测试 误报"

        def responses(messages: list[Received]) -> list[bool]:
            # The release's answer (the console's first-sight `resync` is answered too).
            return [json.loads(m.payload)["ok"] for m in messages
                    if m.topic == f"{PREFIX}/responses"
                    and json.loads(m.payload)["command"] == "release"]  # fmt: skip

        assert platform.wait_for(lambda m: responses(m) == [True], 10), responses(platform.messages)

        # The node's echo comes back to the console as the alert's state on the case.
        wait_until(lambda: (c := the_case()) is not None and c["alert_state"] == "released",
                   10, "the released echo")  # fmt: skip
        detail = console.get(f"/api/cases/{case['id']}")
        assert [e["action"] for e in detail["events"]] == [
            "open", "register", "dispatch_none", "false_alarm", "alert_released"]  # fmt: skip
    finally:
        sensor.close()
        node.end()
        platform.close()
        assert console.end() == 0, console.text()


def test_an_alarm_raised_before_the_console_ever_connected_becomes_a_case(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend, models_dir: Path
) -> None:
    """The broker queued that alarm for nobody: the console's persistent session did not exist
    yet. Seeing the node online for the first time, the console asks it to `resync`."""
    key_file = tmp_path / "command.key"
    key_file.write_text(KEY + "\n", encoding="utf-8")
    config = tmp_path / "site.yaml"
    text = SENSOR_NODE_SITE.format(
        port=broker.port, models=models_dir, storage=tmp_path / "var", api_port=free_port(), key=KEY
    )
    config.write_text(text, encoding="utf-8")
    watcher = Subscriber(broker.port, f"{PREFIX}/#", client_id="watcher")
    node = NodeProcess(config, tmp_path / "node.log")
    sensor = NodeStandIn(broker, client_id="zigbee2mqtt")
    console: ConsoleProcess | None = None
    try:
        online = lambda m: any(x.topic == f"{PREFIX}/status" and b'"online"' in x.payload  # noqa: E731
                               for x in m)  # fmt: skip
        assert watcher.wait_for(online, 60), node.text()
        time.sleep(0.5)
        sensor.publish("zigbee2mqtt/smoke-1", b'{"smoke": true, "battery": 90}')
        assert watcher.wait_for(find(kind="smoke", event="raised"), 30), node.text()
        raised = next(a for a in alert_events(watcher.messages) if a["kind"] == "smoke")

        console = ConsoleProcess(tmp_path, broker, backend, key_file=key_file)
        console.wait_ready()

        def the_case() -> dict[str, object] | None:
            cases = console.get("/api/cases?kind=smoke")["cases"] if console else []
            return next((c for c in cases if c["alert_id"] == raised["id"]), None)

        case = wait_until(the_case, 30, "the case of the alarm raised before the console")
        assert case["state"] == "registered" and case["sensor"] == "smoke-1"
        asked = [m for m in watcher.messages if m.topic == f"{PREFIX}/cmd/resync"]
        assert len(asked) == 1 and json.loads(asked[0].payload)["by"] == "grid-console"

        # Restarted, the console does not ask again: its session has kept what came since.
        port = console.port
        assert console.end() == 0
        console = ConsoleProcess(tmp_path, broker, backend, key_file=key_file, port=port)
        console.wait_ready()
        time.sleep(2.0)
        assert len([m for m in watcher.messages if m.topic == f"{PREFIX}/cmd/resync"]) == 1
    finally:
        if console is not None:
            console.end()
        sensor.close()
        node.end()
        watcher.close()

"""A node run as its own process (`python -m edge run`), as an installer would run it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.broker import Received

# A node with one zigbee2mqtt smoke detector and no camera (no model is run: quick to start),
# with a command key; for the tests of commands, sensors and the console's path to a node.
SENSOR_NODE_SITE = """\
site: {{id: xizhen, name: 西镇社区}}
node: {{id: gate-1}}
mqtt: {{url: "mqtt://127.0.0.1:{port}", keepalive_s: 5}}
models: {{dir: "{models}", detector: yolov8n_int8.onnx, threads: 1}}
storage: {{dir: "{storage}"}}
api: {{port: {api_port}}}
commands: {{key: "{key}"}}
cameras: []
sensors:
  - {{id: smoke-1, kind: smoke, location: 5号楼 2单元 1楼, grid: A-05,
     mqtt: {{topic: zigbee2mqtt/smoke-1, format: zigbee2mqtt}}}}
"""

# Every alert transition the node makes is logged like this, after the event is in the outbox;
# tests compare that log with what a subscriber received.
ALERT_LOG = re.compile(r"alert (\w+) (\w+) ([0-9A-Z]{26}) camera=\S+ zone=\S+ sensor=\S+ seq=(\d+)")


class NodeProcess:
    def __init__(self, config: Path, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alert_log(self) -> list[tuple[str, int]]:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return [(m[3], int(m[4])) for m in ALERT_LOG.finditer(text)]

    def end(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._log.close()
        return code


def alert_events(messages: list[Received]) -> list[dict[str, Any]]:
    """Alert event payloads among received messages, in order of arrival."""
    out = []
    for m in messages:
        if "/alerts/" in m.topic and not m.topic.endswith("/snapshot"):
            out.append(json.loads(m.payload))
    return out


def find(**want: object) -> Callable[[list[Received]], bool]:
    """A predicate for Subscriber.wait_for: an alert event with these fields has arrived."""

    def check(msgs: list[Received]) -> bool:
        return any(all(a.get(k) == v for k, v in want.items()) for a in alert_events(msgs))

    return check

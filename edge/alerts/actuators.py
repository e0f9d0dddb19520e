"""Lift actuators: hold the doors and play a voice prompt while an e-bike alert is open.

Commands go through the same durable outbox as alerts, so a door-hold `off` is never lost
behind a network cut (a door held forever is its own emergency).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from edge.alerts.manager import AlertSink
from edge.alerts.payload import JsonDict, iso
from edge.alerts.store import AlertRecord
from edge.clock import Clock
from edge.config.model import LiftActions
from edge.messages import AlertKind
from edge.mqtt.topics import Topics

SCHEMA = "grid-sentinel.actuator/1"
_RELEASE_ON = {"cleared", "released", "resolved"}


class ActuatorDriver:
    """An alert listener: drives the actuators configured on the alert's lift zone."""

    def __init__(
        self,
        actions: Mapping[tuple[str, str], LiftActions],
        topics: Topics,
        sink: AlertSink,
        clock: Clock,
    ) -> None:
        self.actions = actions
        self._topics = topics
        self._sink = sink
        self._clock = clock

    def __call__(self, record: AlertRecord, payload: JsonDict) -> None:
        if record.kind is not AlertKind.EBIKE_IN_LIFT:
            return
        actions = self.actions.get((record.camera_id or "", record.zone_id or ""))
        if actions is None:
            return
        event = payload["event"]
        if event == "raised":
            if actions.door_hold:
                self._send(actions.door_hold, record, "door_hold", state="on")
            if actions.voice_prompt:
                self._send(actions.voice_prompt, record, "voice_prompt", text=actions.voice_text)
        elif event in _RELEASE_ON and actions.door_hold:
            self._send(actions.door_hold, record, "door_hold", state="off")

    def _send(
        self,
        name: str,
        record: AlertRecord,
        command: str,
        state: str | None = None,
        text: str | None = None,
    ) -> None:
        body = {
            "schema": SCHEMA,
            "actuator": name,
            "command": command,
            "state": state,
            "text": text,
            "alert_id": record.id,
            "camera": record.camera_id,
            "zone": record.zone_id,
            "ts": iso(self._clock.now()),
        }
        self._sink.deliver(
            self._topics.actuator(name), json.dumps(body, ensure_ascii=False).encode()
        )

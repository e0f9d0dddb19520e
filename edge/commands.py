"""Platform commands arriving on `{prefix}/cmd/{command}`, and their replies.

Every command gets one reply on `{prefix}/responses` (mqtt/schemas/response.json): what was
done, or why not. Malformed input is counted and answered, never raised: this runs on the MQTT
network thread, which must survive anything a platform sends.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from edge.alerts.manager import AlertManager, AlertSink
from edge.alerts.payload import iso
from edge.alerts.store import Actor
from edge.clock import Clock
from edge.mqtt.topics import Topics

log = logging.getLogger(__name__)

RESPONSE_SCHEMA = "grid-sentinel.response/1"
MAX_COMMAND_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    message: str
    alert_id: str | None = None


class CommandError(ValueError):
    """A command that cannot be carried out; the message goes back to the platform."""


ReloadFn = Callable[[], Outcome]
SnapshotFn = Callable[[str], Outcome]


def _text(body: dict[str, object], name: str, *, required: bool, limit: int = 128) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise CommandError(f"field {name!r} is required")
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise CommandError(f"field {name!r} must be a non-empty string of at most {limit} chars")
    return value


class CommandHandler:
    def __init__(
        self,
        manager: AlertManager,
        topics: Topics,
        sink: AlertSink,
        clock: Clock,
        *,
        reload: ReloadFn,
        snapshot: SnapshotFn,
    ) -> None:
        self._manager = manager
        self._topics = topics
        self._sink = sink
        self._clock = clock
        self._reload = reload
        self._snapshot = snapshot
        self._prefix = topics.cmd_base()
        self.counters: Counter[str] = Counter()

    def handle(self, topic: str, payload: bytes) -> None:
        command = topic[len(self._prefix) :] if topic.startswith(self._prefix) else topic
        self.counters["received"] += 1
        request_id: str | None = None
        try:
            body = self._parse(payload)
            request_id = _text(body, "request_id", required=False)
            outcome = self._dispatch(command, body)
            if outcome is None:
                return  # answered later, from another thread
        except CommandError as exc:
            self.counters["rejected"] += 1
            log.warning("command %s on %s refused: %s", command, topic, exc)
            outcome = Outcome(False, str(exc))
        except Exception as exc:
            # A bug must cost one reply, not the network thread.
            self.counters["failed"] += 1
            log.exception("command %s on %s failed", command, topic)
            outcome = Outcome(False, f"internal error: {type(exc).__name__}")
        self._respond(command, request_id, outcome)

    def _parse(self, payload: bytes) -> dict[str, object]:
        if len(payload) > MAX_COMMAND_BYTES:
            raise CommandError(f"payload of {len(payload)} bytes is over {MAX_COMMAND_BYTES}")
        try:
            body = json.loads(payload or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise CommandError(f"payload is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise CommandError("payload must be a JSON object")
        return body

    def _dispatch(self, command: str, body: dict[str, object]) -> Outcome | None:
        if command in ("ack", "release", "resolve"):
            alert_id = _text(body, "alert_id", required=True)
            assert alert_id is not None
            actor = Actor(
                by=_text(body, "by", required=False) or "platform",
                at=self._clock.now(),
                note=_text(body, "note", required=False, limit=1000),
                command_id=_text(body, "request_id", required=False),
            )
            result = self._manager.command(command, alert_id, actor)
            return Outcome(result.ok, result.message, alert_id)
        if command == "reload":
            # Rebuilding cameras (maybe a model) takes seconds: not on the network thread,
            # which must keep acknowledging messages meanwhile. The reply comes when done.
            threading.Thread(target=self._reload_and_reply, args=(body,), daemon=True).start()
            return None
        if command == "snapshot":
            camera = _text(body, "camera", required=True)
            assert camera is not None
            return self._snapshot(camera)
        raise CommandError(
            f"unknown command {command!r}; known: ack, release, resolve, reload, snapshot"
        )

    def _reload_and_reply(self, body: dict[str, object]) -> None:
        request_id = body.get("request_id")
        try:
            outcome = self._reload()
        except Exception as exc:
            log.exception("reload failed")
            outcome = Outcome(False, f"internal error: {type(exc).__name__}")
        self._respond("reload", request_id if isinstance(request_id, str) else None, outcome)

    def _respond(self, command: str, request_id: str | None, outcome: Outcome) -> None:
        body = {
            "schema": RESPONSE_SCHEMA,
            "command": command[:64],
            "request_id": request_id,
            "ok": outcome.ok,
            "message": outcome.message[:2000],
            "alert_id": outcome.alert_id,
            "ts": iso(self._clock.now()),
        }
        self._sink.deliver(self._topics.responses(), json.dumps(body, ensure_ascii=False).encode())
